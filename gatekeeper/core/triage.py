"""Triage: a security reviewer dismisses a blocking finding as a rule's false positive. Pure.

A dismissal names findings by fingerprint: tool, rule, path and the code around the finding
(whitespace normalised), plus its place among findings with that same code. When the code
around it changes, the fingerprint changes and the finding blocks again; a second copy of the
same code is a second occurrence, so it is not covered either.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gatekeeper.core.detect import Detection
from gatekeeper.core.escape import md_code, md_text
from gatekeeper.core.model import Commit, Finding, PullRequest, StageResult, User
from gatekeeper.core.policy import AgentRules, Triage
from gatekeeper.core.review import ReviewerFacts, cannot_vouch, contributors_of

CONTEXT_LINES = 2  # lines either side of a finding that are part of its fingerprint
STAGES = ("sast", "dependencies")  # a failing test is not a rule's false positive
TOOLS = frozenset({"semgrep", "bandit", "pip-audit"})  # scanners' rules, allow-listed
GATE_RULES = frozenset({"possible-typosquat"})  # the gate's own heuristics a person may judge
UNREAD = frozenset({"parse-error", "scan-incomplete"})  # a file not analysed is not a finding
MAX_COMMANDS = 20  # per review or comment
MAX_REASON = 500

COMMAND_RE = re.compile(r"^[ \t]*/gatekeeper[ \t]+dismiss\b(.*)$", re.IGNORECASE | re.MULTILINE)
LOCATION_RE = re.compile(r"(?P<path>[^\s:]+):(?P<line>\d{1,9})")
USAGE = "`/gatekeeper dismiss RULE [path:line] REASON`"


@dataclass(frozen=True)
class Command:
    rule: str
    path: str | None
    line: int | None
    reason: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.path else ""


@dataclass(frozen=True)
class Dismissal:
    """A dismissal as given: what it covers was fixed when it was given (the fingerprints of
    the findings then shown), who gave it is checked again at every evaluation."""

    rule: str
    fingerprints: tuple[str, ...]
    by: str
    reason: str
    at: str
    where: str = ""  # "path:line" as given; "": every finding of the rule shown then
    sha: str = ""  # the head commit it was given on
    bot: bool = False

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "fingerprints": list(self.fingerprints)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Dismissal:
        return cls(str(data["rule"]), tuple(data.get("fingerprints") or ()), str(data["by"]),
                   str(data["reason"]), str(data.get("at", "")), str(data.get("where", "")),
                   str(data.get("sha", "")), bool(data.get("bot", False)))


@dataclass(frozen=True)
class Applied:
    """A dismissal at one evaluation: whether it counts, and how many findings it covers."""

    dismissal: Dismissal
    counted: bool
    why: str  # why it does not count; "" when it does
    covered: int


def parse_commands(body: str) -> list[Command]:
    """Each `/gatekeeper dismiss RULE [path:line] REASON` line of a review or comment."""
    found = []
    for match in COMMAND_RE.finditer(body or ""):
        words = match.group(1).split(None, 1)
        if not words:
            found.append(Command("", None, None, ""))
            continue
        rule, rest = words[0], (words[1] if len(words) > 1 else "")
        path = line = None
        head = rest.split(None, 1)
        if head and LOCATION_RE.fullmatch(head[0]):
            place = LOCATION_RE.fullmatch(head[0])
            path, line = place.group("path"), int(place.group("line"))
            rest = head[1] if len(head) > 1 else ""
        found.append(Command(rule, path, line, " ".join(rest.split())[:MAX_REASON]))
        if len(found) >= MAX_COMMANDS:
            break
    return found


def normalised(line: str) -> str:
    return " ".join(line.split())


def context_of(lines: Sequence[str], start: int, end: int) -> str:
    """The finding's lines and CONTEXT_LINES either side, whitespace normalised, blank lines
    left out; "" when the finding's line is not in the file."""
    if start < 1 or start > len(lines):
        return ""
    low = max(start - CONTEXT_LINES, 1)
    high = min(max(end, start) + CONTEXT_LINES, len(lines))
    return "\n".join(n for n in (normalised(text) for text in lines[low - 1:high]) if n)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode(errors="surrogateescape")).hexdigest()[:32]


def fingerprinted(findings: Sequence[Finding], read: Callable[[str], str | None]
                  ) -> tuple[Finding, ...]:
    """The findings with their fingerprints. `read`: a file's text in the commit scanned, or
    None. A finding whose code cannot be read gets none, and so can never be dismissed."""
    texts: dict[str, list[str] | None] = {}
    bases: list[str | None] = []
    for f in findings:
        if not f.path or f.start_line < 1:
            bases.append(None)
            continue
        if f.path not in texts:
            text = read(f.path)
            texts[f.path] = text.splitlines() if text is not None else None
        lines = texts[f.path]
        context = context_of(lines, f.start_line, f.end_line) if lines is not None else ""
        bases.append(_digest(f.tool, f.rule, f.path, context) if context else None)
    occurrence: dict[str, int] = {}
    ordinal: dict[int, int] = {}
    for i in sorted(range(len(findings)), key=lambda i: findings[i].start_line):
        base = bases[i]
        if base is not None:
            occurrence[base] = occurrence.get(base, 0) + 1
            ordinal[i] = occurrence[base]
    return tuple(dataclasses.replace(f, fingerprint=_digest(bases[i], str(ordinal[i])))
                 if bases[i] is not None else f for i, f in enumerate(findings))


def dismissable(stage: str, finding: Finding) -> bool:
    """A new blocking finding of a scanner's rule (or an allowed heuristic of the gate's) in
    the sast or dependencies stage, with a fingerprint."""
    return (stage in STAGES and finding.blocking and finding.new and not finding.waived_by
            and bool(finding.fingerprint) and finding.rule not in UNREAD
            and (finding.tool in TOOLS or finding.rule in GATE_RULES))


def resolve(command: Command, stages: Mapping[str, StageResult]) -> tuple[tuple[str, ...], str]:
    """The fingerprints of the findings on this commit that a command names, or why none."""
    if not command.rule:
        return (), f"a dismissal names a rule: {USAGE}"
    if not command.reason:
        return (), (f"a dismissal needs a reason, so the next reader knows why: {USAGE}, e.g. "
                    f"`/gatekeeper dismiss {command.rule} "
                    f"{command.where + ' ' if command.where else ''}the input is a constant`")
    where = f" at {command.where}" if command.where else ""
    named = [(stage, f) for stage, result in stages.items() for f in result.findings
             if f.rule.lower() == command.rule.lower() and _at(f, command)]
    if not named:
        return (), f"no finding of {command.rule}{where} on this commit"
    chosen = tuple(sorted({f.fingerprint for stage, f in named if dismissable(stage, f)}))
    if chosen:
        return chosen, ""
    if any(stage == "tests" for stage, _ in named):
        return (), (f"{command.rule} is a finding of the tests stage, which cannot be dismissed: "
                    "a failing test or what the tests tried is not a rule's false positive")
    if any(f.waived_by for _, f in named):
        return (), (f"{command.rule}{where} needs acknowledgement, not dismissal: add "
                    f"`/gatekeeper ack {command.rule}` to the approval")
    if not any(f.blocking and f.new for _, f in named):
        return (), f"{command.rule}{where} does not block, so there is nothing to dismiss"
    return (), (f"{command.rule}{where} is not a scanner rule's finding on code that can be "
                "read (a file not analysed, or a finding of the gate itself), so it cannot be "
                "dismissed; fix it or ask a break-glass team")


def _at(finding: Finding, command: Command) -> bool:
    if command.path is None:
        return True
    return finding.path == command.path and \
        finding.start_line <= (command.line or 0) <= max(finding.end_line, finding.start_line)


def apply(stages: Mapping[str, StageResult], dismissals: Sequence[Dismissal],
          refuse: Callable[[Dismissal], str | None]
          ) -> tuple[dict[str, StageResult], tuple[Applied, ...]]:
    """The stages with dismissed findings no longer blocking, and what each dismissal did.
    `refuse`: why a dismissal's giver does not count now (None: they do)."""
    judged = [(d, refuse(d)) for d in dismissals]
    covered: dict[int, int] = {}
    out = dict(stages)
    for name in STAGES:
        result = stages.get(name)
        if result is None:
            continue
        findings = []
        for f in result.findings:
            if dismissable(name, f):
                matching = [(i, d, why) for i, (d, why) in enumerate(judged)
                            if d.rule.lower() == f.rule.lower() and f.fingerprint in d.fingerprints]
                for i, _, _ in matching:
                    covered[i] = covered.get(i, 0) + 1
                by = next((d for _, d, why in matching if why is None), None)
                if by is not None:
                    f = dataclasses.replace(f, blocking=False, dismissed=f"@{by.by}: {by.reason}")
            findings.append(f)
        out[name] = _restated(result, tuple(findings))
    applied = tuple(Applied(d, why is None, why or "", covered.get(i, 0))
                    for i, (d, why) in enumerate(judged))
    return out, applied


def _restated(result: StageResult, findings: tuple[Finding, ...]) -> StageResult:
    """A failed stage passes once nothing blocks and no file went unread; otherwise its
    status stays what the stage said."""
    dismissed = [f for f in findings if f.dismissed]
    if not dismissed:
        return result
    status = result.status
    if status == "failed" and not any(f.blocking for f in findings) and \
            not any(f.rule in UNREAD for f in findings):
        status = "passed"
    lines = [f"- {md_text(f.rule)}" + (f" at {md_code(f'{f.path}:{f.start_line}')}" if f.path
                                      else "") + f", by {md_text(f.dismissed)}"
             for f in dismissed[:30]]
    more = [f"- … and {len(dismissed) - 30} more"] if len(dismissed) > 30 else []
    summary = (result.summary + f"\n\n**Dismissed by a security reviewer ({len(dismissed)}):**\n"
               + "\n".join(lines + more))
    return dataclasses.replace(result, status=status, summary=summary, findings=findings)


def reviewer_teams(triage: Triage, owner: str) -> list[str]:
    """The security reviewers' teams as "org/slug"; a bare slug is a team of the owner."""
    return [(t if "/" in t else f"{owner}/{t}").lower() for t in triage.teams]


def not_a_reviewer(user: User, triage: Triage, pr: PullRequest, detection: Detection,
                   commits: Sequence[Commit], facts: ReviewerFacts,
                   rules: AgentRules | None) -> str | None:
    """Why this account's dismissal does not count; None when it does. Asked again at every
    evaluation: a reviewer who later commits to the change, or leaves the team, stops counting."""
    why = cannot_vouch(user, pr, detection, contributors_of(commits), rules)
    if why:
        return why.replace("only humans can approve", "only a human security reviewer can "
                                                       "dismiss a finding")
    if not triage.users and not triage.teams:
        return ("the policy names no security reviewers (`triage.users`, `triage.teams`), so "
                "nobody can dismiss findings here")
    login = user.login.lower()
    if login in {u.lower() for u in triage.users}:
        return None
    teams = reviewer_teams(triage, pr.repo.split("/")[0])
    if set(teams) & set(facts.teams.get(login, frozenset())):
        return None
    named = ", ".join([*triage.users, *teams])
    return f"is not one of the policy's security reviewers (`triage`: {named})"


def decide_command(command: Command, user: User, at: str, sha: str,
                   stages: Mapping[str, StageResult], refused: str | None
                   ) -> tuple[Dismissal | None, str]:
    """One command on the head commit `sha`: the dismissal to record, or None; and the reply.
    `refused`: why the commenter's dismissals do not count (not_a_reviewer)."""
    shown = f"{command.rule or '(no rule)'}{' at ' + command.where if command.where else ''}"
    if refused:
        return None, f"@{user.login}'s dismissal of {shown} does not count: @{user.login} {refused}"
    fingerprints, problem = resolve(command, stages)
    if problem:
        return None, f"not dismissed: {problem}"
    dismissal = Dismissal(command.rule, fingerprints, user.login, command.reason, at,
                          command.where, sha, user.is_bot)
    count = len(fingerprints)
    return dismissal, (f"{shown} dismissed by @{user.login} ({count} finding"
                       f"{'s' if count > 1 else ''} on {sha[:7]}): {command.reason}. It blocks "
                       "again wherever the code around it changes.")


def replies(outcomes: Sequence[str]) -> str:
    """One comment answering each command of a review or comment."""
    return "Gatekeeper:\n" + "\n".join(f"- {md_text(o)}" for o in outcomes)
