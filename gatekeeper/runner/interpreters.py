"""Which Python runs a repository's suite: the newest the worker has that the project allows.

The project says what it supports in `requires-python`, `.python-version`, its classifiers or
its Pipfile; all are read as data. The worker's interpreters are GATEKEEPER_PYTHONS (paths,
`:`-separated) or, by default, its own and every pyenv version beside it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from gatekeeper.core.bounded import ParseError, load_json, load_toml
from gatekeeper.core.pipenv import python_version
from gatekeeper.runner import toolargv

VERSION = "import sys; print(*sys.version_info[:3], sep='.')"  # the probe, run isolated


class NoInterpreter(Exception):
    """None of the worker's interpreters fits what the project declares."""


@dataclass(frozen=True)
class Interpreter:
    version: Version
    path: str  # the interpreter binary

    @property
    def prefix(self) -> str:
        """The installation to bind read-only into the sandbox."""
        return str(Path(self.path).resolve().parent.parent)

    @property
    def short(self) -> str:
        return f"{self.version.major}.{self.version.minor}"


@lru_cache(maxsize=4)
def available(configured: str | None = None) -> tuple[Interpreter, ...]:
    paths = [p for p in (configured or "").split(":") if p]
    if not paths:
        own = os.path.realpath(sys.base_prefix) + "/bin/python3"
        paths = [own, *sorted(str(p) for p in Path(sys.base_prefix).resolve().parent.glob(
            "*/bin/python3"))]
    found: dict[str, Interpreter] = {}
    for path in paths:
        version = _version_of(path)
        if version is not None and version.release[:2] not in {v.version.release[:2]
                                                                for v in found.values()}:
            found[path] = Interpreter(version, path)
    return tuple(sorted(found.values(), key=lambda i: i.version, reverse=True))


def _version_of(path: str) -> Version | None:
    try:
        done = subprocess.run(toolargv.code(path, VERSION), capture_output=True, text=True,
                              timeout=20, env={})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Version(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def declared(root: Path) -> tuple[SpecifierSet | None, str]:
    """What the project allows, and where it says so."""
    pin = root / ".python-version"
    if pin.is_file() and not pin.is_symlink():
        first = pin.read_text(errors="replace").split()
        if first and re.fullmatch(r"\d+\.\d+(\.\d+)?", first[0]):
            major_minor = ".".join(first[0].split(".")[:2])
            return SpecifierSet(f"=={major_minor}.*"), ".python-version"
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and not pyproject.is_symlink():
        try:
            project = load_toml(pyproject.read_text(), "pyproject.toml").get("project", {})
        except (ParseError, UnicodeDecodeError):  # the set-up that follows names a bound hit
            project = {}
        if project.get("requires-python"):
            try:
                return SpecifierSet(project["requires-python"]), "requires-python"
            except InvalidSpecifier:
                pass
        versions = [c.rsplit("::", 1)[-1].strip() for c in project.get("classifiers", [])
                    if re.match(r"Programming Language :: Python :: \d+\.\d+$", c)]
        if versions:
            return _from_classifiers(versions), "classifiers"
    pipenv = _pipenv_python(root)
    if pipenv:
        return SpecifierSet(f"=={pipenv}.*"), "Pipfile"
    return None, "the worker's default"


def _pipenv_python(root: Path) -> str | None:
    files = {}
    for name, parse in (("Pipfile", load_toml), ("Pipfile.lock", load_json)):
        path = root / name
        try:
            files[name] = parse(path.read_text(), name) if path.is_file() and not \
                path.is_symlink() and path.stat().st_size < 8 * 1024**2 else {}
        except (OSError, ValueError, UnicodeDecodeError):
            files[name] = {}
    return python_version(files["Pipfile"], files["Pipfile.lock"])


def _from_classifiers(versions: list[str]) -> SpecifierSet:
    lowest = min(versions, key=lambda v: tuple(int(x) for x in v.split(".")))
    return SpecifierSet(f">={lowest}")


def fitting(root: Path, pinned: str | None = None) -> tuple[list[Interpreter], str]:
    """The interpreters the project allows, newest first, and why; raises NoInterpreter.

    `pinned` ("3.12", the policy's tests.python) overrides what the project declares."""
    wanted, source = declared(root)
    if pinned:
        wanted, source = SpecifierSet(f"=={pinned}.*"), "policy tests.python"
    candidates = available(os.environ.get("GATEKEEPER_PYTHONS"))
    if not candidates:
        raise NoInterpreter("the worker has no Python interpreter it can run")
    if wanted is None:
        return list(candidates), source
    allowed = [i for i in candidates if wanted.contains(i.version, prereleases=True)]
    if allowed:
        return allowed, f"{source} {wanted}"
    have = ", ".join(i.short for i in candidates)
    raise NoInterpreter(f"{source} asks for Python {wanted}; this worker has {have} "
                        "(add one with GATEKEEPER_PYTHONS, or set tests.python in the policy)")
