"""Is this pull request agent-authored? Evidence, its strength, and who asked the agent. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gatekeeper.core.model import Commit, PullRequest, User
from gatekeeper.core.policy import AgentRules

TRAILER_RE = re.compile(r"^co-authored-by:\s*(?P<name>.*?)\s*<(?P<email>[^>]+)>\s*$",
                        re.IGNORECASE | re.MULTILINE)
NOREPLY_RE = re.compile(r"^(?:\d+\+)?(?P<login>[A-Za-z0-9-]+)@users\.noreply\.github\.com$",
                        re.IGNORECASE)


@dataclass(frozen=True)
class Signal:
    kind: str
    detail: str
    strong: bool  # an account GitHub vouches for, which a person cannot pose as

    def __str__(self) -> str:
        return f"{self.detail} ({'strong' if self.strong else 'hint'})"


@dataclass(frozen=True)
class Detection:
    signals: tuple[Signal, ...]
    agents: frozenset[str]  # lower-cased logins of agent accounts involved
    requesters: frozenset[str]  # lower-cased logins of humans who asked an agent for this

    @property
    def is_agent(self) -> bool:
        return bool(self.signals)

    @property
    def strong(self) -> bool:
        return any(s.strong for s in self.signals)


def detect(pr: PullRequest, commits: Sequence[Commit], rules: AgentRules) -> Detection:
    known = {login.lower() for login in rules.bot_logins}
    signals: list[Signal] = []
    agents: set[str] = set()
    requesters: set[str] = set()

    author_is_agent = _is_agent_account(pr.author, known)
    if author_is_agent:
        agents.add(pr.author.login.lower())
        kind = "agent account" if pr.author.login.lower() in known else "bot account"
        signals.append(Signal(kind, f"opened by @{pr.author.login} ({kind})", True))
    for prefix in rules.branch_prefixes:
        if pr.head_ref.lower().startswith(prefix.lower()):
            signals.append(Signal("branch", f"head branch {pr.head_ref!r} starts with {prefix!r}",
                                  False))
    wanted = {label.lower() for label in rules.labels}
    for label in pr.labels:
        if label.lower() in wanted:
            signals.append(Signal("label", f"labelled {label!r}", False))
    for marker in _markers(pr.body, rules):
        signals.append(Signal("marker", f"pull request body says {marker!r}", False))

    for commit in commits:
        signals += _commit_signals(commit, rules, known, agents, requesters)

    if signals:
        if not author_is_agent:
            requesters.add(pr.author.login.lower())  # e.g. Codex cloud opens PRs as its user
        else:
            requesters.update(a.login.lower() for a in pr.assignees if not a.is_bot
                              and a.login.lower() not in known)
    return Detection(tuple(signals), frozenset(agents), frozenset(requesters - agents))


def _commit_signals(commit: Commit, rules: AgentRules, known: set[str], agents: set[str],
                    requesters: set[str]) -> list[Signal]:
    short = commit.sha[:7]
    found: list[Signal] = []
    humans: set[str] = set()
    accounts = {w.login.lower(): w for w in (commit.author, commit.committer) if w is not None}
    for who in accounts.values():
        if _is_agent_account(who, known):
            agents.add(who.login.lower())
            # commit attribution follows the email, which anyone can set: a hint
            found.append(Signal("commit author", f"commit {short} attributed to @{who.login}",
                                False))
        elif who.login.lower() != "web-flow":
            humans.add(who.login.lower())
    coauthors_human: set[str] = set()
    for match in TRAILER_RE.finditer(commit.message):
        email = match.group("email").strip()
        if _email_matches(email, rules.coauthor_emails):
            found.append(Signal("trailer", f"commit {short} is co-authored by "
                                f"{match.group('name')} <{email}>", False))
        else:
            noreply = NOREPLY_RE.match(email)
            if noreply:
                coauthors_human.add(noreply.group("login").lower())
    for marker in _markers(commit.message, rules):
        found.append(Signal("marker", f"commit {short} says {marker!r}", False))
    if found:
        # a person on an agent's commit, as author or co-author, asked for it
        requesters.update(humans | coauthors_human)
    return found


def _is_agent_account(user: User, known: set[str]) -> bool:
    return user.is_bot or user.login.lower() in known


def _email_matches(email: str, patterns: list[str]) -> bool:
    email = email.lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern.startswith("*") and email.endswith(pattern[1:]) or email == pattern:
            return True
    return False


def _markers(text: str, rules: AgentRules) -> list[str]:
    lowered = text.lower()
    return [m for m in rules.markers if m.lower() in lowered]
