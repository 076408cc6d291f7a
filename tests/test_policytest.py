"""`gatekeeper policy test`: the example suite through the gate's own decision, offline."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "policy-tests"


def policy_test(folder, *args):
    return subprocess.run([sys.executable, "-m", "gatekeeper", "policy", "test", str(folder),
                           *args], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=dict(os.environ))


def test_the_example_suite_covers_the_policy_and_passes():
    done = policy_test(EXAMPLES, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["failed"] == 0 and report["passed"] >= 20
    text = "".join(p.read_text() for p in EXAMPLES.glob("*.yml"))
    for key in ("gate:", "approvals", "after_verdict", "approvers", "teams_only", "sensitive",
                "stages", "agents", "override", "levels", "off_limits", "forbidden",
                "instructions", "topics", "properties", "refusals", 'org: ""'):
        assert key in text, key


def test_a_wrong_expectation_fails_with_what_was_expected_and_what_came(tmp_path):
    suite = tmp_path / "suite"
    shutil.copytree(EXAMPLES, suite)
    cases = suite / "stages.yml"
    cases.write_text(cases.read_text().replace(
        "expect: {gate: failure, checks: {gatekeeper/sast: failure, gatekeeper/review: success}}",
        "expect: {gate: success, checks: {gatekeeper/sast: success}}"))
    done = policy_test(suite)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    at = lines.index("FAIL  a failing stage blocks an approved pull request  (stages.yml)")
    assert lines[at + 1:at + 3] == ["      gate: expected 'success', got 'failure'",
                                    "      check gatekeeper/sast: expected success, got failure"]
    assert lines[at + 3].startswith("      (the gate said: failure: Blocked: gatekeeper/sast")
    assert lines[-1].endswith(" passed, 1 failed")


def test_a_malformed_case_file_names_its_line_and_runs_nothing(tmp_path):
    (tmp_path / "cases.yml").write_text(
        "cases:\n  - name: x\n    expct: {gate: success}\n")
    done = policy_test(tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert f"{tmp_path / 'cases.yml'}:3: unknown key 'cases.0.expct', did you mean 'expect'?" \
        in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    done = policy_test(empty)
    assert done.returncode == 2 and "no case files" in done.stderr
