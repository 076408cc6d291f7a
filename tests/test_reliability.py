"""Transient GitHub errors, permanent ones, failed jobs, and secrets that never leak."""

import logging
import time
from types import SimpleNamespace

import pytest
from conftest import APP_ID, INSTALLATION_ID
from support.receiver import Receiver

from gatekeeper import jobs
from gatekeeper.audit import AuditTrail
from gatekeeper.queue import MemoryBackend
from gatekeeper.settings import load_settings

REPO = "octo/widgets"
HEAD = "e" * 40
TARGET = {"installation_id": INSTALLATION_ID, "repo_id": 9, "repo": REPO, "number": 4,
          "head_sha": HEAD}
STAGES_OFF = b"stages:\n  tests: false\n  sast: false\n  dependencies: false\n"


@pytest.fixture
def ctx(env, fake_github):
    repo = fake_github.add_repo(REPO, 9)
    fake_github.add_installation(INSTALLATION_ID, APP_ID, [REPO])
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
