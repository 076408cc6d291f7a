"""`gatekeeper report --org ORG --since 30d [--until DATE] [--format text|json|csv]`."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from types import SimpleNamespace

from redis.exceptions import RedisError

from gatekeeper.core.activity import parse_window
from gatekeeper.core.escape import one_line
from gatekeeper.core.rules import with_cwe_name
from gatekeeper.service.activity import organisation_report
from gatekeeper.service.queue import RETENTION_DAYS, stored_trail
from gatekeeper.service.settings import taken

STAGE_COLUMNS = ("tests", "sast", "dependencies", "eligibility", "policy")


def report(org: str, since: str, until: str | None, fmt: str, out=sys.stdout) -> int:
    try:
        start, end = parse_window(since, until, datetime.now(UTC))
    except ValueError as exc:
        print(f"gatekeeper report: {exc}", file=sys.stderr)
        return 2
    try:  # the report reads Redis and nothing else: no App key or secret is needed
        store = stored_trail(SimpleNamespace(
            redis_url=taken("REDIS_URL"), delivery_ttl_seconds=7 * 24 * 3600,
            audit_retention_days=RETENTION_DAYS), "report")
        figures = organisation_report(store, org, start, end)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    except RedisError as exc:
        print(f"gatekeeper report: Redis at REDIS_URL did not answer ({exc.__class__.__name__}"
              f": {exc}); check that it runs and the URL, as `gatekeeper doctor` does",
              file=sys.stderr)
        return 2
    {"json": _json, "csv": _csv}.get(fmt, _text)(figures, out)
    return 0


def _json(figures: dict, out) -> None:
    print(json.dumps(figures, indent=2), file=out)


def _csv(figures: dict, out) -> None:
    """One table: the organisation, each repository, each agent and each day."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scope", "name", "gated", "blocked", "approved",
                     "median_hours_to_approval", "overrides", "with_attempts",
                     "changed_line_coverage", *(f"blocked_by_{s}" for s in STAGE_COLUMNS)])
    whole = {**figures["totals"], "name": figures["organisation"],
             "blocked_by": figures["blocked_by"]}
    for scope, rows in (("organisation", [whole]), ("repository", figures["repositories"]),
                        ("agent", figures["agents"])):
        for row in rows:
            writer.writerow([scope, row["name"], row["gated"], row["blocked"], row["approved"],
                             _blank(row["median_hours_to_approval"]), _blank(row.get("overrides")),
                             row["with_attempts"], _blank(row["changed_line_coverage"]),
                             *(row["blocked_by"].get(s, 0) for s in STAGE_COLUMNS)])
    for day in figures["days"]:
        writer.writerow(["day", day["day"], day["gated"], day["blocked"], day["approved"],
                         "", "", day["with_attempts"], _blank(day["changed_line_coverage"]),
                         *([""] * len(STAGE_COLUMNS))])


def _text(figures: dict, out) -> None:
    totals = figures["totals"]
    hours = totals["median_hours_to_approval"]
    print(f"Agent activity in {figures['organisation']}, {figures['since']} to "
          f"{figures['until']}", file=out)
    print(f"  gated {totals['gated']} · blocked {totals['blocked']} "
          f"({_pairs(figures['blocked_by'])}) · approved {totals['approved']} · median time "
          f"from verdict to approval {_blank(hours) or '-'} h · overrides {totals['overrides']}",
          file=out)
    share = totals["changed_line_coverage"]
    print(f"  tests tried something new in {totals['with_attempts']} · changed-line coverage "
          f"{share if share is not None else '-'} %", file=out)
    for title, rows in (("repository", figures["repositories"]), ("agent", figures["agents"])):
        print(f"\nBy {title}", file=out)
        width = max([len(r["name"]) for r in rows] + [len(title)])
        print(f"  {title:<{width}}  gated  blocked  approved  median h  tried  covered %  "
              "blocked by", file=out)
        for r in rows:
            print(f"  {r['name']:<{width}}  {r['gated']:>5}  {r['blocked']:>7}  "
                  f"{r['approved']:>8}  {_blank(r['median_hours_to_approval']) or '-':>8}  "
                  f"{r['with_attempts']:>5}  {_blank(r['changed_line_coverage']) or '-':>9}  "
                  f"{_pairs(r['blocked_by'])}", file=out)
        if title == "agent" and figures.get("multi_agent"):
            print(f"  ({figures['multi_agent']} pull request(s) had more than one agent: counted "
                  "once in the totals and under each agent, so these rows add up to more)",
                  file=out)
    named = {with_cwe_name(k): v for k, v in figures["findings"]["by_cwe"].items()}
    print(f"\nFindings by CWE: {_pairs(named) or 'none'}", file=out)
    print(f"Findings by severity: {_pairs(figures['findings']['by_severity']) or 'none'}",
          file=out)
    print(f"Tests tried (pull requests): {_pairs(figures['attempts_by_kind']) or 'nothing new'}",
          file=out)
    print(f"\nOverrides ({len(figures['overrides'])})", file=out)
    for o in figures["overrides"]:
        print(one_line(f"  {o['at']}  {o['repo']}#{o['pr']}  @{o['by']}: {o['reason']}"),
              file=out)
    dismissed = figures.get("dismissals") or []
    print(f"\nFindings dismissed by security reviewers ({len(dismissed)})", file=out)
    for d in dismissed:
        where = f" at {d['where']}" if d["where"] else ""
        print(one_line(f"  {d['at']}  {d['repo']}#{d['pr']}  {d['rule']}{where}  @{d['by']}: "
                       f"{d['reason']}"), file=out)
    print(f"\nMerged or pushed past the gate ({len(figures['past_gate'])})", file=out)
    for p in figures["past_gate"]:
        where = f"{p['repo']}#{p['pr']}" if p["pr"] else f"{p['repo']}@{(p['sha'] or '')[:7]}"
        print(one_line(f"  {p['at']}  {where}  @{p['by']}: {p['how']}"), file=out)
    unknown = figures.get("unknown_bots") or {}
    if unknown:
        print(f"\nUnknown bots, gated as agents ({len(unknown)}): classify each in the "
              "organisation policy, agents.automation_logins (automation) or agents.bot_logins "
              "(an agent)", file=out)
        for login, pulls in unknown.items():
            print(f"  {login}  in {pulls} pull request{'s' if pulls != 1 else ''}", file=out)


def _pairs(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _blank(value) -> str:
    return "" if value is None else str(value)
