"""Is this host's worker alive? For a container's health check, which runs beside the worker
(same host name: the container's or the pod's), not through a web port the worker does not have.

RQ keeps each worker's host name and last heartbeat in Redis; a GatekeeperWorker renews it
every few seconds, idle (between blocking pops) or busy (while it watches its job).
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from rq.utils import utcparse
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

FRESH_SECONDS = 60  # heartbeats come every 10 s at most; a worker silent this long is stuck
QUEUE = "gatekeeper-gate"  # every gatekeeper worker listens on it


def worker_problem(connection: redis.Redis, hostname: str, now: datetime | None = None) -> str | None:
    """None when a gatekeeper worker registered from `hostname` beat lately; else what is wrong."""
    now = now or datetime.now(UTC)
    try:
        keys = sorted(connection.smembers(WORKERS_BY_QUEUE_KEY % QUEUE))
        beats = [connection.hmget(key, "hostname", "last_heartbeat") for key in keys]
    except redis.RedisError as exc:
        return f"Redis did not answer ({exc.__class__.__name__}: {exc})"
    mine = [utcparse(beat.decode()) for host, beat in beats
            if host is not None and host.decode() == hostname and beat is not None]
    if not mine:
        return f"no gatekeeper worker registered from this host ({hostname})"
    age = (now - max(mine)).total_seconds()
    if age > FRESH_SECONDS:
        return f"the worker on {hostname} last beat {age:.0f} s ago (more than {FRESH_SECONDS} s)"
    return None
