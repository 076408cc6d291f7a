"""`gatekeeper policy check`: what hurts in a policy file is named with its key and line;
a setting weaker than the organisation's default is a warning (exit 0), a secret in tests.env
or a key said twice an error (exit 1), a usage error exit 2. Control: a clean, stricter policy
prints nothing but "valid"."""

import io
import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pytest

from gatekeeper.cli.policycheck import ERRORS, NO_FILE, VALID, check_file
from gatekeeper.core.policy import parse_policy
from gatekeeper.core.policylint import weakenings
from gatekeeper.core.rules import default_policy_text

ROOT = Path(__file__).resolve().parent.parent
CLEAN = "approvals: 2\ntests:\n  preexisting: block\n  env: {LOG_LEVEL: debug, API_TOKEN: dummy}\n"


def run(tmp_path, text, org=False, form="text"):
    path = tmp_path / "gatekeeper.yml"
    path.write_text(text)
    out = io.StringIO()
    return check_file(str(path), org, form, out), out.getvalue(), str(path)


def random_text(n=40, seed=1):
    pick = random.Random(seed)
    return "".join(pick.choice(string.ascii_letters + string.digits) for _ in range(n))


def test_a_clean_policy_and_the_default_itself_are_valid_without_warnings(tmp_path):
    code, out, path = run(tmp_path, CLEAN)
    assert (code, out) == (VALID, f"{path}: valid\n")
    code, out, path = run(tmp_path, (ROOT / "rules" / "policy.yml").read_text())
    assert (code, out) == (VALID, f"{path}: valid\n")


def test_a_key_said_twice_is_an_error_with_both_lines(tmp_path):
    code, out, path = run(tmp_path, "approvals: 2\nstages:\n  tests: true\napprovals: 1\n")
    assert code == ERRORS
    assert out.splitlines()[0] == (f"{path}:4: duplicate key 'approvals' (first on line 1): "
                                   "only one of them would count")


# built at run time so no scanner of this repository takes them for real ones
TOKENS = {
    "ghp": "gh" + "p_" + random_text(36), "gho": "gh" + "o_" + random_text(36, 2),
    "ghs": "gh" + "s_" + random_text(36, 3), "pat": "github" + "_pat_" + random_text(60, 4),
    "slack": "xo" + "xb-" + "1234567890-" + random_text(24, 5),
    "slack-user": "xo" + "xp-" + random_text(30, 6),
    "aws": "AK" + "IA" + "".join(random.Random(7).choice(string.ascii_uppercase + "234567")
                                 for _ in range(16)),
    "pem": "-----BEGIN " + "RSA PRIVATE KEY-----\\nMIIEow...",
}


@pytest.mark.parametrize("kind", sorted(TOKENS))
def test_a_credential_in_tests_env_is_an_error_naming_the_variable_not_the_value(tmp_path, kind):
    value = TOKENS[kind]
    code, out, path = run(tmp_path, f'tests:\n  env:\n    LOG_LEVEL: debug\n    WHATEVER: "{value}"\n')
    assert code == ERRORS
    first = out.splitlines()[0]
    assert first.startswith(f"{path}:4: tests.env.WHATEVER: looks like ")
    assert "never put a secret there" in first
    assert value[:12] not in out  # the secret is not printed again


def test_a_random_looking_value_under_a_secrets_name_is_a_warning(tmp_path):
    value = random_text()
    code, out, path = run(tmp_path, f"tests:\n  env:\n    DJANGO_SECRET_KEY: {value}\n")
    assert code == VALID
    assert f"{path}:3: warning: tests.env.DJANGO_SECRET_KEY: a long random-looking value" in out
    assert value not in out
    # the controls: the same value under an ordinary name, a dummy under a secret's name
    for text in (f"tests:\n  env:\n    BUILD_ID: {value}\n",
                 "tests:\n  env:\n    DJANGO_SECRET_KEY: not-a-secret\n"):
        assert run(tmp_path, text)[:2] == (VALID, f"{tmp_path / 'gatekeeper.yml'}: valid\n")


@pytest.mark.parametrize("text,key,line", [
    ("stages:\n  tests: false\n", "stages.tests", 2),
    ("stages:\n  sast: false\n", "stages.sast", 2),
    ("approvers:\n  min_permission: read\n", "approvers.min_permission", 2),
    ("sensitive:\n  approvals: 1\n", "sensitive.approvals", 2),
    ("approvals:\n  after_verdict: false\n", "approvals.after_verdict", 2),
    ("tests:\n  base_tests: off\n", "tests.base_tests", 2),
    ("tests:\n  attempts: off\n", "tests.attempts", 2),
    ("coverage:\n  enabled: false\n", "coverage.enabled", 2),
    ("scanners:\n  block_on: high\n", "scanners.block_on", 2),
    ("scanners:\n  unparsed: neutral\n", "scanners.unparsed", 2),
    ("approvers:\n  users: [mallory]\n", "approvers.users", 2),
    ("break_glass:\n  teams: [acme/all]\n", "break_glass.teams", 2),
    ("tests:\n  command: make test\n", "tests.command", 2),
])
def test_each_weakening_is_a_warning_naming_its_key_and_line(tmp_path, text, key, line):
    code, out, path = run(tmp_path, text)
    assert code == VALID, out
    warnings = [w for w in out.splitlines() if ": warning: " in w]
    assert warnings == [next(w for w in warnings if w.startswith(f"{path}:{line}: warning: "
                                                                  f"{key}: "))]
    assert out.endswith(f"1 warning (the gate accepts the file as it is)\n{path}: valid\n")


def test_weakenings_are_measured_against_the_organisations_default_not_fixed_values():
    stricter = parse_policy("approvals: 3\ntests:\n  preexisting: block\n  base_tests: block\n"
                            "coverage:\n  blocking: true\n", default_policy_text())
    repo = parse_policy("tests:\n  base_tests: warn\n", default_policy_text())
    named = {n.dotted: n.message for n in weakenings(repo, stricter)}
    assert set(named) == {"approvals.required", "tests.preexisting", "tests.base_tests",
                          "coverage.blocking"}
    assert named["approvals.required"] == ("approvals.required: 1, weaker than the "
                                           "organisation's default 3")
    assert named["tests.base_tests"].startswith("tests.base_tests: 'warn', weaker than the "
                                                "organisation's default 'block'")
    assert weakenings(stricter, stricter) == []  # the control: equal is not weaker


def test_an_organisation_file_is_compared_too_and_json_carries_the_warnings(tmp_path):
    import json

    code, out, path = run(tmp_path, "stages:\n  dependencies: false\nlevels: {}\n", org=True,
                          form="json")
    report = json.loads(out)
    assert code == VALID and report["valid"] and report["problems"] == []
    [warning] = report["warnings"]
    assert warning["line"] == 2 and warning["message"].startswith("stages.dependencies: false")


def test_exit_codes_tell_errors_from_usage():
    def gatekeeper(*args):
        return subprocess.run([sys.executable, "-m", "gatekeeper", "policy", "check", *args],
                              capture_output=True, text=True, timeout=120, cwd=ROOT,
                              env=dict(os.environ))
    assert gatekeeper("/nonexistent/gatekeeper.yml").returncode == NO_FILE
    assert gatekeeper("--no-such-flag").returncode == 64  # EX_USAGE, as for every command
    assert gatekeeper(str(ROOT / "rules" / "policy.yml")).returncode == VALID
    assert gatekeeper(str(ROOT / "rules" / "agents.yml")).returncode == ERRORS
