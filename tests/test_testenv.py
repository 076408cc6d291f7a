"""Finding the test environment a repository declares, read as data, for each common shape."""


import pytest
from factories import write_tree
from packaging.specifiers import SpecifierSet

from gatekeeper.runner.testenv import Unreadable, discover, parts

tree = write_tree


def lines(env) -> list[str]:
    return sorted(line for _, line in env.requirements)


def test_dependency_group_with_an_included_group_and_a_hatchling_src_project(tmp_path):
    env = discover(tree(tmp_path, {"pyproject.toml": """
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        [project]
        name = "Demo-Lib"
        dependencies = ["six>=1.16"]
        [dependency-groups]
        lint = ["ruff"]
        test = ["pytest>=8", {include-group = "cov"}]
        cov = ["coverage"]
    """}))
    assert lines(env) == ["coverage", "pytest>=8", "six>=1.16"]
    assert env.sources == ["pyproject.toml [dependency-groups] test"]
    assert env.projects == ["."] and env.backends == ["hatchling"]
    assert env.local_names == {"demo-lib"}
    assert [line for _, line in env.build_requires] == ["hatchling"]
    assert "project installed from . (hatchling)" in env.describe()


def test_tox_deps_and_extras_when_nothing_else_declares_tests(tmp_path):
    env = discover(tree(tmp_path, {
        "setup.py": "from setuptools import setup\nsetup(name='x')\n",
        "pyproject.toml": """
            [project]
            name = "x"
            optional-dependencies = {speed = ["ujson"]}
        """,
        "tox.ini": """
            [tox]
            envlist = py312
            [testenv]
            deps =
                pytest
                py312: tomli
                {[base]deps}
            extras = speed
            commands = pytest
        """}))
    assert lines(env) == ["pytest", "ujson"]
    assert env.sources == ["tox.ini [testenv]"]
    assert [line for _, line in env.build_requires] == ["setuptools>=40.8.0", "wheel"]


def test_extras_hatch_poetry_and_pdm_groups(tmp_path):
    extras = discover(tree(tmp_path / "a", {"pyproject.toml": """
        [project]
        name = "a"
        [project.optional-dependencies]
        docs = ["sphinx"]
        testing = ["pytest", "hypothesis"]
    """}))
    assert lines(extras) == ["hypothesis", "pytest"] and extras.sources == ["pyproject.toml extra [testing]"]
    hatch = discover(tree(tmp_path / "b", {"pyproject.toml": """
        [project]
        name = "b"
        optional-dependencies = {fast = ["orjson"]}
        [tool.hatch.envs.hatch-test]
        extra-dependencies = ["pytest-mock"]
        features = ["fast"]
    """}))
    assert lines(hatch) == ["orjson", "pytest-mock"] and hatch.sources == ["hatch environment hatch-test"]
    poetry = discover(tree(tmp_path / "c", {"pyproject.toml": """
        [build-system]
        requires = ["poetry-core>=1.0"]
        build-backend = "poetry.core.masonry.api"
        [tool.poetry]
        name = "c"
        [tool.poetry.dependencies]
        python = "^3.11"
        attrs = "^23.1"
        [tool.poetry.group.test.dependencies]
        pytest = "^8.0"
    """}))
    assert lines(poetry) == ["attrs", "pytest"] and poetry.backends == ["poetry"]
    old_poetry = discover(tree(tmp_path / "e", {"pyproject.toml": """
        [tool.poetry]
        name = "e"
        [tool.poetry.dev-dependencies]
        PyYAML = "^6.0"
    """}))
    assert lines(old_poetry) == ["PyYAML"] and old_poetry.sources == ["poetry group dev"]
    pdm = discover(tree(tmp_path / "d", {"pyproject.toml": """
        [tool.pdm.dev-dependencies]
        test = ["pytest", "-e file:///${PROJECT_ROOT}/sub"]
    """}))
    assert lines(pdm) == ["pytest"] and pdm.projects == []


def test_workspace_members_are_built_and_not_downloaded(tmp_path):
    member = """
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        [project]
        name = "{name}"
        dependencies = [{deps}]
    """
    env = discover(tree(tmp_path, {
        "pyproject.toml": """
            [tool.uv.workspace]
            members = ["packages/*"]
            [tool.uv]
            dev-dependencies = ["pytest"]
        """,
        "packages/core/pyproject.toml": member.format(name="acme-core", deps='"attrs"'),
        "packages/cli/pyproject.toml": member.format(name="acme-cli", deps='"acme-core", "click"'),
    }))
    assert env.projects == ["packages/cli", "packages/core"]
    assert env.local_names == {"acme-core", "acme-cli"}
    assert lines(env) == ["acme-core", "attrs", "click", "pytest"]  # acme-core is left out later


def test_a_sub_project_the_root_depends_on_is_installed_with_it(tmp_path):
    """pulp-cli depends on pulp-glue==0.39.0.dev0 from its own pulp-glue/ folder: no index
    has that version, and CI builds both."""
    project = """
        [build-system]
        requires = ["setuptools"]
        [project]
        name = "{name}"
        dependencies = [{deps}]
    """
    env = discover(tree(tmp_path / "a", {
        "pyproject.toml": project.format(name="pulp-cli", deps='"pulp_glue==0.39.0.dev0"'),
        "pulp-glue/pyproject.toml": project.format(name="pulp-glue", deps='"requests"'),
        "docs-theme/pyproject.toml": project.format(name="docs-theme", deps=""),
    }))
    assert env.projects == [".", "pulp-glue"]  # not the sub-project nothing depends on
    assert env.local_names == {"pulp-cli", "pulp-glue"}
    (tmp_path / "a" / "pulp-glue" / "tests").mkdir()
    (tmp_path / "a" / "pulp-glue" / "tests" / "test_glue.py").write_text("")
    assert parts(tmp_path / "a", env, ["pulp-glue/x.py"]) == ["."]  # CI runs it from the root
    alone = discover(tree(tmp_path / "b", {
        "pyproject.toml": project.format(name="pulp-cli", deps='"requests"'),
        "pulp-glue/pyproject.toml": project.format(name="pulp-glue", deps=""),
    }))
    assert alone.projects == ["."]
    odd = discover(tree(tmp_path / "c", {  # a hostile pyproject is read, never a crash
        "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n[project]\nname = "x"\n'
                          'dependencies = 5\noptional-dependencies = {a = 7, b = ["y"]}\n',
        "y/pyproject.toml": "project = 3\n",
    }))
    assert odd.projects == ["."]
    with pytest.raises(Unreadable, match="unexpected type"):  # said, not a crash
        discover(tree(tmp_path / "d", {"pyproject.toml": '[tool]\npoetry = "x"\n'}))


def test_requirement_files_follow_includes_inside_the_repository_only(tmp_path):
    env = discover(tree(tmp_path, {
        "requirements/development.txt": "-r base.txt\n-c constraints.txt\npytest\n",
        "requirements/base.txt": "six\n-r ../../../etc/passwd\n",
        "requirements/constraints.txt": "six<2\n",
    }))
    found = lines(env)
    assert "pytest" in found and "six" in found and "six<2" not in found
    assert any(line.startswith("-r ../../../etc/passwd (outside") for line in found)


def test_declared_python_from_pin_requires_python_and_classifiers(tmp_path):
    from gatekeeper.runner.interpreters import declared

    pinned = tree(tmp_path / "a", {".python-version": "3.12.4\n", "pyproject.toml":
                                   "[project]\nrequires-python = '>=3.9'\n"})
    assert declared(pinned) == (SpecifierSet("==3.12.*"), ".python-version")
    required = tree(tmp_path / "b", {"pyproject.toml": "[project]\nrequires-python = '>=3.10'\n"})
    assert declared(required) == (SpecifierSet(">=3.10"), "requires-python")
    classified = tree(tmp_path / "c", {"pyproject.toml": """
        [project]
        classifiers = ["Programming Language :: Python :: 3.13",
                       "Programming Language :: Python :: 3.11",
                       "Programming Language :: Python :: 3"]
    """})
    assert declared(classified) == (SpecifierSet(">=3.11"), "classifiers")
    assert declared(tree(tmp_path / "d", {"setup.py": ""})) == (None, "the worker's default")


def test_a_monorepo_change_that_only_deletes_runs_every_part_not_none(tmp_path):
    from gatekeeper.runner.testenv import parts

    member = ('[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
              '[project]\nname = "{}"\n')
    root = tree(tmp_path, {"pyproject.toml": "[tool.uv.workspace]\nmembers = ['packages/*']\n",
                           "packages/a/pyproject.toml": member.format("a"),
                           "packages/a/tests/test_a.py": "def test_a():\n    pass\n",
                           "packages/b/pyproject.toml": member.format("b"),
                           "packages/b/tests/test_b.py": "def test_b():\n    pass\n"})
    env = discover(root)
    assert parts(root, env, []) == ["packages/a", "packages/b"]
    assert parts(root, env, ["packages/b/x.py"]) == ["packages/b"]
    assert parts(root, env, ["README.md"]) == ["packages/a", "packages/b"]
