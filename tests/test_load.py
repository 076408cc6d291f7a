"""Intake under load and under fuzzing: nothing queued twice, nothing lost, never a 5xx."""

import http.client
import json
import threading
import uuid

import redis
from conftest import SECRET, payload
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq import Queue
from rq.serializers import JSONSerializer

from gatekeeper.github.webhooks import sign
from gatekeeper.service.queue import RedisBackend
from gatekeeper.service.settings import load_settings
from gatekeeper.service.web import create_app


def test_burst_of_2000_deliveries_with_duplicates(gunicorn):
    url, env = gunicorn
    port = int(url.rsplit(":", 1)[1])
    template = payload("pull_request", "opened")
    unique = []
    for i in range(1800):
        template["pull_request"]["head"]["sha"] = f"{i:040x}"
        body = json.dumps(template).encode()
        unique.append((body, {"X-GitHub-Event": "pull_request",
                              "X-GitHub-Delivery": str(uuid.uuid4()),
                              "X-Hub-Signature-256": sign(SECRET.encode(), body),
                              "Content-Type": "application/json"}))
    work = unique + unique[::9][:200]  # 200 redeliveries of deliveries already sent
    statuses: list[int] = []
    lock = threading.Lock()
    items = iter(work)

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for body, headers in items:
            conn.request("POST", "/webhook", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            with lock:
                statuses.append(response.status)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(statuses) == 2000 and not [s for s in statuses if s >= 500]
    assert statuses.count(202) == 1800 and statuses.count(200) == 200
    RedisBackend(env["REDIS_URL"], 3 * 24 * 3600).dispatch()  # as a worker's dispatcher would
    queue = Queue("gatekeeper-gate", connection=redis.Redis.from_url(env["REDIS_URL"]),
                  serializer=JSONSerializer)
    assert len(queue.job_ids) == len(set(queue.job_ids)) == 1800


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=4) |
                       st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=20)
EVENTS = st.sampled_from(["pull_request", "pull_request_review", "check_run", "check_suite",
                          "installation", "installation_repositories", "ping", "push", "",
                          "issue_comment", "merge_group", "status"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(event=EVENTS, document=JSONISH, action=st.sampled_from(
    ["opened", "synchronize", "submitted", "rerequested", "created", "added", "closed", "x",
     "checks_requested", "completed"]),
    signed=st.booleans(),
    delivery=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120))
def test_no_payload_or_header_makes_the_intake_fail(env, redis_url, event, document, action,
                                                    signed, delivery):
    app = _app(env, redis_url)
    if isinstance(document, dict):
        document = {**document, "action": action}
    body = json.dumps(document).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
               "X-Hub-Signature-256": sign(SECRET.encode(), body) if signed else "sha256=00"}
    response = app.test_client().post("/webhook", data=body, headers=headers)
    assert response.status_code in (200, 202, 400, 401)


_apps: dict = {}


def _app(env, redis_url):
    if redis_url not in _apps:
        _apps.clear()
        _apps[redis_url] = create_app(load_settings({**env, "REDIS_URL": redis_url}))
    return _apps[redis_url]
