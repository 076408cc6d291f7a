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

# a trailer line, any spelling of its key ("Co-Authored-By:", "Assisted By :"); the key is
# short, so a line of prose with a colon in it is not one
TRAILER_LINE_RE = re.compile(r"^[ \t]*(?P<key>[A-Za-z][A-Za-z0-9 _-]{0,40}?)[ \t]*:(?P<value>[^\n]*)$",
                             re.MULTILINE)
AGENTS = (r"(claude|copilot|cursor|codex|gemini|devin|jules|aider|windsurf|cascade|opencode|"
          r"roo ?code|kilo ?code|augment code|openhands|open-swe|chatgpt|gpt-\d|tembo|"
          r"replit agent|deep agents)")
NAMES_AGENT_RE = re.compile(r"\b" + AGENTS + r"\b", re.IGNORECASE)
# an agent's own trailers, whatever their value says: Claude Code's session link, Amp's
# thread id, Copilot's logs link
LINK_TRAILER_RE = re.compile(r"(?:[a-z0-9]+[ _-]+)+session|amp[ _-]+thread[ _-]+id|"
                             r"agent[ _-]+logs[ _-]+url", re.IGNORECASE)
ONE_TOKEN_RE = re.compile(r"[ \t]*\S+[ \t]*")  # a link or an id, not a sentence
# a line saying what made the change ("🤖 Generated with [Claude Code]", "Made with Cursor + x",
# "Created with Deep Agents CLI"): at the start of a line, not in prose
MADE_WITH_RE = re.compile(r"^[^\w\n]{0,8}(?:generated|created|made|written|built|authored)"
                          r"[ \t]+(?:with|by|using)[ \t]+\[?" + AGENTS + r"\b[^\n]*",
                          re.IGNORECASE | re.MULTILINE)
# a co-author named as an agent at any address ("Claude <Agents+claude@corp>", "Claude Code <>")
AGENT_COAUTHOR_RE = re.compile(
    r"(claude( code| (opus|sonnet|haiku)( [\d.]+)?)?|(github )?copilot|cursor( agent)?|codex|"
    r"devin( ai)?|jules|gemini( cli)?|open-?swe|claude-flow|openhands)", re.IGNORECASE)
# trailers that name a person or account, read like GitHub's Co-authored-by
IDENTITY_KEYS = {"coauthoredby", "signedoffby", "codevelopedby"}
BOT_LOGIN_RE = re.compile(r"[A-Za-z0-9-]+\[bot\]", re.IGNORECASE)
SEPARATORS_RE = re.compile(r"[\s\-_:*\[\]]+")
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
    for prefix, link in _links(pr.body, rules):
        signals.append(Signal("session link", "pull request body links to an agent's session: "
                              f"{link[:100]!r}{_of(rules, prefix)}", False))

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
    naming_keys = {_compact(k) for k in rules.trailer_keys}
    for key, value in _trailers(commit.message):
        line = f"{key}: {value.strip()}"
        if _compact(key) in IDENTITY_KEYS:
            kind, detail, login = _identity(value, rules, known, automation_logins)
            said = "is co-authored by" if _compact(key) == "coauthoredby" else f"has {key!r}"
            if kind == "agent":
                found.append(Signal("trailer", f"commit {short} {said} {detail}", False))
            elif kind == "automation":
                by_automation.append(Signal("trailer", f"commit {short} {said} {detail}", False))
            elif login:
                coauthors_human.add(login)
        elif _compact(key) in naming_keys and NAMES_AGENT_RE.search(value) or \
                LINK_TRAILER_RE.fullmatch(key) and ONE_TOKEN_RE.fullmatch(value):
            found.append(Signal("trailer", f"commit {short} has {line[:80]!r}", False))
    for marker in _markers(commit.message, rules):
        found.append(Signal("marker", f"commit {short} says {marker!r}{_of(rules, marker)}",
                            False))
    for prefix, link in _links(commit.message, rules):
        found.append(Signal("session link", f"commit {short} links to an agent's session: "
                            f"{link[:100]!r}{_of(rules, prefix)}", False))
    said = {normalise(m) for m in rules.markers}
    for made in MADE_WITH_RE.finditer(commit.message):
        line = made.group(0).strip()
        if not any(m and m in normalise(line) for m in said):  # a marker already said it
            found.append(Signal("marker", f"commit {short} says {line[:80]!r}", False))
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
    if _listed(login, automation):
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


def normalise(text: str) -> str:
    """Case, spacing and punctuation left out of a comparison: "Co-Authored-By",
    "co authored by :" and "Made with [Cursor]" read as "co authored by" and "made with cursor"."""
    return SEPARATORS_RE.sub(" ", text.lower()).strip()


def _compact(key: str) -> str:
    """A trailer key without any separator: "Co-authored by" and "Coauthored-By" are one key."""
    return normalise(key).replace(" ", "")


def _trailers(message: str) -> list[tuple[str, str]]:
    """(key as written, value) for each line that has the shape of a trailer."""
    return [(m.group("key").strip(), m.group("value")) for m in TRAILER_LINE_RE.finditer(message)]


def _identity(value: str, rules: AgentRules, known: set[str],
              automation: set[str]) -> tuple[str | None, str, str]:
    """A co-author's (or sign-off's) class: ('agent' | 'automation' | None, evidence, the
    person's login when GitHub's address names one). An agent's signature wins over
    automation's, as for accounts: a policy cannot demote an agent by listing it as automation."""
    name, email = _name_and_address(value)
    noreply = NOREPLY_RE.match(email)
    logins = [noreply.group("login").lower()] if noreply else []
    if BOT_LOGIN_RE.fullmatch(name):  # "open-swe[bot] <...>": the name is the bot's login
        logins.append(name.lower())
    who = f"{name} <{email}>"
    agent_login = next((x for x in logins if x in known), "")
    pattern = _email_pattern(email, rules.coauthor_emails)
    if agent_login or pattern:
        return "agent", f"{who}{_of(rules, agent_login or pattern)}", ""
    if AGENT_COAUTHOR_RE.fullmatch(name):
        return "agent", f"{who}, an agent by its name", ""
    robot = next((_listed(x, automation) for x in logins if _listed(x, automation)), "")
    pattern = _email_pattern(email, rules.automation_emails)
    if robot or pattern:
        return "automation", f"{who}{_of(rules, robot or pattern)}", ""
    if any(x.endswith("[bot]") for x in logins):
        return "agent", (f"{who}, a bot known as neither agent nor automation: treated as an "
                         "agent"), ""
    return None, who, logins[0] if logins else ""


def _listed(login: str, automation: set[str]) -> str:
    """The automation entry (a login or a glob) that lists `login`, or ""."""
    if login in automation:
        return login
    # "[" is literal in a login ("x[bot]"), never fnmatch's character class
    return next((a for a in automation if "*" in a
                 and fnmatch.fnmatchcase(login, a.replace("[", "[[]"))), "")


def _name_and_address(value: str) -> tuple[str, str]:
    """"Name <address>" or a bare name; by string operations, linear in the line (a pattern
    with a lazy name beside optional spaces was cubic in a line of spaces)."""
    value = value.strip()
    start = value.find("<")
    if start >= 0 and value.endswith(">") and ">" not in value[start + 1:-1]:
        return value[:start].strip(), value[start + 1:-1].strip()
    return value, ""


def _email_pattern(email: str, patterns: list[str]) -> str:
    """The first pattern the address matches ("" for none)."""
    return next((p for p in patterns if _email_matches(email, [p])), "") if email else ""


def _links(text: str, rules: AgentRules) -> list[tuple[str, str]]:
    """(the rule's link, the link as written) for each agent session or task page linked."""
    found = []
    for prefix in rules.session_links:
        # the host starts the link ("https://", "www." or nothing before it): not in another host
        pattern = r"(?<![\w.-])(?:www\.)?" + re.escape(prefix) + r"[^\s)\]>\"'<]*"
        match = re.search(pattern, text, re.IGNORECASE)
        if match:
            found.append((prefix, match.group(0)))
    return found


def _markers(text: str, rules: AgentRules) -> list[str]:
    text = normalise(text)
    return [m for m in rules.markers if normalise(m) in text]


def agent_names(detection: Detection, rules: AgentRules) -> list[str]:
    """The named agents behind the signals, for reports ("unnamed agent" when none is)."""
    named = set(rules.names.values())
    found = {n for s in detection.signals for n in named if f"({n})" in s.detail}
    return sorted(found) or (["unnamed agent"] if detection.is_agent else [])
