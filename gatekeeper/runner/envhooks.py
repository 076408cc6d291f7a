"""What set-up left in the test environment that runs before any test: `.pth` lines that
import, and `sitecustomize`/`usercustomize`.

Set-up runs the project's own installers, so repository code (setup.py, a build backend) ran
with the environment writable. Whatever it planted there runs in every later run, the
base's and the referee's included; these are the facts `core.envhooks` judges.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from gatekeeper.core.envhooks import Hook

MAX_ENTRIES = 20_000  # site-packages entries looked at; past it nothing there is vouched for
STARTUP = ("sitecustomize", "usercustomize")  # modules site.py imports at start-up
DYNAMIC = re.compile(r"""__import__\(\s*['"]([\w.]+)['"]""")


def startup_hooks(env: Path, python: str | None = None) -> list[Hook]:
    """`python`: the interpreter the environment was made with; a fresh environment made
    with it outside the sandbox tells which files the environment's creator wrote.

    A hook's owner is the distribution whose RECORD lists it with its hash, and lists with
    their hashes the modules in site-packages its `.pth` line imports: an installer put them
    there from that distribution, unchanged since. A hook anything else accounts for (or
    nothing) has no owner."""
    hooks: list[Hook] = []
    reference = creator_files(python) if python else {}
    for site in sorted(env.glob("lib/python*/site-packages")):
        where = site.relative_to(env).as_posix()
        entries = sorted(itertools.islice(site.iterdir(), MAX_ENTRIES + 1))
        if len(entries) > MAX_ENTRIES:
            hooks.append(Hook(where, "unverified", "", False, f"more than {MAX_ENTRIES} "
                              "entries: the start-up hooks there were not all looked at"))
            continue
        rows = _rows(site, entries)
        # the creator's files, all of them unchanged: its hook and the module that hook runs
        intact = bool(reference) and all(_digest(site / n) == d for n, d in reference.items())
        for entry in entries:
            name = entry.name
            path = f"{where}/{name}"
            if name.endswith(".pth") and entry.is_file():
                code = [line.strip() for line in _text(entry).splitlines()
                        if line.startswith(("import ", "import\t"))]
                if code:
                    owner = _owner(site, [name, *_imported(site, code)], rows)
                    hooks.append(Hook(path, "pth", *(owner or ("", False)), code[0][:200],
                                      intact and name in reference))
            elif name.split(".", 1)[0] in STARTUP:  # a .py, .pyc, extension or package
                files = [f"{name}/__init__.py"] if entry.is_dir() else [name]
                owner = _owner(site, files, rows)
                hooks.append(Hook(path, name.split(".", 1)[0], *(owner or ("", False)), ""))
    return hooks


def _imported(site: Path, code: list[str]) -> list[str]:
    """The files in site-packages that a .pth's import lines load first: `import a.b, c`
    runs a/__init__.py (or a.py, or an extension) and c's."""
    files = []
    for line in code:
        for statement in line.split(";"):
            words = statement.split()
            if words[:1] != ["import"]:
                continue
            for module in " ".join(words[1:]).split(","):
                top = module.strip().split(" ", 1)[0].split(".", 1)[0]
                if top:
                    files += _module(site, top)
        for top in DYNAMIC.findall(line):  # setuptools' own: __import__('_distutils_hack')
            files += _module(site, top.split(".", 1)[0])
    return files


def _module(site: Path, top: str) -> list[str]:
    files = [f"{top}/__init__.py"] if (site / top / "__init__.py").is_file() else []
    return files + [p.name for p in site.glob(f"{glob.escape(top)}.*")
                    if p.is_file() and p.name.split(".")[-1] in ("py", "pyc", "so")]


def _owner(site: Path, files: list[str], rows: dict[str, tuple[str, str, bool]]
           ) -> tuple[str, bool] | None:
    """(distribution, built locally) when one distribution's RECORD lists every file with
    the hash it has now; None otherwise."""
    owners = set()
    for name in files:
        row = rows.get(name)
        if row is None or not _hashed(site / name, row[1]):
            return None
        owners.add((row[0], row[2]))
    return owners.pop() if len(owners) == 1 else None


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


def _rows(site: Path, entries: list[Path]) -> dict[str, tuple[str, str, bool]]:
    """RECORD rows of every distribution: path -> (its name, the recorded hash, installed
    from a local path or URL rather than from the index)."""
    rows: dict[str, tuple[str, str, bool]] = {}
    for info in entries:
        if not info.name.endswith(".dist-info"):
            continue
        local = (info / "direct_url.json").is_file()
        for row in _text(info / "RECORD").splitlines():
            path, _, digest = row.partition(",")
            if path and not path.startswith(("/", "..")):
                rows.setdefault(path, (_dist_name(info), digest.split(",", 1)[0], local))
    return rows


def _hashed(path: Path, digest: str) -> bool:
    """The file is as its installer recorded it (rewritten later, it is nobody's)."""
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

