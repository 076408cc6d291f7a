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

# indented trailers and ones without an address ("Co-authored-by: Claude Code") occur too
TRAILER_RE = re.compile(r"^[ \t]*co-authored-by:[ \t]*(?P<name>[^<\n]*?)[ \t]*"
                        r"(?:<(?P<email>[^>\n]*)>)?[ \t]*$",
                        re.IGNORECASE | re.MULTILINE)
# an agent's own trailers, whatever its address: Claude Code's session link, Cursor's
# Made-with, the Linux kernel's Assisted-by convention, Amp's thread id, Copilot's logs link
AGENTS = (r"(claude|copilot|cursor|codex|gemini|devin|jules|aider|windsurf|cascade|opencode|"
          r"roo ?code|kilo ?code|augment code|openhands|open-swe|chatgpt|gpt-\d|tembo|"
          r"replit agent|deep agents)")
AGENT_TRAILER_RE = re.compile(
    r"^(?:[\w-]+-session:\s*https?://\S+|amp-thread-id:\s*\S+|agent-logs-url:\s*https?://\S+|"
    r"(?:made-with|assisted-by|generated-by|ai-agent|created-with|co-developed-by|signed-off-by)"
    r":[^\n]*\b" + AGENTS + r"\b[^\n]*)$", re.IGNORECASE | re.MULTILINE)
# a co-author named as an agent at any address ("Claude <Agents+claude@corp>", "Claude Code <>")
AGENT_COAUTHOR_RE = re.compile(
    r"(claude( code| (opus|sonnet|haiku)( [\d.]+)?)?|(github )?copilot|cursor( agent)?|codex|"
    r"devin( ai)?|jules|gemini( cli)?|open-?swe|claude-flow|openhands)", re.IGNORECASE)
NOREPLY_RE = re.compile(r"^(?:\d+\+)?(?P<login>[A-Za-z0-9-]+(?:\[bot\])?)"
                        r"@users\.noreply\.github\.com$", re.IGNORECASE)


@dataclass(frozen=True)
class Signal:
    kind: str
    detail: str
    strong: bool  # an account GitHub vouches for, which a person cannot pose as

    def __str__(self) -> str:
        return f"{self.detail} ({'strong' if self.strong else 'hint'})"

    @property
    def durable(self) -> bool:
        """Outside the commits (who opened it, its branch, labels, body): a rewritten history
        or stripped trailers leave it standing."""
        return not self.detail.startswith("commit ")


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


def commit_signals(commit: Commit, rules: AgentRules) -> list[Signal]:
    """The agent evidence one commit carries on its own (a push with no pull request)."""
    found, _ = _commit_signals(commit, rules, {login.lower() for login in rules.bot_logins},
                               {login.lower() for login in rules.automation_logins}, set(), set())
    return found


def _commit_signals(commit: Commit, rules: AgentRules, known: set[str], automation_logins: set[str],
                    agents: set[str], requesters: set[str]) -> tuple[list[Signal], list[Signal]]:
    short = commit.sha[:7]
    found: list[Signal] = []
    by_automation: list[Signal] = []
    humans: set[str] = set()
    accounts = {w.login.lower(): w for w in (commit.author, commit.committer) if w is not None}
    person_authored = commit.author is not None and \
        _account_class(commit.author, known, automation_logins) is None and \
        not _names_match(commit.author_name, rules.automation_names)
    for who in accounts.values():
        kind = _account_class(who, known, automation_logins)
        if person_authored and who is commit.committer and kind in ("automation", "bot account"):
            continue  # a person's commit that a bot only committed (a merge queue, a sync)
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
    if _names_match(commit.author_name, rules.automation_names):
        by_automation.append(Signal("commit author", f"commit {short} authored by "
                                    f"{commit.author_name!r} (automation by its name)", False))
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
        email, name = (match.group("email") or "").strip(), match.group("name")
        noreply = NOREPLY_RE.match(email)
        login = noreply.group("login").lower() if noreply else ""
        if _email_matches(email, rules.automation_emails) or (login and _account_class(
                User(login, "Bot"), set(), automation_logins) == "automation"):
            by_automation.append(Signal("trailer", f"commit {short} is co-authored by {name} "
                                        f"<{email}>{_of(rules, login or email)}", False))
        elif _email_matches(email, rules.coauthor_emails) or login in known:
            found.append(Signal("trailer", f"commit {short} is co-authored by {name} <{email}>"
                                f"{_of(rules, login or email)}", False))
        elif AGENT_COAUTHOR_RE.fullmatch(name.strip()):
            found.append(Signal("trailer", f"commit {short} is co-authored by {name} <{email}>, "
                                "an agent by its name", False))
        elif login.endswith("[bot]"):
            found.append(Signal("trailer", f"commit {short} is co-authored by {name} <{email}>, "
                                "a bot known as neither agent nor automation: treated as an "
                                "agent", False))
        elif login:
            coauthors_human.add(login)
    for marker in _markers(commit.message, rules):
        found.append(Signal("marker", f"commit {short} says {marker!r}{_of(rules, marker)}",
                            False))
    for trailer in AGENT_TRAILER_RE.finditer(commit.message):
        found.append(Signal("trailer", f"commit {short} has {trailer.group(0).strip()[:80]!r}",
                            False))
    for prefix in rules.message_prefixes:
        if commit.message.lower().startswith(prefix.lower()):
            found.append(Signal("marker", f"commit {short} starts with {prefix.strip()!r}"
                                f"{_of(rules, prefix)}", False))
    if found:
        # a person on an agent's commit, as author or co-author, asked for it
        requesters.update(humans | coauthors_human)
    return found, by_automation


def account_class(user: User, rules: AgentRules) -> str | None:
    """What the rules make of an account: see _account_class."""
    return _account_class(user, {login.lower() for login in rules.bot_logins},
                          {login.lower() for login in rules.automation_logins})


def _account_class(user: User, known: set[str], automation: set[str]) -> str | None:
    """'agent account', 'automation', 'bot account' (unknown bot: an agent) or None (a person)."""
    login = user.login.lower()
    if login in known:
        return "agent account"
    # "[" is literal in a login ("x[bot]"), never fnmatch's character class
    if login in automation or any("*" in a and fnmatch.fnmatchcase(login, a.replace("[", "[[]"))
                                  for a in automation):
        return "automation"
    return "bot account" if user.is_bot else None


def _account_text(rules: AgentRules, login: str, kind: str) -> str:
    if kind == "bot account":
        return ("a bot known as neither agent nor automation: treated as an agent; if it is "
                "automation, add it to agents.automation_logins in the policy")
    return _name(rules, login, kind)


def _name(rules: AgentRules, key: str, default: str) -> str:
    return rules.names.get(key.lower(), default)


def _of(rules: AgentRules, key: str) -> str:
    """ ' (Claude Code)' when the signature belongs to a named agent or automation."""
    name = rules.names.get(key.lower())
    return f" ({name})" if name else ""


def _names_match(name: str, patterns: list[str]) -> bool:
    return bool(name) and any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


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
