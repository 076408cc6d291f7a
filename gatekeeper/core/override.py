"""Break-glass: who may turn the gate green for one commit, and what that verdict says. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.core.escape import md_text
from gatekeeper.core.policy import BreakGlass
from gatekeeper.core.verdict import GATE, CheckVerdict


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reply: str  # what the commenter is told


def break_glass_teams(policy: BreakGlass, owner: str) -> list[str]:
    """Policy team names as "org/slug"; a bare slug is a team of the repository's owner."""
    return [(t if "/" in t else f"{owner}/{t}").lower() for t in policy.teams]


def decide(login: str, is_bot: bool, reason: str, teams: list[str],
           member_of: set[str]) -> Decision:
    if is_bot:
        return Decision(False, "A bot cannot override Gatekeeper.")
    if not teams:
        return Decision(False, "This repository's policy names no break-glass team "
                               "(`break_glass.teams`), so nobody can override Gatekeeper here.")
    if not member_of & set(teams):
        return Decision(False, f"@{login} is not a member of a break-glass team "
                               f"({', '.join(teams)}), so this changes nothing. Ask one of "
                               "them, or get the pull request approved.")
    if not reason:
        return Decision(False, "An override needs a reason: `/gatekeeper override REASON`.")
    return Decision(True, f"Overridden by @{login} for this commit only; recorded and "
                          "flagged for review after the fact.")


def verdict(login: str, reason: str, head_sha: str, at: str) -> CheckVerdict:
    return CheckVerdict(GATE, "success", f"Overridden by @{login} (break-glass)"[:255],
                        f"@{login} overrode Gatekeeper on {head_sha[:12]} at {at}, with the "
                        f"reason:\n\n> {md_text(reason)}\n\nOnly this commit is green; a push "
                        "starts over. The override is in the audit trail and has a follow-up "
                        "for review after the fact.")
