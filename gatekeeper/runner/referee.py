"""The referee run: the head's working copy with the base's tests and test configuration.

Every test file, conftest, pytest/tox/setup.cfg/pyproject configuration and site hook of the
head is replaced by the base's version or removed when the base has none, inside the sandbox's
copy, then the gate's own pytest command runs. A plugin, hook or report writer that the pull
request added in a new test module is simply not there.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import tempfile
from pathlib import Path
from xml.etree import ElementTree

from gatekeeper.core.attempts import key as attempt_key
from gatekeeper.core.referee import RefereeRun
from gatekeeper.runner import baserun, sandbox
from gatekeeper.runner.interpreters import Interpreter
from gatekeeper.runner.suite import passed_ids

CONFIG_NAMES = ("conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml",
                ".pytest.ini", "sitecustomize.py", "usercustomize.py", "*.pth")
TEST_FOLDERS = {"tests", "test", "testing"}  # helpers and data beside the tests count too
MAX_FILES = 200_000


def suite_files(root: Path, patterns: tuple[str, ...]) -> set[str]:
    """Relative paths of test files and test configuration under `root` (not .git)."""
    found: set[str] = set()
    wanted = (*patterns, *CONFIG_NAMES)
    for count, (folder, dirs, files) in enumerate(os.walk(root)):
        dirs[:] = [d for d in dirs if d != ".git"]
        if count > MAX_FILES:
            break
        relative = os.path.relpath(folder, root)
        in_tests = bool(TEST_FOLDERS & set(relative.split(os.sep)))
        for name in files:
            if in_tests or any(fnmatch.fnmatch(name, p) for p in wanted):
                found.add(os.path.normpath(os.path.join(relative, name)))
    return found


def overlay_script(head: set[str], base_root: Path, base: set[str]) -> str:
    """Shell run in the sandbox's /work copy: the base's suite over the head's code."""
    lines = ["cd /work"]
    for path in sorted(head - base):
        lines.append(f"rm -f -- {shlex.quote(path)}")
    for path in sorted(base):
        folder = os.path.dirname(path) or "."
        lines.append(f"mkdir -p -- {shlex.quote(folder)} && rm -f -- {shlex.quote(path)} && "
                     f"cp -- {shlex.quote(str(base_root / path))} {shlex.quote(path)}")
    return "\n".join(lines) + "\n"


def run_referee(work: Path, base: Path, prepare: str, shell: str, report: str,
                binds: list[str], limits: sandbox.Limits, patterns: tuple[str, ...],
                parse, attempts: bool = False, coverage: bool = False,
                only: list[str] | None = None) -> tuple[RefereeRun | None, str]:
    """(the run, "") or (None, why it could not run). `parse`: JUnit bytes -> counts, findings.
    `only`: test ids (as JUnit names them); the run is then of those tests alone."""
    script = overlay_script(suite_files(work, patterns), base, suite_files(base, patterns))
    with tempfile.TemporaryDirectory(prefix="gatekeeper-referee-") as folder:
        path = Path(folder) / "overlay.sh"
        path.write_text(script)
        path.chmod(0o644)
        if only is not None:
            (Path(folder) / "only.txt").write_text("".join(t + "\n" for t in only))
            (Path(folder) / "only.txt").chmod(0o644)
            prepare = f"export GATEKEEPER_ONLY={shlex.quote(folder + '/only.txt')}\n{prepare}"
        Path(folder).chmod(0o755)
        run = sandbox.run(work, ["/bin/sh", "-c", f". {shlex.quote(str(path))}\n{prepare}{shell}"],
                          limits, collect=report, binds=[*binds, str(base), folder],
                          attempts=attempts, coverage=coverage)
    return read_run(run, parse)


def read_run(run: sandbox.SandboxResult, parse) -> tuple[RefereeRun | None, str]:
    if run.limit:
        return None, f"it hit the {sandbox.describe_limit(run)} limit"
    if not run.result:
        return None, f"no report (exit {run.exit_code})"
    try:
        counts, findings = parse(run.result)
    except ElementTree.ParseError:
        return None, "its report is not valid XML"
    failing = {f.message.split(" ")[0]: (f.path, f.start_line) for f in findings}
    messages = {f.message.split(" ")[0]: f.message.split(": ", 1)[-1][:200] for f in findings}
    executed = counts["total"] - counts["skipped"]
    return RefereeRun(failing, executed, messages, run.attempts, run.covered,
                      run.coverage_errors, frozenset(passed_ids(run.result)),
                      run.attempts_lost), ""


def base_outcome(base: Path, script: str, venv: Path, python: Interpreter,
                 limits: sandbox.Limits, cache: Path, report: str,
                 parse) -> tuple[set[str] | None, int | None, set[tuple[str, str]] | None]:
    """The base suite on the base commit: its failing tests, how many ran, and what it tried
    (attempt keys; cached by base tree, environment, command and limits)."""
    key = baserun.key_of(base, "outcome+attempts", baserun.stable(script, venv), python.prefix,
                         repr(limits))
    known = baserun.remembered(cache, key)
    if known is None:
        ran = sandbox.run(base, ["/bin/sh", "-c", script], limits, collect=report,
                          binds=[str(venv), python.prefix], attempts=True)
        outcome, _ = read_run(ran, parse)
        known = {"failing": sorted(outcome.failing), "executed": outcome.executed} \
            if outcome else {"failing": None, "executed": None}
        known["attempts"] = sorted(attempt_key(a) for a in ran.attempts) \
            if outcome and not ran.attempts_lost else None
        baserun.remember(cache, key, known)
    failing = set(known["failing"]) if known["failing"] is not None else None
    tried = {tuple(k) for k in known["attempts"]} if known.get("attempts") is not None else None
    return failing, known["executed"], tried
