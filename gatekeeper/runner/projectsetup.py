"""Set-up: the project installed by its own installers, in the sandbox, index-only egress.

The working copy is a git repository made inside the sandbox (one commit, the base history's
latest tag), so versioning plugins work. uv, the chosen interpreter and the forwarder are
bound read-only; the environment is a folder of this job's only, bound writable during
set-up and read-only afterwards. Nothing built here is used by another pull request.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gatekeeper.core.bounded import ParseError, TooLarge, load_toml, load_yaml
from gatekeeper.core.escape import md_fence, md_text
from gatekeeper.core.setupplan import ProjectFacts, SetupPlan, plan
from gatekeeper.runner import sandbox, toolargv
from gatekeeper.runner.egress import EgressGate, EgressLog
from gatekeeper.runner.indexcache import INDEX_PATH, IndexUnavailable, ensure_cache
from gatekeeper.runner.interpreters import Interpreter
from gatekeeper.runner.testenv import TooComplex, discover, every_declaration
from gatekeeper.runner.wheelhouse import sanitize

ROOT_FILES = ("pyproject.toml", "uv.lock", "poetry.lock", "pdm.lock", "setup.py", "setup.cfg",
              "tox.ini", "requirements.txt")
REQUIREMENT_HINTS = ("test", "dev", "ci")
MAX_READ = 1024**2  # a project or workflow file larger than this is not read
MAX_WORKFLOWS = 50
TOOLS = "/run/gatekeeper/bin"  # uv, bound read-only
# does the environment have pytest (the tree's own `pytest.py` does not count)
HAS_PYTEST = toolargv.shell(toolargv.code("python", "import pytest"))


class SetupError(Exception):
    """The gate could not set the project up; the message says why, with the installer's tail.
    `gate`: the cause is the gate's own (its package cache), not the project."""

    def __init__(self, message: str, gate: bool = False):
        super().__init__(message)
        self.gate = gate


@dataclass
class Setup:
    work: Path  # the working copy as set-up left it (host path)
    env: Path  # the environment's folder (host path, bound at the same place)
    plan: SetupPlan
    seconds: float
    egress: EgressLog
    notes: list[str] = field(default_factory=list)
    attempts: tuple[dict, ...] = ()  # what the build and install code tried (attempt log)


def _text(path: Path) -> str | None:
    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_READ:
        return None
    return path.read_text(errors="replace")


def _uv() -> str:
    found = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    if not found:
        raise SetupError("uv is not installed beside the worker: pip install uv (a dependency "
                         "of gatekeeper: reinstall it)")
    return os.path.realpath(found)


def gather(source: Path, ci_root: Path | None, asked: tuple[str, ...] = ()) -> ProjectFacts:
    """What the plan needs, read as data: the head's project files, the base's CI."""
    has = frozenset(n for n in ROOT_FILES if (source / n).is_file())
    try:
        pyproject = load_toml(_text(source / "pyproject.toml") or "", "pyproject.toml")
    except TooLarge as exc:
        raise TooComplex(str(exc)) from None
    except ParseError:
        pyproject = {}
    workflows = gather_workflows(ci_root or source)
    requirement_files = tuple(
        # test_requirements.txt and dev-requirements.txt too (pulp-cli's CI installs the first)
        str(p.relative_to(source)) for pattern in ("*requirements*.txt", "requirements/*.txt",
                                                   "tests/requirements*.txt")
        for p in sorted(source.glob(pattern))
        if p.is_file() and not p.is_symlink() and (p.name == "requirements.txt" or any(
            h in p.name for h in REQUIREMENT_HINTS)))
    declared, _ = sanitize(every_declaration(source).requirements)
    members = tuple(p for p in discover(source).projects if p != ".")
    policy_asked, _ = sanitize([("policy tests.install", r) for r in asked])
    makefile = _text((ci_root or source) / "Makefile") or ""
    return ProjectFacts(has, pyproject, workflows, requirement_files=requirement_files,
                        declared=tuple(declared), cores=min(os.cpu_count() or 1, 8),
                        members=members, asked=tuple(policy_asked), makefile=makefile)


def _preamble(python: Interpreter) -> list[str]:
    """The forwarder up, and the installers pointed at it."""
    index = f"http://127.0.0.1:{sandbox.INDEX_PORT}{INDEX_PATH}"
    return [
        "set -e",
        toolargv.shell(toolargv.script(python.path, sandbox.FORWARDER, str(sandbox.INDEX_PORT),
                                       sandbox.INDEX_SOCKET)) + " > /tmp/gk-forward.log 2>&1 &",
        "for i in $(seq 100); do " + toolargv.shell(toolargv.code(
            python.path, f'import socket; socket.create_connection(("127.0.0.1", '
                         f'{sandbox.INDEX_PORT}))')) + " 2>/dev/null && break; sleep 0.1; done",
        f"export UV_DEFAULT_INDEX={index} UV_INDEX_URL={index} PIP_INDEX_URL={index} "
        "PIP_NO_INDEX=0 UV_PYTHON_DOWNLOADS=never UV_CACHE_DIR=/tmp/uv-cache UV_LINK_MODE=copy "
        "UV_NO_PROGRESS=1 UV_HTTP_TIMEOUT=120",
    ]


def gather_workflows(root: Path) -> dict[str, dict]:
    """The CI workflows of a tree, parsed (size-capped; one that does not parse is left out)."""
    workflows = {}
    folder = root / ".github" / "workflows"
    for path in sorted(folder.glob("*.y*ml"))[:MAX_WORKFLOWS] if folder.is_dir() else []:
        text = _text(path)
        try:
            workflows[f".github/workflows/{path.name}"] = \
                load_yaml(text or "", f".github/workflows/{path.name}") or {}
        except TooLarge as exc:
            raise TooComplex(str(exc)) from None
        except ParseError:
            continue
    actions = root / ".github" / "actions"
    for path in sorted(actions.glob("*/action.y*ml"))[:MAX_WORKFLOWS] if actions.is_dir() else []:
        if path.parent.is_symlink():
            continue
        name = f".github/actions/{path.parent.name}/{path.name}"
        try:  # local composite actions: CI's steps and Python may sit in them
            workflows[name] = load_yaml(_text(path) or "", name) or {}
        except TooLarge as exc:
            raise TooComplex(str(exc)) from None
        except ParseError:
            continue
    return workflows


def script(chosen: SetupPlan, python: Interpreter, env: Path, tag: str | None,
           locked: Path | None = None) -> str:
    tagging = f"git tag {shlex.quote(tag)}" if tag else ""
    start = f"cp -a {locked}/. {env}/" if locked else f"uv venv -q --python {python.path} {env}"
    return "\n".join([
        *_preamble(python),
        "echo '::gatekeeper:: working copy as a git repository'",
        "git init -q && git add -A && git -c user.name=gatekeeper -c user.email=gatekeeper@invalid"
        " commit -q --no-verify --allow-empty -m gatekeeper",
        tagging,
        start,
        f"export VIRTUAL_ENV={env} UV_PROJECT_ENVIRONMENT={env} PATH={env}/bin:$PATH",
        f"echo '::gatekeeper:: {chosen.tool}: installing'",
        chosen.script.rstrip("\n"),
        f"{HAS_PYTEST} 2>/dev/null || uv pip install -q pytest",
        "echo '::gatekeeper:: set up'",
    ])


LOCK_FILES = ("uv.lock", "pyproject.toml", ".python-version")


def locked_environment(source: Path, chosen: SetupPlan, python: Interpreter, cache: Path,
                       limits: sandbox.Limits, index) -> tuple[Path | None, str]:
    """The lock's dependencies in an environment of their own, built once per lock, flags and
    interpreter from the lock and the project files alone: no repository code is in that
    sandbox, so what it built can be reused by another pull request with the same lock."""
    if not chosen.locked_deps:
        return None, ""
    wanted = sorted(p for p in source.rglob("*") if p.name in LOCK_FILES and p.is_file()
                    and not p.is_symlink() and ".git" not in p.parts
                    and p.stat().st_size <= MAX_READ)[:200]
    digest = hashlib.sha256(f"{python.path} {python.version}\n{chosen.locked_deps}".encode())
    for path in wanted:
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    folder = cache / "locked-envs" / digest.hexdigest()[:32]
    env = folder / "env"
    if (folder / "ready").exists():
        return env, "reused"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    with open(folder / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; the others wait and reuse it
        if (folder / "ready").exists():
            return env, "reused"
        shutil.rmtree(env, ignore_errors=True)
        env.mkdir()
        with tempfile.TemporaryDirectory(prefix="gatekeeper-lock-") as only:
            for path in wanted:
                copy = Path(only) / path.relative_to(source)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
            Path(only).chmod(0o755)
            build = "\n".join([*_preamble(python),
                               f"uv venv -q --relocatable --python {python.path} {env}",
                               f"export VIRTUAL_ENV={env} PATH={env}/bin:$PATH",
                               chosen.locked_deps.rstrip("\n"),
                               f"{HAS_PYTEST} 2>/dev/null || uv pip install -q pytest"])
            uv = _uv()
            with EgressGate(index, limits.download_bytes) as gate:
                run = sandbox.run(Path(only), ["/bin/sh", "-c", build], limits,
                                  binds=[python.prefix], writable=[str(env)], egress=gate.socket,
                                  placed={TOOLS + "/uv": uv},
                                  env={"PATH": f"{TOOLS}:{sandbox.INSIDE_PATH}"})
        if not run.ok:  # the whole set-up will try and say why; nothing is kept
            shutil.rmtree(env, ignore_errors=True)
            return None, "not built"
        (folder / "ready").touch()
    return env, "built"


def set_up(source: Path, ci_root: Path | None, python: Interpreter, cache: Path,
           limits: sandbox.Limits, tag: str | None = None, asked: tuple[str, ...] = ()) -> Setup:
    """A working copy of `source` with its environment, in a fresh folder the caller removes
    (`Setup.work.parent`)."""
    try:
        chosen = plan(gather(source, ci_root, asked))
    except TooComplex as exc:
        raise SetupError(f"could not read the project's declarations: {md_text(str(exc))}") \
            from None
    try:
        index = ensure_cache(cache)
    except IndexUnavailable as exc:
        raise SetupError(f"the package cache is not available: {exc}", gate=True) from None
    started = time.monotonic()
    locked, how = locked_environment(source, chosen, python, cache, limits, index)
    job = Path(tempfile.mkdtemp(prefix="gatekeeper-setup-"))
    job.chmod(0o755)
    work, env = job / "work", job / "env"
    shutil.copytree(source, work, symlinks=True)
    env.mkdir()
    uv = _uv()
    with EgressGate(index, limits.download_bytes) as gate:
        run = sandbox.run(work, ["/bin/sh", "-c", script(chosen, python, env, tag, locked)],
                          limits, binds=[python.prefix, *([str(locked)] if locked else [])],
                          writable=[str(env)], in_place=True,
                          egress=gate.socket, placed={TOOLS + "/uv": uv},
                          env={"PATH": f"{TOOLS}:{sandbox.INSIDE_PATH}"}, attempts=True)
    seconds = time.monotonic() - started
    if not run.ok:
        shutil.rmtree(job, ignore_errors=True)
        why = sandbox.describe_limit(run) + " limit" if run.limit else f"exit {run.exit_code}"
        # request paths are the set-up code's, and CI step names the base's: escaped
        refused = "".join(f"\n- refused: {md_text(r)}" for r in gate.log.refused[:5])
        if gate.log.over_budget:  # what took it, so the policy's tests.limits.download_mib
            refused += ("\n- the download budget of "  # can be set knowingly
                        f"{limits.download_bytes / 1024**2:.1f} MiB (policy tests.limits."
                        "download_mib) was taken by: " + md_text(", ".join(
                            f"{name} ({size / 1024**2:.1f} MiB)"
                            for name, size in gate.log.largest())))
        output = run.stdout + "\n" + run.stderr
        raise SetupError(f"the project could not be set up ({chosen.tool}; followed: "
                         f"{md_text(chosen.followed)}): {why} after {seconds:.0f} s{refused}"
                         f"{_first_error(output)}\n\n{_tail(output)}")
    notes = [f"test environment: set up in the sandbox from {chosen.tool}; followed "
             f"{chosen.followed}",
             f"set-up: {seconds:.1f} s, {gate.log.requests} index requests, "
             f"{gate.log.sent // 1024} KiB"
             + (f"; the lock's dependencies {how} (environment shared by pushes with the same "
                "lock, built before any repository code ran)" if locked else ""), *chosen.notes]
    mark = "::gatekeeper:: not installed (not on the package index): "
    skipped = [line.removeprefix(mark) for line in run.stdout.splitlines()
               if line.startswith(mark)]
    notes += [f"not installed (not on the package index): {line[:160]}" for line in skipped[:10]]
    if gate.log.refused:
        notes.append(f"set-up tried {len(gate.log.refused)} requests the index gate refused "
                     f"(first: {gate.log.refused[0]})")
    return Setup(work, env, chosen, seconds, gate.log, notes, run.attempts)


def _first_error(output: str) -> str:
    """The installer's own headline (uv's `error:`/`Failed to build`), which a long build log
    pushes out of the tail."""
    for line in output.splitlines():
        text = line.strip().lstrip("×").strip()
        if text.startswith(("error:", "Failed to", "ERROR:")):
            return "\n\ninstaller: " + md_text(text[:300])
    return ""


def _tail(text: str, lines: int = 40) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return md_fence("\n".join(kept)) if kept else ""
