"""POST /webhook against a real Redis: what is queued, what is refused, and why."""

import json
import runpy
from pathlib import Path

import pytest
import redis
from conftest import SECRET, RedisServer, delivery, payload
from rq import Queue
from rq.serializers import JSONSerializer

from gatekeeper.service.queue import RedisBackend
from gatekeeper.service.settings import load_settings
from gatekeeper.service.web import create_app


@pytest.fixture
def client(env, redis_url):
    return create_app(load_settings({**env, "REDIS_URL": redis_url})).test_client()


def queued(redis_url: str, name: str = "gatekeeper-gate") -> list:
    RedisBackend(redis_url, 3 * 24 * 3600).dispatch()  # as a worker's dispatcher would
    queue = Queue(name, connection=redis.Redis.from_url(redis_url), serializer=JSONSerializer)
    return queue.get_jobs()


def post(client, event, data, **kwargs):
    body, headers = delivery(event, data, **kwargs)
    return client.post("/webhook", data=body, headers=headers)


def test_signed_real_payload_is_queued_as_one_job(client, redis_url):
    data = payload("pull_request", "opened")
    response = post(client, "pull_request", data)
    assert response.status_code == 202, response.json
    [job] = queued(redis_url)
    head = data["pull_request"]["head"]["sha"]
    assert job.id == f"gate-{data['repository']['id']}-2-{head}"
    assert job.func_name == "gatekeeper.service.jobs.run"
    assert job.args[0] == "gate" and job.args[1]["target"]["head_sha"] == head
    assert response.json["jobs"] == [job.id]


def test_review_goes_to_the_quick_queue(client, redis_url):
    assert post(client, "pull_request_review", payload("pull_request_review", "submitted")
                ).status_code == 202
    assert len(queued(redis_url, "gatekeeper-review")) == 1
    assert queued(redis_url) == []


@pytest.mark.parametrize("attack", ["tampered", "wrong secret", "missing", "truncated",
                                    "sha1", "empty"])
def test_unsigned_or_badly_signed_deliveries_are_refused_and_nothing_is_queued(
        client, redis_url, attack):
    body, headers = delivery("pull_request", payload("pull_request", "opened"))
    if attack == "tampered":
        body = body.replace(b'"opened"', b'"closed"', 1)
    elif attack == "wrong secret":
        body, headers = delivery("pull_request", body, secret="not-" + SECRET)
    elif attack == "missing":
        del headers["X-Hub-Signature-256"]
    elif attack == "truncated":
        headers["X-Hub-Signature-256"] = headers["X-Hub-Signature-256"][:40]
    elif attack == "sha1":
        headers["X-Hub-Signature-256"] = "sha1=" + headers["X-Hub-Signature-256"][7:47]
    else:
        headers["X-Hub-Signature-256"] = ""
    response = client.post("/webhook", data=body, headers=headers)
    assert response.status_code == 401
    assert queued(redis_url) == []
    assert redis.Redis.from_url(redis_url).keys("gatekeeper:delivery:*") == []


def test_redelivery_is_answered_duplicate_and_not_queued_twice(client, redis_url):
    data = payload("pull_request", "opened")
    first = post(client, "pull_request", data, delivery_id="d-1")
    again = post(client, "pull_request", data, delivery_id="d-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json["status"] == "duplicate"
    assert len(queued(redis_url)) == 1
    ttl = redis.Redis.from_url(redis_url).ttl("gatekeeper:delivery:d-1")
    assert ttl >= 3 * 24 * 3600


def test_another_delivery_for_the_same_commit_does_not_queue_a_second_job(client, redis_url):
    assert post(client, "pull_request", payload("pull_request", "opened")).status_code == 202
    response = post(client, "pull_request", payload("pull_request", "synchronize"))
    assert response.status_code == 200 and response.json["status"] == "duplicate"
    assert len(queued(redis_url)) == 1


def test_a_new_head_commit_is_a_new_job(client, redis_url):
    post(client, "pull_request", payload("pull_request", "opened"))
    data = payload("pull_request", "synchronize")
    data["pull_request"]["head"]["sha"] = "a" * 40
    assert post(client, "pull_request", data).status_code == 202
    assert len(queued(redis_url)) == 2


def test_finished_job_can_be_requested_again(client, redis_url, env):
    data = payload("pull_request", "opened")
    post(client, "pull_request", data)
    [job] = queued(redis_url)
    job.set_status("finished")
    redis.Redis.from_url(redis_url).lrem("rq:queue:gatekeeper-gate", 0, job.id)
    suite = payload("check_suite", "rerequested")
    assert post(client, "check_suite", suite).status_code == 202
    assert [j.id for j in queued(redis_url)] == [job.id]


@pytest.mark.parametrize("body,reason", [
    (b"{not json", "not JSON"),
    (b"[]", "not an object"),
    (json.dumps({"action": "opened", "repository": {"id": 1}}).encode(), "lacks what"),
])
def test_malformed_bodies_are_400_with_a_reason(client, redis_url, body, reason):
    response = post(client, "pull_request", body)
    assert response.status_code == 400
    assert reason in response.json["reason"]
    assert queued(redis_url) == []


def test_missing_event_or_delivery_header_is_400(client):
    body, headers = delivery("pull_request", payload("pull_request", "opened"))
    for name in ("X-GitHub-Event", "X-GitHub-Delivery"):
        partial = {k: v for k, v in headers.items() if k != name}
        assert client.post("/webhook", data=body, headers=partial).status_code == 400


def test_events_we_do_not_act_on_are_200_ignored(client, redis_url):
    response = post(client, "push", payload("push", "event"))
    assert response.status_code == 200
    assert response.json["status"] == "ignored" and "push" in response.json["reason"]
    assert post(client, "ping", payload("ping", "event")).json["reason"] == "pong"
    assert queued(redis_url) == []


def test_oversize_body_is_413_before_anything_else(env, redis_url):
    app = create_app(load_settings({**env, "REDIS_URL": redis_url,
                                    "GATEKEEPER_MAX_BODY_BYTES": "1000"}))
    body, headers = delivery("pull_request", payload("pull_request", "opened"))
    assert len(body) > 1000
    response = app.test_client().post("/webhook", data=body, headers=headers)
    assert response.status_code == 413
    assert queued(redis_url) == []


def test_redis_down_is_503_and_the_delivery_can_be_redelivered(env, tmp_path):
    server = RedisServer(tmp_path)
    app = create_app(load_settings({**env, "REDIS_URL": server.url}))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    server.stop()
    data = payload("pull_request", "opened")
    response = post(client, "pull_request", data, delivery_id="during-outage")
    assert response.status_code == 503
    assert client.get("/healthz").status_code == 503
    # after the outage the same delivery is accepted, not refused as a duplicate
    server2 = RedisServer(tmp_path)
    try:
        client2 = create_app(load_settings({**env, "REDIS_URL": server2.url})).test_client()
        assert post(client2, "pull_request", data, delivery_id="during-outage").status_code == 202
    finally:
        server2.stop()


def test_a_failed_intake_keeps_nothing_so_a_redelivery_is_accepted(env, redis_url, monkeypatch):
    backend = RedisBackend(redis_url, 3 * 24 * 3600)

    def broken(**kwargs):
        raise redis.ConnectionError("connection refused")

    monkeypatch.setattr(backend, "_accept", broken)
    client = create_app(load_settings({**env, "REDIS_URL": redis_url}), backend).test_client()
    response = post(client, "pull_request", payload("pull_request", "opened"), delivery_id="x")
    assert response.status_code == 503
    assert not redis.Redis.from_url(redis_url).exists("gatekeeper:delivery:x")


def test_metrics_count_deliveries_by_outcome(client):
    post(client, "push", payload("push", "event"))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gatekeeper_webhook_deliveries_total{event="push",outcome="ignored"}' in text
    assert "gatekeeper_webhook_seconds_bucket" in text


def test_app_module_builds_the_wsgi_app_from_the_environment(env, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    namespace = runpy.run_path(str(Path(__file__).parent.parent / "app.py"))
    assert namespace["app"].test_client().get("/healthz").json["queue"] == "embedded"


def test_a_dispatcher_that_died_mid_item_loses_nothing(client, redis_url):
    """Accepted jobs wait on a Redis list; one a dispatcher took but never queued is given
    back at the next start and queued then."""
    assert post(client, "pull_request", payload("pull_request", "opened")).status_code == 202
    store = redis.Redis.from_url(redis_url)
    assert store.llen("gatekeeper:intake") == 1  # durable before the 202 was sent
    store.lmove("gatekeeper:intake", "gatekeeper:intake:dispatching", "RIGHT", "LEFT")  # then died
    backend = RedisBackend(redis_url, 3 * 24 * 3600)
    assert backend.dispatch() == 0  # nothing left on the intake list itself
    assert backend.recover() == 1
    assert backend.dispatch() == 1
    [job] = Queue("gatekeeper-gate", connection=store, serializer=JSONSerializer).get_jobs()
    assert job.args[0] == "gate" and store.llen("gatekeeper:intake:dispatching") == 0
    assert not store.keys("gatekeeper:pending:*")


def test_the_delivery_audit_record_is_kept_in_the_same_step(client, redis_url):
    post(client, "pull_request", payload("pull_request", "opened"), delivery_id="audited-1")
    post(client, "pull_request", payload("pull_request", "synchronize"), delivery_id="audited-2")
    records = RedisBackend(redis_url, 3 * 24 * 3600).read_records("deliveries")
    first, second = [r for r in records if r["delivery"] in ("audited-1", "audited-2")]
    assert (first["status"], first["outcome"], len(first["jobs"])) == (202, "queued", 1)
    assert (second["status"], second["outcome"]) == (200, "duplicate")
    assert second["jobs"] == first["jobs"] and first["event"] == "pull_request"
