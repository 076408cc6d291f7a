"""A pull request that tries to get `passed` while a base test fails on its code.

Each attack breaks `add` and adds a trick in a new file (no existing test is edited). The
positive control is the same broken change without the trick: it fails. The attack is shown
to work on the change's own run (its summary says everything passed or was skipped), and the
referee still blocks it.
"""

import textwrap

import pytest
from factories import policy, write_tree

from gatekeeper.runner.sandbox import Limits
from gatekeeper.runner.testrun import run_tests

LIMITS = Limits(wall_seconds=120, cpu_seconds=120, memory_bytes=1024**3, processes=128)

BASE = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
}
BROKEN = {**BASE, "calc.py": "def add(a, b):\n    return a - b\n"}

FORGE = """
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
"""

ATTACKS = {
    "plugin in a new test module": {"tests/test_zz_helper.py": """
        import pytest

        class Forge:
            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_makereport(self, item, call):
                outcome = yield
                report = outcome.get_result()
                report.outcome = "passed"
                report.longrepr = None

        def pytest_configure(config):
            pass

        def test_register(request):
            request.config.pluginmanager.register(Forge(), "forge")
        """, "tests/conftest.py": FORGE},
    "atexit rewrites the report": {"tests/test_zz_exit.py": """
        import atexit, glob, os

        def rewrite():
            for path in glob.glob("/tmp/*.xml"):
                with open(path, "w") as f:
                    f.write('<testsuite><testcase classname="t" name="ok"/></testsuite>')
            os._exit(0)

        def test_register():
            atexit.register(rewrite)
        """},
    "conftest skips everything": {"conftest.py": """
        import pytest

        def pytest_collection_modifyitems(config, items):
            for item in items:
                item.add_marker(pytest.mark.skip(reason="later"))
        """},
    "addopts deselects the failing test": {"pytest.ini": """
        [pytest]
        addopts = --deselect tests/test_calc.py::test_add
        """, "tests/test_other.py": "def test_true():\n    assert True\n"},
}


def project(root, files):
    write_tree(root, {k: textwrap.dedent(v) for k, v in files.items()})
    return root


def test_control_the_broken_change_without_a_trick_fails(tmp_path, wheel_cache):
    base = project(tmp_path / "base", BASE)
    head = project(tmp_path / "head", BROKEN)
    result = run_tests(head, policy(), wheel_cache, LIMITS, base=base, changed=["calc.py"])
    assert result.status == "failed"
    assert " 1 failed" in result.summary.splitlines()[0]  # the change's own run says so too


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_forged_passing_run_is_blocked_by_the_referee(tmp_path, wheel_cache, name):
    base = project(tmp_path / "base", BASE)
    head = project(tmp_path / "head", {**BROKEN, **ATTACKS[name]})
    result = run_tests(head, policy(), wheel_cache, LIMITS, base=base,
                       changed=["calc.py", *ATTACKS[name]])
    own_run = result.summary.splitlines()[0]
    # the trick works on the change's own run: nothing failed there, or nothing ran
    assert " 0 failed, 0 errors" in own_run or own_run.startswith("no test executed"), own_run
    assert result.status == "failed", result.summary
    [caught] = [f for f in result.findings if f.rule == "base-test-fails"]
    assert caught.blocking and "tests.test_calc::test_add" in caught.message


def test_a_change_whose_own_run_collects_nothing_is_not_made_green_by_the_referee(
        tmp_path, wheel_cache):
    base = project(tmp_path / "base", BASE)
    control = run_tests(project(tmp_path / "same", BASE), policy(), wheel_cache, LIMITS,
                        base=base, changed=["calc.py"])
    assert control.status == "passed", control.summary  # the referee alone would pass it
    hidden = {**BASE, "pytest.ini": "[pytest]\naddopts = --ignore=tests\n"}
    result = run_tests(project(tmp_path / "head", hidden), policy(), wheel_cache, LIMITS,
                       base=base, changed=["pytest.ini"])
    assert result.summary.startswith("no tests ran"), result.summary  # the trick worked
    assert result.status == "failed", result.summary
    assert any(f.rule == "tests/none-executed" and f.blocking for f in result.findings)


def test_runner_tampering_in_changed_files_is_a_blocking_finding(tmp_path):
    from gatekeeper.core.model import ChangedFile
    from gatekeeper.runner.testrun import weakened_suite
    from gatekeeper.scanners.sast import run_sast

    hook = ATTACKS["plugin in a new test module"]["tests/test_zz_helper.py"]
    write_tree(tmp_path, {"tests/test_zz_helper.py": textwrap.dedent(hook),
                          "src/sitecustomize.py": "import os\n"})

    def added(path):
        text = (tmp_path / path).read_text()
        return ChangedFile(path, "added", patch=f"@@ -0,0 +1,{text.count(chr(10))} @@\n" + "".join(
            f"+{row}\n" for row in text.splitlines()))

    files = [added("tests/test_zz_helper.py"), added("src/sitecustomize.py"),
             ChangedFile("pyproject.toml", "modified",
                         patch='@@ -1,0 +2,1 @@\n+[project.entry-points.pytest11]\n')]
    sast = run_sast(tmp_path, files[:1], "medium")
    rules = {f.rule for f in sast.findings if f.blocking}
    assert {"runner-plugin-registered", "runner-report-hook"} <= rules, sast.summary
    assert sast.status == "failed"
    suite = {f.rule for f in weakened_suite(files) if f.blocking}
    assert suite == {"runner-tampering/site-hook", "runner-tampering/plugin-entry-point"}
    # the control: the same hook in a conftest the base already has asks for acknowledgement
    (tmp_path / "conftest.py").write_text(textwrap.dedent(hook))
    base_conftest = ChangedFile("conftest.py", "modified", patch=added("conftest.py").patch)
    kept = run_sast(tmp_path, [base_conftest], "medium")
    assert kept.findings and not [f for f in kept.findings if f.blocking]


# set-up runs the project's own setup.py with the environment writable: it plants a .pth
# whose line runs at every interpreter start and loads a plugin that turns failures into passes
PLANT = '''
import glob, os
from setuptools import setup

FORGE = __FORGE__
here = os.path.dirname(os.path.abspath(__file__))
for site in glob.glob("/tmp/gatekeeper-setup-*/env/lib/python*/site-packages") + glob.glob(
        os.path.join(here, "..", "env", "lib", "python*", "site-packages")):
    with open(os.path.join(site, "_gk_forge.py"), "w") as f:
        f.write(FORGE)
    with open(os.path.join(site, "zz_forge.pth"), "w") as f:
        f.write("import os; os.environ['PYTEST_ADDOPTS'] = '-p _gk_forge'\\n")
setup(name="calc", version="1.0", py_modules=["calc"])
'''.replace("__FORGE__", repr(FORGE))


def test_a_hook_planted_by_set_up_is_named_and_does_not_reach_the_referee(tmp_path, wheel_cache):
    base = project(tmp_path / "base", BASE)
    head = project(tmp_path / "head", {**BROKEN, "setup.py": PLANT})
    result = run_tests(head, policy(), wheel_cache, LIMITS, base=base,
                       changed=["calc.py", "setup.py"])
    # the gate's launcher sets the variables pytest reads: PYTEST_ADDOPTS the planted hook
    # sets is dropped in the change's own run and the referee's alike
    [broken] = [f for f in result.findings if f.rule == "base-test-fails"]
    assert "tests.test_calc::test_add" in broken.message
    assert result.status == "failed", result.summary
    [planted] = [f for f in result.findings if f.rule == "runner-tampering/set-up-hook"]
    assert planted.blocking and "zz_forge.pth" in planted.message
    assert "no distribution's RECORD accounts for" in planted.message
