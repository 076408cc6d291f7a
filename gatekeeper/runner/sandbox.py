"""Runs untrusted commands in bubblewrap: no network, no credentials, limits on everything.

The source is bound read-only and copied into a size-capped tmpfs inside, so nothing the
command does is written to the host. A result file comes back through an inherited pipe.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from gatekeeper.runner.attempts import COVERAGE_FOLDER, COVERAGE_INSIDE, AttemptLog, CoverageLog
from gatekeeper.runner.attempts import INSIDE as ATTEMPTS_INSIDE
from gatekeeper.runner.cgroups import CgroupLimits, cgroup_limits

log = logging.getLogger(__name__)

SANDBOX_UID = 65534
INSIDE_PATH = "/usr/local/bin:/usr/bin:/bin"
# the command runs without the result pipe ({fd}>&- closes it): only this wrapper writes there
COPY_AND_RUN = ('cp -a /src/. /work/ && cd /work && "$@" {GATEKEEPER_RESULT_FD}>&-; code=$?; '
                'if [ -n "$GATEKEEPER_COLLECT" ] && [ -f "$GATEKEEPER_COLLECT" ]; then '
                'cat "$GATEKEEPER_COLLECT" >&"$GATEKEEPER_RESULT_FD"; fi; exit $code')
RUN_IN_PLACE = COPY_AND_RUN.replace("cp -a /src/. /work/ && ", "")  # /work is bound, not copied
INDEX_SOCKET = "/run/gatekeeper/index.sock"
FORWARDER = "/run/gatekeeper/forward.py"
INDEX_PORT = 3141  # on the sandbox's own loopback, forwarded to INDEX_SOCKET
PYTEST_PLUGINS = "/run/gatekeeper-pytest"  # the gate's own pytest plugin, read-only


_recorded: ContextVar[list | None] = ContextVar("sandbox_runs", default=None)


@contextmanager
def recording() -> Iterator[list]:
    """Collect every SandboxResult of this thread's work, for the audit trail."""
    token = _recorded.set([])
    try:
        yield _recorded.get()
    finally:
        _recorded.reset(token)


class SandboxUnavailable(Exception):
    """bwrap is missing or cannot create its namespaces here: the stage fails closed."""


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 600
    cpu_seconds: int = 600
    memory_bytes: int = 2 * 1024**3
    processes: int = 256
    file_bytes: int = 256 * 1024**2
    open_files: int = 1024
    disk_bytes: int = 1024**3  # the tmpfs the command works in
    output_bytes: int = 1024**2  # kept of stdout and of stderr each
    result_bytes: int = 16 * 1024**2
    download_bytes: int = 4 * 1024**3  # through the package cache, set-up only


@dataclass(frozen=True)
class SandboxResult:
    argv: list[str]
    exit_code: int | None
    duration: float
    limit: str | None  # which limit ended the command, if one did
    stdout: str
    stderr: str
    truncated: bool
    result: bytes | None = None
    limits: Limits = field(default_factory=Limits)
    attempts: tuple[dict, ...] = ()  # what the code tried (attempt log), when it was asked for
    attempts_lost: int = 0  # lines in the log the hook did not write (forged)
    covered: dict[str, frozenset[int]] | None = None  # lines run per work-folder file
    coverage_errors: tuple[str, ...] = ()  # why the gate's coverage.py did not measure

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit is None


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} bytes"


def describe_limit(result: SandboxResult) -> str:
    """The limit that stopped a command, with its value: "2 GiB memory"."""
    limits = result.limits
    return {
        "memory": f"{_size(limits.memory_bytes)} memory",
        "processes": f"{limits.processes}-process",
        "wall-clock timeout": f"{limits.wall_seconds:g} s wall-clock",
        "cpu time": f"{limits.cpu_seconds} s CPU time",
        "file size": f"{_size(limits.file_bytes)} file size",
        "output": f"{_size(limits.output_bytes * _Capture.HARD_FACTOR)} output",
    }.get(result.limit or "", result.limit or "unknown")


_available: set[str] = set()  # bwrap paths that have worked in this process


def check_available() -> None:
    """Raise SandboxUnavailable with how to fix it, unless a trivial sandbox runs."""
    path = shutil.which("bwrap")
    if path in _available:
        return
    if path is None:
        raise SandboxUnavailable("bubblewrap is not installed: apt-get install bubblewrap")
    probe = subprocess.run(["bwrap", *_namespaces(), "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        raise SandboxUnavailable(f"bwrap cannot create its namespaces here: "
                                 f"{probe.stderr.strip()[:300]}")
    _available.add(path)


def _namespaces() -> list[str]:
    return ["--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid",
            str(SANDBOX_UID), "--cap-drop", "ALL", "--disable-userns", "--die-with-parent",
            "--new-session", "--hostname", "sandbox"]


def coverage_package() -> str:
    """The gate's own coverage.py, bound read-only into runs that measure coverage."""
    import coverage

    return str(Path(coverage.__file__).parent)


def toolchain_paths() -> list[str]:
    """The Python installation the sandbox may use, read-only (it may live under /root)."""
    paths = {os.path.realpath(sys.base_prefix)}
    return sorted(p for p in paths if not p.startswith("/usr"))


def build_argv(source: Path, command: list[str], limits: Limits, files: Path,
               env: dict[str, str], binds: list[str], writable: list[str] | None = None,
               in_place: bool = False, egress: Path | None = None,
               placed: dict[str, str] | None = None) -> list[str]:
    argv = ["bwrap", *_namespaces(), "--clearenv"]
    base_env = {"PATH": INSIDE_PATH, "HOME": "/tmp/home", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
                "PYTHONDONTWRITEBYTECODE": "1", "PIP_NO_INDEX": "1",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONPATH": PYTEST_PLUGINS}
    for key, value in {**base_env, **env}.items():
        argv += ["--setenv", key, value]  # never a secret: /proc/1/cmdline shows these
    argv += ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            argv += ["--ro-bind", f"/{link}", f"/{link}"]
    argv += ["--ro-bind", str(files / "etc"), "/etc"]
    if os.path.isdir("/etc/ssl/certs"):
        argv += ["--ro-bind", "/etc/ssl/certs", "/etc/ssl/certs"]  # semgrep needs its CA bundle
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(limits.disk_bytes), "--perms", "1777", "--tmpfs", "/tmp",
             ]
    if in_place:  # set-up: what the installers write stays for the test run that follows
        argv += ["--bind", str(source), "/work"]
    else:
        argv += ["--size", str(limits.disk_bytes), "--perms", "0777", "--tmpfs", "/work"]
    if egress is not None:  # the index socket and the forwarder, nothing else of the host
        argv += ["--perms", "0755", "--dir", "/run/gatekeeper", "--bind", str(egress),
                 INDEX_SOCKET, "--ro-bind", str(Path(__file__).parent / "inside" / "forward.py"),
                 FORWARDER]
    inside = Path(__file__).parent / "inside"
    placed = {f"{PYTEST_PLUGINS}/{name}": str(inside / name)
              for name in ("gatekeeper_report.py", "gatekeeper_pytest.py",
                           "sitecustomize.py")} | (placed or {})
    for inside, host in placed.items():  # a host file at a fixed place inside
        argv += ["--perms", "0755", "--dir", os.path.dirname(inside), "--ro-bind", host, inside]
    for path in toolchain_paths() + binds:  # after the tmpfs mounts, which would hide them
        argv += ["--perms", "0755", "--dir", os.path.dirname(path), "--ro-bind", path, path]
    for path in writable or []:
        argv += ["--perms", "0755", "--dir", os.path.dirname(path), "--bind", path, path]
    argv += ["--ro-bind", str(source), "/src", "--chdir", "/work", "--remount-ro", "/",
             "/bin/bash", "-c", RUN_IN_PLACE if in_place else COPY_AND_RUN, "sandbox", *command]
    return argv


def _etc(folder: Path) -> None:
    """A minimal /etc: names for the sandbox user and localhost, nothing of the host's."""
    etc = folder / "etc"
    etc.mkdir()
    (etc / "ssl" / "certs").mkdir(parents=True)  # where the host's CA bundle is bound
    (etc / "ssl").chmod(0o755)
    (etc / "ssl" / "certs").chmod(0o755)
    (etc / "passwd").write_text(f"nobody:x:{SANDBOX_UID}:{SANDBOX_UID}:nobody:/tmp/home:/bin/sh\n")
    (etc / "group").write_text(f"nogroup:x:{SANDBOX_UID}:\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n")
    (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files\n")
    # an interactive bash gets an ordinary first prompt, as on a stock Debian or Ubuntu
    # runner: tools that drive bash through a terminal (SWE-ReX, pexpect) set their own prompt
    # and read up to it, so a shell already showing theirs leaves them one prompt behind
    (etc / "bash.bashrc").write_text('[ -z "$PS1" ] && return\nPS1=\'\\u@\\h:\\w\\$ \'\n')
    for name in ("passwd", "group", "hosts", "nsswitch.conf", "bash.bashrc"):
        (etc / name).chmod(0o644)
    etc.chmod(0o755)
    folder.chmod(0o755)


def run(source: Path, command: list[str], limits: Limits = Limits(), *,
        collect: str | None = None, env: dict[str, str] | None = None,
        binds: list[str] | None = None, writable: list[str] | None = None,
        in_place: bool = False, egress: Path | None = None,
        placed: dict[str, str] | None = None, attempts: bool = False,
        coverage: bool = False) -> SandboxResult:
    """Run `command` inside the sandbox over a read-only copy of `source`.

    `collect`: a file the command writes inside (e.g. /tmp/junit.xml), returned as bytes.
    `binds`: extra host paths bound read-only at the same place (a wheelhouse, rules).
    `writable`: host folders bound read-write; only for trusted work such as building a
    virtualenv from wheels, never while pull request code runs.
    `in_place`: `source` itself is bound writable at /work (the set-up's working copy, made
    for this job only), not copied.
    `egress`: the unix socket of an EgressGate, bound in with the forwarder (set-up only).
    `placed`: {inside path: host file}, bound read-only where the host path could collide
    with the sandbox's own folders (a tool installed under /work, say).
    `attempts`: every Python started inside records what it tries (network, processes, files
    outside the work and temporary folders, credentials) in the result's `attempts`.
    `coverage`: every Python started inside measures which lines of /work ran (the gate's
    own coverage.py), in the result's `covered`.
    """
    check_available()
    cgroup = cgroup_limits(limits.processes, limits.memory_bytes)
    if cgroup is None and os.geteuid() == 0:
        raise SandboxUnavailable("cannot cap processes and memory: as root, RLIMIT_NPROC does "
                                 "not apply inside the sandbox and no writable cgroup (v1 pids "
                                 "and memory, or v2) was found")
    with tempfile.TemporaryDirectory(prefix="gatekeeper-sandbox-") as tmp:
        _etc(Path(tmp))
        extra_env = dict(env or {})
        if collect:
            extra_env["GATEKEEPER_COLLECT"] = collect
        read_result, write_result = os.pipe()
        # the result pipe keeps its own number in the child: a fixed one (say 3) would have
        # to be open in this process at fork time, which threads running stages cannot
        # promise; bash (not dash) can write to a descriptor above 9
        extra_env["GATEKEEPER_RESULT_FD"] = str(write_result)
        log_ = AttemptLog(Path(tmp)) if attempts else None
        lines = CoverageLog(Path(tmp)) if coverage else None
        # each channel's FIFO and the key its lines are signed with (read-only)
        placed = {**(placed or {}), **({ATTEMPTS_INSIDE: str(log_.path), f"{ATTEMPTS_INSIDE}.key":
                                        str(log_.key_path)} if log_ else {}),
                  **({COVERAGE_INSIDE: str(lines.path), f"{COVERAGE_INSIDE}.key":
                      str(lines.key_path), f"{COVERAGE_FOLDER}/coverage": coverage_package()}
                     if lines else {})}
        argv = build_argv(source, command, limits, Path(tmp), extra_env, binds or [], writable,
                          in_place, egress, placed)
        try:
            result = _execute(argv, limits, cgroup, read_result, write_result)
        finally:
            seen = log_.close() if log_ is not None else ((), 0)
            measured = lines.close() if lines is not None else (None, [])
        result = dataclasses.replace(result, attempts=seen[0], attempts_lost=seen[1],
                                     covered=measured[0], coverage_errors=tuple(measured[1]))
    runs = _recorded.get()
    if runs is not None:
        runs.append(result)
    return result


def _execute(argv: list[str], limits: Limits, cgroup: CgroupLimits | None, read_result: int,
             write_result: int) -> SandboxResult:
    started = time.monotonic()

    def in_child() -> None:
        if cgroup is not None:
            cgroup.enter()
        # SIGXCPU at the soft limit names the cause; SIGKILL at the hard one would not
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        if os.geteuid() != 0:  # only meaningful for an unprivileged host uid
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    try:
        # bwrap itself is PID 1 inside and readable there (/proc/1/environ): it gets an
        # empty environment, so nothing of the worker's (keys, tokens, URLs) can be read
        proc = subprocess.Popen(argv, executable=shutil.which("bwrap"), env={},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                # only the result pipe is passed on; every other descriptor
                                # (Redis, GitHub sockets) is closed
                                pass_fds=(write_result,), preexec_fn=in_child)
    except BaseException:
        os.close(read_result)
        os.close(write_result)
        if cgroup is not None:
            cgroup.remove()
        raise
    os.close(write_result)
    overflow = threading.Event()
    readers = [_Capture(proc.stdout, limits.output_bytes, overflow),
               _Capture(proc.stderr, limits.output_bytes, overflow),
               _Capture(os.fdopen(read_result, "rb"), limits.result_bytes, overflow)]
    limit = None
    try:
        deadline = started + limits.wall_seconds
        while True:
            try:
                proc.wait(timeout=0.05)  # returns as soon as the command ends
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                limit = "wall-clock timeout"
                break
            if overflow.is_set():
                limit = "output"
                break
    finally:
        _kill(proc, cgroup)
        for reader in readers:
            reader.join()
        exit_code = proc.wait()
        duration = time.monotonic() - started
        # a cgroup cap is the more exact cause: a fork bomb also ends by the clock
        limit = _limit_from(exit_code, readers[1].text(), cgroup) or limit
        if cgroup is not None:
            cgroup.remove()
    out, err, result = readers
    return SandboxResult(
        argv=argv, exit_code=exit_code, duration=duration, limit=limit,
        stdout=out.text(), stderr=err.text(), truncated=out.truncated or err.truncated,
        result=result.data() if not result.truncated else None, limits=limits,
    )


def _kill(proc: subprocess.Popen, cgroup: CgroupLimits | None) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if cgroup is not None:
        cgroup.kill_all()


def _limit_from(exit_code: int, stderr: str, cgroup: CgroupLimits | None) -> str | None:
    if cgroup is not None:
        hit = cgroup.limit_hit()
        if hit:
            return hit
    if exit_code != 0 and "[Errno 27] File too large" in stderr:
        return "file size"  # Python ignores SIGXFSZ and raises EFBIG instead
    # bwrap reports a signal death of the command as 128 + the signal number
    signals = {128 + signal.SIGXCPU: "cpu time", 128 + signal.SIGXFSZ: "file size",
               -signal.SIGXCPU: "cpu time", -signal.SIGXFSZ: "file size"}
    return signals.get(exit_code)


class _Capture:
    """Reads a pipe in a thread, keeps at most `cap` bytes, drains and counts the rest."""

    HARD_FACTOR = 64  # past this many times the cap, the command is stopped

    def __init__(self, stream, cap: int, overflow: threading.Event):
        self.stream, self.cap, self.overflow = stream, cap, overflow
        self.chunks: list[bytes] = []
        self.kept = 0
        self.seen = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            chunk = self.stream.read1(65536) if hasattr(self.stream, "read1") else \
                self.stream.read(65536)
            if not chunk:
                break
            self.seen += len(chunk)
            room = self.cap - self.kept
            if room > 0:
                self.chunks.append(chunk[:room])
                self.kept += min(room, len(chunk))
            if self.seen > self.cap * self.HARD_FACTOR:
                self.overflow.set()
        self.stream.close()

    def join(self) -> None:
        self.thread.join(timeout=10)

    @property
    def truncated(self) -> bool:
        return self.seen > self.kept

    def data(self) -> bytes:
        return b"".join(self.chunks)

    def text(self) -> str:
        text = self.data().decode("utf-8", "replace")
        if self.truncated:
            text += f"\n… [output cut: {self.seen} bytes, {self.kept} kept]"
        return text
