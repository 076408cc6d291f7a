"""What the base commit's suite did, kept under what decides it: the base tree's content, the
test environment, the command and the limits. A pull request's later pushes (same base, as a
rule) reuse it instead of running the base suite again."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

CHUNK = 1 << 20
RUNNER = Path(__file__).resolve().parent


def _sandbox_digest() -> bytes:
    """The gate's own sandbox (its /etc, environment, hooks): a run under another version of
    it is not the same run, so a worker upgrade does not reuse what the old one saw."""
    digest = hashlib.sha256()
    for path in [RUNNER / "sandbox.py", *sorted((RUNNER / "inside").glob("*.py"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.digest()


SANDBOX = _sandbox_digest()


def key_of(base: Path, *parts: str) -> str:
    """A digest of every file of the base tree (path, kind and content), of the sandbox's
    version and of `parts`."""
    digest = hashlib.sha256(SANDBOX)
    for path in sorted(base.rglob("*")):
        relative = path.relative_to(base).as_posix().encode()
        if path.is_symlink():
            digest.update(b"L" + relative + b"\0" + os.readlink(path).encode() + b"\0")
        elif path.is_file():
            digest.update(b"F" + relative + b"\0")
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
            digest.update(b"\0")
    for part in parts:
        digest.update(b"P" + part.encode() + b"\0")
    return digest.hexdigest()


def remembered(cache: Path, key: str) -> dict | None:
    try:
        return json.loads((cache / "base-runs" / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def remember(cache: Path, key: str, value: dict) -> None:
    """Written whole or not at all (a crash mid-write leaves no half-read result)."""
    folder = cache / "base-runs"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{key}.{os.getpid()}.tmp"
    partial.write_text(json.dumps(value))
    partial.replace(folder / f"{key}.json")


def environment_id(venv: Path) -> str:
    """What a per-job environment holds (its distributions, name and version), so base runs
    with the same packages share results although each job's folder has its own name."""
    found = sorted(p.name for p in venv.glob("lib/python*/site-packages/*.dist-info"))
    return hashlib.sha256("\n".join(found).encode()).hexdigest()


def stable(script: str, venv: Path) -> str:
    """The script as a key part: the job's own folder name replaced by the environment's id."""
    return script.replace(str(venv), f"env:{environment_id(venv)}")
