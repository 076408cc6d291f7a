"""Plain facts about pull requests and check runs, shared by every module."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class User:
    login: str
    type: str = "User"  # GitHub's user.type: "User", "Bot" or "Organization"

    @property
    def is_bot(self) -> bool:
        return self.type == "Bot"


@dataclass(frozen=True)
class PullRequest:
    repo: str
    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    base_sha: str
    author: User
    title: str = ""
    body: str = ""
    draft: bool = False
    state: str = "open"
    labels: tuple[str, ...] = ()
    assignees: tuple[User, ...] = ()


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str
    author_email: str = ""
    author: User | None = None  # the GitHub account the author email maps to, if any
    committer: User | None = None
    author_name: str = ""  # as git records it, e.g. "Jane Doe (aider)"
    committer_name: str = ""  # aider marks the committer: "Jane Doe (aider)"


@dataclass(frozen=True)
class Review:
    id: int
    user: User
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str
    submitted_at: str = ""
    body: str = ""


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str = "modified"
    previous_path: str | None = None
    patch: str = ""  # unified diff of this file, as GitHub gives it (may be absent when large)
    sha: str = ""  # the head's blob id of this file, where the source says it


@dataclass(frozen=True)
class Finding:
    """One problem a stage found, pinned to a file and line where it has one."""

    tool: str
    rule: str
    message: str
    severity: str = "high"  # low | medium | high
    path: str = ""
    start_line: int = 0
    end_line: int = 0
    new: bool = True  # introduced by this pull request, rather than already on the base
    confidence: str = ""
    cwe: str = ""
    blocking: bool = True  # False: shown as a warning for the reviewer, does not fail the stage
    waived_by: str = ""  # the policy key that keeps this otherwise blocking finding from blocking
    fingerprint: str = ""  # rule, path and the code around it, hashed (core/triage.py)
    dismissed: str = ""  # "@login: reason" when a security reviewer dismissed it (triage)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def with_findings(result: StageResult, findings) -> StageResult:
    """The stage with more findings; a blocking one fails a stage that ran (an error or a
    skip stays what it was)."""
    findings = tuple(findings)
    if not findings:
        return result
    blocked = any(f.blocking for f in findings) and result.status in ("passed", "failed")
    return replace(result, status="failed" if blocked else result.status,
                   findings=(*result.findings, *findings))


@dataclass(frozen=True)
class CheckOutput:
    """What a completed check run shows: GitHub's `output` object."""

    title: str
    summary: str
    text: str = ""
    annotations: list[dict] = field(default_factory=list)


STAGES = ("tests", "sast", "dependencies")


@dataclass(frozen=True)
class StageResult:
    """The outcome of one stage on one head commit."""

    stage: str
    status: str  # passed | failed | error | skipped
    summary: str
    findings: tuple[Finding, ...] = ()
    seconds: tuple[tuple[str, float], ...] = ()  # where the stage's time went: (step, s)
    # "gate": an error of the gate's own (its package cache, a tool), never the change's; the
    # service retries the gate instead of concluding
    cause: str = ""

    def to_dict(self) -> dict:
        return {"stage": self.stage, "status": self.status, "summary": self.summary,
                "findings": [f.to_dict() for f in self.findings],
                "seconds": dict(self.seconds), "cause": self.cause}

    @classmethod
    def from_dict(cls, data: dict) -> StageResult:
        findings = tuple(Finding(**f) for f in data.get("findings", []))
        seconds = tuple((str(k), float(v)) for k, v in (data.get("seconds") or {}).items())
        return cls(data["stage"], data["status"], data["summary"], findings, seconds,
                   str(data.get("cause") or ""))


RERUN_ACTION = "rerun"  # identifier of the "Re-run" button on our check runs


@dataclass(frozen=True)
class Target:
    """One pull request at one head commit, in one installation."""

    installation_id: int
    repo_id: int
    repo: str
    number: int
    head_sha: str

    def key(self, kind: str) -> str:
        # RQ job ids allow only [A-Za-z0-9_-]
        return f"{kind}-{self.repo_id}-{self.number}-{self.head_sha}"


@dataclass(frozen=True)
class JobRequest:
    """Work for the queue. `key` makes a repeat of the same work a duplicate."""

    kind: str
    key: str
    args: dict[str, Any] = field(default_factory=dict)
