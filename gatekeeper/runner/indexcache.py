"""The package cache in front of the index: devpi-server, started and supervised by the worker.

The sandbox never talks to it directly. Each set-up run gets a gate of its own (see
`egress.py`) on a unix socket bound into the sandbox; the gate passes GETs for index pages
and files and nothing else. Files devpi fetched are checked by hash by the installers and
shared by every run; nothing a run builds comes back here.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

START_LIMIT = 900  # only a server that never gets ready: readiness is what is waited for
UPSTREAM_TIMEOUT = 60
INDEX_PATH = "/root/pypi/+simple/"
logger = logging.getLogger(__name__)
# what every set-up asks for first: fetched once, one by one, when the cache starts, so a new
# worker's first gates do not race each other through a cold cache ("no versions of pytest")
WARM = ("pip", "setuptools", "wheel", "pytest", "pluggy", "iniconfig", "packaging",
        "hatchling", "flit-core", "poetry-core")


class IndexUnavailable(Exception):
    """The package cache could not be started or reached: set-up cannot run (fail closed)."""


@dataclass(frozen=True)
class IndexCache:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _devpi(name: str) -> str:
    found = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if not found:
        raise IndexUnavailable(f"{name} is not installed: pip install devpi-server (it is a "
                               "dependency of gatekeeper; reinstall with `make test` or "
                               "`pip install -e .`)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(cache: IndexCache, timeout: float = 5) -> bool:
    try:
        with urllib.request.urlopen(f"{cache.url}/+api", timeout=timeout) as answer:
            return answer.status == 200
    except OSError:
        return False


def _listed(cache: IndexCache, name: str) -> bool:
    """Whether the cache's page for `name` lists files (an upstream it could not reach yet
    gives a page without any)."""
    try:
        with urllib.request.urlopen(f"{cache.url}{INDEX_PATH}{name}/",
                                    timeout=UPSTREAM_TIMEOUT * 2) as answer:
            return answer.status == 200 and b"href=" in answer.read(4 * 1024**2)
    except OSError:
        return False


def warm(cache: IndexCache, names: tuple[str, ...] = WARM, tries: int = 3) -> list[str]:
    """Fetch the pages every set-up needs, one after another; the names still without files
    afterwards (the upstream index is unreachable, say)."""
    missing = []
    for number, name in enumerate(names):
        if not any(_listed(cache, name) for _ in range(tries)):
            missing.append(name)
            if number == 0:  # the upstream is not reachable: the rest would wait the same
                return list(names)
    return missing


def ensure_cache(cache_dir: Path) -> IndexCache:
    """The running cache for this cache folder; started (once, across processes) if down."""
    folder = cache_dir / "index-cache"
    state = folder / "server.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / "start.lock", "w")  # noqa: SIM115 - held below
    except OSError as exc:
        raise IndexUnavailable(f"its folder {folder} cannot be used: {exc.strerror or exc}") \
            from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter; the others wait and reuse it
        if state.exists():
            saved = json.loads(state.read_text())
            known = IndexCache(saved["host"], saved["port"])
            if _healthy(known):
                return known
        return _start(folder, state)


def _start(folder: Path, state: Path) -> IndexCache:
    server = folder / "server"
    if not (server / ".nodeinfo").exists():
        done = subprocess.run([_devpi("devpi-init"), "--serverdir", str(server)],
                              capture_output=True, text=True, timeout=120,
                              env=_minimal_env())
        if done.returncode != 0:
            raise IndexUnavailable(f"devpi-init failed: {done.stderr.strip()[-400:]}")
    cache = IndexCache("127.0.0.1", _free_port())
    with open(folder / "server.log", "ab") as log:
        # the upstream's timeout: devpi's 5 s default lost index pages under load, and a page
        # it could not fetch reads to installers as a package that does not exist
        process = subprocess.Popen([_devpi("devpi-server"), "--serverdir", str(server), "--host",
                                    cache.host, "--port", str(cache.port),
                                    "--request-timeout", str(UPSTREAM_TIMEOUT)], stdout=log,
                                   stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                   env=_minimal_env())
    started = time.monotonic()
    while time.monotonic() - started < START_LIMIT and process.poll() is None:
        # a loaded machine makes the first answer slow: wait as long as the server lives
        if _healthy(cache, timeout=30):
            if warm(cache) == list(WARM):  # not even pip's page: the upstream is unreachable
                process.kill()
                raise IndexUnavailable(
                    "the package cache (devpi-server) cannot fetch from the upstream index "
                    f"(pip's page had no files after 3 tries; its log is {folder / 'server.log'}"
                    " on the worker): check the worker's network, proxy and CA settings "
                    "(HTTPS_PROXY, SSL_CERT_FILE, REQUESTS_CA_BUNDLE)")
            state.write_text(json.dumps({"host": cache.host, "port": cache.port,
                                         "pid": process.pid}))
            return cache
        time.sleep(0.3)
    alive = process.poll() is None
    process.kill()
    logger.warning("devpi-server did not become ready; its log: %s",
                   (folder / "server.log").read_text(errors="replace")[-4000:])
    raise IndexUnavailable("the package cache (devpi-server) " + (
        f"did not become ready within {START_LIMIT} s" if alive else
        f"exited with status {process.returncode} while starting")
        + f"; its log is {folder / 'server.log'} on the worker")


def _minimal_env() -> dict[str, str]:
    """devpi needs the way out (proxy, CA bundle), never the worker's secrets."""
    kept = ("PATH", "HOME", "LANG", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "http_proxy",
            "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    return {k: v for k, v in os.environ.items() if k in kept}


def lease(cache_dir: Path) -> Path:
    """Say that this process uses the cache (a file named by its pid), so another process that
    would stop the cache it started leaves it to the last user."""
    folder = cache_dir / "index-cache" / "users"
    folder.mkdir(parents=True, exist_ok=True)
    mine = folder / str(os.getpid())
    mine.touch()
    return mine


def other_users(cache_dir: Path) -> list[int]:
    """Live processes besides this one that hold a lease on the cache."""
    alive = []
    folder = cache_dir / "index-cache" / "users"
    for entry in folder.iterdir() if folder.is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            os.kill(int(entry.name), 0)
            alive.append(int(entry.name))
        except ProcessLookupError:
            entry.unlink(missing_ok=True)
        except PermissionError:
            alive.append(int(entry.name))
    return alive


def running(cache_dir: Path) -> bool:
    """Whether this cache folder's server is up and answering."""
    try:
        saved = json.loads((cache_dir / "index-cache" / "server.json").read_text())
        return _healthy(IndexCache(saved["host"], saved["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def stop_cache(cache_dir: Path) -> None:
    """Stop the cache this folder's worker started (tests, and `gatekeeper worker` on exit
    when it started it); a cache already gone is fine."""
    state = cache_dir / "index-cache" / "server.json"
    try:
        pid = json.loads(state.read_text()).get("pid")
    except (OSError, ValueError):
        return
    if pid:
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    state.unlink(missing_ok=True)
