"""The referee run: the base's tests on the change's code, in a working copy built by
allow-list, launched by the gate.

The copy is made from what is trusted, never by taking out of the change what is known to be
bad: the base commit's test files, conftests and test configuration, plus the head's source.
Of the head, only files outside its test folders are taken, never packaging metadata
(`*.dist-info`, `*.egg-info`), start-up hooks (`.pth`, `sitecustomize`, `usercustomize`) or a
configuration file of any name, and at the root only what the base has there or a new source
package whose name no installed distribution or standard module uses (a root `pytest.py` or
`rich/` would shadow the tool). pytest is started by the gate's launcher (by absolute path:
the copy is never first on the import path), with entry-point autoloading off and exactly the
entry-point plugins the base's own run loaded, the base's configuration file given with `-c`
and the base's root folder with `--rootdir`.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from xml.etree import ElementTree

from gatekeeper.core.referee import RefereeRun, SessionRecord
from gatekeeper.runner import sandbox
from gatekeeper.runner.suite import LAUNCHER, passed_ids

CONFIG_NAMES = ("conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml",
                "tox.ini", "setup.cfg", "pyproject.toml", "sitecustomize.py",
                "usercustomize.py", "*.pth")
TEST_FOLDERS = {"tests", "test", "testing"}  # helpers and data beside the tests count too
HOOK_NAMES = ("sitecustomize.py", "usercustomize.py", "*.pth")
METADATA = (".dist-info", ".egg-info", ".egg-link")
MAX_FILES = 200_000
EMPTY_INI = f"{sandbox.PYTEST_PLUGINS}/empty.ini"
SESSION_RE = re.compile(rb"<!-- gatekeeper-session ([A-Za-z0-9+/=]+) -->")


class TooLarge(Exception):
    """The tree has more files than the copy takes."""


def suite_files(root: Path, patterns: tuple[str, ...]) -> set[str]:
    """Relative paths of test files and test configuration under `root` (not .git)."""
    found: set[str] = set()
    wanted = (*patterns, *CONFIG_NAMES)
    for count, (folder, dirs, files) in enumerate(os.walk(root)):
        dirs[:] = [d for d in dirs if d != ".git"]
        if count > MAX_FILES:
            raise TooLarge(f"more than {MAX_FILES} folders")
        relative = os.path.relpath(folder, root)
        in_tests = bool(TEST_FOLDERS & set(relative.split(os.sep)))
        for name in files:
            if in_tests or any(fnmatch.fnmatch(name, p) for p in wanted):
                found.add(os.path.normpath(os.path.join(relative, name)))
    return found


def taken_names(env: Path | None) -> set[str]:
    """Top-level module names an environment's distributions or the standard library use: a
    new root module of the change with one of these names would shadow the real one."""
    names = set(getattr(sys, "stdlib_module_names", ())) | {"pytest", "_pytest", "pluggy", "py"}
    for site in sorted(env.glob("lib/python*/site-packages")) if env else []:
        for entry in site.iterdir():
            if not entry.name.endswith(METADATA) and entry.name != "__pycache__":
                names.add(entry.name.split(".")[0])
    return names


def _root_allowed(name: str, is_folder: bool, base_root: set[str], taken: set[str]) -> bool:
    if name in base_root:
        return True
    module = name if is_folder else name[:-3] if name.endswith(".py") else ""
    return module.isidentifier() and module not in taken


def _head_allowed(relative: str) -> bool:
    parts = relative.split("/")
    if any(p.endswith(METADATA) or p in (".git", "__pycache__") for p in parts):
        return False
    return not any(fnmatch.fnmatch(parts[-1], p) for p in (*HOOK_NAMES, *CONFIG_NAMES))


def referee_tree(head: Path, base: Path, patterns: tuple[str, ...], into: Path,
                 taken: set[str]) -> list[str]:
    """Build the referee's working copy at `into` (which must not exist). Returns the head's
    files and folders left out, relative, for the report."""
    into.mkdir()
    head_suite = suite_files(head, patterns)
    base_suite = suite_files(base, patterns)
    base_root = {p.name for p in base.iterdir()}
    left: list[str] = []
    for count, (folder, dirs, files) in enumerate(os.walk(head)):
        if count > MAX_FILES:
            raise TooLarge(f"more than {MAX_FILES} folders")
        relative = Path(folder).relative_to(head).as_posix()
        entries = [(d, True) for d in dirs] + [(f, False) for f in files]
        kept_dirs = []
        for name, is_folder in entries:
            path = name if relative == "." else f"{relative}/{name}"
            source = head / path
            link = source.is_symlink()
            allowed = _head_allowed(path) and (
                relative != "." or _root_allowed(name, is_folder and not link, base_root,
                                                 taken))
            if not allowed:
                if name not in (".git", "__pycache__"):
                    left.append(path + ("/" if is_folder and not link else ""))
                continue
            if is_folder and not link:
                kept_dirs.append(name)
                (into / path).mkdir(exist_ok=True)
            elif path not in head_suite:
                _copy(source, into / path)
        dirs[:] = kept_dirs
    for path in sorted(base_suite):
        target = into / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        _copy(base / path, target)
    return sorted(left)


def _copy(source: Path, target: Path) -> None:
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
    else:
        shutil.copyfile(source, target)


def launch(shell: str, session: SessionRecord | None, offered: set[str] | None,
           referee: bool = True) -> tuple[str, list[str]]:
    """The suite's pytest command as the gate launches it, and the base's plugins that the
    change's environment does not offer. `referee`: False for the base's own run, which loads
    what its environment declares. `session`: what the base's own run registered; without it
    the referee loads no plugin and reads no configuration of the tree. `offered`: entry-point
    plugin names the change's environment declares."""
    command = shell.replace("python -m pytest", f"python {LAUNCHER}", 1)
    if not referee:
        return command, []
    wanted = sorted(session.entrypoints) if session else []
    missing = [n for n in wanted if offered is not None and n not in offered]
    flags = ["--rootdir", session.rootdir if session and session.rootdir else "/work",
             "-c", session.inifile if session and session.inifile else EMPTY_INI]
    for name in wanted:
        if name not in missing:
            flags += ["-p", name]
    return command + " " + " ".join(shlex.quote(f) for f in flags), missing


def offered_plugins(env: Path) -> set[str]:
    """Entry-point names of pytest plugins the environment's distributions declare (read as
    data: the names only choose which of the base's plugins are asked for)."""
    found = set()
    for path in env.glob("lib/python*/site-packages/*.dist-info/entry_points.txt"):
        section = ""
        for line in path.read_text(errors="replace").splitlines()[:2000]:
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[] ")
            elif section == "pytest11" and "=" in line:
                found.add(line.split("=", 1)[0].strip())
    return found


def run_referee(work: Path, base: Path, prepare: str, shell: str, report: str,
                binds: list[str], limits: sandbox.Limits, patterns: tuple[str, ...],
                parse, attempts: bool = False, coverage: bool = False,
                only: list[str] | None = None, session: SessionRecord | None = None,
                env: Path | None = None) -> tuple[RefereeRun | None, str]:
    """(the run, "") or (None, why it could not run). `parse`: JUnit bytes -> counts, findings.
    `only`: test ids (as JUnit names them); the run is then of those tests alone. `session`:
    the base's own run's record (its plugins and configuration); `env`: the change's
    environment (host path)."""
    with tempfile.TemporaryDirectory(prefix="gatekeeper-referee-") as folder:
        tree = Path(folder) / "tree"
        try:
            left = referee_tree(work, base, patterns, tree, taken_names(env))
        except TooLarge as exc:
            return None, f"its working copy could not be built: {exc}"
        command, missing = launch(shell, session, offered_plugins(env) if env else None)
        (Path(folder) / "empty.ini").write_text("[pytest]\n")
        variables = "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 GATEKEEPER_PYTEST_ENV=" \
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD${GATEKEEPER_PYTEST_ENV:+,$GATEKEEPER_PYTEST_ENV}"
        if only is not None:
            (Path(folder) / "only.txt").write_text("".join(t + "\n" for t in only))
            prepare = f"export GATEKEEPER_ONLY={shlex.quote(folder + '/only.txt')}\n{prepare}"
        for path in Path(folder).iterdir():
            if path.is_file():
                path.chmod(0o644)
        Path(folder).chmod(0o755)
        run = sandbox.run(tree, ["/bin/sh", "-c", f"{prepare}export {variables}\n{command}"],
                          limits, collect=report, binds=[*binds, folder],
                          placed={EMPTY_INI: str(Path(folder) / "empty.ini")},
                          attempts=attempts, coverage=coverage)
    outcome, why = read_run(run, parse)
    if outcome is not None:
        outcome = outcome.with_copy(tuple(left), tuple(missing))
    return outcome, why


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
    records = SESSION_RE.findall(run.result)
    return RefereeRun(failing, executed, messages, run.attempts, run.covered,
                      run.coverage_errors, frozenset(passed_ids(run.result)),
                      run.attempts_lost,
                      sessions=tuple(SessionRecord.decode(r) for r in records)), ""
