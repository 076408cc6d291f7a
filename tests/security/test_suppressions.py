"""A change that silences the scanners on its own injected line with `# nosemgrep`/`# nosec`.

Control: with the scanners honouring inline suppressions (as they did), the same change
passes; as the gate runs them now it fails, and the suppression is a finding to acknowledge.
"""

import pytest

from gatekeeper.core.model import ChangedFile
from gatekeeper.scanners import bandit, semgrep
from gatekeeper.scanners.sast import run_sast

LINE = "    return subprocess.run(f\"grep {q} log.txt\", shell=True).stdout"
SOURCE = ("import subprocess\n\nfrom flask import Flask, request\n\napp = Flask(__name__)\n\n\n"
          "@app.route('/grep')\ndef grep():\n    q = request.args.get('q', '')\n{line}\n")


def _scan(tmp_path, line: str):
    text = SOURCE.replace("{line}", line)
    (tmp_path / "web.py").write_text(text)
    patch = "@@ -0,0 +1,{} @@\n".format(text.count("\n")) + "".join(
        "+" + row + "\n" for row in text.splitlines())
    return run_sast(tmp_path, [ChangedFile("web.py", "added", patch=patch)], "medium")


@pytest.mark.parametrize("comment", ["  # nosemgrep  # nosec", "  # nosec B602  # nosemgrep: x"])
def test_a_suppression_the_change_adds_is_ignored_and_must_be_acknowledged(tmp_path, comment):
    result = _scan(tmp_path, LINE + comment)
    assert result.status == "failed", result.summary
    [added] = [f for f in result.findings if f.rule == "suppression-added"]
    assert added.waived_by == "sast.suppression" and not added.blocking and added.start_line == 11


def test_control_scanners_that_honour_suppressions_let_the_same_change_pass(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(semgrep, "FLAGS", [f for f in semgrep.FLAGS if f != "--disable-nosem"])
    monkeypatch.setattr(bandit, "FLAGS", [f for f in bandit.FLAGS if f != "--ignore-nosec"])
    silenced = _scan(tmp_path, LINE + "  # nosemgrep  # nosec")
    assert not [f for f in silenced.findings if f.blocking], silenced.summary


def test_a_scanner_that_raises_is_the_stages_error(tmp_path):
    class Broken:
        name = "broken"

        def scan(self, target):
            raise TimeoutError("version probe timed out")

    (tmp_path / "a.py").write_text("x = 1\n")
    result = run_sast(tmp_path, [ChangedFile("a.py", "added", patch="@@ -0,0 +1 @@\n+x = 1\n")],
                      "medium", scanners=[Broken()])
    assert result.status == "error" and "TimeoutError" in result.summary
