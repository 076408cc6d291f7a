"""The package cache in front of the index: devpi-server, started and supervised by the worker.

The sandbox never talks to it directly. Each set-up run gets a gate of its own (see
`egress.py`) on a unix socket bound into the sandbox; the gate passes GETs for index pages
and files and nothing else. Files devpi fetched are checked by hash by the installers and
shared by every run; nothing a run builds comes back here.
"""

from __future__ import annotations

import fcntl
import json
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

START_TIMEOUT = 60
UPSTREAM_TIMEOUT = 60
INDEX_PATH = "/root/pypi/+simple/"


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


def _healthy(cache: IndexCache) -> bool:
    try:
        with urllib.request.urlopen(f"{cache.url}/+api", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def ensure_cache(cache_dir: Path) -> IndexCache:
    """The running cache for this cache folder; started (once, across processes) if down."""
    folder = cache_dir / "index-cache"
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "server.json"
    with open(folder / "start.lock", "w") as lock:
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
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _healthy(cache):
            state.write_text(json.dumps({"host": cache.host, "port": cache.port,
                                         "pid": process.pid}))
            return cache
        if process.poll() is not None:
            break
        time.sleep(0.3)
    process.kill()
    tail = (folder / "server.log").read_text(errors="replace").strip().splitlines()[-5:]
    raise IndexUnavailable(f"devpi-server did not answer within {START_TIMEOUT} s: "
                           + " / ".join(tail))


def _minimal_env() -> dict[str, str]:
    """devpi needs the way out (proxy, CA bundle), never the worker's secrets."""
    kept = ("PATH", "HOME", "LANG", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "http_proxy",
            "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    return {k: v for k, v in os.environ.items() if k in kept}


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
