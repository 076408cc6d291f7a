"""Policy test cases: a pull request described in YAML, the outcome expected, and what the
gate's own decision (core/decision) says under the given organisation and repository policies.
Pure: the CLI reads the files; nothing here reaches GitHub or runs a stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gatekeeper.core import triage
from gatekeeper.core.decision import GateDecision, GateFacts, Override, instruction_findings
from gatekeeper.core.governance import Effective, RepoFacts, combine, parse_org
from gatekeeper.core.model import (
    ChangedFile,
    Commit,
    Finding,
    PullRequest,
    Review,
    StageResult,
    User,
)
from gatekeeper.core.policy import AgentRules, Strict, load_mapping
from gatekeeper.core.review import ReviewerFacts
from gatekeeper.core.verdict import GATE, STAGES

HEAD, OLDER = "c0ffee0" * 5 + "c0ff", "0defaced" * 5
TOOL_OF = {"sast": "semgrep", "dependencies": "pip-audit"}  # a finding's tool, unless given
VERDICT_AT = "2026-01-01T12:00:00+00:00"
Conclusion = Literal["success", "failure", "neutral", "skipped", "cancelled"]


class Account(Strict):
    login: str
    type: Literal["User", "Bot", "Organization"] = "User"


class CaseCommit(Strict):
    message: str = "Change"
    author: str | Account | None = None
    committer: str | Account | None = None
    author_email: str = ""
    author_name: str = ""


class CaseFile(Strict):
    path: str
    status: Literal["added", "modified", "removed", "renamed"] = "modified"
    previous_path: str | None = None


class CaseFinding(Strict):
    rule: str = "finding"
    tool: str = ""  # default: semgrep in sast, pip-audit in dependencies, the stage's name
    message: str = "a finding"
    severity: Literal["low", "medium", "high"] = "high"
    blocking: bool = True
    waived_by: str = ""


class CaseStage(Strict):
    status: Literal["passed", "failed", "error", "skipped"] = "passed"
    findings: list[CaseFinding] = []


class CaseReview(Strict):
    by: str | Account
    state: Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"] = "APPROVED"
    permission: Literal["none", "read", "triage", "write", "maintain", "admin"] = "write"
    teams: list[str] = []  # "org/slug"
    body: str = ""
    stale: bool = False  # approved an older commit
    before_verdict: bool = False  # before the gate's first verdict on the head


class CaseDismissal(Strict):
    """`/gatekeeper dismiss RULE REASON` on the head: covers the rule's findings there."""
    by: str | Account
    rule: str
    reason: str = "a false positive"
    teams: list[str] = []  # "org/slug" the giver is a member of


class CasePull(Strict):
    author: str | Account = "octocat"
    branch: str = "feature"
    base: str = "main"
    title: str = "A change"
    body: str = ""
    labels: list[str] = []
    assignees: list[str] = []


class CaseRepo(Strict):
    name: str = "acme/service"
    topics: list[str] = []
    properties: dict[str, str] = {}


class Expect(Strict):
    gated: bool | None = None
    eligible: bool | None = None  # False: agents may not change this at its level
    level: str | None = None
    gate: Conclusion | None = None  # the required `gatekeeper` check
    checks: dict[str, Conclusion] = {}
    title: str | None = None  # words the gate's title contains
    approvals_needed: int | None = None  # qualified approvals still missing (all kinds)
    counted: dict[str, bool] = {}  # reviewer login -> whether the review counted
    dismissed: dict[str, bool] = {}  # login -> whether their dismissal counted
    refusals: list[str] = []  # words each refusal (eligibility or policy refusal) contains
    agents: list[str] | None = None  # the detected agents' logins


class Case(Strict):
    name: str
    org: str | None = None  # organisation policy text, else the suite's org.yml; "": none
    policy: str | None = None  # repository policy text; else the suite's policy.yml
    repository: CaseRepo = CaseRepo()
    pull_request: CasePull = CasePull()
    commits: list[CaseCommit] = [CaseCommit()]
    files: list[str | CaseFile] = ["src/app.py"]
    stages: dict[str, Literal["passed", "failed", "error", "skipped"] | CaseStage] = {}
    reviews: list[CaseReview] = []
    instructions: dict[str, str] = {}  # files on the base branch (AGENTS.md, ...)
    override: dict[str, str] | None = None  # {by, reason}: break-glass on the head commit
    dismissals: list[CaseDismissal] = []
    expect: Expect = Field(default_factory=Expect)


class Suite(Strict):
    cases: list[Case]


def parse_cases(text: str, file: str) -> list[Case]:
    """A file of cases: `cases: [...]`. PolicyError with lines and hints when malformed."""
    return Suite.model_validate(load_mapping(text, Suite, file)).cases


def _user(value: str | Account | None) -> User | None:
    if value is None:
        return None
    account = Account(login=value) if isinstance(value, str) else value
    return User(account.login, account.type)


def effective_of(case: Case, org_text: str | None, repo_text: str | None,
                 default_text: str) -> Effective:
    org_text = case.org if case.org is not None else org_text
    repo_text = case.policy if case.policy is not None else repo_text
    org = parse_org(org_text, "org.yml") if org_text else None
    facts = RepoFacts(case.repository.name, tuple(case.repository.topics),
                      dict(case.repository.properties))
    return combine(default_text, org, "organisation", repo_text, facts)


def facts_of(case: Case, effective: Effective, rules: AgentRules) -> GateFacts:
    pull = case.pull_request
    pr = PullRequest(case.repository.name, 1, HEAD, pull.branch, pull.base, "b" * 40,
                     _user(pull.author), pull.title, pull.body, labels=tuple(pull.labels),
                     assignees=tuple(User(a) for a in pull.assignees))
    commits = tuple(Commit(f"{i:040x}", c.message, c.author_email, _user(c.author),
                           _user(c.committer), c.author_name) for i, c in enumerate(case.commits))
    files = tuple(ChangedFile(f) if isinstance(f, str) else
                  ChangedFile(f.path, f.status, f.previous_path) for f in case.files)
    stages = {}
    for name in STAGES:  # a stage the policy turns off is skipped, as the App runs it
        given = case.stages.get(name, "passed" if getattr(effective.policy.stages, name)
                                else "skipped")
        stage = CaseStage(status=given) if isinstance(given, str) else given
        stages[name] = StageResult(name, stage.status, f"{name}: {stage.status}", tuple(
            Finding(f.tool or TOOL_OF.get(name, name), f.rule, f.message, f.severity,
                    blocking=f.blocking, waived_by=f.waived_by, fingerprint=f"{name}-{i}")
            for i, f in enumerate(stage.findings)))
    reviews, permission, teams = [], {}, {}
    for i, r in enumerate(case.reviews):
        user = _user(r.by)
        reviews.append(Review(100 + i, user, r.state, OLDER if r.stale else HEAD,
                              "2026-01-01T11:00:00+00:00" if r.before_verdict
                              else f"2026-01-01T13:{i:02d}:00+00:00", r.body))
        permission[user.login.lower()] = r.permission
        teams[user.login.lower()] = frozenset(t.lower() for t in r.teams)
    dismissals = []
    for d in case.dismissals:
        user = _user(d.by)
        teams[user.login.lower()] = teams.get(user.login.lower(), frozenset()) | frozenset(
            t.lower() for t in d.teams)
        covered = triage.resolve(triage.Command(d.rule, None, None, d.reason), stages)[0]
        dismissals.append(triage.Dismissal(d.rule, covered, user.login, d.reason, VERDICT_AT,
                                           sha=HEAD, bot=user.is_bot))
    return GateFacts(pr, commits, files, effective, rules, stages, tuple(reviews),
                     ReviewerFacts(permission, teams), VERDICT_AT,
                     tuple(instruction_findings(effective, case.instructions)),
                     Override(case.override.get("by", ""), case.override.get("reason", ""),
                              VERDICT_AT) if case.override else None, tuple(dismissals))


def differences(case: Case, effective: Effective, decision: GateDecision) -> list[str]:
    """Each expectation the decision does not meet, as `key: expected X, got Y`."""
    want, out = case.expect, []
    review = decision.review
    got = {
        "gated": decision.gated,
        "eligible": not decision.refusals,
        "level": effective.level,
        "gate": decision.conclusion(GATE),
        "approvals_needed": max(0, review.required - review.approved) + max(
            0, review.sensitive_required - review.sensitive_approved) if review else 0,
        "agents": sorted(decision.detection.agents),
    }
    for key, value in got.items():
        expected = getattr(want, key)
        if expected is not None and (sorted(a.lower() for a in expected) if key == "agents"
                                     else expected) != value:
            out.append(f"{key}: expected {expected!r}, got {value!r}")
    conclusions = {v.name: v.conclusion for v in decision.verdicts}
    for name, expected in want.checks.items():
        if conclusions.get(name) != expected:
            out.append(f"check {name}: expected {expected}, got {conclusions.get(name)}")
    title = next((v.title for v in decision.verdicts if v.name == GATE), "")
    if want.title is not None and want.title.lower() not in title.lower():
        out.append(f"gate title: expected it to contain {want.title!r}, got {title!r}")
    counted = {r.login.lower(): (r.counted, r.reason) for r in (review.reviewers if review
                                                                 else ())}
    for login, expected in want.counted.items():
        actual = counted.get(login.lower())
        if actual is None or actual[0] != expected:
            out.append(f"review by {login}: expected counted={expected}, got "
                       + (f"counted={actual[0]} ({actual[1]})" if actual else "no such review"))
    dismissed = {a.dismissal.by.lower(): (a.counted, a.why) for a in decision.triaged}
    for login, expected in want.dismissed.items():
        actual = dismissed.get(login.lower())
        if actual is None or actual[0] != expected:
            out.append(f"dismissal by {login}: expected counted={expected}, got "
                       + (f"counted={actual[0]} ({actual[1]})" if actual else "no such dismissal"))
    said = [*decision.refusals, *(str(r) for r in effective.refused)]
    for words in want.refusals:
        if not any(words.lower() in s.lower() for s in said):
            out.append(f"refusal: expected one containing {words!r}, got {said or 'none'}")
    return out
