"""The whole gate on a local git checkout: the same stages as the worker, no GitHub needed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from gatekeeper import __version__
from gatekeeper.core.detect import NOREPLY_RE, Detection, detect
from gatekeeper.core.model import Commit, PullRequest, StageResult, User
from gatekeeper.core.policy import POLICY_PATH, PolicyError, parse_policy, with_additions
from gatekeeper.core.rules import agent_rules, default_policy_text, rules_dir
from gatekeeper.core.verdict import BLOCKED, EXIT_CODES, NOT_RUN, local_verdict
from gatekeeper.runner.gitlocal import changed_files, export_tree, file_at, git, latest_tag
from gatekeeper.service.settings import StageConfig
from gatekeeper.service.stages import Progress, run_stages

FIELD = "\x1f"
RECORD = "\x1e"


@dataclass(frozen=True)
class LocalReport:
    repo: str
    base: str
    head: str
    detection: Detection | None
    gated: bool
    stages: dict[str, StageResult]
    policy_error: PolicyError | None = None

    @property
    def verdict(self) -> tuple[str, list[str]]:
        """(passed | needs acknowledgement | blocked | could not run | not gated, the rules
        an approval must acknowledge)."""
        return local_verdict(self.stages, self.gated, self.policy_error is not None)

    @property
    def blocked(self) -> bool:
        return self.verdict[0] in (BLOCKED, NOT_RUN)


def account(name: str, email: str) -> User:
    """The GitHub account a commit's email maps to, as far as it can be known offline."""
    noreply = NOREPLY_RE.match(email) or re.match(
        r"^(?:\d+\+)?(?P<login>[\w.-]+\[bot\])@users\.noreply\.github\.com$", email, re.IGNORECASE)
    login = noreply.group("login") if noreply else (email.split("@")[0] or name)
    return User(login, "Bot" if login.lower().endswith("[bot]") else "User")


def local_commits(repo: Path, base: str, head: str) -> list[Commit]:
    log = git(repo, "log", f"--format=%H{FIELD}%an{FIELD}%ae{FIELD}%cn{FIELD}%ce{FIELD}%B{RECORD}",
              f"{base}..{head}")
    commits = []
    for record in log.split(RECORD):
        parts = record.strip("\n").split(FIELD)
        if len(parts) < 6:
            continue
        sha, author_name, author_email, committer_name, committer_email, message = parts
        commits.append(Commit(sha, message, author_email, account(author_name, author_email),
                              account(committer_name, committer_email), author_name,
                              committer_name))
    return commits


def check(repo: Path, base: str, head: str, config: StageConfig,
          progress: Progress | None = None, use_cache: bool = True) -> LocalReport:
    """The gate on local commits. Identical inputs (commits, policy, rules, version) give the
    stored result of the last complete run instead of running again."""
    base_sha, head_sha = _commit_of(repo, base, "--base"), _commit_of(repo, head, "--head")
    merge_base = git(repo, "merge-base", base_sha, head_sha).strip()
    name = repo.resolve().name
    try:
        policy = parse_policy(file_at(repo, base_sha, POLICY_PATH), default_policy_text())
    except PolicyError as err:
        return LocalReport(name, base, head, None, True, {}, err)
    commits = local_commits(repo, merge_base, head_sha)
    found = detect(_pull_request(repo, name, head, head_sha, merge_base, commits), commits,
                   with_additions(agent_rules(), policy.agents))
    # offline, an "account" is only a commit email that anyone can set: nothing is strong here
    detection = dataclasses.replace(found, signals=tuple(
        dataclasses.replace(s, strong=False) for s in found.signals))
    if not detection.gated(policy.gate):
        return LocalReport(name, base, head, detection, False, {})
    key = _result_key(head_sha, merge_base, policy)
    stages = _cached(config, key) if use_cache else None
    if stages is None:
        stages = run_stages(
            policy,
            lambda dest: export_tree(repo, head_sha, dest),
            changed_files(repo, merge_base, head_sha),
            lambda path: file_at(repo, merge_base, path),
            config,
            progress,
            fetch_base=lambda dest: export_tree(repo, merge_base, dest),
            version_tag=latest_tag(repo, merge_base),
        )
        if not any(r.status == "error" for r in stages.values()):  # errors may be passing
            _store(config, key, stages)
    return LocalReport(name, base, head, detection, True, stages)


def _commit_of(repo: Path, ref: str, option: str) -> str:
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except RuntimeError:
        raise RuntimeError(f"{option} {ref!r} is not a branch, tag or commit of {repo} "
                           "(git fetch it first, or check the name)") from None


def _result_key(head_sha: str, base_sha: str, policy) -> str:
    digest = hashlib.sha256()
    for part in (__version__, head_sha, base_sha, policy.model_dump_json()):
        digest.update(part.encode() + b"\0")
    for path in sorted(p for p in rules_dir().rglob("*") if p.is_file()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:40]


def _cached(config: StageConfig, key: str) -> dict[str, StageResult] | None:
    try:
        data = json.loads((config.cache_dir / "results" / f"{key}.json").read_text())
        return {name: StageResult.from_dict(r) for name, r in data.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(config: StageConfig, key: str, stages: dict[str, StageResult]) -> None:
    folder = config.cache_dir / "results"
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{key}.{os.getpid()}"
    staging.write_text(json.dumps({n: r.to_dict() for n, r in stages.items()}))
    staging.rename(folder / f"{key}.json")


def _pull_request(repo: Path, name: str, head: str, head_sha: str, base_sha: str,
                  commits: list[Commit]) -> PullRequest:
    branch = head if head != "HEAD" else git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    author = commits[-1].author if commits and commits[-1].author else User("unknown")
    return PullRequest(repo=f"local/{name}", number=0, head_sha=head_sha, head_ref=branch,
                       base_ref="", base_sha=base_sha, author=author)


def exit_code(report: LocalReport) -> int:
    """0 passed (or not gated), 1 blocked, 2 could not run, 3 needs acknowledgement."""
    return EXIT_CODES[report.verdict[0]]

