"""The sast stage with real semgrep and bandit runs on real git repositories."""

import json

import pytest
from gitrepo import Repo

from gatekeeper.core.model import Finding
from gatekeeper.runner.gitlocal import changed_files, export_tree
from gatekeeper.scanners import ScanResult
from gatekeeper.scanners.sast import run_sast

BASE_APP = '''import subprocess


def list_dir(path):
    return subprocess.run(["ls", path], capture_output=True)
'''
AGENT_APP = '''import subprocess
from flask import request


def list_dir(path):
    return subprocess.run(["ls", path], capture_output=True)


def search():
    pattern = request.args.get("q")
    return subprocess.run(f"grep -r {pattern} /srv/data", shell=True)
'''


def pull_request(tmp_path, base_files, head_files):
    repo = Repo(tmp_path / "repo")
    base = repo.commit(base_files, "base")
    repo.branch("codex/search")
    head = repo.commit(head_files, "agent change")
    files = changed_files(repo.root, base, head)
    tree = export_tree(repo.root, head, tmp_path / "tree")
    assert tree.clean
    return tree.root, files


def test_new_shell_injection_is_blocked_with_an_annotation_on_its_line(tmp_path):
    root, files = pull_request(tmp_path, {"app.py": BASE_APP}, {"app.py": AGENT_APP})
    result = run_sast(root, files, "medium")
    assert result.status == "failed", result.summary
    blocking = [f for f in result.findings if f.blocking]
    assert {(f.rule, f.path, f.start_line) for f in blocking} == {
        ("taint-command-injection", "app.py", 11)}
    assert all(f.new for f in blocking)
    # bandit's shell=True test flags any argument: kept as a hint, the taint rule decides
    hint = next(f for f in result.findings if f.tool == "bandit" and f.start_line == 11)
    assert not hint.blocking and hint.severity == "low" and "hint" in hint.message
    assert "semgrep 1." in result.summary and "bandit 1." in result.summary


def test_the_same_pattern_already_on_the_base_is_pre_existing_and_does_not_block(tmp_path):
    edited = AGENT_APP + "\n\ndef version():\n    return '1.0'\n"
    root, files = pull_request(tmp_path, {"app.py": AGENT_APP}, {"app.py": edited})
    result = run_sast(root, files, "medium")
    assert result.status == "passed", result.summary
    old = [f for f in result.findings if f.start_line == 11]
    assert old and all(not f.new and not f.blocking for f in old)
    assert "pre-existing" in result.summary


def test_a_new_file_is_new_in_every_line(tmp_path):
    root, files = pull_request(tmp_path, {"app.py": BASE_APP},
                               {"app.py": BASE_APP, "tools.py": AGENT_APP})
    result = run_sast(root, files, "medium")
    assert any(f.path == "tools.py" and f.new and f.blocking for f in result.findings)


def test_threshold_high_lets_medium_findings_through(tmp_path):
    weak = "import hashlib\n\n\ndef fingerprint(data):\n    return hashlib.sha1(data).hexdigest()\n"
    root, files = pull_request(tmp_path, {"app.py": BASE_APP},
                               {"app.py": BASE_APP, "auth.py": weak})
    assert run_sast(root, files, "medium").status == "failed"
    assert run_sast(root, files, "high").status == "passed"


class Crashing:
    name = "crashing"

    def scan(self, target):
        return ScanResult("crashing", "0", [], error="segmentation fault")


class Finds:
    name = "finds"

    def scan(self, target):
        return ScanResult("finds", "1", [Finding("finds", "x", "m", path="app.py", start_line=1)])


def test_a_scanner_crash_turns_the_stage_red(tmp_path):
    root, files = pull_request(tmp_path, {"app.py": BASE_APP}, {"app.py": AGENT_APP})
    result = run_sast(root, files, "medium", [Finds(), Crashing()])
    assert result.status == "error" and "crashing: segmentation fault" in result.summary


@pytest.mark.parametrize("garbage", ["", "not json", '{"results": [], "errors": [{"level": '
                                                        '"error", "message": "rule crashed"}]}'])
def test_semgrep_output_that_cannot_be_read_is_an_error(garbage, tmp_path):
    from gatekeeper.runner.sandbox import SandboxResult
    from gatekeeper.scanners import ScanTarget
    from gatekeeper.scanners.semgrep import parse

    run = SandboxResult([], 2, 1.0, None, garbage, "Fatal error", False)
    result = parse(run, ScanTarget(tmp_path, ["a.py"], {}))
    assert result.error and result.findings == []


def test_whole_tree_scan_reports_untouched_files_as_pre_existing(tmp_path):
    root, files = pull_request(tmp_path, {"app.py": AGENT_APP, "docs.md": "x\n"},
                               {"app.py": AGENT_APP, "docs.md": "y\n"})
    changed_only = run_sast(root, files, "medium")
    whole = run_sast(root, files, "medium", whole_tree=True)
    assert not any(f.path == "app.py" for f in changed_only.findings)
    old = [f for f in whole.findings if f.path == "app.py" and f.start_line == 11]
    assert old and not any(f.new or f.blocking for f in old) and whole.status == "passed"


def test_a_part_semgrep_could_not_analyse_is_shown_not_silently_dropped(tmp_path):
    from gatekeeper.runner.sandbox import SandboxResult
    from gatekeeper.scanners import ScanTarget
    from gatekeeper.scanners.semgrep import parse

    report = {"results": [], "errors": [{"level": "warn", "type": "Syntax error",
                                         "message": "could not parse", "path": "odd.py",
                                         "spans": [{"file": "odd.py", "start": {"line": 3}}]}]}
    run = SandboxResult([], 0, 1.0, None, json.dumps(report), "", False)
    [finding] = parse(run, ScanTarget(tmp_path, ["odd.py"], {"odd.py": None})).findings
    assert (finding.rule, finding.path, finding.start_line) == ("scan-incomplete", "odd.py", 3)
    assert not finding.blocking


PEP701 = """from flask import request


def show(fd):
    return f'{fd.read().decode('utf-8')}'


def run():
    import subprocess
    return subprocess.run("ls " + request.args["d"], shell=True)
"""


def test_bandit_parses_code_newer_than_the_workers_python(tmp_path):
    """PEP 701 f-strings: bandit under 3.11 cannot parse them; it runs on the newest Python."""
    root, files = pull_request(tmp_path, {"app.py": BASE_APP},
                               {"app.py": BASE_APP, "views.py": PEP701})
    result = run_sast(root, files, "medium")
    assert not any(f.rule in ("parse-error", "scan-incomplete") for f in result.findings)
    assert any(f.tool == "bandit" and f.path == "views.py" for f in result.findings)
    assert "could not analyse" not in result.summary and "bandit 1." in result.summary


@pytest.mark.parametrize("policy, status", [("fail", "failed"), ("neutral", "incomplete")])
def test_a_file_no_scanner_could_parse_keeps_the_stage_from_passing(tmp_path, policy, status):
    broken = "def handler(:\n    return eval(request.args['x'])\n"
    root, files = pull_request(tmp_path, {"app.py": BASE_APP},
                               {"app.py": BASE_APP, "broken.py": broken})
    result = run_sast(root, files, "medium", unparsed=policy)
    assert result.status == status, result.summary
    assert result.summary.startswith("could not analyse 1 file")
    assert "broken.py" in result.summary and "bandit" in result.summary
    assert not any(f.blocking for f in result.findings)  # nothing found: not a finding



def test_a_report_larger_than_the_default_output_cap_is_read_whole(tmp_path):
    """Over a whole tree bandit's JSON passes 1 MiB (about 1.5 KiB a finding); cut, it could
    not be read and the stage was an error."""
    from gatekeeper.scanners import ScanTarget
    from gatekeeper.scanners.bandit import Bandit

    (tmp_path / "many.py").write_text("".join(f"eval(x{i})\n" for i in range(4000)))
    result = Bandit().scan(ScanTarget(tmp_path, ["many.py"], {"many.py": None}))
    assert result.error is None
    assert len([f for f in result.findings if f.rule.startswith("B307")]) == 4000


def test_a_new_dangerous_sink_of_unknown_input_needs_the_approvers_acknowledgement(tmp_path):
    tool = ("import os\nimport sys\n\n\ndef main():\n    os.system('tar xf ' + sys.argv[1])\n")
    root, files = pull_request(tmp_path, {"app.py": BASE_APP}, {"app.py": BASE_APP,
                                                                 "tool.py": tool})
    result = run_sast(root, files, "medium")
    [ack] = [f for f in result.findings if f.rule == "shell-injection"]
    assert (ack.blocking, ack.waived_by, ack.start_line) == (False, "sast.dangerous-sink", 6)
    assert "/gatekeeper ack shell-injection" in ack.message
    # the same call already on the base asks nothing
    root, files = pull_request(tmp_path / "again", {"tool.py": tool},
                               {"tool.py": tool + "\n\nVERSION = 1\n"})
    [old] = [f for f in run_sast(root, files, "medium").findings if f.rule == "shell-injection"]
    assert not old.new and not old.waived_by


def test_test_code_findings_ask_rather_than_block(tmp_path):
    """A skip, an always-true assertion or a hard-coded /tmp in test code: a person says why
    (acknowledgement, or a hint for bandit), while the same /tmp in product code blocks."""
    from gatekeeper.scanners.sast import TEST_ACK

    test = ("import pytest\n\n\ndef test_x():\n    path = '/tmp/x.txt'\n"
            "    pytest.skip('later')\n    assert path\n")
    root, files = pull_request(tmp_path, {"app.py": BASE_APP}, {
        "app.py": BASE_APP + "\n\ndef where():\n    return '/tmp/app-state.txt'\n",
        "tests/test_x.py": test})
    result = run_sast(root, files, "medium")
    skip = [f for f in result.findings if f.rule == "test-skipped"]
    assert skip and not skip[0].blocking and skip[0].waived_by == TEST_ACK
    tmp_in_test = [f for f in result.findings if f.tool == "bandit"
                   and f.path == "tests/test_x.py" and f.rule.startswith("B108")]
    assert tmp_in_test and not tmp_in_test[0].blocking
    # the control: the same kind of finding in product code still blocks
    tmp_in_app = [f for f in result.findings if f.tool == "bandit" and f.path == "app.py"
                  and f.rule.startswith("B108")]
    assert tmp_in_app and tmp_in_app[0].blocking, result.findings
