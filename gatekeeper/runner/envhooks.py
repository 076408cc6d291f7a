"""What set-up left in the test environment that runs before any test: `.pth` lines that
import, and `sitecustomize`/`usercustomize`.

Set-up runs the project's own installers, so repository code (setup.py, a build backend) ran
with the environment writable. Whatever it planted there runs in every later run, the
base's and the referee's included; these are the facts `core.envhooks` judges.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from gatekeeper.core.envhooks import Hook

MAX_ENTRIES = 20_000  # site-packages entries looked at; a bigger folder is reported as such


def startup_hooks(env: Path) -> list[Hook]:
    hooks: list[Hook] = []
    for site in sorted(env.glob("lib/python*/site-packages")):
        entries = sorted(site.iterdir())[:MAX_ENTRIES]
        owners = _owners(site, entries)
        for entry in entries:
            name = entry.name
            where = entry.relative_to(env).as_posix()
            if name.endswith(".pth") and entry.is_file():
                code = [line.strip() for line in _text(entry).splitlines()
                        if line.startswith(("import ", "import\t"))]
                if code:
                    hooks.append(Hook(where, "pth", *owners.get(name, ("", False)),
                                      code[0][:200]))
            elif name in ("sitecustomize.py", "usercustomize.py"):
                hooks.append(Hook(where, name.removesuffix(".py"),
                                  *owners.get(name, ("", False)), ""))
    return hooks


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

