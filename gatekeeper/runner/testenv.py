"""The test environment a repository declares, read as data: nothing of it is run here.

Looked for in the order maintainers usually mean it: PEP 735 dependency groups, the
project's test extras, hatch's test environments, tox, poetry/pdm/uv dev groups, then
requirement files (following -r/-c inside the repository). The project itself (and every
workspace member) is installed too when it can be built: its build requirements are fetched
as wheels like everything else, and the build runs later, inside the sandbox.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from gatekeeper.core.bounded import DATA, ParseError, TooLarge, load_json, load_toml
from gatekeeper.core.pipenv import lock_requirements, pipfile_requirements
from gatekeeper.core.policy import path_matches
from gatekeeper.runner.wheelhouse import sanitize

TEST_NAMES = ("test", "tests", "testing", "dev", "hatch-test")
REQUIREMENT_GLOBS = ("requirements*.txt", "requirements/*.txt", "tests/requirements*.txt",
                     "test/requirements*.txt", "testing/requirements*.txt")
DEFAULT_BUILD = ["setuptools>=40.8.0", "wheel"]  # PEP 518's default for a legacy setup.py
MAX_INCLUDES = 20


@dataclass
class TestEnv:
    requirements: list[tuple[str, str]] = field(default_factory=list)  # (where, line)
    sources: list[str] = field(default_factory=list)  # the declarations used, for the report
    projects: list[str] = field(default_factory=list)  # folders to build and install ("." …)
    local_names: set[str] = field(default_factory=set)  # distributions the repository builds
    # sub-projects installed with the root because it depends on them; the suite still runs
    # from the root, as their CI does (they are not parts of a monorepo)
    beside: list[str] = field(default_factory=list)
    build_requires: list[tuple[str, str]] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)

    def describe(self) -> str:
        used = "; ".join(self.sources) or "no test dependencies declared"
        if self.projects:
            built = ", ".join(self.projects)
            used += f"; project installed from {built} ({', '.join(sorted(set(self.backends)))})"
        return used


def declared_requirements(root: Path) -> tuple[list[str], list[str]]:
    """Plain requirement specifiers of the test environment, and the lines refused with why."""
    return sanitize(discover(root).requirements)


def _toml(path: Path) -> dict:
    """A pyproject or Pipfile, or nothing when it does not parse; past the reading bounds
    (a nesting bomb, a huge file) it is the stage's error, never read as empty."""
    try:
        if path.stat().st_size > DATA.chars * 4:  # not read whole: at most 4 bytes a character
            raise TooLarge(path.name, "larger than is read")
        return load_toml(path.read_text(), path.name)
    except TooLarge as exc:
        raise TooComplex(str(exc)) from None
    except (OSError, ParseError, UnicodeDecodeError):
        return {}


def _table(data: dict, key: str) -> dict:
    """A TOML table by name, or empty when the file has something else there: the file is
    the pull request's, and a wrong type is read as nothing, never a crash on the worker."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _readable(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def discover(root: Path) -> TestEnv:
    env = TestEnv()
    data = _toml(root / "pyproject.toml") if _readable(root / "pyproject.toml") else {}
    with _readable_types():
        _projects(root, data, env)
        # the first declaration of a test environment is the one used: a project that has a
        # dependency group and a tox file means the same thing twice, usually
        any(reader(root, data, env) for reader in
            (_dependency_groups, _hatch, _tox, _extras, _poetry, _pdm, _uv, _pipenv))
        _requirement_files(root, env)
    return env


def every_declaration(root: Path) -> TestEnv:
    """Every test declaration, not only the first: for a set-up that installs them all."""
    env = TestEnv()
    data = _toml(root / "pyproject.toml") if _readable(root / "pyproject.toml") else {}
    with _readable_types():
        for reader in (_dependency_groups, _hatch, _tox, _extras, _poetry, _pdm, _uv, _pipenv):
            reader(root, data, env)
    return env


@contextlib.contextmanager
def _readable_types():
    """The declaration files are the pull request's: a table or list where the readers expect
    another type is said as such (the stage's error), never a crash of the worker's job."""
    try:
        yield
    except (AttributeError, TypeError) as exc:
        raise Unreadable("a declaration file (pyproject.toml, tox.ini, Pipfile, ...) has a "
                         f"value of an unexpected type ({str(exc)[:120]}): fix it to the "
                         "format its tool documents") from None


def _project_folder(root: Path, folder: Path, env: TestEnv) -> None:
    """A buildable project in `folder`: its runtime requirements and build requirements."""
    pyproject = folder / "pyproject.toml"
    data = _toml(pyproject) if _readable(pyproject) else {}
    has_setup = _readable(folder / "setup.py") or _readable(folder / "setup.cfg")
    system = _table(data, "build-system")
    if not system and not has_setup:
        return
    rel = str(folder.relative_to(root)) or "."
    where = f"{rel}/pyproject.toml" if rel != "." else "pyproject.toml"
    project = _table(data, "project")
    if isinstance(project.get("name"), str) and project["name"]:
        env.local_names.add(canonicalize_name(project["name"]))
    env.requirements += [(f"{where} [project.dependencies]", d)
                         for d in _strings(project.get("dependencies"))]
    poetry = _table(_table(data, "tool"), "poetry")
    if isinstance(poetry.get("name"), str) and poetry["name"]:
        env.local_names.add(canonicalize_name(poetry["name"]))
    # poetry's constraint language (^, ~) is not PEP 508: the names are what is installed
    env.requirements += [(f"{where} [tool.poetry.dependencies]", n)
                         for n in _table(poetry, "dependencies") if n.lower() != "python"]
    requires = _strings(system.get("requires", DEFAULT_BUILD)) if system else DEFAULT_BUILD
    backend = system.get("build-backend", "setuptools.build_meta:__legacy__")
    backend = backend if isinstance(backend, str) else "setuptools.build_meta:__legacy__"
    if backend.startswith("setuptools") and "wheel" not in requires:
        # what setuptools' backend asks for at build time (older setuptools, like the one a
        # new virtualenv brings, cannot build a wheel without it)
        requires = [*requires, "wheel"]
    env.build_requires += [(f"{where} [build-system.requires]", r) for r in requires]
    env.backends.append(backend.split(".")[0].split(":")[0])
    env.projects.append(rel)


def _projects(root: Path, data: dict, env: TestEnv) -> None:
    members: list[str] = []
    members += data.get("tool", {}).get("uv", {}).get("workspace", {}).get("members", [])
    members += _hatch_workspace(data)
    _project_folder(root, root, env)
    seen = {root.resolve()}
    for pattern in members:
        for folder in member_folders(root, str(pattern)):
            resolved = folder.resolve()
            if folder.is_dir() and resolved not in seen and root.resolve() in resolved.parents:
                seen.add(resolved)
                _project_folder(root, folder, env)
    if not members and not env.projects:  # a workspace nobody declared: packages/*/
        for folder in sorted(root.glob("packages/*")):
            if folder.is_dir() and _readable(folder / "pyproject.toml"):
                _project_folder(root, folder, env)
    if not members:
        for folder in _local_dependencies(root, data):
            if folder.resolve() not in seen:
                seen.add(folder.resolve())
                _project_folder(root, folder, env)
                env.beside += [p for p in env.projects[-1:] if p == folder.name]


MAX_SIBLINGS = 200


def _local_dependencies(root: Path, data: dict) -> list[Path]:
    """Sub-projects one folder down that the root project depends on by name (pulp-cli and
    its pulp-glue/, released together with the same dev version, which no index holds): CI
    builds both, so they are installed together."""
    project = _table(data, "project")
    lists = [project.get("dependencies"), *_table(project, "optional-dependencies").values()]
    wanted = {_requirement_name(r) for one in lists for r in _strings(one)}
    wanted.discard("")
    found = []
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()
                     and not p.name.startswith("."))[:MAX_SIBLINGS] if wanted else []
    for folder in folders:
        if not _readable(folder / "pyproject.toml"):
            continue
        name = _table(_toml(folder / "pyproject.toml"), "project").get("name")
        if isinstance(name, str) and canonicalize_name(name) in wanted:
            found.append(folder)
    return found


def _requirement_name(line: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    return canonicalize_name(match.group(1)) if match else ""


MAX_GLOB_DEPTH = 8
MAX_GLOB_DIRS = 20_000


class TooComplex(Exception):
    """A pattern or tree the worker will not match outside the sandbox: said, never a hang."""


class Unreadable(TooComplex):
    """Declarations the worker cannot read as their tool's format."""


def member_folders(root: Path, pattern: str) -> list[Path]:
    """Folders matching a workspace glob, found by one bounded walk. `Path.glob` with several
    `**` is exponential in the tree's depth, and the pattern is the pull request's."""
    if len(pattern) > 200 or pattern.count("**") > 2:
        raise TooComplex(f"workspace member pattern {pattern[:60]!r} is too complex to expand")
    found, seen = [], 0
    for folder, dirs, _ in os.walk(root):
        relative = os.path.relpath(folder, root)
        depth = 0 if relative == "." else relative.count(os.sep) + 1
        dirs[:] = sorted(d for d in dirs if d != ".git") if depth < MAX_GLOB_DEPTH else []
        seen += len(dirs)
        if seen > MAX_GLOB_DIRS:
            raise TooComplex(f"more than {MAX_GLOB_DIRS} folders to match {pattern[:60]!r}")
        if relative != "." and path_matches(pattern.rstrip("/"), relative.replace(os.sep, "/")):
            found.append(Path(folder))
    return found


def _hatch_workspace(data: dict) -> list[str]:
    envs = data.get("tool", {}).get("hatch", {}).get("envs", {})
    return [m if isinstance(m, str) else m.get("path", "")
            for e in envs.values() if isinstance(e, dict)
            for m in e.get("workspace", {}).get("members", [])]


def _dependency_groups(root: Path, data: dict, env: TestEnv) -> bool:
    groups = data.get("dependency-groups", {})
    for name in TEST_NAMES:
        if name in groups:
            env.requirements += [(f"pyproject.toml [dependency-groups] {name}", r)
                                 for r in _group(groups, name, set())]
            env.sources.append(f"pyproject.toml [dependency-groups] {name}")
            return True
    return False


def _group(groups: dict, name: str, seen: set[str]) -> list[str]:
    if name in seen:
        return []
    seen.add(name)
    out = []
    for item in groups.get(name, []):
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and "include-group" in item:
            out += _group(groups, item["include-group"], seen)
    return out


def _extras(root: Path, data: dict, env: TestEnv) -> bool:
    extras = data.get("project", {}).get("optional-dependencies", {})
    for name in TEST_NAMES:
        if name in extras:
            env.requirements += [(f"pyproject.toml [project.optional-dependencies] {name}", r)
                                 for r in extras[name]]
            env.sources.append(f"pyproject.toml extra [{name}]")
            return True
    return False


def _hatch(root: Path, data: dict, env: TestEnv) -> bool:
    envs = data.get("tool", {}).get("hatch", {}).get("envs", {})
    for name in ("hatch-test", "test", "tests"):
        spec = envs.get(name)
        if isinstance(spec, dict):
            deps = spec.get("dependencies", []) + spec.get("extra-dependencies", [])
            env.requirements += [(f"pyproject.toml [tool.hatch.envs.{name}]", d) for d in deps]
            _named_extras(data, spec.get("features", []), env, f"[tool.hatch.envs.{name}]")
            env.sources.append(f"hatch environment {name}")
            return True
    return False


def _named_extras(data: dict, names: list, env: TestEnv, where: str) -> None:
    extras = data.get("project", {}).get("optional-dependencies", {})
    for extra in names:
        env.requirements += [(f"pyproject.toml {where} extra {extra}", r)
                             for r in extras.get(str(extra), [])]


def _tox(root: Path, data: dict, env: TestEnv) -> bool:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    where = None
    legacy = data.get("tool", {}).get("tox", {}).get("legacy_tox_ini")
    try:
        if _readable(root / "tox.ini"):
            parser.read_string((root / "tox.ini").read_text(errors="replace"))
            where = "tox.ini"
        elif legacy:
            parser.read_string(legacy)
            where = "pyproject.toml [tool.tox]"
    except configparser.Error:
        return False
    if where is None or not parser.has_section("testenv"):
        return False
    section = parser["testenv"]
    deps = [line.strip() for line in section.get("deps", "").splitlines() if line.strip()]
    # tox factor conditions ("py312: foo") and substitutions ("{[base]deps}") are not followed
    deps = [d for d in deps if not re.match(r"^[\w\-,!]+:\s", d) and "{" not in d]
    env.requirements += [(f"{where} [testenv] deps", d) for d in deps]
    extras = [e.strip() for e in re.split(r"[,\s]+", section.get("extras", "")) if e.strip()]
    _named_extras(data, extras, env, f"via {where} extras")
    env.sources.append(f"{where} [testenv]")
    return True


def _poetry(root: Path, data: dict, env: TestEnv) -> bool:
    poetry = data.get("tool", {}).get("poetry", {})
    groups = {**poetry.get("group", {})}
    if poetry.get("dev-dependencies"):  # poetry before 1.2
        groups.setdefault("dev", {"dependencies": poetry["dev-dependencies"]})
    for name in TEST_NAMES:
        deps = groups.get(name, {}).get("dependencies", {})
        if deps:
            # poetry's own constraint language (^, ~) is not PEP 508: the names are installed
            env.requirements += [(f"pyproject.toml [tool.poetry.group.{name}]", n)
                                 for n in deps if n.lower() != "python"]
            env.sources.append(f"poetry group {name}")
            return True
    return False


def _pdm(root: Path, data: dict, env: TestEnv) -> bool:
    groups = data.get("tool", {}).get("pdm", {}).get("dev-dependencies", {})
    for name in TEST_NAMES:
        if name in groups:
            env.requirements += [(f"pyproject.toml [tool.pdm.dev-dependencies] {name}", r)
                                 for r in groups[name] if not str(r).startswith("-e")]
            env.sources.append(f"pdm dev group {name}")
            return True
    return False


def _uv(root: Path, data: dict, env: TestEnv) -> bool:
    deps = data.get("tool", {}).get("uv", {}).get("dev-dependencies", [])
    if deps:
        env.requirements += [("pyproject.toml [tool.uv] dev-dependencies", d) for d in deps]
        env.sources.append("[tool.uv] dev-dependencies")
    return bool(deps)


def _pipenv(root: Path, data: dict, env: TestEnv) -> bool:
    """Pipfile.lock's pins when it parses, else the Pipfile's own lines."""
    lock, pipfile = root / "Pipfile.lock", root / "Pipfile"
    try:
        parsed = load_json(lock.read_text(), "Pipfile.lock") if _readable(lock) and \
            lock.stat().st_size < 8 * 1024**2 else None
    except (OSError, ValueError):  # ParseError included: the Pipfile's lines are read instead
        parsed = None
    if isinstance(parsed, dict):
        lines, _ = lock_requirements(parsed)
        where = "Pipfile.lock"
    elif _readable(pipfile) and pipfile.stat().st_size < 8 * 1024**2:
        lines, _ = pipfile_requirements(_toml(pipfile))
        where = "Pipfile"
    else:
        return False
    env.requirements += [(where, line) for line in lines]
    env.sources.append(where)
    return bool(lines)


def _requirement_files(root: Path, env: TestEnv) -> None:
    seen: set[Path] = set()
    for pattern in REQUIREMENT_GLOBS:
        for path in sorted(root.glob(pattern)):
            if _readable(path) and "constraint" not in path.name:  # versions, not wants
                before = len(env.requirements)
                _requirement_file(root, path, env, seen)
                if len(env.requirements) > before:
                    env.sources.append(str(path.relative_to(root)))


def _requirement_file(root: Path, path: Path, env: TestEnv, seen: set[Path]) -> None:
    resolved = path.resolve()
    if resolved in seen or len(seen) >= MAX_INCLUDES:
        return
    seen.add(resolved)
    rel = str(path.relative_to(root))
    for number, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        include = re.match(r"^(-r|--requirement|-c|--constraint)[\s=]+(\S+)$", line)
        if include:
            target = (path.parent / include.group(2)).resolve()
            if root.resolve() in target.parents and _readable(target) and \
                    include.group(1) in ("-r", "--requirement"):
                _requirement_file(root, target, env, seen)
            elif include.group(1) in ("-r", "--requirement"):
                env.requirements.append((f"{rel}:{number}", f"-r {include.group(2)} (outside "
                                         "the repository or missing)"))
            continue  # constraints narrow versions; the wheels chosen already satisfy them
        if line in ("-e .", "."):
            continue  # the project itself: installed anyway
        if line:
            env.requirements.append((f"{rel}:{number}", line))


def parts(root: Path, env: TestEnv, changed: list[str] | None) -> list[str]:
    """The monorepo parts whose own suites should run: workspace members that have tests of
    their own and files this change touched (all of them when a change outside every member,
    or an unknown change, may affect each). ["."] for a repository that is one project."""
    members = [p for p in env.projects
               if p not in (".", *env.beside) and _has_own_tests(root / p)]
    if not members:
        return ["."]
    if not changed:  # unknown, or only deletions: every part, never none
        return members
    touched = [m for m in members if any(f == m or f.startswith(m + "/") for f in changed)]
    elsewhere = any(not any(f.startswith(m + "/") for m in env.projects if m != ".")
                    for f in changed)
    return members if elsewhere else touched


def _has_own_tests(folder: Path) -> bool:
    return any(p.is_file() for pattern in ("test_*.py", "*_test.py") for p in folder.rglob(pattern))


def uses_pytest(root: Path, env: TestEnv) -> bool:
    """Whether the project is written for pytest (else its tests follow unittest's naming)."""
    if any(re.match(r"^\s*pytest\b", line, re.IGNORECASE) for _, line in env.requirements):
        return True
    if _readable(root / "pytest.ini") or any(root.rglob("conftest.py")):
        return True
    for name, marker in (("pyproject.toml", "[tool.pytest"), ("setup.cfg", "[tool:pytest]"),
                         ("tox.ini", "[pytest]")):
        path = root / name
        if _readable(path) and marker in path.read_text(errors="replace"):
            return True
    return False


def project_test_files(root: Path) -> tuple[str, ...]:
    """The project's own `python_files` globs that name tests (`tests_*.py`, `check_*_test.py`),
    so its edited and head-only test files are known as such. A glob like `*.py` in its
    `testpaths` would make every source file a test here, and is left out."""
    files, _ = pytest_collection(root)
    return tuple(f for f in files if "/" not in f and "test" in f.lower() and len(f) <= 100)


def pytest_collection(root: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """pytest's `python_files` globs and `testpaths` folders as the project configures them
    (pytest.ini, tox.ini [pytest], setup.cfg [tool:pytest], pyproject), read as data."""
    values: dict[str, str] = {}
    for name, section in (("pytest.ini", "pytest"), ("tox.ini", "pytest"),
                          ("setup.cfg", "tool:pytest")):
        path = root / name
        if not _readable(path) or path.stat().st_size > 1024**2:
            continue
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(path.read_text(errors="replace"))
        except configparser.Error:
            continue
        if parser.has_section(section):
            values = dict(parser[section])
            break
    if not values and _readable(root / "pyproject.toml"):
        options = _toml(root / "pyproject.toml").get("tool", {}).get("pytest", {})
        values = {k: " ".join(v) if isinstance(v, list) else str(v)
                  for k, v in options.get("ini_options", {}).items()}
    files = tuple(values.get("python_files", "").split())
    paths = tuple(p.strip("/") for p in values.get("testpaths", "").split()
                  if p and not p.startswith("/") and ".." not in p.split("/"))
    return files, paths
