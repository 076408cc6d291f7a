"""The attempt log end to end: what a change's tests tried, on the real sandbox and set-up,
against what the base's own run tried."""

import textwrap

import pytest
from factories import policy, write_tree
from test_testrun import CALC, LIMITS

from gatekeeper.core.attempts import attempt_findings, key
from gatekeeper.runner.testrun import run_tests


@pytest.fixture
def cache(wheel_cache):
    return wheel_cache


TRYING = textwrap.dedent("""\
    import os
    import socket
    import subprocess

    from calc import add


    def test_sync():
        try:
            socket.create_connection(("203.0.113.5", 443), timeout=1)
        except OSError:
            pass
        try:
            open(os.path.expanduser("~/.ssh/id_rsa")).read()
        except OSError:
            pass
        subprocess.run(["/bin/sh", "-c", "true"])
        assert add(1, 2) == 3
    """)  # the three calls on lines 10, 14 and 17

QUIET = "from calc import add\n\n\ndef test_sync():\n    assert add(1, 2) == 3\n"


def test_a_tests_network_credential_and_shell_attempts_are_findings_with_test_and_line(
        tmp_path, cache):
    base = write_tree(tmp_path / "base", CALC)
    head = write_tree(tmp_path / "head", {**CALC, "tests/test_sync.py": TRYING})
    result = run_tests(head, policy(), cache, LIMITS, base=base)
    found = {f.rule: f for f in result.findings if f.rule.startswith("attempt-")}
    assert set(found) == {"attempt-network", "attempt-credential", "attempt-shell"}, \
        result.findings
    for rule, line in (("attempt-network", 10), ("attempt-credential", 14),
                       ("attempt-shell", 17)):
        assert found[rule].message.startswith("tests/test_sync.py::test_sync ")
        assert (found[rule].path, found[rule].start_line) == ("tests/test_sync.py", line)
    assert "203.0.113.5:443" in found["attempt-network"].message
    assert "/tmp/home/.ssh/id_rsa" in found["attempt-credential"].message
    # a credential read blocks; the rest wait for the reviewer's acknowledgement
    assert found["attempt-credential"].blocking and result.status == "failed"
    assert not found["attempt-network"].blocking and found["attempt-network"].waived_by

    quiet = write_tree(tmp_path / "quiet", {**CALC, "tests/test_sync.py": QUIET})
    control = run_tests(quiet, policy(), cache, LIMITS, base=base)
    assert control.status == "passed", control.summary
    assert not [f for f in control.findings if f.rule.startswith("attempt-")]


def test_what_the_base_already_tried_is_not_the_changes_doing(tmp_path, cache):
    base = write_tree(tmp_path / "base", {**CALC, "tests/test_sync.py": TRYING.replace(
        "assert add(1, 2) == 3", "assert add(1, 1) == 2")})
    head = write_tree(tmp_path / "head", {**CALC, "tests/test_sync.py": TRYING})
    result = run_tests(head, policy(), cache, LIMITS, base=base)
    assert not [f for f in result.findings if f.rule.startswith("attempt-")], result.findings
    assert result.status == "passed", result.summary


def test_attempts_compare_by_kind_and_target_and_the_policy_setting_applies():
    head = [{"kind": "network", "target": "pypi.org:443", "test": "t.py::a (call)",
             "at": "t.py:3"},
            {"kind": "process", "target": "git status --short", "test": "t.py::b (call)",
             "at": "t.py:9"},
            {"kind": "credential", "target": "/proc/17/environ", "test": "", "at": ""}]
    base = {key({"kind": "process", "target": "git log"}),
            key({"kind": "credential", "target": "/proc/3/environ"})}
    [net] = attempt_findings(head, base)
    assert net.rule == "attempt-network" and net.message.startswith("t.py::a tried to connect")
    assert not net.blocking and net.waived_by == "tests.attempts"
    [blocked] = attempt_findings(head, base, setting="block")
    assert blocked.blocking
    assert attempt_findings(head, base, setting="off") == []
    # no base log: only the kinds no suite needs, and said so
    unknown = attempt_findings(head, None)
    assert [f.rule for f in unknown] == ["attempt-credential", "attempt-network"]
    assert "left no log" in unknown[0].message and unknown[0].blocking
    # a leak test walking gc's objects is not the hook reached: acknowledged, not blocking
    [walk] = attempt_findings([{"kind": "introspection", "target": "gc.get_referrers",
                                "test": "t.py::test_no_cycles (call)", "at": "t.py:4"}], set())
    assert walk.rule == "attempt-introspection" and not walk.blocking and walk.waived_by
    [lost] = attempt_findings([], set(), lost=12)
    assert lost.rule == "attempt-log-incomplete" and "12 lines" in lost.message and lost.blocking
    # the log's own record of the forged lines is the finding then, never excused by a base
    forged = {"kind": "tamper", "target": "12 lines written into the attempt log by code other "
              "than the gate's hook", "test": "", "at": "", "log": True}
    [tamper] = attempt_findings([forged], {key(forged)}, lost=12)
    assert tamper.rule == "attempt-tamper" and tamper.blocking


def test_the_wheels_set_up_records_attempts_and_coverage_too(tmp_path, cache):
    head = write_tree(tmp_path / "head", {**CALC, "tests/test_sync.py": TRYING})
    result = run_tests(head, policy("tests:\n  setup: wheels\n"), cache, LIMITS,
                       changed=["calc.py", "tests/test_sync.py"])
    rules = {f.rule for f in result.findings if f.rule.startswith("attempt-")}
    assert rules == {"attempt-network", "attempt-credential", "attempt-shell"}, result.findings
    assert all("left no log to compare with" in f.message for f in result.findings
               if f.rule.startswith("attempt-"))
    assert "changed-line coverage: 2 of 2 changed executable lines ran" in result.summary


def test_build_code_that_reads_a_credential_during_set_up_blocks(tmp_path, cache):
    setup_py = ("import os\nfrom setuptools import setup\n\ntry:\n"
                "    open(os.path.expanduser('~/.ssh/id_rsa')).read()\nexcept OSError:\n"
                "    pass\nsetup(name='calc', version='0.1', py_modules=['calc'])\n")
    files = {**CALC, "pyproject.toml": "[build-system]\nrequires = ['setuptools']\n"
             "build-backend = 'setuptools.build_meta'\n\n" + CALC["pyproject.toml"]}
    base = write_tree(tmp_path / "base", files)
    head = write_tree(tmp_path / "head", {**files, "setup.py": setup_py})
    result = run_tests(head, policy(), cache, LIMITS, base=base)
    [read] = [f for f in result.findings if f.rule == "attempt-credential"]
    assert read.blocking and read.message.startswith("set-up (the project's own build")
    assert "/tmp/home/.ssh/id_rsa" in read.message and (read.path, read.start_line) == \
        ("setup.py", 5)
    assert result.status == "failed"
    # control: the same project without the read sets up with no such finding
    quiet = write_tree(tmp_path / "quiet", {**files, "setup.py": setup_py.replace(
        "open(os.path.expanduser('~/.ssh/id_rsa')).read()", "pass")})
    clean = run_tests(quiet, policy(), cache, LIMITS, base=base)
    assert clean.status == "passed", clean.summary
    assert not [f for f in clean.findings if f.rule.startswith("attempt-")]


def test_forged_lines_only_in_the_referees_run_still_block(tmp_path, cache):
    # the change's code forges log lines only when its own test file is gone: in the referee's
    # run (the base's tests on the change's code), never in its own
    flood = ("import json, os\n\nif not os.path.exists('tests/test_new.py'):\n"
             "    for n in range(2500):\n"
             "        fd = os.open('/run/gatekeeper-attempts/records', os.O_WRONLY)\n"
             "        os.write(fd, (json.dumps({'kind': 'file', 'target': '/x/%d' % n}) + '\\n')"
             ".encode())\n        os.close(fd)\n\n")
    base = write_tree(tmp_path / "base", CALC)
    head = write_tree(tmp_path / "head", {**CALC, "calc.py": flood + CALC["calc.py"],
                                          "tests/test_new.py": QUIET})
    result = run_tests(head, policy(), cache, LIMITS, base=base, changed=["calc.py"])
    [forged] = [f for f in result.findings if f.rule == "attempt-tamper"]
    assert "2500 lines written into the attempt log" in forged.message and forged.blocking
    assert result.status == "failed"
