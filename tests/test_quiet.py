"""One finding per line and weakness, strongest first; pre-existing ones counted."""

from gatekeeper.core.model import Finding
from gatekeeper.core.quiet import quiet
from gatekeeper.core.report import check_output
from gatekeeper.core.verdict import CheckVerdict


def _f(tool, rule, line, cwe="CWE-78", **kw):
    return Finding(tool, rule, f"{rule} message", kw.pop("severity", "high"), "app.py", line,
                   line, cwe=cwe, **kw)


def test_the_same_weakness_on_a_line_is_one_finding_naming_every_tool():
    taint = _f("semgrep", "taint-command-injection", 7)
    hint = _f("bandit", "B602-subprocess_popen_with_shell_equals_true", 7, severity="low",
              blocking=False)
    other_line = _f("bandit", "B602-subprocess_popen_with_shell_equals_true", 9, blocking=False)
    shown, preexisting = quiet((hint, other_line, taint))
    assert [f.start_line for f in shown] == [7, 9] and preexisting == 0
    assert shown[0].rule == "taint-command-injection" and shown[0].blocking
    assert "also seen by bandit B602-subprocess_popen_with_shell_equals_true" in shown[0].message
    # different weaknesses on one line stay apart
    weak = _f("semgrep", "weak-hash", 7, cwe="CWE-328")
    assert len(quiet((taint, weak))[0]) == 2


def test_blocking_first_then_acknowledgement_then_warnings_and_old_ones_counted():
    warning = _f("gatekeeper", "w", 1, cwe="", severity="medium", blocking=False)
    ack = _f("semgrep", "shell-injection", 2, blocking=False, waived_by="sast.dangerous-sink")
    block = _f("semgrep", "taint-xss", 3, cwe="CWE-79")
    old = _f("semgrep", "taint-xss", 4, cwe="CWE-79", new=False, blocking=False)
    shown, preexisting = quiet((warning, old, ack, block))
    assert [f.rule for f in shown] == ["taint-xss", "shell-injection", "w"]
    assert preexisting == 1


def test_the_check_run_lists_and_annotates_the_quiet_set():
    taint = _f("semgrep", "taint-command-injection", 7)
    hint = _f("bandit", "B602", 7, severity="low", blocking=False)
    old = _f("semgrep", "taint-xss", 4, cwe="CWE-79", new=False, blocking=False)
    output = check_output(CheckVerdict("gatekeeper/sast", "failure", "blocked", "summary",
                                       (hint, old, taint)))
    assert [a["start_line"] for a in output.annotations] == [7]
    assert "### Findings (1)" in output.summary
    assert "1 pre-existing finding on lines this change did not add" in output.summary
