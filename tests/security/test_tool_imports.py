"""Attacks on the gate's tools through their imports: a tree holding a module named like one of
the tool's own dependencies (bandit imports rich, stevedore and yaml; pip-audit imports pip_api,
packaging and requests; semgrep's Python part imports click, ruamel and rich). Started the old
way (`python -m tool` in the tree's folder), the planted module runs inside the tool and prints
a clean report: every finding gone. Each test shows the tool's real finding is still there and
the planted module never ran, and a control shows the same module IS imported when the tree is
on the path the old way, so the attack is real."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gatekeeper.runner import sandbox, toolargv
from gatekeeper.runner.wheelhouse import _has_pip
from gatekeeper.scanners import ScanTarget, bandit, semgrep, toolenv
from gatekeeper.scanners.depaudit import Auditor

SHELL = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
PLANTED = "PLANTED-MODULE-RAN"


def plant(tree: Path, name: str, forged: dict, marker: Path | None = None) -> None:
    """A package `name` in the tree whose import says so, forges a clean report, and exits 0."""
    folder = tree / name
    folder.mkdir(parents=True, exist_ok=True)
    touch = f"open({str(marker)!r}, 'w').write('ran')\n" if marker else ""
    (folder / "__init__.py").write_text(
        "import os, sys\n" + touch
        + f"sys.stderr.write({PLANTED + ':' + name!r} + '\\n'); sys.stderr.flush()\n"
        + f"print({json.dumps(forged)!r}, flush=True)\nos._exit(0)\n")


def scanned(scanner, tree: Path, paths: list[str]):
    with sandbox.recording() as runs:
        result = scanner.scan(ScanTarget(tree, paths, {p: None for p in paths}))
    return result, "".join(r.stderr + r.stdout for r in runs)


@pytest.mark.parametrize("name", ["rich", "stevedore", "yaml"])
def test_bandit_does_not_import_a_tree_module_named_like_its_dependency(tmp_path, name):
    (tmp_path / "app.py").write_text(SHELL)
    plant(tmp_path, name, {"results": [], "errors": []})
    result, output = scanned(bandit.Bandit(), tmp_path, ["app.py"])
    assert result.error is None, result.error
    assert any(f.rule.startswith("B602") and f.path == "app.py" for f in result.findings), \
        result.findings
    assert PLANTED not in output
    # control: bandit started the old way in the same sandbox runs the planted module and
    # reports nothing at all
    old = sandbox.run(tmp_path, [toolenv.python(), "-m", "bandit", *bandit.FLAGS, "--",
                                 "app.py"], bandit.Bandit().limits,
                      binds=toolenv.binds(toolenv.python()))
    assert f"{PLANTED}:{name}" in old.stderr, old.stderr[-2000:]
    assert old.exit_code == 0 and bandit.parse(old, ScanTarget(tmp_path, ["app.py"], {})) \
        .findings == []


SEMGREP_APP = ("import subprocess\nfrom flask import request\n\n\ndef search():\n"
               "    pattern = request.args.get('q')\n"
               "    return subprocess.run(f'grep -r {pattern} /srv', shell=True)\n")


@pytest.mark.parametrize("name", ["click", "ruamel", "rich"])
def test_semgrep_does_not_import_a_tree_module_named_like_its_dependency(tmp_path, name):
    (tmp_path / "app.py").write_text(SEMGREP_APP)
    plant(tmp_path, name, {"results": [], "errors": [], "paths": {"scanned": []}})
    result, output = scanned(semgrep.Semgrep(), tmp_path, ["app.py"])
    assert result.error is None, result.error
    assert any(f.rule == "taint-command-injection" for f in result.findings), result.findings
    assert PLANTED not in output
    # control: with the tree on semgrep's import path, its Python part runs the planted module
    old = sandbox.run(tmp_path, [semgrep.executable(), *semgrep.FLAGS, "--config",
                                 str(semgrep.rules_dir() / "semgrep"), "--", "app.py"],
                      semgrep.Semgrep().limits, env={**semgrep.ENV, "PYTHONPATH": "/work"},
                      binds=[sys.prefix, str(semgrep.rules_dir())])
    assert f"{PLANTED}:{name}" in old.stderr, old.stderr[-2000:]


@pytest.fixture(scope="module")
def osv():
    from gatekeeper.cli.osvmirror import OSVServer

    server = OSVServer(Path(__file__).parent.parent / "fixtures" / "advisories").start()
    yield server
    server.stop()


@pytest.mark.parametrize("name", ["pip_api", "packaging", "requests"])
def test_pip_audit_run_from_the_trees_folder_does_not_import_it(tmp_path, osv, monkeypatch,
                                                                 name):
    """pip-audit runs outside the sandbox, in the worker's folder: for `gatekeeper check`
    that is the checkout under review."""
    tree, marker = tmp_path / "tree", tmp_path / "marker"
    plant(tree, name, {"dependencies": [{"name": "requests", "version": "2.2.0", "vulns": []}],
                       "fixes": []}, marker)
    monkeypatch.chdir(tree)
    found = Auditor(osv.url, tmp_path / "cache", 3600).vulnerabilities({"requests": "2.2.0"})
    assert "PYSEC-2014-13" in {v["id"] for v in found.get("requests", [])}, found
    assert not marker.exists()
    # control: the old command line in the same folder runs the planted module
    subprocess.run([sys.executable, "-m", "pip_audit", "--version"], cwd=tree,
                   capture_output=True, timeout=120)
    assert marker.read_text() == "ran"


def test_version_probes_run_from_the_trees_folder_do_not_import_it(tmp_path, monkeypatch):
    """bandit's and pip's version probes run on the worker, in its folder."""
    marker = tmp_path / "marker"
    for name in ("rich", "pip"):
        plant(tmp_path / "tree", name, {}, marker)
    monkeypatch.chdir(tmp_path / "tree")
    bandit._version.cache_clear()
    _has_pip.cache_clear()
    try:
        assert bandit._version().startswith("bandit 1.")
        assert _has_pip(toolenv.python()) is True
    finally:
        bandit._version.cache_clear()
        _has_pip.cache_clear()
    assert not marker.exists()
    subprocess.run([toolenv.python(), "-m", "bandit", "--version"], capture_output=True,
                   timeout=120)  # control: the old probe, same folder
    assert marker.read_text() == "ran"


def test_the_gates_hook_takes_its_modules_from_the_library_not_the_policys_path(tmp_path):
    """A policy may put `src` on PYTHONPATH, which comes before the standard library: the
    attempt log's hook imports json, and a tree's `src/json` must not be what it gets."""
    python = os.path.join(os.path.realpath(sys.base_prefix), "bin", "python3")
    (tmp_path / "src" / "json").mkdir(parents=True)
    (tmp_path / "src" / "json" / "__init__.py").write_text(
        "import sys\n"
        f"sys.stderr.write({PLANTED!r} + '\\n')\n"
        "sys.addaudithook = lambda hook: None  # the gate's hook is never installed\n"
        "def dumps(value):\n    return '{}'\n")
    (tmp_path / "attack.py").write_text(
        "import socket\ntry:\n    socket.create_connection(('198.51.100.9', 80), timeout=1)\n"
        "except OSError:\n    pass\n")
    path = f"{sandbox.PYTEST_PLUGINS}:/work/src"
    run = sandbox.run(tmp_path, ["/usr/bin/env", f"PYTHONPATH={path}", python, "attack.py"],
                      sandbox.Limits(wall_seconds=120), attempts=True)
    assert run.exit_code == 0, run.stderr
    assert PLANTED not in run.stderr
    assert ("network", "198.51.100.9:80") in {(a["kind"], a["target"]) for a in run.attempts}
    # control: the same path, asked for json by ordinary code, gives the planted module
    control = sandbox.run(tmp_path, ["/usr/bin/env", f"PYTHONPATH={path}", python, "-c",
                                     "import json"], sandbox.Limits(wall_seconds=120))
    assert PLANTED in control.stderr


RICH_PROGRESS = '''"""Progress bars (a project that is itself named rich)."""


def bar(total):
    """Show a progres bar."""
    return "#" * total
'''


def test_a_project_named_like_a_tools_dependency_is_scanned_normally(tmp_path):
    """The real-world case: a typo fix in a project's own `rich/progress.py`."""
    (tmp_path / "rich").mkdir()
    # `_version.py` is written by the project's build (a versioning plugin): not in the tree
    (tmp_path / "rich" / "__init__.py").write_text('"""rich"""\nfrom ._version import version\n')
    (tmp_path / "rich" / "progress.py").write_text(RICH_PROGRESS.replace("progres ", "progress "))
    for scanner in (bandit.Bandit(), semgrep.Semgrep()):
        result, _ = scanned(scanner, tmp_path, ["rich/progress.py"])
        assert result.error is None and result.findings == [], (scanner.name, result)
    # control: bandit started the old way imports the project's rich, which cannot import
    # without its build, and bandit stops
    old = sandbox.run(tmp_path, [toolenv.python(), "-m", "bandit", *bandit.FLAGS, "--",
                                 "rich/progress.py"], bandit.Bandit().limits,
                      binds=toolenv.binds(toolenv.python()))
    assert bandit.parse(old, ScanTarget(tmp_path, ["rich/progress.py"], {})).error, old.stdout


def test_every_argv_the_helper_builds_is_isolated():
    """The one place tools' command lines are built; -I exists on every Python 3.4+."""
    assert toolargv.module("py", "bandit", "-q") == ["py", "-I", "-m", "bandit", "-q"]
    assert bandit.command()[1] == "-I" and semgrep.command()[1] == "-I"
    with pytest.raises(ValueError):
        toolargv.script("py", "relative/forward.py")


# a tree's `encodings` on PYTHONPATH runs before site, and so before the gate's hook: this one
# takes sys.addaudithook away, then loads the library's own encodings so Python starts normally
ENCODINGS = f"""import sys
import _io
sys.stderr.write({PLANTED!r} + "\\n")
sys.addaudithook = lambda hook: None
_real = sys.base_prefix + "/lib/python%d.%d/encodings" % sys.version_info[:2]
__path__.insert(0, _real)
with _io.open(_real + "/__init__.py", "rb") as _f:
    exec(compile(_f.read(), _real + "/__init__.py", "exec"))
"""


def test_a_policys_python_path_is_added_after_the_gates_hook_is_installed(tmp_path):
    """A policy's `tests.env: PYTHONPATH: src` names a folder of the tree; given to Python as
    PYTHONPATH it would come before the standard library and run before site."""
    from factories import policy

    from gatekeeper.runner.suite import suite_setting

    python = os.path.join(os.path.realpath(sys.base_prefix), "bin", "python3")
    (tmp_path / "src" / "encodings").mkdir(parents=True)
    (tmp_path / "src" / "encodings" / "__init__.py").write_text(ENCODINGS)
    (tmp_path / "src" / "mypkg.py").write_text("VALUE = 'from src'\n")
    (tmp_path / "attack.py").write_text(
        "import socket, sys, mypkg\nprint(mypkg.VALUE, sys.path.index('/work/src') -\n"
        f"      sys.path.index({sandbox.PYTEST_PLUGINS!r}))\n"
        "try:\n    socket.create_connection(('198.51.100.9', 80), timeout=1)\n"
        "except OSError:\n    pass\n")
    setting = suite_setting(policy("tests:\n  env:\n    PYTHONPATH: src\n"))
    run = sandbox.run(tmp_path, ["/bin/sh", "-c", f"{setting}{python} attack.py"],
                      sandbox.Limits(wall_seconds=120), attempts=True)
    assert run.exit_code == 0, run.stderr
    assert PLANTED not in run.stderr
    # the policy's folder works, where PYTHONPATH put it: right after the gate's folder
    assert run.stdout.split() == ["from", "src", "1"]
    assert ("network", "198.51.100.9:80") in {(a["kind"], a["target"]) for a in run.attempts}
    # control: the same folder given as PYTHONPATH (the old setting) runs the tree's encodings
    # first, and the connection goes unrecorded
    old = sandbox.run(tmp_path, ["/bin/sh", "-c", f"export PYTHONPATH={sandbox.PYTEST_PLUGINS}"
                                 f":src\n{python} attack.py"],
                      sandbox.Limits(wall_seconds=120), attempts=True)
    assert PLANTED in old.stderr and old.exit_code == 0, old.stderr
    assert not any(a["kind"] == "network" for a in old.attempts)


def test_set_ups_pytest_probe_asks_the_environment_not_the_tree(tmp_path):
    """Set-up installs pytest unless the environment has it; the probe runs in the working
    copy, whose own `pytest.py` must not answer for the environment."""
    from gatekeeper.runner.projectsetup import HAS_PYTEST

    (tmp_path / "pytest.py").write_text(f"import sys\nsys.stderr.write({PLANTED!r})\n")
    folder = os.path.join(os.path.realpath(sys.base_prefix), "bin")
    run = sandbox.run(tmp_path, ["/bin/sh", "-c", f"PATH={folder}:$PATH\n{HAS_PYTEST}"],
                      sandbox.Limits(wall_seconds=120))
    assert run.exit_code == 0 and PLANTED not in run.stderr, run.stderr
    old = sandbox.run(tmp_path, ["/bin/sh", "-c", f"PATH={folder}:$PATH\n"
                                 "python -c 'import pytest'"], sandbox.Limits(wall_seconds=120))
    assert PLANTED in old.stderr  # control: the old probe imported the tree's pytest.py
