"""Repository text in the local gate's reports: the terminal, the markdown file, the paths.

Controls: the hostile strings really are in the findings the reports are built from.
"""

from markdown_it import MarkdownIt

from gatekeeper.cli.local import LocalReport
from gatekeeper.cli.localreport import markdown, text
from gatekeeper.core.model import Finding, StageResult
from gatekeeper.runner.testrun import parse_junit

RETITLE = "\x1b]0;owned\x07"
HIDE = "\x1b[8mhidden\x1b[0m"
CSI_C1 = "\x9b31m"


def _report() -> LocalReport:
    finding = Finding("pytest", "test-failure", f"boom {RETITLE}{HIDE}{CSI_C1} @octocat "
                      "<img src=x onerror=alert(1)>", path=f"pkg/{RETITLE}web.py",
                      start_line=3, end_line=3)
    stage = StageResult("tests", "failed", f"1 failed {HIDE}\nmore", (finding,))
    return LocalReport("repo", "main", "agent", None, True, {"tests": stage})


def test_text_output_carries_no_control_character():
    report = _report()
    assert RETITLE in report.stages["tests"].findings[0].message  # the control
    out = text(report, lambda path, line: f"source {HIDE}")
    assert not [c for c in out if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f]
    assert "boom" in out and "hidden" in out  # the text is kept, only its controls go


def test_the_markdown_report_escapes_like_the_check_run():
    html = MarkdownIt("commonmark").render(markdown(_report()))
    assert "<img" not in html and "&lt;img" in html  # shown as text, not as an element
    assert '<a href="https://github.com/octocat"' not in html


def test_a_failure_location_outside_the_repository_is_not_used_as_a_path():
    xml = (b'<testsuite><testcase classname="tests.test_x" name="test_x" file="tests/test_x.py" '
           b'line="4"><failure message="boom">../../../../etc/evil.py:3: AssertionError'
           b'</failure></testcase></testsuite>')
    _, [finding] = parse_junit(xml)
    assert finding.path == "tests/test_x.py" and finding.start_line == 5
    absolute = xml.replace(b'file="tests/test_x.py"', b'file="../../etc/passwd"')
    _, [other] = parse_junit(absolute)
    assert other.path == ""
