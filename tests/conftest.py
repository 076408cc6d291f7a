"""Shared test set-up: one real redis-server per session, a fake GitHub per test, app keys."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from support.fakegithub import FakeGitHub

from gatekeeper.github.webhooks import sign
from gatekeeper.service.settings import load_settings

FIXTURES = Path(__file__).parent / "fixtures"
APP_ID = 4242
INSTALLATION_ID = 77
SECRET = "test-webhook-secret"
collect_ignore = ["sast_cases", "fixtures"]  # labelled snippets and projects, not tests to run
STAGES_OFF = b"stages:\n  tests: false\n  sast: false\n  dependencies: false\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server on a free loopback port, no persistence."""

    def __init__(self, tmp: Path, password: str | None = None):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            pytest.fail("redis-server is not installed: run `make test`, which installs it")
        self.port = free_port()
        auth = f":{password}@" if password else ""
        self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp)]
            + (["--requirepass", password] if password else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def _left_behind(basetemp: Path, before: set[int]) -> list[str]:
    """Processes this test session started that still run: in its session (not re-parented
    out of it) or naming its temporary folder (a package cache's server, say)."""
    mine, found = os.getsid(0), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in before or \
                int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            session = os.getsid(int(entry.name))
        except (OSError, IndexError):
            continue
        if cmdline and state != "Z" and (session == mine or str(basetemp) in cmdline):
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running(tmp_path_factory):
    """The suite leaves no process behind: a worker, a sandbox, a cache server."""
    before = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}
    yield
    basetemp = tmp_path_factory.getbasetemp()
    left = _left_behind(basetemp, before)
    deadline = time.monotonic() + PATIENCE
    while left and time.monotonic() < deadline:  # ones still exiting get their time
        time.sleep(0.5)
        left = _left_behind(basetemp, before)
    assert not left, "processes left running by the tests:\n" + "\n".join(left)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def app_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


@pytest.fixture
def fake_github(app_key):
    fake = FakeGitHub().start()
    fake.add_app(APP_ID, app_key[1])
    yield fake
    fake.stop()
    assert fake.violations == [], "requests the real GitHub API would reject"


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory):
    """One wheelhouse and package cache for the session: each file is downloaded once; the
    cache's devpi-server is stopped at the end, so no run leaves one behind."""
    from gatekeeper.runner.indexcache import stop_cache

    folder = tmp_path_factory.mktemp("gatekeeper-cache")
    yield folder
    stop_cache(folder)


def installed_repo(fake_github, name: str, repo_id: int | None = None):
    """A repository in the fake GitHub that the app is installed on (INSTALLATION_ID)."""
    repo = fake_github.add_repo(name, repo_id)
    fake_github.add_installation(INSTALLATION_ID, APP_ID, [name])
    return repo


@pytest.fixture
def env(app_key, fake_github, wheel_cache):
    """Environment for a gatekeeper process: embedded queue unless REDIS_URL is added."""
    return {
        "GATEKEEPER_CACHE_DIR": str(wheel_cache),
        "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query",  # never the internet from tests
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_PRIVATE_KEY": app_key[0],
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": fake_github.url,
    }


@pytest.fixture
def settings(env):
    return load_settings(env)


def payload(event: str, name: str, installation: int | None = INSTALLATION_ID) -> dict:
    """A real example delivery, as a GitHub App receives it (with its installation)."""
    data = json.loads((FIXTURES / "webhooks" / event / f"{name}.json").read_text())
    data = copy.deepcopy(data)
    if installation is not None:
        data["installation"] = {"id": installation, "node_id": "MDIz"}
    return data


def delivery(event: str, data: dict | bytes, secret: str = SECRET,
             delivery_id: str | None = None) -> tuple[bytes, dict]:
    """Body and headers of a correctly signed delivery."""
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret.encode(), body),
        "Content-Type": "application/json",
    }
    return body, headers


@pytest.fixture
def gunicorn(env, redis_url, tmp_path):
    """gunicorn as in production; its stderr (logs) is kept in env["TEST_GUNICORN_LOG"]."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {**env, "REDIS_URL": redis_url, "GATEKEEPER_MAX_BODY_BYTES": "100000",
           "TEST_GUNICORN_LOG": str(log)}
    # the Procfile's command as it stands; gunicorn.conf.py takes the rest from the environment
    env["GATEKEEPER_BIND"] = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app:app"],
        env={**os.environ, **env}, cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: serving(url), timeout=30)
        yield url, env
    finally:
        proc.terminate()
        proc.wait()


# a wait is for a condition; its limit only turns a hang into a failure, so it is never
# shorter than this, however quick the caller expects the condition to be (a loaded machine)
PATIENCE = 600.0


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + max(timeout, PATIENCE)
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def stop_process(proc: subprocess.Popen) -> str:
    """Stop a gatekeeper process the way an operator would (SIGTERM; a second one makes an
    RQ worker leave its running job), then wait for it to exit: no fixed time. Its output."""
    while True:  # repeated until it exits: a later SIGTERM makes RQ leave its job at once
        if proc.poll() is None:
            proc.terminate()
        try:
            output = proc.communicate(timeout=1)[0]
            return output if isinstance(output, str) else ""
        except subprocess.TimeoutExpired:
            continue


def serving(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=5).status_code == 200
    except requests.RequestException:  # not listening yet, or a worker still starting
        return False
