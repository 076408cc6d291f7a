"""Jobs run for real: an RQ worker process, the embedded pool, and gunicorn in front."""

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import requests
from conftest import (
    APP_ID,
    INSTALLATION_ID,
    STAGES_OFF,
    delivery,
    installed_repo,
    payload,
    stop_process,
    wait_for,
)
from rq.job import Job
from rq.serializers import JSONSerializer

from gatekeeper.service import jobs
from gatekeeper.service.queue import MemoryBackend
from gatekeeper.service.settings import load_settings
from gatekeeper.service.web import create_app

ROOT = Path(__file__).resolve().parent.parent
REPO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


@pytest.fixture
def hello_world(fake_github):
    repo = installed_repo(fake_github, REPO, 186853002)
    repo.add_pull(2, HEAD, author="copilot-swe-agent[bot]", author_type="Bot")
    return repo


def run_worker(env: dict, burst: bool = True) -> subprocess.Popen:
    args = [sys.executable, "-m", "gatekeeper", "worker", "--no-reconcile"] + \
        (["--burst"] if burst else [])
    return subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def assert_gate_failed_closed(fake_github):
    [run] = fake_github.runs_for(REPO, HEAD, "gatekeeper")
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    assert run["output"]["title"].startswith("Blocked")
    assert run["actions"][0]["identifier"] == "rerun"


def test_rq_worker_runs_the_queued_gate(env, redis_url, fake_github, hello_world):
    env = {**env, "REDIS_URL": redis_url}
    client = create_app(load_settings(env)).test_client()
    body, headers = delivery("pull_request", payload("pull_request", "opened"))
    response = client.post("/webhook", data=body, headers=headers)
    assert response.status_code == 202
    worker = run_worker(env)
    output, _ = worker.communicate()
    assert worker.returncode == 0, output
    assert_gate_failed_closed(fake_github)
    job = Job.fetch(response.json["jobs"][0], connection=redis.Redis.from_url(redis_url),
                    serializer=JSONSerializer)
    assert job.get_status() == "finished"
    assert job.return_value()["conclusions"]["gatekeeper"] == "failure"
    trail = subprocess.run([sys.executable, "-m", "gatekeeper", "audit", "--repo", REPO, "--pr",
                            "2"], capture_output=True, text=True, env={**os.environ, **env},
                           timeout=60)
    kinds = [json.loads(line)["kind"] for line in trail.stdout.splitlines()]
    assert trail.returncode == 0 and "classification" in kinds and kinds[-1] == "verdict"


def test_worker_runs_installation_jobs(env, redis_url, fake_github, hello_world):
    env = {**env, "REDIS_URL": redis_url}
    client = create_app(load_settings(env)).test_client()
    body, headers = delivery("installation", payload("installation", "created"))
    assert client.post("/webhook", data=body, headers=headers).status_code == 202
    # the example payload names its own installation; the fake knows it by that id
    fake_github.add_installation(payload("installation", "created")["installation"]["id"],
                                 APP_ID, [REPO])
    worker = run_worker(env)
    output, _ = worker.communicate()
    assert worker.returncode == 0, output
    assert fake_github.count("GET", "/installation/repositories") == 1
    # the installation's open pull request was gated
    assert fake_github.runs_for(REPO, HEAD, "gatekeeper")


def test_worker_refuses_to_start_without_redis(env):
    worker = run_worker(env)
    output, _ = worker.communicate()
    assert worker.returncode == 2 and "needs REDIS_URL" in output


def test_worker_with_bad_settings_names_the_problem(env):
    worker = run_worker({**env, "GITHUB_APP_ID": "zero", "GITHUB_WEBHOOK_SECRET": ""})
    output, _ = worker.communicate()
    assert worker.returncode == 2
    assert "GITHUB_APP_ID must be a positive integer" in output
    assert "GITHUB_WEBHOOK_SECRET is not set" in output


def test_gate_that_cannot_reach_the_pull_request_is_red_not_missing(settings, fake_github,
                                                                    hello_world):
    del hello_world.pulls[2]
    jobs.configure(settings)
    result = jobs.run("gate", {"target": {"installation_id": INSTALLATION_ID, "repo_id": 1,
                                          "repo": REPO, "number": 2, "head_sha": HEAD}})
    assert result == {"permanent": True}  # the pull request is gone: no retry
    [run] = fake_github.runs_for(REPO, HEAD, "gatekeeper")
    assert run["conclusion"] == "failure"
    assert run["output"]["summary"].startswith("gate did not complete: ")


def test_embedded_queue_runs_jobs_in_process(env, fake_github, hello_world):
    settings = load_settings(env)
    backend = MemoryBackend(settings.delivery_ttl_seconds)
    jobs.configure(settings, backend)
    app = create_app(settings, backend)
    client = app.test_client()
    body, headers = delivery("pull_request", payload("pull_request", "opened"))
    assert client.post("/webhook", data=body, headers=headers).status_code == 202
    assert client.post("/webhook", data=body, headers=headers).json["status"] == "duplicate"
    assert backend.wait_idle(30)
    assert_gate_failed_closed(fake_github)


def test_end_to_end_under_gunicorn_with_a_real_worker(gunicorn, fake_github, hello_world):
    url, env = gunicorn
    worker = run_worker(env, burst=False)
    try:
        body, headers = delivery("pull_request", payload("pull_request", "opened"))
        response = requests.post(url + "/webhook", data=body, headers=headers, timeout=5)
        assert response.status_code == 202
        wait_for(lambda: any(r["status"] == "completed"
                             for r in fake_github.runs_for(REPO, HEAD, "gatekeeper")), 60)
        assert_gate_failed_closed(fake_github)
    finally:
        stop_process(worker)


def test_gunicorn_logs_audit_records_as_json_lines(gunicorn):
    url, env = gunicorn
    body, headers = delivery("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    assert requests.post(url + "/webhook", data=body, headers=headers, timeout=5).ok

    def audit_lines():
        text = Path(env["TEST_GUNICORN_LOG"]).read_text()
        return [json.loads(line.split("gatekeeper.audit: ", 1)[1])
                for line in text.splitlines() if "gatekeeper.audit: " in line]

    [record] = wait_for(audit_lines, 10)
    assert record["kind"] == "delivery" and record["event"] == "ping"
    assert record["delivery"] == headers["X-GitHub-Delivery"]


def test_gunicorn_refuses_oversize_bodies_declared_or_chunked(gunicorn):
    url, _ = gunicorn
    body, headers = delivery("pull_request", b"{" + b" " * 200_000 + b"}")
    assert requests.post(url + "/webhook", data=body, headers=headers,
                         timeout=5).status_code == 413
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/webhook")
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for start in range(0, len(body), 16384):
            chunk = body[start:start + 16384]
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop reading once it has seen enough
    assert conn.getresponse().status == 413


def _tarball(files: dict[str, str]) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(f"top/{name}")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


CALC = "def add(a, b):\n    return a + b\n"
FAST_SUITE = _tarball({"calc.py": CALC, "test_calc.py": "from calc import add\n\n\n"
                       "def test_add():\n    assert add(2, 2) == 4\n"})


def slow_suite_then_fast(hello_world) -> None:
    """A pull request whose suite sleeps in the sandbox (swap in FAST_SUITE for the retry)."""
    hello_world.contents[("master", ".github/gatekeeper.yml")] = \
        b"stages:\n  sast: false\n  dependencies: false\n"
    hello_world.pulls[2]["base"]["ref"] = "master"
    hello_world.tarballs[HEAD] = _tarball({
        "calc.py": CALC, "test_calc.py": "import time\n\n\ndef test_slow():\n    time.sleep(300)\n"})


def _parent(pid: int) -> int:
    from pathlib import Path as P

    return int(P(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0])


def _sandbox_parent(worker: int) -> int | None:
    """The work horse of this worker that started a sandboxed test run, if one is running
    (only this worker's: another test run on the machine must never be touched)."""
    from pathlib import Path as P

    for entry in P("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if argv[0].endswith(b"bwrap") and any(b"pytest" in a for a in argv):
                horse = _parent(int(entry.name))
                if _parent(horse) == worker:
                    return horse
        except (OSError, IndexError, ValueError):
            continue
    return None


@pytest.mark.timeout(200)
def test_worker_killed_mid_gate_the_gate_completes_on_retry(env, redis_url, fake_github,
                                                             hello_world, monkeypatch):
    import signal

    monkeypatch.setenv("GATEKEEPER_RETRY_INTERVALS", "1,1,1")
    slow_suite_then_fast(hello_world)
    env = {**env, "REDIS_URL": redis_url, "GATEKEEPER_RETRY_INTERVALS": "1,1,1"}
    client = create_app(load_settings(env)).test_client()
    body, headers = delivery("pull_request", payload("pull_request", "opened"))
    assert client.post("/webhook", data=body, headers=headers).status_code == 202
    worker = run_worker(env, burst=False)
    try:
        wait_for(lambda: fake_github.runs_for(REPO, HEAD, "gatekeeper/tests") == [] and
                 any(r["status"] == "in_progress"
                     for r in fake_github.runs_for(REPO, HEAD, "gatekeeper")), 60)
        horse = wait_for(lambda: _sandbox_parent(worker.pid), 60)  # the suite sleeps in the sandbox
        hello_world.tarballs[HEAD] = FAST_SUITE
        os.kill(horse, signal.SIGKILL)
        try:
            wait_for(lambda: any(r["status"] == "completed"
                                 for r in fake_github.runs_for(REPO, HEAD, "gatekeeper/tests")),
                     60)
        except AssertionError:
            raise AssertionError(stop_process(worker)[-4000:]) from None
        [tests] = fake_github.runs_for(REPO, HEAD, "gatekeeper/tests")
        assert tests["conclusion"] == "success"  # the retry ran the suite to the end
        wait_for(lambda: fake_github.runs_for(REPO, HEAD, "gatekeeper")[0]["status"] ==
                 "completed", 30)
        [gate] = fake_github.runs_for(REPO, HEAD, "gatekeeper")
        assert gate["status"] == "completed" and gate["conclusion"] == "failure"  # no approval
    finally:
        stop_process(worker)


def test_one_installation_token_serves_a_pull_requests_whole_life(env, redis_url, fake_github,
                                                                   hello_world):
    """Five events, each run by a new worker process and a new work horse per job."""
    env = {**env, "REDIS_URL": redis_url}
    hello_world.contents[("master", ".github/gatekeeper.yml")] = STAGES_OFF
    hello_world.pulls[2]["base"]["ref"] = "master"
    client = create_app(load_settings(env)).test_client()
    events = [("pull_request", "opened"), ("pull_request_review", "submitted"),
              ("pull_request", "synchronize"), ("pull_request_review", "submitted"),
              ("pull_request", "closed")]
    for event, action in events:
        body, headers = delivery(event, payload(event, action))
        assert client.post("/webhook", data=body, headers=headers).status_code in (200, 202)
        worker = run_worker(env)
        output, _ = worker.communicate()
        assert worker.returncode == 0, output
    assert len(fake_github.runs_for(REPO, HEAD, "gatekeeper")) >= 1
    assert fake_github.count("GET", f"/repos/{REPO}/pulls/2") >= 3  # the jobs did run
    assert fake_github.count("POST", f"/app/installations/{INSTALLATION_ID}/access_tokens") == 1


@pytest.mark.timeout(240)
def test_a_whole_worker_killed_mid_gate_is_taken_up_by_another_within_two_minutes(
        env, redis_url, fake_github, hello_world):
    """Main process, work horse and sandbox killed at once, as the OOM killer or a lost node
    would; a new worker started at once brings the gate to its answer."""
    import signal
    import time

    slow_suite_then_fast(hello_world)
    env = {**env, "REDIS_URL": redis_url}
    client = create_app(load_settings(env)).test_client()
    body, headers = delivery("pull_request", payload("pull_request", "opened"))
    assert client.post("/webhook", data=body, headers=headers).status_code == 202
    args = [sys.executable, "-m", "gatekeeper", "worker", "--no-reconcile"]
    first = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = None
    try:
        horse = wait_for(lambda: _sandbox_parent(first.pid), 60)
        assert horse
        hello_world.tarballs[HEAD] = FAST_SUITE
        os.killpg(first.pid, signal.SIGKILL)  # the worker's whole process group
        killed = time.monotonic()
        first.wait()
        second = run_worker(env, burst=False)
        try:
            wait_for(lambda: any(r["status"] == "completed" and r["conclusion"] == "success"
                                 for r in fake_github.runs_for(REPO, HEAD, "gatekeeper/tests")),
                     150)
        except AssertionError:
            raise AssertionError(stop_process(second)[-5000:]) from None
        recovered = time.monotonic() - killed
        print(f"gate completed {recovered:.1f} s after its worker was killed")  # bench, not a bound
    finally:
        for proc in (first, second):
            if proc is not None:
                stop_process(proc)


def test_the_gates_own_trouble_keeps_the_check_in_progress_then_says_whose_it_is(
        env, redis_url, fake_github, hello_world, tmp_path):
    """The package cache cannot start (its folder is a file): while the queue will try again,
    the check stays in progress and says why, the operator's trail has it; after the last try
    it is red, as the gate's own trouble, never the change's failing tests."""
    from rq import Queue, Retry, SimpleWorker

    from gatekeeper.service.audit import AuditTrail
    from gatekeeper.service.queue import RedisBackend

    broken = tmp_path / "cache"
    broken.mkdir()
    (broken / "index-cache").write_text("not a folder")
    hello_world.contents[("master", ".github/gatekeeper.yml")] = \
        b"stages:\n  sast: false\n  dependencies: false\n"
    hello_world.pulls[2]["base"]["ref"] = "master"
    hello_world.tarballs[HEAD] = FAST_SUITE
    settings = load_settings({**env, "REDIS_URL": redis_url,
                              "GATEKEEPER_CACHE_DIR": str(broken)})
    store = RedisBackend(redis_url, 3600)
    jobs.configure(settings, store)
    queue = Queue("gatekeeper-trouble-test", connection=store.connection,
                  serializer=JSONSerializer)
    target = {"installation_id": INSTALLATION_ID, "repo_id": 186853002, "repo": REPO,
              "number": 2, "head_sha": HEAD}
    job = queue.enqueue(jobs.run, "gate", {"target": target}, retry=Retry(max=1))
    SimpleWorker([queue], connection=store.connection, serializer=JSONSerializer).work(
        burst=True)
    waits = [s for s in fake_github.check_run_states
             if s["name"] == "gatekeeper" and s["status"] == "in_progress" and s["output"]
             and s["output"]["title"] == "Waiting: the gate could not run a stage"]
    assert waits, fake_github.check_run_states  # the first try left it in progress, saying why
    [run] = fake_github.runs_for(REPO, HEAD, "gatekeeper")
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    summary = run["output"]["summary"]
    assert "the gate's own trouble, not the change's" in summary
    assert "package cache is not available" in summary
    assert not fake_github.runs_for(REPO, HEAD, "gatekeeper/tests")  # nothing blamed on tests
    kinds = [r["kind"] for r in AuditTrail(store).records(REPO, 2)]
    assert "gate-trouble" in kinds
    assert Job.fetch(job.id, connection=store.connection,
                     serializer=JSONSerializer).get_status() == "failed"
