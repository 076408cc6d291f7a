"""The whole product under attack: a pull request whose test hunts for the worker's secrets.

Every long-running process is started with canary secrets (as variables, or as *_FILE
paths); no canary may appear, in any encoding, in what the process environment shows, the
report, logs, audit trail, check runs, stored details, or the Slack payload.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import requests
from canaries import HOOK, REDIS_PASSWORD, canaries
from conftest import (
    RedisServer,
    delivery,
    free_port,
    installed_repo,
    payload,
    serving,
    stop_process,
    wait_for,
)
from gitrepo import Repo
from test_review_flow import tree_tarball

ROOT = Path(__file__).resolve().parents[2]
REPO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
THIEF = '''import base64, os, re


def grab():
    """What a thief keeps: entries that look like credentials (a report's message is short)."""
    found = b""
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
        for name in ("environ", "cmdline"):
            try:
                entries = open(f"/proc/{pid}/{name}", "rb").read().split(b"\\0")
            except OSError:
                continue
            found += b"|".join(e[-80:] for e in entries
                               if re.search(rb"KEY|SECRET|TOKEN|URL|PASS|LEAK", e)) + b"|"
    return found


def test_steal():
    data = grab()
    print("stolen:", data, base64.b64encode(data), data[::-1])
    assert False, ("stolen: " + base64.b64encode(data).decode() + " reversed: "
                   + data[::-1].decode("latin-1") + " raw: " + data.decode("latin-1"))
'''
PROJECT = {"calc.py": "def add(a, b):\n    return a + b\n", "test_thief.py": THIEF}


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis-auth"), password=REDIS_PASSWORD)
    yield server
    server.stop()


def environ_of(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def family(pid: int) -> list[int]:
    """A process and all its descendants."""
    found = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += family(int(child))
    return found


def test_gatekeeper_check_shows_no_secret_of_its_environment(tmp_path, app_key, wheel_cache):
    secrets = canaries(tmp_path, app_key[0], 6379, as_files=False)
    repo = Repo(tmp_path / "repo")
    repo.commit({"calc.py": PROJECT["calc.py"]})
    repo.branch("copilot/add-test")
    repo.commit({"test_thief.py": THIEF}, message="Add test\n\nCo-authored-by: Copilot "
                                                  "<198982749+Copilot@users.noreply.github.com>")
    env = {**os.environ, **secrets.env, "GATEKEEPER_CACHE_DIR": str(wheel_cache),
           "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"}
    for form in ("text", "json"):
        done = subprocess.run([sys.executable, "-m", "gatekeeper", "check", str(repo.root),
                               "--base", "main", "--format", form, "--no-cache"],
                              capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "stolen: " in done.stdout  # the attack ran and its findings were reported
        assert secrets.found_in(done.stdout + done.stderr) == []


@pytest.mark.parametrize("as_files", [False, True], ids=["variables", "files"])
def test_worker_gate_on_a_thieving_pull_request_leaks_nothing(
        tmp_path, app_key, fake_github, locked_redis, wheel_cache, as_files):
    from support.receiver import Receiver

    slack = Receiver().start()
    try:
        secrets = canaries(tmp_path, app_key[0], locked_redis.port, as_files,
                           slack_base=slack.url.split("/services")[0])
        repo = installed_repo(fake_github, REPO, 186853002)
        repo.add_pull(2, HEAD, author="copilot-swe-agent[bot]", author_type="Bot",
                      head_ref="copilot/thief")
        repo.tarballs[HEAD] = tree_tarball(PROJECT)
        repo.files[2] = [{"filename": "test_thief.py", "status": "added"}]
        env = {**os.environ, **secrets.env, "GITHUB_API_URL": fake_github.url,
               "GATEKEEPER_CACHE_DIR": str(wheel_cache),
               "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"}
        store = redis.Redis.from_url(locked_redis.url)
        store.flushall()
        web_port = free_port()
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "app:app", "-b",
                                f"127.0.0.1:{web_port}", "-w", "2"], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        worker = subprocess.Popen([sys.executable, "-m", "gatekeeper", "worker", "--no-reconcile"],
                                  env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{web_port}"
            wait_for(lambda: serving(url), timeout=30)
            body, headers = delivery("pull_request", payload("pull_request", "opened"),
                                     secret=HOOK)
            response = requests.post(url + "/webhook", data=body, headers=headers, timeout=10)
            assert response.status_code == 202, response.text  # the secret was loaded
            # the long-running processes no longer hold a secret where children could see it
            # (a variable Gatekeeper does not know stays: it only must not reach the sandbox)
            for pid in family(web.pid) + family(worker.pid):
                assert set(secrets.found_in(environ_of(pid))) <= {"unlisted"}, pid
            wait_for(lambda: [r for r in fake_github.runs_for(REPO, HEAD, "gatekeeper")
                              if r["status"] == "completed"], timeout=240)
        finally:
            logs = stop_process(web) + stop_process(worker)
        [tests] = fake_github.runs_for(REPO, HEAD, "gatekeeper/tests")
        assert tests["conclusion"] == "failure"
        # control: the worker held the signing key and used it (a record at the start, one
        # for the verdict), so its absence from everything below is not for want of a key
        assert store.xlen(f"gatekeeper:audit:attestation:{REPO}@{HEAD}") >= 2
        runs = json.dumps(list(fake_github.check_runs.values()))
        assert "stolen: " in runs  # the test's message is in the check run
        stored = b"\n".join(_values(store))
        assert b"stolen: " in stored  # and in the stored report behind the details page
        assert slack.payloads, logs.decode(errors="replace")[-3000:]
        seen = {"check runs": runs, "redis": stored, "slack": json.dumps(slack.payloads),
                "logs": logs}
        assert {where: secrets.found_in(blob) for where, blob in seen.items()} == \
            {where: [] for where in seen}
    finally:
        slack.stop()


def _values(store: redis.Redis) -> list[bytes]:
    """Every value in Redis (strings, lists, hashes, sets, streams) as bytes."""
    out = []
    for key in store.scan_iter(count=1000):
        kind = store.type(key)
        if kind == b"string":
            out.append(store.get(key) or b"")
        elif kind == b"list":
            out += store.lrange(key, 0, -1)
        elif kind == b"hash":
            out += [k + b"=" + v for k, v in store.hgetall(key).items()]
        elif kind in (b"set", b"zset"):
            out += list(store.smembers(key)) if kind == b"set" else \
                [m for m, _ in store.zrange(key, 0, -1, withscores=True)]
        elif kind == b"stream":
            out += [repr(entry).encode() for entry in store.xrange(key)]
    return out
