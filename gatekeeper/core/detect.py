"""Is this pull request agent-authored, or automation's? Evidence, its strength, and who asked
the agent. Pure.

Two classes: agents (AI that writes code) and automation (dependabot, pre-commit-ci, ...). A
bot account in neither list is treated as an agent, and the evidence says so (fail closed).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gatekeeper.core.model import Commit, PullRequest, User
from gatekeeper.core.policy import AgentRules

TRAILER_RE = re.compile(r"^co-authored-by:\s*(?P<name>.*?)\s*<(?P<email>[^>]+)>\s*$",
                        re.IGNORECASE | re.MULTILINE)
NOREPLY_RE = re.compile(r"^(?:\d+\+)?(?P<login>[A-Za-z0-9-]+(?:\[bot\])?)"
                        r"@users\.noreply\.github\.com$", re.IGNORECASE)


@dataclass(frozen=True)
class Signal:
    kind: str
    detail: str
    strong: bool  # an account GitHub vouches for, which a person cannot pose as

    def __str__(self) -> str:
        return f"{self.detail} ({'strong' if self.strong else 'hint'})"


@dataclass(frozen=True)
class Detection:
    signals: tuple[Signal, ...]  # agents' (automation's are in `automation`)
    agents: frozenset[str]  # lower-cased logins of agent accounts involved
    requesters: frozenset[str]  # lower-cased logins of humans who asked an agent for this
    automation: tuple[Signal, ...] = ()  # automation bots' signals

    @property
    def is_agent(self) -> bool:
        return bool(self.signals)

    @property
    def is_automation(self) -> bool:
        """Automation's work with no agent in it."""
        return bool(self.automation) and not self.signals

    def gated(self, gate: str) -> bool:
        """Whether the policy's `gate:` covers this pull request."""
        return gate == "all" or self.is_agent or (gate == "agents+automation"
                                                  and bool(self.automation))

    @property
    def strong(self) -> bool:
        return any(s.strong for s in self.signals)


def detect(pr: PullRequest, commits: Sequence[Commit], rules: AgentRules) -> Detection:
    known = {login.lower() for login in rules.bot_logins}
    automation_logins = {login.lower() for login in rules.automation_logins}
    signals: list[Signal] = []
    automation: list[Signal] = []
    agents: set[str] = set()
    requesters: set[str] = set()

    author_class = _account_class(pr.author, known, automation_logins)
    if author_class == "automation":
        automation.append(Signal("automation account", f"opened by @{pr.author.login} "
                                 f"({_name(rules, pr.author.login, 'automation')})", True))
    elif author_class:
        agents.add(pr.author.login.lower())
        signals.append(Signal(author_class, f"opened by @{pr.author.login} "
                              f"({_account_text(rules, pr.author.login, author_class)})", True))
    for prefix in rules.branch_prefixes:
        if pr.head_ref.lower().startswith(prefix.lower()):
            signals.append(Signal("branch", f"head branch {pr.head_ref!r} starts with {prefix!r}"
                                  f"{_of(rules, prefix)}", False))
    wanted = {label.lower() for label in rules.labels}
    for label in pr.labels:
        if label.lower() in wanted:
            signals.append(Signal("label", f"labelled {label!r}", False))
    for marker in _markers(pr.body, rules):
        signals.append(Signal("marker", f"pull request body says {marker!r}{_of(rules, marker)}",
                              False))

    for commit in commits:
        found, by_automation = _commit_signals(commit, rules, known, automation_logins, agents,
                                               requesters)
        signals += found
        automation += by_automation

    if signals:
        if author_class not in ("agent account", "bot account"):
            requesters.add(pr.author.login.lower())  # e.g. Codex cloud opens PRs as its user
        else:
            requesters.update(a.login.lower() for a in pr.assignees if not a.is_bot
                              and a.login.lower() not in known)
    return Detection(tuple(signals), frozenset(agents), frozenset(requesters - agents),
                     tuple(automation))


def _commit_signals(commit: Commit, rules: AgentRules, known: set[str], automation_logins: set[str],
                    agents: set[str], requesters: set[str]) -> tuple[list[Signal], list[Signal]]:
    short = commit.sha[:7]
    found: list[Signal] = []
    by_automation: list[Signal] = []
    humans: set[str] = set()
    accounts = {w.login.lower(): w for w in (commit.author, commit.committer) if w is not None}
    for who in accounts.values():
        kind = _account_class(who, known, automation_logins)
        if kind == "automation":
            by_automation.append(Signal("commit author", f"commit {short} attributed to "
                                        f"@{who.login} ({_name(rules, who.login, 'automation')})",
                                        False))
        elif kind:
            agents.add(who.login.lower())
            # commit attribution follows the email, which anyone can set: a hint
            found.append(Signal("commit author", f"commit {short} attributed to @{who.login} "
                                f"({_account_text(rules, who.login, kind)})", False))
        elif who.login.lower() != "web-flow":
            humans.add(who.login.lower())
    if _email_matches(commit.author_email, rules.automation_emails):
        by_automation.append(Signal("commit author", f"commit {short} authored by "
                                    f"<{commit.author_email}>{_of(rules, commit.author_email)}",
                                    False))
    if _email_matches(commit.author_email, rules.author_emails):
        found.append(Signal("commit author", f"commit {short} authored by "
                            f"<{commit.author_email}>{_of(rules, commit.author_email)}", False))
    for role, name in (("authored", commit.author_name), ("committed", commit.committer_name)):
        for pattern in rules.author_names:
            if name and fnmatch.fnmatchcase(name.lower(), pattern.lower()):
                found.append(Signal("commit author", f"commit {short} {role} by {name!r}"
                                    f"{_of(rules, pattern)}", False))
    coauthors_human: set[str] = set()
    for match in TRAILER_RE.finditer(commit.message):
        email, name = match.group("email").strip(), match.group("name")
        noreply = NOREPLY_RE.match(email)
        login = noreply.group("login").lower() if noreply else ""
        if _email_matches(email, rules.automation_emails) or login in automation_logins:
            by_automation.append(Signal("trailer", f"commit {short} is co-authored by {name} "
                                        f"<{email}>{_of(rules, login or email)}", False))
        elif _email_matches(email, rules.coauthor_emails) or login in known:
            found.append(Signal("trailer", f"commit {short} is co-authored by {name} <{email}>"
                                f"{_of(rules, login or email)}", False))
        elif login.endswith("[bot]"):
            found.append(Signal("trailer", f"commit {short} is co-authored by {name} <{email}>, "
                                "a bot known as neither agent nor automation: treated as an "
                                "agent", False))
        elif login:
            coauthors_human.add(login)
    for marker in _markers(commit.message, rules):
        found.append(Signal("marker", f"commit {short} says {marker!r}{_of(rules, marker)}",
                            False))
    for prefix in rules.message_prefixes:
        if commit.message.lower().startswith(prefix.lower()):
            found.append(Signal("marker", f"commit {short} starts with {prefix.strip()!r}"
                                f"{_of(rules, prefix)}", False))
    if found:
        # a person on an agent's commit, as author or co-author, asked for it
        requesters.update(humans | coauthors_human)
    return found, by_automation


def _account_class(user: User, known: set[str], automation: set[str]) -> str | None:
    """'agent account', 'automation', 'bot account' (unknown bot: an agent) or None (a person)."""
    login = user.login.lower()
    if login in known:
        return "agent account"
    if login in automation:
        return "automation"
    return "bot account" if user.is_bot else None


def _account_text(rules: AgentRules, login: str, kind: str) -> str:
    if kind == "bot account":
        return "a bot known as neither agent nor automation: treated as an agent"
    return _name(rules, login, kind)


def _name(rules: AgentRules, key: str, default: str) -> str:
    return rules.names.get(key.lower(), default)


def _of(rules: AgentRules, key: str) -> str:
    """ ' (Claude Code)' when the signature belongs to a named agent or automation."""
    name = rules.names.get(key.lower())
    return f" ({name})" if name else ""


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


def agent_names(detection: Detection, rules: AgentRules) -> list[str]:
    """The named agents behind the signals, for reports ("unnamed agent" when none is)."""
    named = set(rules.names.values())
    found = {n for s in detection.signals for n in named if f"({n})" in s.detail}
    return sorted(found) or (["unnamed agent"] if detection.is_agent else [])
