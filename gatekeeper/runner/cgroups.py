"""Process and memory caps for one sandboxed command, through a cgroup of its own.

Needed because the sandbox's uid maps to root on the host when the worker runs as root,
and the kernel exempts root from RLIMIT_NPROC. cgroup v1 (pids + memory) and v2.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")


class CgroupLimits:
    def __init__(self, dirs: list[Path], version: int):
        self.dirs = dirs
        self.version = version

    def enter(self) -> None:
        """Called in the child before exec: it and all it starts are counted from here."""
        pid = str(os.getpid())
        for folder in self.dirs:
            (folder / "cgroup.procs").write_text(pid)

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.dirs:
            try:
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def kill_all(self) -> None:
        kill_file = self.dirs[0] / "cgroup.kill"
        if self.version == 2 and kill_file.exists():
            kill_file.write_text("1")
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        log.warning("processes survived in %s", self.dirs)

    def limit_hit(self) -> str | None:
        if _events(self._file("pids.events")).get("max", 0) > 0:
            return "processes"
        memory = "memory.oom_control" if self.version == 1 else "memory.events"
        if _events(self._file(memory)).get("oom_kill", 0) > 0:
            return "memory"
        return None

    def remove(self) -> None:
        self.kill_all()
        for folder in self.dirs:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)

    def _file(self, name: str) -> Path | None:
        for folder in self.dirs:
            if (folder / name).exists():
                return folder / name
        return None


def _events(path: Path | None) -> dict[str, int]:
    if path is None:
        return {}
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per controller ("" for the v2 unified tree)."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def cgroup_limits(processes: int, memory_bytes: int) -> CgroupLimits | None:
    """A fresh cgroup capping processes and memory, or None when none can be made here."""
    name = f"gatekeeper-{uuid.uuid4().hex[:12]}"
    try:
        own = _own_paths()
        if (ROOT / "cgroup.controllers").exists():
            return _v2(ROOT / own.get("", "/").lstrip("/"), name, processes, memory_bytes)
        return _v1(own, name, processes, memory_bytes)
    except OSError as exc:
        log.info("no cgroup for the sandbox: %s", exc)
        return None


def _v1(own: dict[str, str], name: str, processes: int, memory_bytes: int) -> CgroupLimits:
    made: list[Path] = []
    try:
        for controller in ("pids", "memory"):
            folder = ROOT / controller / own.get(controller, "/").lstrip("/") / name
            folder.mkdir()
            made.append(folder)
        (made[0] / "pids.max").write_text(str(processes))
        (made[1] / "memory.limit_in_bytes").write_text(str(memory_bytes))
        swap = made[1] / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(memory_bytes))  # no escape into swap
        return CgroupLimits(made, 1)
    except OSError:
        for folder in made:
            folder.rmdir()
        raise


def _v2(parent: Path, name: str, processes: int, memory_bytes: int) -> CgroupLimits:
    enabled = (parent / "cgroup.subtree_control").read_text().split()
    if not {"pids", "memory"} <= set(enabled):
        (parent / "cgroup.subtree_control").write_text("+pids +memory")
    folder = parent / name
    folder.mkdir()
    try:
        (folder / "pids.max").write_text(str(processes))
        (folder / "memory.max").write_text(str(memory_bytes))
        if (folder / "memory.swap.max").exists():
            (folder / "memory.swap.max").write_text("0")
        return CgroupLimits([folder], 2)
    except OSError:
        folder.rmdir()
        raise
