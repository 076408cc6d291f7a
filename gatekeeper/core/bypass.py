"""Work that reached a protected branch without passing the gate: agents' commits pushed with
no pull request. Pure: the service hands in the pushed commits and the pull requests GitHub
associates with each (merges through a pull request are judged when it closes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gatekeeper.core.detect import commit_signals
from gatekeeper.core.model import Commit
from gatekeeper.core.policy import AgentRules


@dataclass(frozen=True)
class Bypass:
    sha: str
    evidence: tuple[str, ...]  # the agent signals of the commit


def pushed_past_the_gate(commits: Sequence[Commit], pulls: Mapping[str, Sequence[int]],
                         rules: AgentRules) -> list[Bypass]:
    """Agent-authored commits among `commits` that no pull request carried (`pulls`: sha ->
    the numbers of pull requests GitHub associates with it)."""
    found = []
    for commit in commits:
        if pulls.get(commit.sha):
            continue
        signals = commit_signals(commit, rules)
        if signals:
            found.append(Bypass(commit.sha, tuple(s.detail for s in signals)))
    return found
