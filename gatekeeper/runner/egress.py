"""The one way out of a set-up sandbox: a unix socket that passes index reads to the cache.

It runs in the worker, outside the sandbox, for one set-up run. Only GET and HEAD of the
cache's index pages (`/root/pypi/+simple/NAME/`) and files (`/root/pypi/+f/…`) pass, with
no body, no credentials and a byte budget for the whole run; everything else is answered
403 and counted, so the report can say what the set-up tried.
"""

from __future__ import annotations

import http.client
import re
import socketserver
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from gatekeeper.runner.indexcache import IndexCache

ALLOWED = re.compile(r"^/root/pypi/(\+simple/([A-Za-z0-9._-]+/)?|\+f/[0-9a-f]{3}/[0-9a-f]{13}/"
                     r"[A-Za-z0-9._+-]+)$")
PASSED_HEADERS = ("accept", "accept-encoding", "user-agent", "range", "if-none-match",
                  "if-modified-since")
CHUNK = 256 * 1024


@dataclass
class EgressLog:
    budget: int
    requests: int = 0
    sent: int = 0
    refused: list[str] = field(default_factory=list)  # "POST /+login", at most 50 kept
    over_budget: bool = False
    files: dict[str, int] = field(default_factory=dict)  # bytes per file, 2,000 files kept

    def largest(self, count: int = 5) -> list[tuple[str, int]]:
        """The files that took most of the budget: (name, bytes)."""
        return sorted(self.files.items(), key=lambda item: -item[1])[:count]

    def refuse(self, what: str) -> None:
        if len(self.refused) < 50:
            self.refused.append(what[:200])


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    cache: IndexCache
    log: EgressLog
    lock: threading.RLock


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 120

    def log_message(self, *_args) -> None:  # the run's log is the EgressLog
        pass

    def address_string(self) -> str:
        return "sandbox"

    def do_GET(self) -> None:
        self._pass(head=False)

    def do_HEAD(self) -> None:
        self._pass(head=True)

    def _refuse(self, why: str) -> None:
        with self.server.lock:
            self.server.log.refuse(f"{self.command} {self.path} ({why})")
        body = f"gatekeeper: refused: {why}\n".encode()
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def _other(self) -> None:
        self._refuse("only index pages and files are served")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_CONNECT = do_TRACE = _other

    def _pass(self, head: bool) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if not ALLOWED.match(path) or "/../" in path:
            self._refuse("only index pages and files are served")
            return
        if self.headers.get("Content-Length") not in (None, "0") or \
                self.headers.get("Transfer-Encoding"):
            self._refuse("requests with a body are not served")
            return
        with self.server.lock:
            self.server.log.requests += 1
            if self.server.log.over_budget:
                self._refuse("download budget used up")
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() in PASSED_HEADERS}
        upstream = http.client.HTTPConnection(self.server.cache.host, self.server.cache.port,
                                              timeout=300)
        try:
            upstream.request("HEAD" if head else "GET", path, headers=headers)
            answer = upstream.getresponse()
            self._relay(answer, head)
        except OSError as exc:
            self.close_connection = True
            try:
                self.send_error(502, f"the package cache did not answer: "
                                     f"{exc.__class__.__name__}")
            except OSError:
                pass
        finally:
            upstream.close()

    def _relay(self, answer: http.client.HTTPResponse, head: bool) -> None:
        """The cache's answer, kept alive: installers reuse connections, and one closed
        under them reads as a missing package."""
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() in ("content-type", "content-length", "etag", "last-modified",
                               "content-encoding", "cache-control", "location"):
                self.send_header(key, value)
        length = answer.getheader("Content-Length")
        chunked = length is None and not head
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if head:
            return
        try:
            while chunk := answer.read(CHUNK):
                with self.server.lock:
                    self.server.log.sent += len(chunk)
                    name = self.path.rsplit("/", 1)[-1]
                    if "/+f/" in self.path and (name in self.server.log.files or
                                                len(self.server.log.files) < 2000):
                        self.server.log.files[name] = self.server.log.files.get(name, 0) + \
                            len(chunk)
                    if self.server.log.sent > self.server.log.budget:
                        self.server.log.over_budget = True
                        self.server.log.refuse(f"GET {self.path} (download budget of "
                                               f"{self.server.log.budget} bytes used up)")
                        self.close_connection = True
                        return  # the client sees a short read and fails
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the installer went away


class EgressGate:
    """A context manager: `with EgressGate(cache) as gate:` bind `gate.socket` into the sandbox."""

    def __init__(self, cache: IndexCache, budget: int = 4 * 1024**3):
        self.cache = cache
        self.log = EgressLog(budget)
        self._folder = Path(tempfile.mkdtemp(prefix="gatekeeper-egress-"))
        self.socket = self._folder / "index.sock"
        self._server: _Server | None = None

    def __enter__(self) -> EgressGate:
        server = _Server(str(self.socket), _Handler)
        server.cache, server.log, server.lock = self.cache, self.log, threading.RLock()
        self.socket.chmod(0o777)  # the sandbox's user connects to it
        self._folder.chmod(0o755)
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.socket.unlink(missing_ok=True)
        self._folder.rmdir()
