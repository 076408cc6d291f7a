"""Pull request content the worker parses outside the sandbox, made to be slow.

Each case is bounded by pytest-timeout (the failure is a hang, not a slow number); the
sizes and times are in BENCHMARKS.md (bench/parser_budgets.py). Controls: the ordinary input
of the same shape is still read.
"""

import pytest
from factories import policy

from gatekeeper.runner.sandbox import Limits
from gatekeeper.runner.testenv import TooComplex, member_folders
from gatekeeper.runner.testrun import run_tests
from gatekeeper.scanners.depaudit import _locked


def _chain(root, depth):
    folder = root
    for i in range(depth):
        folder = folder / f"d{i}"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.timeout(30)
def test_a_workspace_glob_of_many_double_stars_is_refused_not_expanded(tmp_path, wheel_cache):
    _chain(tmp_path, 24)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["**/**/**/**/**/**/x"]\n')
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    result = run_tests(tmp_path, policy(), wheel_cache, Limits(wall_seconds=60))
    assert result.status == "error"
    assert "too complex" in result.summary


@pytest.mark.timeout(30)
def test_a_deep_tree_is_walked_within_the_depth_cap(tmp_path):
    _chain(tmp_path, 200)
    assert member_folders(tmp_path, "**/d199") == []  # past the cap: not reached, no hang
    (tmp_path / "packages" / "core").mkdir(parents=True)  # the control: a real member
    assert member_folders(tmp_path, "packages/*") == [tmp_path / "packages" / "core"]
    with pytest.raises(TooComplex):
        member_folders(tmp_path, "**/**/**/x")


@pytest.mark.timeout(60)
def test_a_lock_of_fifteen_thousand_packages_is_read_in_linear_time():
    text = "".join(f'[[package]]\nname = "p{i}"\nversion = "1.{i}"\n\n' for i in range(15_000))
    pins = _locked("uv.lock", text)
    assert len(pins) == 15_000 and pins[-1] == ("uv.lock", 4 * 14_999 + 2, "p14999==1.14999")


@pytest.mark.timeout(30)
def test_a_python_files_glob_of_the_pull_requests_is_matched_by_name_not_expanded(tmp_path):
    from gatekeeper.runner.suite import has_tests

    _chain(tmp_path, 24)
    (tmp_path / "pytest.ini").write_text("[pytest]\npython_files = **/**/**/**/**/**/x.py\n")
    assert has_tests(tmp_path) is False  # no hang, and nothing named like that
    (tmp_path / "pytest.ini").write_text("[pytest]\npython_files = check_*.py\n")
    (tmp_path / "d0" / "check_me.py").write_text("")
    assert has_tests(tmp_path) is True  # the control: the project's own naming is honoured


@pytest.mark.parametrize("where", [".", "sub"])
def test_a_pyproject_with_tables_of_the_wrong_type_is_an_error_not_a_crash(tmp_path, wheel_cache,
                                                                           where):
    """Read on the worker: `[tool] poetry = "x"` had raised AttributeError in the job, at the
    root or in a workspace member."""
    bad = '[tool]\npoetry = "x"\n'
    member = ('[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
              '[project]\nname = "sub"\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        bad if where == "." else '[tool.uv.workspace]\nmembers = ["sub"]\n')
    (tmp_path / "sub" / "pyproject.toml").write_text(member + (bad if where == "sub" else ""))
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    result = run_tests(tmp_path, policy(), wheel_cache, Limits(wall_seconds=60))
    assert result.status == "error"
    assert "unexpected type" in result.summary and "could not read" in result.summary
