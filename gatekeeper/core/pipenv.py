"""Pipenv's declarations as requirement lines: Pipfile.lock (exact pins, markers) when there
is one, else the Pipfile's [packages] and [dev-packages]. Entries from git, a URL or a path
are not on the package index and are named as left out."""

from __future__ import annotations

import re

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SPEC = re.compile(r"^(==|>=|<=|~=|!=|>|<)[\w.*+!,<>=~ -]*$")


def lock_requirements(lock: dict) -> tuple[list[str], list[str]]:
    """(requirement lines, names left out) from a parsed Pipfile.lock, default and develop.
    A package both sections pin keeps the default's pin (the one the application runs with):
    locks exist whose sections disagree, and one environment cannot hold both."""
    lines, left, seen = [], [], set()
    for section in ("default", "develop"):
        entries = lock.get(section) if isinstance(lock, dict) else None
        for name, entry in (entries or {}).items() if isinstance(entries, dict) else []:
            key = re.sub(r"[-_.]+", "-", str(name)).lower()
            if key in seen:
                continue
            seen.add(key)
            line = _line(name, entry if isinstance(entry, dict) else {})
            (lines if line else left).append(line or str(name)[:80])
    return lines, left


def pipfile_requirements(pipfile: dict) -> tuple[list[str], list[str]]:
    """(requirement lines, names left out) from a parsed Pipfile, packages and dev-packages."""
    lines, left = [], []
    for section in ("packages", "dev-packages"):
        entries = pipfile.get(section) if isinstance(pipfile, dict) else None
        for name, entry in (entries or {}).items() if isinstance(entries, dict) else []:
            body = {"version": entry} if isinstance(entry, str) else entry
            line = _line(name, body if isinstance(body, dict) else {})
            (lines if line else left).append(line or str(name)[:80])
    return lines, left


def python_version(pipfile: dict, lock: dict) -> str | None:
    """The "3.11" Pipenv was told to use, from either file."""
    for requires in ((lock.get("_meta") or {}).get("requires") if isinstance(lock, dict)
                     else None, pipfile.get("requires") if isinstance(pipfile, dict) else None):
        for key in ("python_version", "python_full_version"):
            found = re.match(r"^(3\.\d{1,2})", str((requires or {}).get(key, "")))
            if isinstance(requires, dict) and found:
                return found.group(1)
    return None


def _line(name: object, entry: dict) -> str:
    if not NAME.match(str(name)) or {"git", "path", "file", "editable"} & set(entry):
        return ""
    version = str(entry.get("version", "*")).strip()
    if version != "*" and not SPEC.match(version):
        return ""
    extras = [e for e in entry.get("extras") or [] if NAME.match(str(e))]
    line = str(name) + (f"[{','.join(extras)}]" if extras else "") + \
        ("" if version == "*" else version)
    markers = entry.get("markers")
    return f"{line} ; {markers}" if isinstance(markers, str) and markers.strip() else line
