"""How the gate starts a Python program: never with the pull request's tree on its import path.

`python -m tool` puts the working folder first on sys.path and `python -c` puts "" (the
working folder) there: run over a tree, a tree's `rich/__init__.py` then runs inside bandit,
which imports rich, and can print a clean report. `-I` (isolated mode) leaves out the working
folder and the script's folder, every PYTHON* variable and the user's site-packages. Unlike
`-P` (3.11 and newer) it exists on every Python the gate may start (3.4 and newer), so one
form serves the gate's tools and a project's older interpreters alike. The tree is data to
these programs, never code.
"""

from __future__ import annotations

import shlex

ISOLATED = "-I"


def module(interpreter: str, name: str, *args: str) -> list[str]:
    """`python -m name args` with nothing of the working folder importable."""
    return [interpreter, ISOLATED, "-m", name, *args]


def code(interpreter: str, source: str, *args: str) -> list[str]:
    """`python -c source args`, the same way."""
    return [interpreter, ISOLATED, "-c", source, *args]


def script(interpreter: str, path: str, *args: str) -> list[str]:
    """A script by its absolute path (a console script, the gate's own file): under -I not
    even the script's folder is on the path, only the interpreter's library and packages."""
    if not path.startswith("/"):
        raise ValueError(f"a tool's script must be an absolute path, not {path!r}")
    return [interpreter, ISOLATED, path, *args]


def shell(argv: list[str]) -> str:
    """The same argv as one shell command, for scripts run in the sandbox."""
    return shlex.join(argv)
