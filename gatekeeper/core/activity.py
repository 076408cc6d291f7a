"""Agent activity of an organisation, counted from the audit trail. Pure: records in, figures out.

What is counted, per pull request with records in the window:
- gated: its classification says an agent's and gated;
- blocked: a stage failed or errored on one of its commits, or the organisation's policy did
  not allow it (`eligibility`), or the policy could not be read or was invalid (`policy`);
  waiting for review is not blocked;
- approved: a review evaluation was satisfied; the time to approval runs from the first
  verdict on that commit (its stages record) to the first satisfied evaluation of it;
- findings: the distinct new findings over its commits, by CWE and by severity;
- overrides: break-glass records, with who and why;
- dismissals: blocking findings a security reviewer dismissed (triage), with who and why;
- per agent: a pull request is counted under every agent that worked on it, so the agent
  rows can add up to more than the totals (`multi_agent` says how many pull requests);
- attempts: pull requests whose tests tried something new (network, a credential, a shell,
  ...: the attempt log's findings), by kind;
- changed-line coverage: covered over changed executable lines, each pull request's latest
  measured commit, per repository, agent and day;
- past the gate: merges of gated pull requests without a green gate (or on an override) and
  agents' commits pushed to a protected branch with no pull request.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

BLOCKING_STATUS = ("failed", "error")


@dataclass
class _Pull:
    repo: str
    number: int
    agents: set[str] = field(default_factory=set)
    gated_at: str | None = None
    blocked_by: set[str] = field(default_factory=set)
    blocked_at: str | None = None
    verdict_at: dict[str, str] = field(default_factory=dict)  # sha -> first stages record
    approved_at: str | None = None
    hours_to_approval: float | None = None
    findings: dict[tuple, dict] = field(default_factory=dict)  # distinct over its commits
    unknown_bots: set[str] = field(default_factory=set)  # bots treated as agents unclassified
    attempts: set[str] = field(default_factory=set)  # kinds its tests tried (attempt log)
    attempts_at: str | None = None  # when the first of them was recorded
    coverage: tuple[int, int] | None = None  # its latest changed-line coverage: covered, total
    coverage_at: str | None = None


def summarise(records: Iterable[dict], since: datetime, until: datetime) -> dict:
    """The report's figures from the records of one organisation's pull requests."""
    lo, hi = _stamp(since), _stamp(until)
    pulls: dict[tuple[str, int], _Pull] = {}
    overrides, past_gate, dismissals = [], [], []
    for record in sorted(records, key=lambda r: r.get("at", "")):
        at = record.get("at", "")
        if lo <= at <= hi and record.get("kind") in PAST_GATE and record.get("repo"):
            past_gate.append(_past_gate(record))
        if not (lo <= at <= hi) or not record.get("repo") or not record.get("pr"):
            continue
        pull = pulls.setdefault((record["repo"], record["pr"]), _Pull(record["repo"], record["pr"]))
        _take(pull, record, overrides)
        if record.get("kind") == "dismissal":
            dismissals.append({"repo": pull.repo, "pr": pull.number, "at": at,
                               "sha": record.get("sha"), "by": record.get("by"),
                               "rule": record.get("rule"), "where": record.get("where") or "",
                               "reason": record.get("reason"),
                               "findings": len(record.get("fingerprints") or [])})
    gated = [p for p in pulls.values() if p.gated_at]
    return {
        "since": lo, "until": hi,
        "totals": _figures(gated) | {"overrides": len(overrides), "past_gate": len(past_gate),
                                     "dismissals": len(dismissals)},
        "blocked_by": dict(sorted(Counter(s for p in gated for s in p.blocked_by).items())),
        "findings": {
            "by_cwe": _counted(f.get("cwe") or "no CWE" for p in gated
                               for f in p.findings.values()),
            "by_severity": _counted(f.get("severity") or "unknown" for p in gated
                                    for f in p.findings.values()),
        },
        # pull requests whose tests tried each kind (network, credential, shell, ...)
        "attempts_by_kind": _counted(k for p in gated for k in p.attempts),
        "repositories": _grouped(gated, lambda p: [p.repo], overrides, "repo"),
        "agents": _grouped(gated, lambda p: sorted(p.agents) or ["unnamed agent"], None, ""),
        # a pull request several agents worked on is one in the totals and one under each
        # agent: the agent rows then add up to more, and the report says by how many
        "multi_agent": sum(1 for p in gated if len(p.agents) > 1),
        "overrides": overrides,
        "dismissals": dismissals,  # blocking findings dismissed by security reviewers
        # merged without a green gate (or on an override), or agents' commits pushed with
        # no pull request: what reached a protected branch past the gate
        "past_gate": past_gate,
        "days": _days(gated, since, until),
        # bots neither list knows, gated as agents: an admin classifies them in one edit
        "unknown_bots": dict(sorted(Counter(b for p in pulls.values()
                                            for b in p.unknown_bots).items())),
    }


UNKNOWN_RE = re.compile(r"(?:@(?P<login>[\w.-]+(?:\[bot\])?) \(|co-authored by .*? <"
                        r"(?P<email>[^>]*)>, )a bot known as neither agent nor automation")


def unknown_bots(signals: Iterable[str]) -> set[str]:
    """The unclassified bots a classification's evidence names (logins, or co-author
    addresses)."""
    return {m.group("login") or m.group("email") for s in signals for m in UNKNOWN_RE.finditer(s)}


def _take(pull: _Pull, record: dict, overrides: list[dict]) -> None:
    kind, at, sha = record.get("kind"), record["at"], record.get("sha")
    if kind == "classification":
        pull.unknown_bots.update(unknown_bots(record.get("signals") or []))
    if kind == "classification" and record.get("agent") and record.get("gated"):
        pull.gated_at = pull.gated_at or at
        pull.agents.update(record.get("names") or [])
    elif kind == "stages":
        if sha and sha not in pull.verdict_at:
            pull.verdict_at[sha] = at
        for found in record.get("found") or []:
            key = (found.get("rule"), found.get("cwe"), found.get("severity"))
            pull.findings.setdefault(key, found)
            if str(found.get("rule", "")).startswith("attempt-"):
                pull.attempts.add(found["rule"].removeprefix("attempt-"))
                pull.attempts_at = pull.attempts_at or at
        if record.get("coverage"):
            pull.coverage, pull.coverage_at = tuple(record["coverage"]), at
        for stage, result in (record.get("results") or {}).items():
            if result.get("status") in BLOCKING_STATUS:
                _block(pull, stage, at)
    elif kind == "not-eligible":
        _block(pull, "eligibility", at)
    elif kind == "policy" and record.get("error"):
        _block(pull, "policy", at)
    elif kind == "review" and record.get("satisfied") and pull.approved_at is None:
        pull.approved_at = at
        verdict = pull.verdict_at.get(sha or "")
        if verdict:
            pull.hours_to_approval = round(
                (_parse(at) - _parse(verdict)).total_seconds() / 3600, 2)
    elif kind == "override":
        overrides.append({"repo": pull.repo, "pr": pull.number, "by": record.get("by"),
                          "reason": record.get("reason"), "at": at, "sha": sha})


PAST_GATE = ("merged-without-green", "pushed-past-the-gate")


def _past_gate(record: dict) -> dict:
    if record["kind"] == "merged-without-green":
        how = "merged on a break-glass override" if record.get("override") else \
            f"merged with gatekeeper {record.get('conclusion') or 'never run'}"
        return {"repo": record["repo"], "pr": record.get("pr"), "at": record["at"],
                "sha": record.get("sha"), "by": record.get("merged_by"), "how": how}
    return {"repo": record["repo"], "pr": None, "at": record["at"], "sha": record.get("sha"),
            "by": record.get("pusher"), "how": f"{len(record.get('commits') or [])} agent "
            f"commit(s) pushed to {record.get('branch')} with no pull request"}


def _block(pull: _Pull, why: str, at: str) -> None:
    pull.blocked_by.add(why)
    pull.blocked_at = pull.blocked_at or at


def _figures(pulls: list[_Pull]) -> dict:
    hours = [p.hours_to_approval for p in pulls if p.hours_to_approval is not None]
    return {"gated": len(pulls), "blocked": sum(1 for p in pulls if p.blocked_by),
            "approved": sum(1 for p in pulls if p.approved_at),
            "median_hours_to_approval": round(statistics.median(hours), 2) if hours else None,
            "with_attempts": sum(1 for p in pulls if p.attempts),
            "changed_line_coverage": _share([p.coverage for p in pulls if p.coverage])}


def _share(shares: list[tuple[int, int]]) -> float | None:
    """Covered over changed executable lines, in per cent, over the pull requests measured."""
    total = sum(t for _, t in shares)
    return round(100 * sum(c for c, _ in shares) / total, 1) if total else None


def _grouped(pulls: list[_Pull], keys, overrides: list[dict] | None, field_name: str) -> list:
    groups: dict[str, list[_Pull]] = defaultdict(list)
    for pull in pulls:
        for key in keys(pull):
            groups[key].append(pull)
    rows = []
    for name, members in sorted(groups.items()):
        row = {"name": name, **_figures(members),
               "blocked_by": dict(sorted(Counter(s for p in members
                                                 for s in p.blocked_by).items()))}
        if overrides is not None:
            row["overrides"] = sum(1 for o in overrides if o[field_name] == name)
        rows.append(row)
    return rows


def _days(pulls: list[_Pull], since: datetime, until: datetime) -> list[dict]:
    gated = Counter(p.gated_at[:10] for p in pulls)
    blocked = Counter(p.blocked_at[:10] for p in pulls if p.blocked_at)
    approved = Counter(p.approved_at[:10] for p in pulls if p.approved_at)
    tried = Counter(p.attempts_at[:10] for p in pulls if p.attempts_at)
    measured = defaultdict(list)
    for p in pulls:
        if p.coverage:
            measured[p.coverage_at[:10]].append(p.coverage)
    days, day = [], since.date()
    while day <= until.date():
        key = day.isoformat()
        days.append({"day": key, "gated": gated[key], "blocked": blocked[key],
                     "approved": approved[key], "with_attempts": tried[key],
                     "changed_line_coverage": _share(measured[key])})
        day += timedelta(days=1)
    return days


def _counted(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(since: str, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """`since`: a duration back from `until` (90m, 6h, 30d) or a date (2026-11-01);
    `until`: a date or time (default now). ValueError says what is wrong."""
    end = _when(until, "--until") if until else now
    text = since.strip().lower()
    if len(text) >= 2 and text[-1] in UNITS and text[:-1].isdigit():
        start = end - timedelta(seconds=int(text[:-1]) * UNITS[text[-1]])
    else:
        start = _when(since, "--since")
    if start >= end:
        raise ValueError(f"the window is empty: {_stamp(start)} is not before {_stamp(end)}")
    return start, end


def _when(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} takes a duration (90m, 6h, 30d) or a date (2026-11-01), "
                         f"got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
