"""The worker container's own health check: `gatekeeper worker --health` asks Redis whether a
worker on this host beat lately (the image's old check called the web port, which a worker
does not have, so it was always unhealthy)."""

import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from conftest import free_port, wait_for

from gatekeeper.service.workerhealth import FRESH_SECONDS, worker_problem

ROOT = Path(__file__).resolve().parent.parent
WORKER = ("import sys, redis\n"
          "from rq.serializers import JSONSerializer\n"
          "from gatekeeper.service.jobs import GatekeeperWorker\n"
          "from gatekeeper.service.queue import QUEUE_NAMES\n"
          "GatekeeperWorker(QUEUE_NAMES, connection=redis.Redis.from_url(sys.argv[1]),\n"
          "                 serializer=JSONSerializer).work()\n")


def probe(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_URL")}
    return subprocess.run([sys.executable, "-m", "gatekeeper", "worker", "--health"],
                          env={**clean, **env}, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_healthy_only_while_a_worker_on_this_host_beats(redis_url, tmp_path):
    secret = tmp_path / "redis_url"
    secret.write_text(redis_url + "\n")  # as a compose or Kubernetes secret file gives it
    env = {"REDIS_URL_FILE": str(secret)}
    before = probe(env)
    assert before.returncode == 1 and "no gatekeeper worker registered" in before.stderr

    worker = subprocess.Popen([sys.executable, "-c", WORKER, redis_url], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # positive control: the same probe passes once the real worker has registered
        assert wait_for(lambda: probe(env).returncode == 0, 90)
        connection = redis.Redis.from_url(redis_url)
        host = socket.gethostname()
        assert worker_problem(connection, host) is None
        # a worker elsewhere does not vouch for this container
        assert "no gatekeeper worker registered" in worker_problem(connection, "another-pod")
        # a worker that stopped beating (hung, or killed without deregistering) is unhealthy
        later = datetime.now(UTC) + timedelta(seconds=FRESH_SECONDS + 30)
        assert "last beat" in worker_problem(connection, host, now=later)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)


def test_unhealthy_when_redis_does_not_answer_or_is_not_set():
    down = probe({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert down.returncode == 1 and "Redis did not answer" in down.stderr
    unset = probe({})
    assert unset.returncode == 1 and "REDIS_URL is not set" in unset.stderr
