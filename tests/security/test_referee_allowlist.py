"""The referee is built from what is trusted: the base's suite and configuration, the head's
source, the gate's launcher. Each attack breaks `add` and adds one way of getting the head's
code or configuration into the referee's pytest. The positive control of each is the change's
own run: the trick fooled it (nothing failed there). The referee still blocks.
"""

import subprocess
import sys

import pytest
from factories import policy

# the same broken change and report-forging plugin as the earlier referee attacks
from test_forged_verdicts import BASE, BROKEN, FORGE, project  # noqa: E402

from gatekeeper.runner.sandbox import Limits
from gatekeeper.runner.testrun import run_tests

LIMITS = Limits(wall_seconds=180, cpu_seconds=180, memory_bytes=1024**3, processes=128)

FAKE_PYTEST = """
import sys
with open("/tmp/gatekeeper-junit.xml", "w") as report:
    report.write('<testsuite tests="1"><testcase classname="tests.test_calc" name="test_add"/>'
                 '</testsuite>')
print("1 passed")
sys.exit(0)
"""

# product code that, imported by a base test, makes that test module name a plugin of its own
FRAMES = """
import sys

def add(a, b):
    return a - b

frame = sys._getframe()
while frame is not None:
    if frame.f_globals.get("__file__", "").endswith("test_calc.py"):
        frame.f_globals["pytest_plugins"] = ["calc_forge"]
        break
    frame = frame.f_back
"""

ATTACKS = {
    "pytest.toml deselects the failing test (pytest 9 reads it)": {
        "pytest.toml": '[pytest]\naddopts = ["--deselect=tests/test_calc.py::test_add"]\n',
        "tests/test_other.py": "def test_true():\n    assert True\n"},
    "a dist-info folder in the tree declares a pytest11 plugin": {
        "forge_plugin-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: forge-plugin\n"
                                               "Version: 1.0\n",
        "forge_plugin-1.0.dist-info/entry_points.txt": "[pytest11]\nforge = calc_forge\n",
        "calc_forge.py": FORGE},
    "a root pytest.py replaces pytest under python -m pytest": {"pytest.py": FAKE_PYTEST},
}


def gate(tmp_path, wheel_cache, files):
    base = project(tmp_path / "base", BASE)
    head = project(tmp_path / "head", files)
    changed = sorted(set(files) - set(BASE) | {"calc.py"})
    return run_tests(head, policy(), wheel_cache, LIMITS, base=base, changed=changed)


def fooled(result) -> bool:
    own_run = result.summary.splitlines()[0]
    return " 0 failed, 0 errors" in own_run


def ordinary_run_fooled(tree) -> bool:
    """The control outside the gate: `python -m pytest` in the tree, as CI and the gate's
    earlier runs started it, says nothing failed though `add` is broken."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=tree, capture_output=True, text=True)
    return done.returncode == 0 and "failed" not in done.stdout


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_heads_configuration_and_modules_do_not_reach_the_referee(tmp_path, wheel_cache,
                                                                      name):
    result = gate(tmp_path, wheel_cache, {**BROKEN, **ATTACKS[name]})
    # the trick works on an ordinary pytest run of the tree
    assert ordinary_run_fooled(tmp_path / "head"), name
    assert result.status == "failed", result.summary
    caught = [f for f in result.findings if f.rule == "base-test-fails"]
    assert len(caught) == 1, (result.summary, result.findings)
    [caught] = caught
    assert caught.blocking and "tests.test_calc::test_add" in caught.message


def test_control_without_a_trick_an_ordinary_run_sees_the_breakage(tmp_path):
    tree = project(tmp_path / "plain", BROKEN)
    assert not ordinary_run_fooled(tree)


def test_product_code_that_makes_a_base_test_load_its_plugin_is_a_tamper_finding(
        tmp_path, wheel_cache):
    result = gate(tmp_path, wheel_cache, {**BASE, "calc.py": FRAMES, "calc_forge.py": FORGE})
    assert fooled(result), result.summary  # the plugin was loaded in the change's own run
    assert result.status == "failed", result.summary
    [tamper] = [f for f in result.findings if f.rule == "runner-tampering/referee-session"]
    assert tamper.blocking and "calc_forge" in tamper.message


# set-up runs the head's setup.py: it writes a conftest that fails every test, so that the
# base's run (which used to be set up from the head's working copy) fails the same test
PLANT_FAILURE = '''
import os
from setuptools import setup

os.makedirs("tests", exist_ok=True)
with open(os.path.join("tests", "conftest.py"), "w") as f:
    f.write("def pytest_runtest_call(item):\\n    raise AssertionError('planted-by-setup')\\n")
setup(name="calc", version="1.0", py_modules=["calc"])
'''


def test_a_failure_planted_by_the_heads_set_up_is_not_taken_as_the_bases(tmp_path, wheel_cache):
    result = gate(tmp_path, wheel_cache, {**BROKEN, "setup.py": PLANT_FAILURE})
    # the control: set-up really wrote the conftest (the referee's copy names it as left out)
    assert "left out" in result.summary and "tests/conftest.py" in result.summary
    assert result.status == "failed", result.summary
    [broken] = [f for f in result.findings if f.rule == "base-test-fails"]
    assert broken.blocking and "fails on the base commit too" not in broken.message


def test_control_a_benign_change_with_a_new_package_and_the_bases_plugin_passes(
        tmp_path, wheel_cache):
    base_files = {**BASE, "requirements-dev.txt": "pytest-timeout\n",
                  "tests/test_calc.py": "import pytest\nfrom calc import add\n\n\n"
                                        "@pytest.mark.timeout(60)\ndef test_add():\n"
                                        "    assert add(2, 2) == 4\n"}
    base = project(tmp_path / "base", {**base_files, "pytest.ini": "[pytest]\n"
                                       "addopts = -p no:randomly\n"})
    head = project(tmp_path / "head", {**base_files, "pytest.ini": "[pytest]\n"
                                       "addopts = -p no:randomly\n",
                                       "calc.py": "from helpers import twice\n\n\n"
                                                  "def add(a, b):\n    return a + b\n",
                                       "helpers/__init__.py": "def twice(x):\n"
                                                              "    return 2 * x\n"})
    result = run_tests(head, policy(), wheel_cache, LIMITS, base=base,
                       changed=["calc.py", "helpers/__init__.py"])
    assert result.status == "passed", result.summary
    assert "1 ran, 0 failing" in result.summary, result.summary
    assert not [f for f in result.findings if f.rule.startswith("runner-tampering")]
    assert "plugins the change's environment does not install" not in result.summary
