"""The activity report's figures against a hand count of a seeded audit trail."""

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta

from support.activity_seed import (
    EXPECTED_AGENTS,
    EXPECTED_ATTEMPTS,
    EXPECTED_BLOCKED_BY,
    EXPECTED_CWE,
    EXPECTED_DAY_COVERAGE,
    EXPECTED_DAYS,
    EXPECTED_PAST_GATE,
    EXPECTED_REPOSITORIES,
    EXPECTED_SEVERITY,
    EXPECTED_TOTALS,
    RECORDS,
    SINCE,
    UNTIL,
    seed,
)

from gatekeeper.core.activity import summarise
from gatekeeper.service.audit import AuditTrail
from gatekeeper.service.queue import RedisBackend


def check_figures(report):
    assert report["totals"] == EXPECTED_TOTALS
    assert report["blocked_by"] == EXPECTED_BLOCKED_BY
    assert report["findings"]["by_cwe"] == EXPECTED_CWE
    assert report["findings"]["by_severity"] == EXPECTED_SEVERITY
    assert report["repositories"] == EXPECTED_REPOSITORIES
    agents = {a["name"]: (a["gated"], a["blocked"], a["approved"], a["median_hours_to_approval"])
              for a in report["agents"]}
    assert agents == EXPECTED_AGENTS
    # web#8 had two agents: the agent rows add up to one more than the totals, and say so
    assert sum(a["gated"] for a in report["agents"]) == EXPECTED_TOTALS["gated"] + 1
    assert report["multi_agent"] == 1
    days = {d["day"]: (d["gated"], d["blocked"], d["approved"]) for d in report["days"]
            if any((d["gated"], d["blocked"], d["approved"]))}
    assert days == EXPECTED_DAYS
    assert len(report["days"]) == 8  # 1st to 8th of November, empty days included
    assert {d["day"]: d["changed_line_coverage"] for d in report["days"]
            if d["changed_line_coverage"] is not None} == EXPECTED_DAY_COVERAGE
    assert report["attempts_by_kind"] == EXPECTED_ATTEMPTS
    assert {d["day"]: d["with_attempts"] for d in report["days"] if d["with_attempts"]} == \
        {"2026-11-03": 1, "2026-11-06": 1}
    coverage = {a["name"]: (a["with_attempts"], a["changed_line_coverage"])
                for a in report["agents"]}
    assert coverage == {"Claude Code": (2, 64.3), "Codex": (1, 75.0),
                        "Copilot coding agent": (0, None)}
    [override] = report["overrides"]
    assert (override["repo"], override["pr"], override["by"]) == ("acme/api", 2, "carol")
    assert [(p["repo"], p["pr"], p["by"], p["how"]) for p in report["past_gate"]] == \
        EXPECTED_PAST_GATE
    [dismissed] = report["dismissals"]  # the refused one is not listed
    assert (dismissed["repo"], dismissed["pr"], dismissed["by"], dismissed["rule"],
            dismissed["where"], dismissed["reason"], dismissed["findings"]) == \
        ("acme/api", 2, "ivy", "sql-string", "db.py:12", "the table name is a constant", 1)


def test_figures_match_the_hand_count():
    acme = [r for r in RECORDS if r["repo"].startswith("acme/")]
    check_figures(summarise(acme, SINCE, UNTIL))


def test_the_organisations_records_come_from_the_store_and_no_other(redis_url):
    store = RedisBackend(redis_url, 3 * 24 * 3600)
    seed(store)
    records = AuditTrail(store).organisation("ACME", time.time() - 60)  # names: any case
    assert {r["repo"] for r in records} == {"acme/api", "acme/web"}
    check_figures(summarise(records, SINCE, UNTIL))


def test_audit_retention_drops_old_records(redis_url):
    store = RedisBackend(redis_url, 3 * 24 * 3600, retention_days=1)
    store.retention = 1  # seconds, so the test need not wait a day
    store.append_record("pull:acme/api#1", {"n": 1}, 2000)
    time.sleep(1.2)
    store.append_record("pull:acme/api#1", {"n": 2}, 2000)
    assert store.read_records("pull:acme/api#1") == [{"n": 2}]
    assert store.connection.xlen("gatekeeper:audit:pull:acme/api#1") == 1  # trimmed, not hidden
    assert 0 < store.connection.ttl("gatekeeper:audit:pull:acme/api#1") <= 1
    assert store.streams_since("pull:acme/", time.time() - 0.5) == ["pull:acme/api#1"]


def test_report_command_in_json_csv_and_text(redis_url, env):
    from test_cli import gatekeeper

    seed(RedisBackend(redis_url, 3 * 24 * 3600))
    window = ("--org", "acme", "--since", "2026-11-01", "--until", "2026-11-08")
    done = gatekeeper("report", *window, "--format", "json", env={**env, "REDIS_URL": redis_url})
    assert done.returncode == 0, done.stderr
    check_figures(json.loads(done.stdout))
    done = gatekeeper("report", *window, "--format", "csv", env={**env, "REDIS_URL": redis_url})
    rows = {(r["scope"], r["name"]): r for r in csv.DictReader(io.StringIO(done.stdout))}
    assert rows[("organisation", "acme")]["gated"] == "4"
    assert rows[("repository", "acme/api")]["blocked_by_sast"] == "1"
    assert rows[("agent", "Claude Code")]["median_hours_to_approval"] == "1.75"
    assert rows[("day", "2026-11-05")]["blocked"] == "1"
    assert (rows[("day", "2026-11-06")]["with_attempts"],
            rows[("day", "2026-11-06")]["changed_line_coverage"]) == ("1", "75.0")
    done = gatekeeper("report", *window, env={**env, "REDIS_URL": redis_url})
    assert "gated 4 · blocked 3 (eligibility 1, sast 1, tests 1) · approved 2" in done.stdout
    assert "@carol: payments are down" in done.stdout
    assert "Findings dismissed by security reviewers (1)" in done.stdout
    assert "acme/api#2  sql-string at db.py:12  @ivy: the table name is a constant" in done.stdout
    assert "Findings by CWE: no CWE 3, CWE-89 SQL injection 2, CWE-78 OS command injection 1" \
        in done.stdout
    assert "Tests tried (pull requests): network 1, shell 1" in done.stdout
    assert "changed-line coverage 64.3 %" in done.stdout
    assert "@erin: 2 agent commit(s) pushed to main with no pull request" in done.stdout
    assert "(1 pull request(s) had more than one agent: counted once in the totals" in done.stdout
    bad = gatekeeper("report", "--org", "acme", "--since", "last week",
                     env={**env, "REDIS_URL": redis_url})
    assert bad.returncode == 2 and "--since takes a duration" in bad.stderr


def test_charts_of_an_empty_window_render():
    from gatekeeper.service.activity import charts

    svgs = charts({"organisation": "acme", **summarise([], SINCE, UNTIL)})
    assert len(svgs) == 4 and all(s.startswith("<svg") and "<script" not in s for s in svgs)
    assert "nothing in this window" in svgs[1]


def test_unknown_bots_are_listed_for_the_admin_to_classify():
    from gatekeeper.core.detect import detect
    from gatekeeper.core.model import Commit, PullRequest, User
    from gatekeeper.core.rules import agent_rules

    bot = User("shiny-new-bot[bot]", "Bot")
    commit = Commit("a" * 40, "update\n\nCo-authored-by: helper[bot] <9+helper[bot]@users."
                    "noreply.github.com>", "x@example.com", User("person", "User"),
                    User("person", "User"), "Person", "Person")
    found = detect(PullRequest(repo="o/r", number=1, head_sha="a" * 40, head_ref="x",
                               base_ref="main", base_sha="0" * 40, author=bot),
                   [commit], agent_rules())
    record = {"kind": "classification", "repo": "o/r", "pr": 1, "at": "2026-12-01T10:00:00Z",
              "agent": True, "gated": True, "signals": [str(s) for s in found.signals]}
    known = {**record, "pr": 2, "signals": ["opened by @copilot-swe-agent[bot] (Copilot)"]}
    since = datetime(2026, 11, 1, tzinfo=UTC)
    figures = summarise([record, known], since, since + timedelta(days=60))
    # the opener and the co-author's address; a known agent's pull request adds nothing
    assert figures["unknown_bots"] == {"9+helper[bot]@users.noreply.github.com": 1,
                                       "shiny-new-bot[bot]": 1}


def test_report_needs_only_redis_and_says_when_it_does_not_answer():
    import subprocess
    import sys

    from conftest import free_port

    done = subprocess.run([sys.executable, "-m", "gatekeeper", "report", "--org", "o"],
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin",
                               "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Redis at REDIS_URL did not answer" in done.stderr  # no App setting was asked for


def test_the_text_report_strips_terminal_escapes_from_what_people_wrote():
    from gatekeeper.cli.activityreport import _text

    acme = [r for r in RECORDS if r["repo"].startswith("acme/")]
    hostile = [{**r, "reason": "down\x1b]0;pwned\x07\x1b[2J"} if r["kind"] == "override" else r
               for r in acme]
    out = io.StringIO()
    _text({"organisation": "acme", **summarise(hostile, SINCE, UNTIL)}, out)
    assert "@carol: down" in out.getvalue()  # the line is there
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()


def test_a_reason_stays_on_its_one_line_in_the_text_report():
    from gatekeeper.cli.activityreport import _text

    forged = "Merged or pushed past the gate (0)"
    acme = [r for r in RECORDS if r["repo"].startswith("acme/")]
    hostile = [{**r, "reason": f"down\n{forged}\u2028"} if r["kind"] == "override" else r
               for r in acme]
    out = io.StringIO()
    _text({"organisation": "acme", **summarise(hostile, SINCE, UNTIL)}, out)
    lines = out.getvalue().splitlines()
    assert f"@carol: down\\n{forged}\\u2028" in out.getvalue()  # there, escaped, on its line
    # control: the real heading is printed once, by the report itself
    assert sum(1 for line in lines if line.startswith("Merged or pushed past the gate")) == 1
