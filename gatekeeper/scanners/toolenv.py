"""The Python that runs AST-based scanners (bandit): the newest the worker has.

bandit parses with the interpreter it runs under; under 3.11 it cannot read PEP 701 f-strings
(`f'{x.decode('utf-8')}'`) or other 3.12+ syntax, and a file it cannot parse is a file it never
looked at. So bandit gets its own virtualenv on the newest interpreter, made at install time:

    python -m gatekeeper.scanners.toolenv DEST [LOCK]      (the Makefile does this)

LOCK, when given, is a hashed requirements file (the image's requirements-scanners.lock): the
environment is installed from it alone, and it must pin the bandit this install uses.

GATEKEEPER_SCANNER_PYTHON names another interpreter that has bandit installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from gatekeeper.runner import toolargv
from gatekeeper.runner.interpreters import VERSION

DEFAULT = Path(sys.prefix) / "scanners"


@lru_cache(maxsize=1)
def python() -> str:
    """The interpreter for AST tools; the worker's own when no scanner environment exists."""
    configured = os.environ.get("GATEKEEPER_SCANNER_PYTHON")
    if configured:
        return configured
    own = DEFAULT / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def binds(interpreter: str) -> list[str]:
    """What the sandbox must see for this interpreter to start: its environment and the
    installation it was made from."""
    env = Path(interpreter).parent.parent
    base = Path(os.path.realpath(interpreter)).parent.parent
    return sorted({str(env), str(base), sys.prefix})


@lru_cache(maxsize=4)
def version_of(interpreter: str) -> str:
    done = subprocess.run(toolargv.code(interpreter, VERSION), capture_output=True, text=True,
                          timeout=60)
    return done.stdout.strip()


def create(dest: Path, lock: Path | None = None) -> str:
    """A virtualenv on the newest available interpreter with the bandit this install uses."""
    from importlib.metadata import version

    from gatekeeper.runner.interpreters import available

    pins = [f"bandit=={version('bandit')}"]
    if lock is not None:
        check_lock(lock, pins[0])
        pins = ["--require-hashes", "--no-deps", "-r", str(lock)]
    newest = available(os.environ.get("GATEKEEPER_PYTHONS"))[0]
    subprocess.run(toolargv.module(newest.path, "venv", "--clear", str(dest)), check=True)
    subprocess.run(toolargv.module(str(dest / "bin" / "python"), "pip", "install", "--quiet",
                                   "--disable-pip-version-check", *pins), check=True)
    return f"{dest} (Python {newest.version}, {' '.join(pins)})"


def check_lock(lock: Path, pin: str) -> None:
    """The lock must pin the bandit the worker reports as its own: refuse any other."""
    if not re.search(rf"^{re.escape(pin)}\b", lock.read_text(), re.MULTILINE):
        raise SystemExit(f"{lock} does not pin {pin}, the bandit this install uses")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    print("scanner environment:", create(target, Path(sys.argv[2]) if len(sys.argv) > 2 else None))
