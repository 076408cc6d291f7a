"""The referee's verdict as a pure function: what the base's suite on the change decides."""

from gatekeeper.core.model import Finding
from gatekeeper.core.referee import RefereeRun, flaky_in_own_run, judge


def test_a_referee_that_ran_nothing_blocks_even_when_the_base_ran_nothing_too():
    findings, line = judge(RefereeRun({}, 0, {}), set(), 0, set(), head_executed=0)
    [nothing] = findings
    assert nothing.rule == "referee-ran-nothing" and nothing.blocking
    assert "blocking" in line


def test_control_a_referee_that_ran_tests_without_new_failures_finds_nothing():
    findings, line = judge(RefereeRun({}, 3, {}), set(), 3, set(), head_executed=3)
    assert findings == [] and "3 ran, 0 failing" in line


def test_a_new_failure_of_an_untouched_base_test_blocks_and_an_edited_one_needs_an_ack():
    run = RefereeRun({"t::a": ("tests/t.py", 3), "t::b": ("tests/u.py", 9)}, 4,
                     {"t::a": "assert 1 == 2"})
    findings, _ = judge(run, set(), 4, {"tests/u.py"})
    by_rule = {f.rule: f for f in findings}
    assert by_rule["base-test-fails"].blocking and "assert 1 == 2" in \
        by_rule["base-test-fails"].message
    assert not by_rule["base-test-changed"].blocking
    assert by_rule["base-test-changed"].waived_by == "tests.referee"


def test_a_test_of_an_edited_file_asks_for_an_ack_though_it_failed_in_the_code_under_test():
    # the failure's location is the library's line; the test's own file is the edited one
    run = RefereeRun({"tests.test_llm.TestLLM::test_call": ("src/pkg/llm.py", 96),
                      "tests.test_other::test_x": ("src/pkg/llm.py", 96)}, 5, {})
    findings, _ = judge(run, set(), 5, {"tests/test_llm.py"})
    by_test = {f.message.split(" of ")[1].split(" fails")[0]: f for f in findings}
    assert by_test["tests.test_llm.TestLLM::test_call"].rule == "base-test-changed"
    assert by_test["tests.test_other::test_x"].rule == "base-test-fails"


ORDER_BASE = {
    "calc.py": "def add(a, b):\n    return a + b\n\n\ndef fresh():\n    return True\n",
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
    "tests/test_zfresh.py": "from calc import fresh\n\n\ndef test_fresh():\n    assert fresh()\n",
    "pyproject.toml": "[tool.pytest.ini_options]\npythonpath = ['.']\n",
}
# the change leaves state behind: test_fresh fails after test_add has run, and passes alone
ORDER_HEAD = {**ORDER_BASE, "calc.py": "_calls = []\n\n\ndef add(a, b):\n    _calls.append(1)\n"
              "    return a + b\n\n\ndef fresh():\n    return not _calls\n"}


def test_a_new_failure_that_passes_alone_needs_acknowledgement_not_a_silent_pass(tmp_path,
                                                                                wheel_cache):
    from factories import policy, write_tree
    from test_testrun import LIMITS

    from gatekeeper.runner.testrun import run_tests

    base = write_tree(tmp_path / "base", ORDER_BASE)
    head = write_tree(tmp_path / "head", ORDER_HEAD)
    result = run_tests(head, policy(), wheel_cache, LIMITS, base=base, changed=["calc.py"])
    [flaky] = [f for f in result.findings if f.rule.startswith("base-test")]
    assert flaky.rule == "base-test-flaky" and "tests.test_zfresh::test_fresh" in flaky.message
    assert not flaky.blocking and flaky.waived_by  # the approver acknowledges it
    assert "re-run of new failures" in dict(result.seconds)
    # control: without the re-run the same failure blocks
    strict = run_tests(head, policy("tests:\n  rerun: false\n"), wheel_cache, LIMITS, base=base,
                       changed=["calc.py"])
    assert strict.status == "failed"
    assert [f.rule for f in strict.findings if f.rule.startswith("base-test")] == \
        ["base-test-fails"]


def test_an_own_run_failure_the_referee_saw_pass_needs_an_ack_not_a_block():
    def failure(test, path):
        return Finding("pytest", "test-failure", f"{test} failed: timing", "high", path, 5, 5)

    timing = failure("tests.test_t::test_fast", "tests/test_t.py")
    mine = failure("tests.test_new::test_x", "tests/test_new.py")  # the change's own test
    edited = failure("tests.test_e::test_y", "tests/test_e.py")
    run = RefereeRun({}, 3, {}, passed=frozenset({"tests.test_t::test_fast",
                                                  "tests.test_e::test_y"}))
    flaky, new, kept = flaky_in_own_run((timing, mine, edited), run, {"tests/test_e.py"})
    assert flaky.rule == "own-run-flaky" and not flaky.blocking
    assert flaky.waived_by == "tests.referee" and "flaky" in flaky.message
    assert new == mine and new.blocking  # the referee never ran it: still the change's failure
    assert kept == edited and kept.blocking  # an edited test is the change's to explain
    # the control: without the referee's pass it blocks as before
    assert flaky_in_own_run((timing,), RefereeRun({}, 3, {}), set()) == (timing,)
