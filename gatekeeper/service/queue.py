"""Where jobs wait: RQ on Redis, or an in-process executor when REDIS_URL is unset.

Both answer the same two questions for the web process: have we seen this delivery,
and is this job already queued or running.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Protocol

import redis
from rq import Callback, Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from gatekeeper.core.model import JobRequest
from gatekeeper.service.audit import DELIVERIES as DELIVERY_RECORDS

log = logging.getLogger(__name__)

JOB_FUNC = "gatekeeper.service.jobs.run"
QUEUE_OF = {"review": "gatekeeper-review", "merged": "gatekeeper-review", "gate": "gatekeeper-gate",
            "installation": "gatekeeper-gate", "reconcile-all": "gatekeeper-gate",
            "override": "gatekeeper-review", "impersonation": "gatekeeper-review",
            "merge-group": "gatekeeper-gate", "org-policy": "gatekeeper-review",
            "pushed": "gatekeeper-review", "dismiss": "gatekeeper-review"}
QUEUE_NAMES = ["gatekeeper-review", "gatekeeper-gate"]  # order is priority: reviews are quick
TIMEOUT_OF = {"review": 120, "merged": 120, "override": 120, "impersonation": 120, "gate": 1800,
              "merge-group": 1800, "installation": 600, "reconcile-all": 300, "org-policy": 60,
              "pushed": 120, "dismiss": 120}
RETRY_INTERVALS = [10, 120, 600]  # seconds before the 2nd, 3rd and 4th try (default)
RESULT_TTL = 24 * 3600
FAILURE_TTL = 7 * 24 * 3600
ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
DELIVERY_PREFIX = "gatekeeper:delivery:"
RESULT_PREFIX = "gatekeeper:result:"
AUDIT_PREFIX = "gatekeeper:audit:"
AUDIT_INDEX = "gatekeeper:audit-index"  # stream -> when it last had a record
COUNTS_KEY = "gatekeeper:counts"
RETENTION_DAYS = 400
READ_BATCH = 500  # streams read per pipelined round trip
SLOTS_PREFIX = "gatekeeper:slots:"
INTAKE_KEY = "gatekeeper:intake"  # accepted deliveries' jobs, waiting for a dispatcher
DISPATCHING_KEY = "gatekeeper:intake:dispatching"  # taken by a dispatcher, not yet queued
PENDING_PREFIX = "gatekeeper:pending:"  # a job accepted but not yet on an RQ queue
PENDING_TTL = 600
# One round trip for a delivery: remember its id, decide which of its jobs are new (not
# already queued, running or pending), push those on the intake list for a dispatcher, and
# write the audit record. KEYS: delivery, intake, audit stream. ARGV: delivery ttl, audit
# record (JSON object without its closing brace), audit cap, then each job's key and JSON.
# Job keys are [A-Za-z0-9_-] (RQ's rule), so they are quoted without an encoder.
ACCEPT = """
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', tonumber(ARGV[1])) then return {0} end
local fresh, keys, busy = {}, {}, {}
for i = 4, #ARGV, 2 do
  local key = ARGV[i]
  local status = redis.call('HGET', 'rq:job:' .. key, 'status')
  local active = status == 'queued' or status == 'started' or status == 'deferred'
    or status == 'scheduled'
  if not active and redis.call('SET', '""" + PENDING_PREFIX + """' .. key, 1, 'NX', 'EX',
                                """ + str(PENDING_TTL) + """) then
    table.insert(fresh, ARGV[i + 1])
    table.insert(keys, '"' .. key .. '"')
  else
    table.insert(busy, '"' .. key .. '"')
  end
end
local outcome, status, listed = 'queued', 202, keys
if #fresh > 0 then
  redis.call('LPUSH', KEYS[2], '[' .. table.concat(fresh, ',') .. ']')
else
  outcome, status, listed = 'duplicate', 200, busy
end
local record = ARGV[2] .. ', "outcome": "' .. outcome .. '", "status": ' .. status ..
  ', "jobs": [' .. table.concat(listed, ', ') .. ']}'
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'record', record)
return {1, '[' .. table.concat(keys, ',') .. ']', '[' .. table.concat(busy, ',') .. ']', record}
"""
ACQUIRE = """
local now = tonumber(redis.call('TIME')[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 1
end
return 0
"""


def retry_intervals() -> list[int]:
    """GATEKEEPER_RETRY_INTERVALS, e.g. "10,120,600": seconds before each retry of a job."""
    raw = os.environ.get("GATEKEEPER_RETRY_INTERVALS", "")
    values = [int(v) for v in raw.split(",") if v.strip().isdigit()]
    return values or RETRY_INTERVALS


class QueueUnavailable(Exception):
    """The queue or its store cannot be reached: the web answers 503."""


class Backend(Protocol):
    def accept(self, delivery_id: str, jobs: list[JobRequest],
               audit: dict) -> tuple[list[str], list[str], str] | None:
        """Take a delivery durably: None when its id was seen before; else the keys of the
        jobs newly queued, of those already queued or running, and the audit record kept (JSON)."""

    def submit(self, job: JobRequest) -> bool:
        """Queue a job; False when the same job is already queued or running."""

    def save(self, key: str, value: dict, ttl: int) -> None:
        """Keep a JSON-able result (stage results of a head commit) for `ttl` seconds."""

    def load(self, key: str) -> dict | None: ...

    def append_record(self, stream: str, record: dict, maxlen: int) -> None:
        """Append to a capped, append-only stream of records (the audit trail)."""

    def read_records(self, stream: str) -> list[dict]: ...

    def read_many(self, streams: list[str]) -> list[dict]:
        """The records of all these streams."""

    def streams_since(self, prefix: str, since: float) -> list[str]:
        """Audit streams named `prefix`... with a record appended at or after `since`."""

    def forget(self, key: str) -> None:
        """Drop a saved result (a cached organisation policy after a push)."""

    def add_counts(self, values: dict[str, float]) -> None:
        """Add to shared counters (metrics that workers report and the web serves)."""

    def counts(self) -> dict[str, float]: ...

    def depth(self) -> dict[str, int]:
        """Jobs waiting, per queue."""

    def acquire(self, group: str, holder: str, cap: int, ttl: int) -> bool:
        """Take one of `cap` slots of a group (an installation's concurrent gates)."""

    def release(self, group: str, holder: str) -> None: ...

    def defer(self, job: JobRequest, seconds: int) -> None:
        """Queue the job again after a delay (its installation is at its cap)."""

    def healthy(self) -> bool: ...


class RedisBackend:
    """RQ on Redis: any number of `gatekeeper worker` processes share the queues."""

    def __init__(self, url: str, delivery_ttl: int, retention_days: int = RETENTION_DAYS):
        self.connection = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self.delivery_ttl = delivery_ttl
        self.retention = retention_days * 86400
        self.queues = {
            name: Queue(name, connection=self.connection, serializer=JSONSerializer)
            for name in QUEUE_NAMES
        }
        self._accept = self.connection.register_script(ACCEPT)

    def accept(self, delivery_id: str, jobs: list[JobRequest],
               audit: dict) -> tuple[list[str], list[str], str] | None:
        record = json.dumps(audit, default=str)
        try:
            each = [part for j in jobs for part in
                    (j.key, json.dumps({"kind": j.kind, "key": j.key, "args": j.args}))]
            answer = self._accept(keys=[DELIVERY_PREFIX + delivery_id, INTAKE_KEY,
                                        AUDIT_PREFIX + "deliveries"],
                                  args=[self.delivery_ttl, record[:-1], DELIVERY_RECORDS, *each])
        except redis.RedisError as exc:
            raise QueueUnavailable(f"redis: {exc}") from None
        if not answer[0]:
            return None
        return json.loads(answer[1]), json.loads(answer[2]), answer[3].decode()

    def dispatch(self, wait: float = 0) -> int:
        """Move accepted jobs from the intake list onto the RQ queues; how many were moved.

        `wait`: seconds to block for the first one (0: only what is there now). An item is
        kept on a second list until its jobs are queued, so a dispatcher that dies loses
        nothing: recover() gives those back.
        """
        moved = 0
        while True:
            raw = self.connection.blmove(INTAKE_KEY, DISPATCHING_KEY, wait, "RIGHT", "LEFT") \
                if wait and not moved else self.connection.lmove(INTAKE_KEY, DISPATCHING_KEY,
                                                                 "RIGHT", "LEFT")
            if raw is None:
                return moved
            for job in json.loads(raw):
                self._submit(JobRequest(job["kind"], job["key"], job["args"]))
                self.connection.delete(PENDING_PREFIX + job["key"])
                moved += 1
            self.connection.lrem(DISPATCHING_KEY, 1, raw)

    def recover(self) -> int:
        """Give back what a dispatcher took and did not finish (queuing twice is harmless:
        job ids are unique while a job is queued or running)."""
        count = 0
        while self.connection.lmove(DISPATCHING_KEY, INTAKE_KEY, "LEFT", "RIGHT") is not None:
            count += 1
        return count

    def submit(self, job: JobRequest) -> bool:
        try:
            return self._submit(job)
        except redis.RedisError as exc:
            raise QueueUnavailable(f"redis: {exc}") from None

    def _submit(self, job: JobRequest) -> bool:
        try:
            self._enqueue(job)
            return True
        except DuplicateJobError:
            pass
        try:
            existing = Job.fetch(job.key, connection=self.connection, serializer=JSONSerializer)
        except NoSuchJobError:
            existing = None
        if existing is not None:
            if existing.get_status(refresh=False) in ACTIVE:
                return False
            existing.delete()  # finished or failed before: this is a new request to run it
        try:
            self._enqueue(job)
        except DuplicateJobError:
            return False  # another web process queued it in between
        return True

    def _enqueue(self, job: JobRequest) -> None:
        intervals = retry_intervals()
        self.queues[QUEUE_OF[job.kind]].enqueue_call(
            JOB_FUNC,
            args=(job.kind, job.args),
            job_id=job.key,
            unique=True,
            timeout=TIMEOUT_OF[job.kind],
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            description=job.key,
            retry=Retry(max=len(intervals), interval=intervals),
            on_failure=Callback("gatekeeper.service.jobs.on_failure"),
        )

    def save(self, key: str, value: dict, ttl: int) -> None:
        self.connection.set(RESULT_PREFIX + key, json.dumps(value), ex=ttl)

    def load(self, key: str) -> dict | None:
        raw = self.connection.get(RESULT_PREFIX + key)
        return json.loads(raw) if raw is not None else None

    def append_record(self, stream: str, record: dict, maxlen: int) -> None:
        now = time.time()
        cutoff = f"{int((now - self.retention) * 1000)}-0"  # stream ids are milliseconds
        key = AUDIT_PREFIX + stream
        with self.connection.pipeline() as pipe:
            pipe.xadd(key, {"record": json.dumps(record)}, maxlen=maxlen, approximate=True)
            pipe.xtrim(key, minid=cutoff)
            pipe.expire(key, self.retention)
            pipe.zadd(AUDIT_INDEX, {stream: now})
            pipe.zremrangebyscore(AUDIT_INDEX, "-inf", now - self.retention)
            pipe.execute()

    def read_records(self, stream: str) -> list[dict]:
        cutoff = f"{int((time.time() - self.retention) * 1000)}-0"
        return [json.loads(fields[b"record"])
                for _, fields in self.connection.xrange(AUDIT_PREFIX + stream, min=cutoff)]

    def read_many(self, streams: list[str]) -> list[dict]:
        """The records of many streams, a few round trips for all (a report reads thousands)."""
        cutoff = f"{int((time.time() - self.retention) * 1000)}-0"
        records = []
        for start in range(0, len(streams), READ_BATCH):
            with self.connection.pipeline(transaction=False) as pipe:
                for stream in streams[start:start + READ_BATCH]:
                    pipe.xrange(AUDIT_PREFIX + stream, min=cutoff)
                for entries in pipe.execute():
                    records += [json.loads(fields[b"record"]) for _, fields in entries]
        return records

    def streams_since(self, prefix: str, since: float) -> list[str]:
        names = self.connection.zrangebyscore(AUDIT_INDEX, since, "+inf")
        return sorted(n.decode() for n in names  # owners' names are case-insensitive
                      if n.decode().lower().startswith(prefix.lower()))

    def forget(self, key: str) -> None:
        self.connection.delete(RESULT_PREFIX + key)

    def add_counts(self, values: dict[str, float]) -> None:
        pipe = self.connection.pipeline()
        for key, value in values.items():
            pipe.hincrbyfloat(COUNTS_KEY, key, value)
        pipe.execute()

    def counts(self) -> dict[str, float]:
        return {k.decode(): float(v) for k, v in self.connection.hgetall(COUNTS_KEY).items()}

    def depth(self) -> dict[str, int]:
        return {name: len(queue) for name, queue in self.queues.items()}

    def acquire(self, group: str, holder: str, cap: int, ttl: int) -> bool:
        # a sorted set of holders scored by expiry: a holder whose worker died expires
        return bool(self.connection.eval(ACQUIRE, 1, SLOTS_PREFIX + group, holder, cap, ttl))

    def release(self, group: str, holder: str) -> None:
        self.connection.zrem(SLOTS_PREFIX + group, holder)

    def defer(self, job: JobRequest, seconds: int) -> None:
        later = JobRequest(job.kind, f"{job.key}-later-{time.time_ns()}", job.args)
        self.queues[QUEUE_OF[job.kind]].enqueue_in(
            timedelta(seconds=seconds), JOB_FUNC, job.kind, job.args, job_id=later.key,
            job_timeout=TIMEOUT_OF[job.kind], result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
            on_failure=Callback("gatekeeper.service.jobs.on_failure"))

    def healthy(self) -> bool:
        try:
            return bool(self.connection.ping())
        except redis.RedisError:
            return False


class MemoryBackend:
    """One process, no Redis: jobs run on a small thread pool; a crash loses what waits."""

    def __init__(self, delivery_ttl: int, workers: int = 2, runner=None,
                 retention_days: int = RETENTION_DAYS):
        self.delivery_ttl = delivery_ttl
        self.retention = retention_days * 86400
        self._seen: dict[str, float] = {}
        self._results: dict[str, tuple[str, float]] = {}  # key -> (JSON, expiry)
        self._streams: dict[str, deque] = {}  # of (appended at, JSON)
        self._touched: dict[str, float] = {}
        self._counts: dict[str, float] = {}
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gatekeeper-job")
        self._runner = runner

    def accept(self, delivery_id: str, jobs: list[JobRequest],
               audit: dict) -> tuple[list[str], list[str], str] | None:
        if not self._remember(delivery_id):
            return None
        queued, running = [], []
        for job in jobs:
            (queued if self.submit(job) else running).append(job.key)
        record = {**audit, "outcome": "queued" if queued else "duplicate",
                  "status": 202 if queued else 200, "jobs": queued or running}
        self.append_record("deliveries", record, DELIVERY_RECORDS)
        return queued, running, json.dumps(record, default=str)

    def _remember(self, delivery_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            expired = [k for k, until in self._seen.items() if until < now]
            for k in expired:
                del self._seen[k]
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = now + self.delivery_ttl
            return True

    def submit(self, job: JobRequest) -> bool:
        with self._lock:
            if job.key in self._active:
                return False
            self._active.add(job.key)
        self._pool.submit(self._run, job)
        return True

    def _run(self, job: JobRequest) -> None:
        try:
            # jobs are named, as RQ names them: the queue does not import the orchestrator
            runner = self._runner or _by_name(JOB_FUNC)
            runner(job.kind, job.args)
        except Exception:
            log.exception("job %s failed", job.key)
        finally:
            with self._lock:
                self._active.discard(job.key)

    def save(self, key: str, value: dict, ttl: int) -> None:
        with self._lock:
            self._results[key] = (json.dumps(value), time.monotonic() + ttl)

    def load(self, key: str) -> dict | None:
        with self._lock:
            raw, expiry = self._results.get(key, (None, 0.0))
        return json.loads(raw) if raw is not None and time.monotonic() < expiry else None

    def forget(self, key: str) -> None:
        with self._lock:
            self._results.pop(key, None)

    def append_record(self, stream: str, record: dict, maxlen: int) -> None:
        now = time.time()
        with self._lock:
            self._streams.setdefault(stream, deque(maxlen=maxlen)).append(
                (now, json.dumps(record)))
            self._touched[stream] = now

    def read_records(self, stream: str) -> list[dict]:
        cutoff = time.time() - self.retention
        with self._lock:
            return [json.loads(r) for at, r in self._streams.get(stream, ()) if at >= cutoff]

    def read_many(self, streams: list[str]) -> list[dict]:
        return [record for stream in streams for record in self.read_records(stream)]

    def streams_since(self, prefix: str, since: float) -> list[str]:
        with self._lock:
            return sorted(s for s, at in self._touched.items()
                          if s.lower().startswith(prefix.lower()) and at >= since)

    def add_counts(self, values: dict[str, float]) -> None:
        with self._lock:
            for key, value in values.items():
                self._counts[key] = self._counts.get(key, 0.0) + value

    def counts(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counts)

    def depth(self) -> dict[str, int]:
        with self._lock:
            return {"embedded": len(self._active)}

    def acquire(self, group: str, holder: str, cap: int, ttl: int) -> bool:
        return True  # one process, a pool of two: nothing to share out

    def release(self, group: str, holder: str) -> None:
        pass

    def defer(self, job: JobRequest, seconds: int) -> None:
        threading.Timer(seconds, self._pool.submit, (self._run, job)).start()

    def wait_idle(self, timeout: float) -> bool:
        """For tests and shutdown: wait until no job is active."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._active:
                    return True
            time.sleep(0.01)
        return False

    def healthy(self) -> bool:
        return True


def _by_name(dotted: str):
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def backend_of(settings) -> Backend:
    """The store and queue the settings name (Redis, or in-process without REDIS_URL)."""
    return make_backend(settings.redis_url, settings.delivery_ttl_seconds,
                        settings.audit_retention_days)


def redis_of(settings) -> RedisBackend:
    return RedisBackend(settings.redis_url, settings.delivery_ttl_seconds,
                        settings.audit_retention_days)


def stored_trail(settings, command: str) -> RedisBackend:
    """Redis, for commands that read what workers stored; ValueError saying why not."""
    if not settings.redis_url:
        raise ValueError(f"gatekeeper {command} reads the audit trail from Redis: set REDIS_URL "
                         "(the embedded store lives only as long as `gatekeeper serve`)")
    return redis_of(settings)


def make_backend(redis_url: str | None, delivery_ttl: int,
                 retention_days: int = RETENTION_DAYS) -> Backend:
    if redis_url:
        return RedisBackend(redis_url, delivery_ttl, retention_days)
    return MemoryBackend(delivery_ttl, retention_days=retention_days)
