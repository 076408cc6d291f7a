"""Has a qualified human approved the exact head commit? Who counted, who did not, why. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gatekeeper.core.detect import Detection, account_class
from gatekeeper.core.escape import md_code
from gatekeeper.core.model import ChangedFile, Commit, PullRequest, Review, User
from gatekeeper.core.policy import PERMISSION_RANK, AgentRules, Approvers, Policy, path_matches

DECISIVE = {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}  # COMMENTED changes nothing


@dataclass(frozen=True)
class ReviewerFacts:
    """What GitHub says about the reviewers: permission and team membership, by lower login."""

    permission: Mapping[str, str] = field(default_factory=dict)
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)  # "org/slug", lower


@dataclass(frozen=True)
class Reviewer:
    login: str
    state: str
    counted: bool
    reason: str
    counts_for_sensitive: bool = False


@dataclass(frozen=True)
class ReviewResult:
    satisfied: bool
    reviewers: tuple[Reviewer, ...]
    required: int
    approved: int
    sensitive_paths: tuple[str, ...]
    sensitive_required: int
    sensitive_approved: int
    blocking: tuple[str, ...]
    missing: tuple[str, ...]


def latest_reviews(reviews: Sequence[Review]) -> dict[str, Review]:
    """Each reviewer's latest review that decides something, by lower login."""
    latest: dict[str, Review] = {}
    for review in sorted(reviews, key=lambda r: (r.submitted_at, r.id)):
        if review.state in DECISIVE:
            latest[review.user.login.lower()] = review
    return latest


def teams_of(approvers: Approvers, owner: str) -> list[str]:
    """Policy team names as "org/slug"; a bare slug is a team of the repository's owner."""
    return [(t if "/" in t else f"{owner}/{t}").lower() for t in approvers.teams]


def evaluate_review(pr: PullRequest, reviews: Sequence[Review], files: Sequence[ChangedFile],
                    commits: Sequence[Commit], detection: Detection, policy: Policy,
                    facts: ReviewerFacts, verdict_at: str | None = None,
                    waived: Sequence[str] = (), rules: AgentRules | None = None) -> ReviewResult:
    """`verdict_at`: when the gate first posted its verdict on the head commit (ISO 8601), or
    None when it has not yet; with `approvals.after_verdict`, earlier approvals do not count.
    `waived`: rules of findings the policy kept from blocking; an approval must acknowledge
    each (`/gatekeeper ack RULE` in its body) to count. `rules`: agent and automation
    accounts (the organisation's and the policy's), whose reviews never count."""
    owner = pr.repo.split("/")[0]
    contributors = contributors_of(commits)
    sensitive = tuple(sorted({f.path for f in files if _is_sensitive(f, policy)}))
    sensitive_approvers = policy.sensitive.approvers or policy.approvers
    reviewers: list[Reviewer] = []
    blocking: list[str] = []
    for login, review in latest_reviews(reviews).items():
        qualified, standing = _meets(login, policy.approvers, facts, owner)
        if review.state == "CHANGES_REQUESTED":
            if not review.user.is_bot and qualified:
                blocking.append(review.user.login)
                reviewers.append(Reviewer(review.user.login, review.state, False,
                                          f"requested changes ({standing}); blocks until they "
                                          "approve or the review is dismissed"))
            else:
                reviewers.append(Reviewer(review.user.login, review.state, False,
                                          f"requested changes but does not block: {standing}"))
            continue
        if review.state == "DISMISSED":
            reviewers.append(Reviewer(review.user.login, review.state, False, "review dismissed"))
            continue
        why_not = cannot_vouch(review.user, pr, detection, contributors, rules)
        if why_not is None and review.commit_id != pr.head_sha:
            why_not = (f"approved an older commit {review.commit_id[:7]}; only approvals of "
                       f"the head commit {pr.head_sha[:7]} count (stale)")
        if why_not is None and not qualified:
            why_not = standing
        if why_not is None and policy.approvals.after_verdict:
            why_not = _before_verdict(review, verdict_at)
        if why_not is None and waived:
            why_not = _unacknowledged(review, waived)
        if why_not:
            reviewers.append(Reviewer(review.user.login, review.state, False, why_not))
            continue
        for_sensitive = _meets(login, sensitive_approvers, facts, owner)[0]
        reviewers.append(Reviewer(review.user.login, review.state, True, standing, for_sensitive))

    approved = sum(1 for r in reviewers if r.counted)
    sensitive_approved = sum(1 for r in reviewers if r.counted and r.counts_for_sensitive)
    sensitive_required = policy.sensitive.approvals if sensitive else 0
    missing = _missing(policy, pr, approved, sensitive, sensitive_approved, blocking)
    return ReviewResult(
        satisfied=not missing,
        reviewers=tuple(reviewers),
        required=policy.approvals.required,
        approved=approved,
        sensitive_paths=sensitive,
        sensitive_required=sensitive_required,
        sensitive_approved=sensitive_approved,
        blocking=tuple(blocking),
        missing=tuple(missing),
    )


def _is_sensitive(file: ChangedFile, policy: Policy) -> bool:
    paths = [file.path] + ([file.previous_path] if file.previous_path else [])
    return any(path_matches(p, path) for p in policy.sensitive.paths for path in paths)


def contributors_of(commits: Sequence[Commit]) -> set[str]:
    """The humans who authored the change's commits, by lower login."""
    return {c.author.login.lower() for c in commits if c.author is not None and not c.author.is_bot}


def cannot_vouch(user: User, pr: PullRequest, detection: Detection, contributors: set[str],
                 rules: AgentRules | None) -> str | None:
    """Why this account cannot vouch for the change (approve it, or dismiss its findings):
    not a human, or the change's own author, agent, requester or committer. None: it can."""
    return _not_human(user, rules) or _disqualified(user.login.lower(), pr, detection,
                                                    contributors)


def _not_human(user: User, rules: AgentRules | None) -> str | None:
    """Apps, bots, agents (Copilot code review among them) and automation never approve,
    whatever GitHub counts: by account type, by `[bot]` login, and by the rules' accounts."""
    kind = account_class(user, rules) if rules else None
    if kind == "agent account":
        return "is a coding agent's account; only humans can approve"
    if kind == "automation":
        return "is an automation account; only humans can approve"
    if user.is_bot or user.login.lower().endswith("[bot]"):
        return "is a bot account (an App or automation); only humans can approve"
    return None


def _disqualified(login: str, pr: PullRequest, detection: Detection,
                  contributors: set[str]) -> str | None:
    if login == pr.author.login.lower():
        return "opened this pull request; authors cannot approve their own work"
    if login in detection.agents:
        return "is a detected agent"
    if login in detection.requesters:
        return "asked the agent for this change; someone else must review it"
    if login in contributors:
        return "authored commits in this pull request"
    return None


def _meets(login: str, approvers: Approvers, facts: ReviewerFacts, owner: str) -> tuple[bool, str]:
    if login in {u.lower() for u in approvers.users}:
        return True, "listed in approvers.users"
    member_of = facts.teams.get(login, frozenset())
    for team in teams_of(approvers, owner):
        if team in member_of:
            return True, f"member of team {team}"
    permission = facts.permission.get(login, "none")
    if approvers.teams_only:
        return False, "not a member of the teams the policy requires"
    if PERMISSION_RANK.get(permission, 0) >= PERMISSION_RANK[approvers.min_permission]:
        return True, f"has {permission} permission"
    return False, (f"has {permission} permission; policy needs {approvers.min_permission} "
                   "or a listed user or team")


def _missing(policy: Policy, pr: PullRequest, approved: int, sensitive: tuple[str, ...],
             sensitive_approved: int, blocking: list[str]) -> list[str]:
    missing = [f"@{login} requested changes" for login in blocking]
    if approved < policy.approvals.required:
        need = policy.approvals.required - approved
        missing.append(f"{need} more approval{'s' if need > 1 else ''} of the head commit "
                       f"{pr.head_sha[:7]} by a qualified human")
    if sensitive and sensitive_approved < policy.sensitive.approvals:
        need = policy.sensitive.approvals - sensitive_approved
        shown = ", ".join(sensitive[:5]) + (" …" if len(sensitive) > 5 else "")
        missing.append(f"{need} more approval{'s' if need > 1 else ''} for sensitive paths "
                       f"({shown})")
    return missing


def explain(result: ReviewResult) -> str:
    """Markdown: what is required, who counted and who did not, what is missing."""
    lines = [f"**Approvals of the head commit:** {result.approved} of {result.required} required"]
    if result.sensitive_paths:
        lines.append(f"**Sensitive paths changed:** {result.sensitive_approved} of "
                     f"{result.sensitive_required} approvals required — "
                     + ", ".join(md_code(p) for p in result.sensitive_paths))
    if result.reviewers:
        lines.append("")
        lines.append("| reviewer | review | counted | why |")
        lines.append("|---|---|---|---|")
        for r in result.reviewers:
            lines.append(f"| @{r.login} | {r.state.lower()} | {'yes' if r.counted else 'no'} "
                         f"| {r.reason} |")
    else:
        lines.append("\nNo reviews yet.")
    if result.missing:
        lines.append("\n**Still needed:**")
        lines += [f"- {m}" for m in result.missing]
    return "\n".join(lines)


def _before_verdict(review: Review, verdict_at: str | None) -> str | None:
    """The reviewer approved before the gate's findings were there to read."""
    if verdict_at is None:
        return ("approved before the findings were in (the gate has not posted its verdict on "
                "this commit yet); approve again once it has")
    try:
        given = datetime.fromisoformat(review.submitted_at)
        posted = datetime.fromisoformat(verdict_at)
    except ValueError:
        return "approved at an unknown time, so not known to be after the gate's verdict"
    if given < posted:
        return (f"approved before the findings were in (at {review.submitted_at}, the verdict "
                f"came at {verdict_at}); approve again after reading them")
    return None


ACK_RE = re.compile(r"/gatekeeper\s+ack\s+([\w./-]+)", re.IGNORECASE)


def _unacknowledged(review: Review, waived: Sequence[str]) -> str | None:
    """Findings waived by policy still need the approver to say they saw them."""
    acked = {m.lower() for m in ACK_RE.findall(review.body)}
    missing = sorted({rule for rule in waived if rule.lower() not in acked})
    if missing:
        return ("approved without acknowledging findings the policy waived: add "
                + ", ".join(f"`/gatekeeper ack {rule}`" for rule in missing)
                + " to the approval")
    return None
