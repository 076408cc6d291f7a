"""A seeded audit trail for the activity report, and its figures counted by hand.

Organisation acme, window 2026-11-01 to 2026-11-08:
- acme/api#1 (Claude Code): tests fail on a1 (finding CWE-89 high), a2 passes (its tests tried
  the network; 6 of 10 changed lines covered), approved 3 h after a2's verdict;
- acme/api#2 (Copilot): sast fails (CWE-78 high, CWE-89 medium), overridden by carol and
  merged by dave (past the gate); its approval comes on 11-09, after the window;
- acme/web#7 (Claude Code): off-limits, not eligible;
- acme/web#8 (Codex and Claude Code): passes (one low finding, no CWE; its tests started a
  shell; 3 of 4 changed lines covered), approved 30 min after;
- acme/web#9: a person's pull request under `gate: all` (not an agent's: not counted);
- acme/web: two agent commits pushed to main by erin with no pull request (past the gate);
- acme/api#3: before the window; other/app#1: another organisation.
"""

from __future__ import annotations

from datetime import UTC, datetime

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 8, tzinfo=UTC)


def _r(at, kind, repo, pr, **fields):
    return {"at": at, "kind": kind, "repo": repo, "pr": pr, **fields}


def _stages(at, repo, pr, sha, failing=(), found=(), coverage=None):
    results = {s: {"status": "failed" if s in failing else "passed", "findings": 0, "blocking": 0}
               for s in ("tests", "sast", "dependencies")}
    return _r(at, "stages", repo, pr, sha=sha, results=results, found=list(found),
              coverage=coverage)


def _found(rule, cwe, severity):
    return {"rule": rule, "cwe": cwe, "severity": severity, "blocking": severity != "low"}


def _agent(at, repo, pr, names, agent=True):
    return _r(at, "classification", repo, pr, agent=agent, gated=True, names=names)


RECORDS = [
    _agent("2026-11-02T10:00:00Z", "acme/api", 1, ["Claude Code"]),
    _stages("2026-11-02T10:05:00Z", "acme/api", 1, "a1", ["tests"],
            [_found("sql-injection", "CWE-89", "high")]),
    _r("2026-11-02T10:06:00Z", "review", "acme/api", 1, sha="a1", satisfied=False),
    _stages("2026-11-03T09:00:00Z", "acme/api", 1, "a2",
            found=[{"rule": "attempt-network", "cwe": "", "severity": "medium",
                    "blocking": False}], coverage=[6, 10]),
    _r("2026-11-03T12:00:00Z", "review", "acme/api", 1, sha="a2", satisfied=True),
    _agent("2026-11-04T08:00:00Z", "acme/api", 2, ["Copilot coding agent"]),
    _stages("2026-11-04T08:10:00Z", "acme/api", 2, "b1", ["sast"],
            [_found("command-injection", "CWE-78", "high"),
             _found("sql-string", "CWE-89", "medium")]),
    _r("2026-11-04T09:00:00Z", "override", "acme/api", 2, sha="b1", by="carol",
       reason="payments are down"),
    _r("2026-11-04T09:30:00Z", "dismissal", "acme/api", 2, sha="b1", by="ivy",
       rule="sql-string", where="db.py:12", reason="the table name is a constant",
       fingerprints=["f" * 32]),
    _r("2026-11-04T09:31:00Z", "dismissal-refused", "acme/api", 2, sha="b1", by="mallory",
       rule="command-injection", where="", reason="fine", why="not a security reviewer"),
    _r("2026-11-04T10:00:00Z", "merged-without-green", "acme/api", 2, sha="b1",
       conclusion="success", merged_by="dave", override=True),
    _r("2026-11-09T09:00:00Z", "review", "acme/api", 2, sha="b1", satisfied=True),
    _r("2026-11-07T08:00:00Z", "pushed-past-the-gate", "acme/web", None, sha="f2",
       branch="main", pusher="erin", commits=["f1", "f2"], evidence=["commit f1 ..."]),
    _agent("2026-11-05T00:00:00Z", "acme/web", 7, ["Claude Code"]),
    _r("2026-11-05T00:00:01Z", "not-eligible", "acme/web", 7, level="restricted",
       reasons=["levels.restricted.agents: forbidden"]),
    _agent("2026-11-06T10:00:00Z", "acme/web", 8, ["Codex", "Claude Code"]),
    _stages("2026-11-06T10:30:00Z", "acme/web", 8, "d1", (),
            [_found("weak-hash", "", "low"), {"rule": "attempt-shell", "cwe": "",
                                              "severity": "medium", "blocking": False}],
            coverage=[3, 4]),
    _r("2026-11-06T11:00:00Z", "review", "acme/web", 8, sha="d1", satisfied=True),
    _agent("2026-11-06T12:00:00Z", "acme/web", 9, [], agent=False),
    _stages("2026-11-06T12:10:00Z", "acme/web", 9, "e1", ["tests"]),
    _agent("2026-10-20T10:00:00Z", "acme/api", 3, ["Devin"]),
    _agent("2026-11-03T10:00:00Z", "other/app", 1, ["Devin"]),
]

# counted by hand from the list above
EXPECTED_TOTALS = {"gated": 4, "blocked": 3, "approved": 2, "median_hours_to_approval": 1.75,
                   "with_attempts": 2, "changed_line_coverage": 64.3,  # 9 of 14 lines
                   "overrides": 1, "past_gate": 2, "dismissals": 1}
EXPECTED_ATTEMPTS = {"network": 1, "shell": 1}
EXPECTED_DAY_COVERAGE = {"2026-11-03": 60.0, "2026-11-06": 75.0}
EXPECTED_PAST_GATE = [("acme/api", 2, "dave", "merged on a break-glass override"),
                      ("acme/web", None, "erin",
                       "2 agent commit(s) pushed to main with no pull request")]
EXPECTED_BLOCKED_BY = {"eligibility": 1, "sast": 1, "tests": 1}
EXPECTED_CWE = {"no CWE": 3, "CWE-89": 2, "CWE-78": 1}
EXPECTED_SEVERITY = {"high": 2, "low": 1, "medium": 3}
EXPECTED_REPOSITORIES = [
    {"name": "acme/api", "gated": 2, "blocked": 2, "approved": 1, "median_hours_to_approval": 3.0,
     "blocked_by": {"sast": 1, "tests": 1}, "overrides": 1, "with_attempts": 1,
     "changed_line_coverage": 60.0},
    {"name": "acme/web", "gated": 2, "blocked": 1, "approved": 1, "median_hours_to_approval": 0.5,
     "blocked_by": {"eligibility": 1}, "overrides": 0, "with_attempts": 1,
     "changed_line_coverage": 75.0},
]
EXPECTED_AGENTS = {"Claude Code": (3, 2, 2, 1.75), "Codex": (1, 0, 1, 0.5),
                   "Copilot coding agent": (1, 1, 0, None)}
EXPECTED_DAYS = {"2026-11-02": (1, 1, 0), "2026-11-03": (0, 0, 1), "2026-11-04": (1, 1, 0),
                 "2026-11-05": (1, 1, 0), "2026-11-06": (1, 0, 1)}


def seed(store) -> None:
    """The records, each in its pull request's stream, as the audit trail keeps them."""
    for record in RECORDS:
        store.append_record(f"pull:{record['repo']}#{record['pr'] or 'pushes'}", record, 2000)
