"""What set-up left in the test environment that runs before any test: `.pth` lines that
import, and `sitecustomize`/`usercustomize`.

Set-up runs the project's own installers, so repository code (setup.py, a build backend) ran
with the environment writable. Whatever it planted there runs in every later run, the
base's and the referee's included; these are the facts `core.envhooks` judges.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from gatekeeper.core.envhooks import Hook

MAX_ENTRIES = 20_000  # site-packages entries looked at; a bigger folder is reported as such


def startup_hooks(env: Path, python: str | None = None) -> list[Hook]:
    """`python`: the interpreter the environment was made with; a fresh environment made
    with it outside the sandbox tells which files the environment's creator wrote."""
    hooks: list[Hook] = []
    reference = creator_files(python) if python else {}
    for site in sorted(env.glob("lib/python*/site-packages")):
        entries = sorted(site.iterdir())[:MAX_ENTRIES]
        owners = _owners(site, entries)
        # the creator's files, all of them unchanged: its hook and the module that hook runs
        intact = bool(reference) and all(_digest(site / n) == d for n, d in reference.items())
        for entry in entries:
            name = entry.name
            where = entry.relative_to(env).as_posix()
            if name.endswith(".pth") and entry.is_file():
                code = [line.strip() for line in _text(entry).splitlines()
                        if line.startswith(("import ", "import\t"))]
                if code:
                    hooks.append(Hook(where, "pth", *owners.get(name, ("", False)),
                                      code[0][:200], intact and name in reference))
            elif name in ("sitecustomize.py", "usercustomize.py"):
                hooks.append(Hook(where, name.removesuffix(".py"),
                                  *owners.get(name, ("", False)), ""))
    return hooks


@lru_cache(maxsize=16)
def creator_files(python: str) -> dict[str, str]:
    """Top-level files of site-packages in a new, empty environment made by the same uv with
    the same interpreter (no repository code involved), with their digests."""
    uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    if not uv:
        return {}
    with tempfile.TemporaryDirectory(prefix="gatekeeper-reference-env-") as folder:
        done = subprocess.run([uv, "venv", "-q", "--python", python, f"{folder}/env"],
                              capture_output=True, timeout=120,
                              env={"PATH": os.environ.get("PATH", ""),
                                   "UV_PYTHON_DOWNLOADS": "never", "HOME": folder})
        if done.returncode != 0:
            return {}
        return {p.name: _digest(p) for site in Path(folder, "env").glob(
                    "lib/python*/site-packages") for p in site.iterdir() if p.is_file()}


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _owners(site: Path, entries: list[Path]) -> dict[str, tuple[str, bool]]:
    """Top-level file name -> (the distribution whose RECORD lists it, installed from a
    local path or URL rather than from the index)."""
    owners: dict[str, tuple[str, bool]] = {}
    for info in entries:
        if not info.name.endswith(".dist-info"):
            continue
        local = (info / "direct_url.json").is_file()
        for row in _text(info / "RECORD").splitlines():
            path, _, digest = row.partition(",")
            if "/" not in path and _recorded(site / path, digest.split(",", 1)[0]):
                owners[path] = (_dist_name(info), local)
    return owners


def _recorded(path: Path, digest: str) -> bool:
    """The file is as its installer recorded it (a hook rewritten later is nobody's)."""
    if not path.name.endswith((".pth", "customize.py")):
        return True  # only hooks are judged; the rest is not read
    algorithm, _, expected = digest.partition("=")
    if algorithm != "sha256" or not path.is_file():
        return False
    actual = base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest()).rstrip(b"=")
    return actual.decode() == expected


def _dist_name(info: Path) -> str:
    return info.name.removesuffix(".dist-info").rsplit("-", 1)[0]


def _text(path: Path, limit: int = 1 << 20) -> str:
    try:
        with path.open("rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""

