"""The set-up plan: a pure function of a project's files and its base branch's CI."""

import base64
import dataclasses
import subprocess

from gatekeeper.core.setupplan import ProjectFacts, ci_pythons, make_target, plan


def workflow(*runs: str) -> dict:
    return {".github/workflows/ci.yml": {"jobs": {"test": {"steps": [
        {"name": f"step {i}", "run": run} for i, run in enumerate(runs)]}}}}


def test_uv_sync_flags_and_pytest_options_come_from_ci():
    facts = ProjectFacts(frozenset({"uv.lock", "pyproject.toml"}), {}, workflow(
        "uv sync --locked --all-extras --all-packages --group dev --python ${{ matrix.py }}",
        "uv run pytest -n auto -m 'not slow' --cov=pkg --junitxml=x.xml tests/unit"), cores=2)
    chosen = plan(facts)
    assert chosen.tool == "uv.lock"
    assert "uv export --frozen --format requirements-txt --no-header --all-extras " \
           "--all-packages --group dev -o /tmp/gk-export.txt" in chosen.script
    assert "matrix" not in chosen.script and "--python" not in chosen.script
    assert chosen.pytest_args == ("-n", "2", "-m", "not slow", "tests/unit")
    assert "ci.yml job test, step 'step 1'" in chosen.followed
    assert any("--cov=pkg" in n and "--junitxml=x.xml" in n for n in chosen.notes)


def test_lock_lines_the_index_cannot_serve_are_left_out_and_named(tmp_path):
    """codeflash's uv.lock points nuitka at ../Nuitka, beside the repository: not there."""
    script = plan(ProjectFacts(frozenset({"uv.lock"}))).script
    # and the project's [tool.uv.sources] cannot bring the path back when it is installed
    assert "uv pip install --no-sources -r /tmp/gk-locked.txt" in script
    exported = ("-e .\n-e ../Nuitka\n    # via codeflash\n-e ./codeflash-benchmark\n"
                "-e /opt/elsewhere\nfoo @ git+https://example.org/foo\n"
                "six==1.16.0 \\\n    --hash=sha256:1e61\n")
    (tmp_path / "gk-export.txt").write_text(exported)
    step = script.split("\n")[1].replace("/tmp/", f"{tmp_path}/")  # the filtering line
    done = subprocess.run(["bash", "-c", step], capture_output=True, text=True, check=True)
    kept = (tmp_path / "gk-locked.txt").read_text()
    assert kept == ("-e .\n    # via codeflash\n-e ./codeflash-benchmark\n"
                    "six==1.16.0 \\\n    --hash=sha256:1e61\n")
    named = [line for line in done.stdout.splitlines() if line.startswith("::gatekeeper::")]
    assert [n.rsplit(": ", 1)[1] for n in named] == [
        "-e ../Nuitka", "-e /opt/elsewhere", "foo @ git+https://example.org/foo"]


def test_a_published_pytest_action_is_read_as_the_pytest_line_it_runs():
    """SWE-ReX runs its suite through sjvrijn/pytest-last-failed with `pytest-args`."""
    steps = [{"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
             {"run": "uv pip install '.[dev]'"},
             {"name": "Run pytest", "uses": "sjvrijn/pytest-last-failed@v2",
              "with": {"pytest-args": '--cov swerex -k "not cloud" $(curl evil)'}}]
    chosen = plan(ProjectFacts(frozenset({"pyproject.toml"}), {},
                               {".github/workflows/t.yml": {"jobs": {"test": {"steps": steps}}}}))
    assert chosen.pytest_args == ("-k", "not cloud")
    assert "step 'Run pytest'" in chosen.followed and "curl" not in chosen.script
    other = [{"uses": "codecov/codecov-action@v4", "with": {"args": "-k x"}}]
    assert plan(ProjectFacts(frozenset(), {}, {"w.yml": {"jobs": {"t": {"steps": other}}}})
                ).pytest_args == ()


def test_without_ci_a_uv_lock_installs_all_extras_and_says_so():
    chosen = plan(ProjectFacts(frozenset({"uv.lock"})))
    assert "--all-extras" in chosen.script and "no CI workflow" in chosen.followed


def test_make_targets_are_followed_to_their_recipes():
    makefile = ("install:\n\tuv sync --all-extras --group test\n\n"
                "test: install\n\t@uv run pytest -x tests/ $(ARGS)\n\tuv run pytest -p xdist\n")
    assert make_target(makefile, "test") == (["install"], ["uv run pytest -x tests/ $(ARGS)",
                                                          "uv run pytest -p xdist"])
    chosen = plan(ProjectFacts(frozenset({"uv.lock"}), {}, workflow("make test"),
                               makefile=makefile))
    assert "--all-extras --group test" in chosen.script
    assert chosen.pytest_args == ("-p", "xdist")  # the recipe line with a variable is not taken


def test_a_pip_project_installs_itself_with_extras_groups_files_and_members():
    pyproject = {"build-system": {"requires": ["hatchling"]},
                 "project": {"name": "p", "optional-dependencies": {"test": [], "docs": []}},
                 "dependency-groups": {"test": ["pytest"], "lint": ["ruff"]}}
    facts = ProjectFacts(frozenset({"pyproject.toml"}), pyproject, {},
                         requirement_files=("requirements-dev.txt",),
                         declared=("pytest-mock", "GATEKEEPER_EOF"), members=("packages/a",),
                         asked=("six",))
    chosen = plan(facts)
    # the project and its members in one command: either may need the other
    assert "uv pip install --no-sources -e '.[docs,test]' -e ./packages/a\n" in chosen.script
    assert "uv pip install --group test\n" in chosen.script and "lint" not in chosen.script
    assert "uv pip install -r ./.gatekeeper-requirements-dev.txt" in chosen.script
    alone = plan(dataclasses.replace(facts, members=()))
    assert "uv pip install -e '.[docs,test]'\n" in alone.script
    assert chosen.script.rstrip().endswith("uv pip install six")
    encoded = base64.b64encode(b"pytest-mock\nGATEKEEPER_EOF\n").decode()
    assert f"echo {encoded} | base64 -d" in chosen.script  # no line can end a here-document


def test_poetry_lock_is_exported_with_its_non_optional_groups():
    pyproject = {"tool": {"poetry": {"group": {"test": {}, "docs": {"optional": True}},
                                     "dev-dependencies": {"pytest": "*"}}}}
    chosen = plan(ProjectFacts(frozenset({"poetry.lock"}), pyproject))
    assert chosen.tool == "poetry.lock"
    assert "--with dev --with test" in chosen.script and "docs" not in chosen.script


def test_a_project_with_nothing_to_build_is_not_built():
    chosen = plan(ProjectFacts(frozenset({"pyproject.toml"}), {"project": {"name": "x"}}))
    assert "-e ." not in chosen.script


def test_the_runner_gathers_each_fact_into_its_own_field(tmp_path):
    from gatekeeper.runner.projectsetup import gather

    (tmp_path / "Makefile").write_text("test:\n\tpytest -x\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    for name in ("requirements.txt", "test_requirements.txt", "requirements-dev.txt",
                 "docs-requirements.txt"):
        (tmp_path / name).write_text("six\n")
    facts = gather(tmp_path, None, ("six",))
    assert facts.asked == ("six",) and facts.makefile.startswith("test:")
    assert facts.requirement_files == ("requirements-dev.txt", "requirements.txt",
                                       "test_requirements.txt")  # not the docs' own


def test_the_python_ci_tests_is_read_through_the_matrix():
    from gatekeeper.core.setupplan import ci_pythons

    jobs = {"lint": {"steps": [{"uses": "actions/setup-python@v5",
                                "with": {"python-version": "3.13"}}, {"run": "ruff ."}]},
            "test": {"strategy": {"matrix": {"python-version": ["3.10", "3.12", "3.11"]}},
                     "steps": [{"uses": "actions/setup-python@v5",
                                "with": {"python-version": "${{ matrix.python-version }}"}},
                               {"run": "pip install -e .[test]\npytest"}]}}
    assert ci_pythons({".github/workflows/ci.yml": {"jobs": jobs}}) == ["3.12", "3.11", "3.10"]
    single = {"t": {"steps": [{"uses": "actions/setup-python@v4",
                               "with": {"python-version": "3.12.4"}}, {"run": "make test"}]}}
    assert ci_pythons({"w.yml": {"jobs": single}}) == ["3.12"]
    assert ci_pythons({}) == []


def test_a_reusable_pipelines_python_input_is_read():
    from gatekeeper.core.setupplan import ci_pythons

    jobs = {"ci": {"uses": "org/templates/.github/workflows/ci.yml@main",
                   "with": {"PYTHON_VERSION": "3.12", "PYTHON_TEST_MATRIX": '["3.9", "3.10"]'}}}
    assert ci_pythons({"w.yml": {"jobs": jobs}}) == ["3.12"]


def test_only_a_command_that_runs_pytest_gives_its_arguments():
    # installing pytest and its plugins is not running it (read as test paths, nothing ran)
    chosen = plan(ProjectFacts(frozenset({"pyproject.toml"}), {}, workflow(
        "pip install -e '.[full]'\npip install pytest pytest-cov pytest-xdist",
        "pytest -v --cov --cov-branch -n auto")))
    assert chosen.pytest_args == ("-n", "2") and "step 1" in chosen.followed
    runs = {"CI=1 uv run --extra test pytest -x tests": ("-x", "tests"),
            "python3.12 -m pytest -p xdist": ("-p", "xdist"),
            "coverage run --source=pkg -m pytest tests/unit": ("tests/unit",),
            "timeout 600 poetry run pytest -m 'not slow'": ("-m", "not slow"),
            ".venv/bin/pytest -x": ("-x",),
            # an expression is never a test path (aixplain: `matrix.path` was kept as one)
            "python -m pytest ${{ matrix.path }} -m ${{ inputs.marks }} -x": ("-x",)}
    for line, args in runs.items():
        assert plan(ProjectFacts(frozenset(), {}, workflow(line))).pytest_args == args, line
    for line in ("pip install pytest tests", "uv pip install pytest", "echo pytest tests",
                 "python -m pip install pytest", "uv add --dev pytest"):
        assert plan(ProjectFacts(frozenset(), {}, workflow(line))).pytest_args == (), line


def test_ci_python_and_steps_are_read_through_local_composite_actions():
    action = {"inputs": {"py": {"default": "3.11"}}, "runs": {"using": "composite", "steps": [
        {"uses": "actions/setup-python@v5", "with": {"python-version": "${{ inputs.py }}"}},
        {"run": "pip install -e .[test]"}, {"run": "python -m pytest -n 4 tests"}]}}
    workflows = {".github/workflows/ci.yml": {"jobs": {
                     "lint": {"steps": [{"uses": "actions/setup-python@v5",
                                         "with": {"python-version": "3.13"}},
                                        {"run": "ruff check"}]},
                     "test": {"steps": [{"uses": "./.github/actions/install",
                                         "with": {"py": "3.12"}}]}}},
                 ".github/actions/install/action.yml": action}
    assert ci_pythons(workflows) == ["3.12"]  # the testing job's, its input over the default
    chosen = plan(ProjectFacts(frozenset(), {}, workflows))
    assert chosen.pytest_args == ("-n", "2", "tests")
    del workflows[".github/workflows/ci.yml"]["jobs"]["test"]["steps"][0]["with"]
    assert ci_pythons(workflows) == ["3.11"]
    # a job that runs its tests through a script: the Python any job sets up, not the newest
    script_only = {".github/workflows/ci.yml": {"jobs": {"t": {"steps": [
        {"uses": "actions/setup-python@v5", "with": {"python-version": "3.10"}},
        {"run": "./run.sh TESTS"}]}}}}
    assert ci_pythons(script_only) == ["3.10"]


def test_composite_actions_are_read_with_the_workflows_but_not_through_a_link(tmp_path):
    from gatekeeper.runner.projectsetup import gather_workflows
    (tmp_path / ".github/actions/install").mkdir(parents=True)
    (tmp_path / ".github/actions/install/action.yml").write_text("runs:\n  steps: []\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/action.yml").write_text("runs:\n  steps: []\n")
    (tmp_path / ".github/actions/linked").symlink_to(tmp_path / "elsewhere")
    assert list(gather_workflows(tmp_path)) == [".github/actions/install/action.yml"]
