"""Transient GitHub errors, permanent ones, failed jobs, and secrets that never leak."""

import logging
import time
from datetime import UTC
from types import SimpleNamespace

import pytest
from conftest import INSTALLATION_ID, STAGES_OFF, installed_repo
from support.receiver import Receiver

from gatekeeper.service import jobs
from gatekeeper.service.audit import AuditTrail
from gatekeeper.service.queue import MemoryBackend
from gatekeeper.service.settings import load_settings

REPO = "octo/widgets"
HEAD = "e" * 40
TARGET = {"installation_id": INSTALLATION_ID, "repo_id": 9, "repo": REPO, "number": 4,
          "head_sha": HEAD}


@pytest.fixture
def ctx(env, fake_github):
    repo = installed_repo(fake_github, REPO, 9)
    repo.add_pull(4, HEAD, author="devin-ai-integration[bot]", author_type="Bot",
                  head_ref="devin/fix")
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    settings = load_settings(env)
    return jobs.configure(settings, MemoryBackend(settings.delivery_ttl_seconds)), repo


def test_502_then_secondary_rate_limit_is_retried_and_the_wait_honoured(ctx, fake_github):
    fake_github.inject("GET", f"/repos/{REPO}/pulls/4", 502)
    fake_github.inject("GET", f"/repos/{REPO}/pulls/4", 403, {"Retry-After": "2"})
    started = time.monotonic()
    result = jobs.run("gate", {"target": TARGET})
    assert time.monotonic() - started >= 2.0
    assert result["conclusions"]["gatekeeper"] == "failure"  # evaluated: waiting for review
    assert fake_github.count("GET", f"/repos/{REPO}/pulls/4") >= 3


def test_a_repository_that_is_gone_is_not_retried_and_is_audited(ctx, fake_github):
    context, _ = ctx
    gone = {**TARGET, "repo": "octo/deleted", "number": 1}
    assert jobs.run("gate", {"target": gone}) == {"permanent": True}
    [record] = AuditTrail(context.store).records("octo/deleted", 1)
    assert record["kind"] == "permanent-failure" and "404" in record["error"]


def test_a_job_that_failed_for_good_leaves_the_gate_red_not_in_progress(ctx, fake_github):
    context, _ = ctx
    run_id = context.app.installation(INSTALLATION_ID).start_check_run(REPO, HEAD, "gatekeeper")
    job = SimpleNamespace(args=("gate", {"target": TARGET}))
    jobs.on_failure(job, None, TimeoutError, TimeoutError("job timed out"), None)
    run = fake_github.check_runs[run_id]
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    assert run["output"]["summary"].startswith("gate did not complete: TimeoutError")
    assert run["actions"][0]["identifier"] == "rerun"


def test_no_secret_in_logs_audit_records_or_check_runs(env, fake_github, ctx, caplog, app_key):
    receiver = Receiver().start()
    try:
        settings = load_settings({**env, "SLACK_WEBHOOK_URL": receiver.url})
        context = jobs.configure(settings, MemoryBackend(settings.delivery_ttl_seconds))
        caplog.set_level(logging.DEBUG)
        _, repo = ctx
        repo.contents[("main", ".github/gatekeeper.yml")] = b"gate: all\n"  # every stage runs
        jobs.run("gate", {"target": TARGET})
        fake_github.inject("GET", f"/repos/{REPO}/pulls/4", 500)
        fake_github.inject("GET", f"/repos/{REPO}/pulls/4", 500)
        jobs.run("gate", {"target": TARGET})
    finally:
        receiver.stop()
    outputs = [caplog.text, str(AuditTrail(context.store).records(REPO, 4)),
               str(fake_github.check_runs), str(receiver.payloads)]
    key_body = app_key[0].splitlines()[1]
    secrets = [env["GITHUB_WEBHOOK_SECRET"], key_body, "secretpart", *fake_github.tokens]
    for text in outputs:
        for secret in secrets:
            assert secret not in text


def test_reconcile_gates_open_pull_requests_whose_delivery_was_lost(ctx, fake_github):
    context, repo = ctx
    repo.add_pull(5, "f" * 40, author="Codertocat", head_ref="feature")  # not an agent's
    result = jobs.run("reconcile-all", {})
    assert result == {"installations": [INSTALLATION_ID]}
    assert context.store.wait_idle(60)
    assert fake_github.runs_for(REPO, HEAD, "gatekeeper")[0]["status"] == "completed"
    assert fake_github.runs_for(REPO, "f" * 40, "gatekeeper")[0]["conclusion"] == "neutral"
    # a second pass finds nothing left to do
    second = jobs.run("installation", {"installation_id": INSTALLATION_ID})
    assert second["queued"] == []


def test_reconcile_regates_a_check_stuck_in_progress(ctx, fake_github):
    context, _ = ctx
    github = context.app.installation(INSTALLATION_ID)
    run_id = github.start_check_run(REPO, HEAD, "gatekeeper")
    fake_github.check_runs[run_id]["started_at"] = "2020-01-01T00:00:00Z"  # its worker died
    assert jobs.run("installation", {"installation_id": INSTALLATION_ID})["queued"] == \
        [f"{REPO}#4"]
    assert context.store.wait_idle(60)
    assert fake_github.check_runs[run_id]["status"] == "completed"


def test_redis_outage_deliveries_are_recovered_by_the_reconciler(env, fake_github, tmp_path):
    from conftest import RedisServer, delivery, payload

    from gatekeeper.service.web import create_app

    repo = installed_repo(fake_github, "Codertocat/Hello-World", 186853002)
    head = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    repo.add_pull(2, head, author="copilot-swe-agent[bot]", author_type="Bot")
    server = RedisServer(tmp_path)
    settings = load_settings({**env, "REDIS_URL": server.url})
    app = create_app(settings)
    server.stop()  # Redis goes down: the delivery is answered 503
    body, headers = delivery("pull_request", payload("pull_request", "opened"))
    assert app.test_client().post("/webhook", data=body, headers=headers).status_code == 503
    # back up, a worker starts: its start-up reconcile finds the ungated pull request
    server = RedisServer(tmp_path)
    try:
        import os
        import subprocess
        import sys

        worker_env = {**os.environ, **env, "REDIS_URL": server.url}
        done = subprocess.run([sys.executable, "-m", "gatekeeper", "worker", "--burst"],
                              env=worker_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        server.stop()
    [run] = fake_github.runs_for("Codertocat/Hello-World", head, "gatekeeper")
    assert run["status"] == "completed"


def test_redeliver_asks_again_for_failed_deliveries_only(env, fake_github):
    import os
    import subprocess
    import sys
    from datetime import datetime, timedelta

    def ago(**delta):
        return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def attempt(number, guid, when, status):
        return {"id": number, "guid": guid, "delivered_at": when, "redelivery": False,
                "duration": 0.1, "status": "x", "status_code": status, "event": "pull_request",
                "action": "opened", "installation_id": INSTALLATION_ID, "repository_id": 9}

    fake_github.hook_deliveries = [
        attempt(4, "g2", ago(minutes=5), 202),  # a redelivery of g2 went through
        attempt(3, "g1", ago(minutes=10), 503),  # failed: queue was down
        attempt(2, "g2", ago(minutes=20), 503),
        attempt(1, "g3", ago(days=3), 500),  # too old for --since 6h
    ]
    done = subprocess.run([sys.executable, "-m", "gatekeeper", "redeliver", "--since", "6h"],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert fake_github.redelivered == [3]
    assert "redeliver 1 failed deliveries: g1" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "gatekeeper", "redeliver", "--since", "soon"],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--since takes a duration (90m, 6h, 30d)" in bad.stderr


def test_per_installation_cap_defers_gates_beyond_it(env, fake_github, redis_url):
    import redis as redis_client
    from rq import Queue
    from rq.registry import ScheduledJobRegistry
    from rq.serializers import JSONSerializer

    from gatekeeper.service.queue import RedisBackend

    backend = RedisBackend(redis_url, 3 * 24 * 3600)
    assert backend.acquire("installation-1", "a", 2, 60)
    assert backend.acquire("installation-1", "b", 2, 60)
    assert not backend.acquire("installation-1", "c", 2, 60)  # the cap
    assert backend.acquire("installation-2", "c", 2, 60)  # other organisations are not held up
    backend.release("installation-1", "a")
    assert backend.acquire("installation-1", "c", 2, 60)
    assert backend.acquire("installation-3", "x", 1, 1) and not backend.acquire(
        "installation-3", "y", 1, 1)
    time.sleep(2.1)
    assert backend.acquire("installation-3", "y", 1, 1)  # a dead holder's slot expires

    settings = load_settings({**env, "REDIS_URL": redis_url, "GATEKEEPER_INSTALLATION_CAP": "1"})
    jobs.configure(settings, backend)
    assert backend.acquire(f"installation-{INSTALLATION_ID}", "another-gate", 1, 60)
    assert jobs.run("gate", {"target": TARGET}) == {"deferred": True}
    queue = Queue("gatekeeper-gate", connection=redis_client.Redis.from_url(redis_url),
                  serializer=JSONSerializer)
    [later] = ScheduledJobRegistry(queue=queue).get_job_ids()
    assert later.startswith(f"gate-9-4-{HEAD}-later")
    assert fake_github.runs_for(REPO, HEAD, "gatekeeper") == []  # nothing started yet
