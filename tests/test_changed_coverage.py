"""Changed-line coverage end to end: the gate's own coverage.py in the sandboxed runs, against
the lines the change added."""

import pytest
from factories import policy, write_tree
from test_testrun import CALC, LIMITS

from gatekeeper.core.coverage import ChangedCode, changed_in, coverage_findings
from gatekeeper.runner.testrun import run_tests


@pytest.fixture
def cache(wheel_cache):
    return wheel_cache


MUL = CALC["calc.py"] + "\n\ndef mul(a, b):\n    product = a * b\n    return product\n"
MUL_TEST = "from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n"


def coverage_of(result):
    return {f.rule: f for f in result.findings if f.tool == "coverage"}


def test_a_new_function_no_test_runs_is_named_and_a_test_that_calls_it_covers_it(
        tmp_path, cache):
    base = write_tree(tmp_path / "base", CALC)
    head = write_tree(tmp_path / "head", {**CALC, "calc.py": MUL})
    result = run_tests(head, policy(), cache, LIMITS, base=base, changed=["calc.py"])
    found = coverage_of(result)
    assert set(found) == {"untested-function", "changed-lines"}, \
        result.summary
    untested = found["untested-function"]
    assert "`mul`" in untested.message and (untested.path, untested.start_line,
                                             untested.end_line) == ("calc.py", 5, 7)
    assert not found["changed-lines"].blocking and result.status == "passed"
    assert "changed-line coverage: 1 of 3 changed executable lines ran" in result.summary
    # the findings list puts the untested function before the share
    rules = [f.rule for f in result.findings if f.tool == "coverage"]
    assert rules.index("untested-function") < rules.index("changed-lines")

    tested = write_tree(tmp_path / "tested", {**CALC, "calc.py": MUL,
                                              "tests/test_mul.py": MUL_TEST})
    covered = run_tests(tested, policy(), cache, LIMITS, base=base,
                        changed=["calc.py", "tests/test_mul.py"])
    assert coverage_of(covered) == {}, covered.findings
    assert "changed-line coverage: 3 of 3 changed executable lines ran" in covered.summary

    strict = run_tests(head, policy("coverage:\n  changed_lines: 0.9\n  blocking: true\n"),
                       cache, LIMITS, base=base, changed=["calc.py"])
    assert strict.status == "failed" and coverage_of(strict)["changed-lines"].blocking


def test_changed_lines_and_uncovered_ranges():
    assert changed_in("a\nb\nc\n", "a\nB\nc\nd\n") == {2, 4}
    assert changed_in(None, "x\ny\n") == {1, 2}
    code = ChangedCode("m.py", frozenset({3, 4, 5, 8, 9}), (("f", 7, 9, frozenset({8, 9})),))
    findings, line = coverage_findings([code], {"m.py": frozenset({4})}, 0.5, False)
    assert [(f.rule, f.start_line, f.end_line) for f in findings] == [
        ("untested-function", 7, 9), ("uncovered-lines", 3, 3),
        ("uncovered-lines", 5, 5), ("changed-lines", 0, 0)]
    assert "1 of 5" in line and "20%" in line
    assert coverage_findings([], {}, 0.8, True) == ([], "")


SUITE_TRACES = """\
import sys

sys.monitoring.use_tool_id(sys.monitoring.COVERAGE_ID, "the suite's own coverage")
print("coverage id free")


def counted():
    return 1


counted()
"""


@pytest.mark.parametrize("minor", [12, 13])
def test_the_gates_tracer_leaves_a_suites_own_coverage_its_tool_id(tmp_path, minor):
    from gatekeeper.runner import sandbox
    from gatekeeper.runner.interpreters import available

    python = next((i for i in available() if i.version.release[:2] == (3, minor)), None)
    if python is None:
        pytest.skip(f"no Python 3.{minor} on this worker")
    (tmp_path / "suite.py").write_text(SUITE_TRACES)
    run = sandbox.run(tmp_path, [python.path, "suite.py"], coverage=True,
                      binds=[python.prefix])
    assert run.exit_code == 0 and "coverage id free" in run.stdout, run.stderr
    # control: the gate's tracer was running, and saw the lines after the suite took its id
    assert run.covered == {"suite.py": frozenset({1, 3, 4, 7, 8, 11})}


def test_on_311_the_suite_never_imports_the_gates_own_coverage(tmp_path):
    from gatekeeper.runner import sandbox
    from gatekeeper.runner.interpreters import available

    python = next((i for i in available() if i.version.release[:2] == (3, 11)), None)
    if python is None:
        pytest.skip("no Python 3.11 on this worker")
    (tmp_path / "suite.py").write_text(
        "try:\n    import coverage\n    print('saw', coverage.__file__)\nexcept ImportError:\n"
        "    print('none of its own')\n")
    run = sandbox.run(tmp_path, [python.path, "suite.py"], coverage=True, binds=[python.prefix])
    assert "none of its own" in run.stdout, run.stdout  # the suite's own packages decide
    assert run.covered == {"suite.py": frozenset({1, 2, 4, 5})}  # control: measured
