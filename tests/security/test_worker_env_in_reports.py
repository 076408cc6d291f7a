"""A requirement that asks pip to expand a variable of the worker's environment into the error
text a pull request author reads. Control: pip really does expand it."""

import subprocess
import sys
import textwrap

from factories import policy, write_tree

from gatekeeper.runner.sandbox import Limits
from gatekeeper.runner.testrun import run_tests

CANARY = "CANARY-pip-env-5e1d"
LIMITS = Limits(wall_seconds=120, cpu_seconds=120, memory_bytes=1024**3, processes=128)
FILES = {"calc.py": "X = 1\n", "tests/test_x.py": "def test_x():\n    assert True\n",
         "requirements.txt": "leakprobe===${PIP_GK_CANARY}\n"}


def test_control_pip_expands_variables_in_requirement_files(tmp_path):
    (tmp_path / "r.txt").write_text(FILES["requirements.txt"])
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d",
                           str(tmp_path / "d"), "-r", str(tmp_path / "r.txt")],
                          capture_output=True, text=True, env={"PIP_GK_CANARY": CANARY,
                                                               "PATH": "/usr/bin:/bin"})
    assert CANARY in done.stdout + done.stderr


def test_the_wheels_path_refuses_the_reference(tmp_path, wheel_cache, monkeypatch):
    monkeypatch.setenv("PIP_GK_CANARY", CANARY)
    write_tree(tmp_path, {k: textwrap.dedent(v) for k, v in FILES.items()})
    result = run_tests(tmp_path, policy("tests:\n  setup: wheels\n"), wheel_cache, LIMITS)
    assert CANARY not in result.summary
    assert "environment references ($) are not followed" in result.summary


def test_the_set_up_sandbox_has_no_worker_variable_to_expand(tmp_path, wheel_cache,
                                                             monkeypatch):
    monkeypatch.setenv("PIP_GK_CANARY", CANARY)
    write_tree(tmp_path, {k: textwrap.dedent(v) for k, v in FILES.items()})
    result = run_tests(tmp_path, policy(), wheel_cache, LIMITS)
    assert result.status == "error"  # leakprobe=== (nothing) cannot be installed
    assert CANARY not in result.summary
