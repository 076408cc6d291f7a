"""Append-only audit trail: deliveries, classifications, policies, sandbox commands, verdicts.

Each record goes to a capped stream in the queue's store (a Redis stream in production) and,
as one JSON line, to the `gatekeeper.service.audit` log for existing log pipelines.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, Protocol

from gatekeeper.runner.sandbox import SandboxResult

log = logging.getLogger("gatekeeper.audit")  # a stable name for log pipelines

PER_PULL = 2000  # records kept per pull request
DELIVERIES = 100_000


def stream_of(repo: str, number: int) -> str:
    return f"pull:{repo}#{number}"


def entry_of(kind: str, repo: str | None = None, number: int | None = None,
             **fields: Any) -> dict:
    return {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kind": kind,
            "repo": repo, "pr": number, **fields}


def log_line(entry: dict) -> None:
    """The record as one JSON line in the `gatekeeper.audit` log, for log pipelines."""
    log.info(json.dumps(entry, sort_keys=True, default=str))


class Store(Protocol):
    """Where records go: the queue's backend (a Redis stream, or memory) provides these."""

    def append_record(self, stream: str, entry: dict, cap: int) -> None: ...

    def read_records(self, stream: str) -> list[dict]: ...

    def streams_since(self, prefix: str, since: float) -> list[str]: ...

    def read_many(self, streams: list[str]) -> list[dict]: ...


class AuditTrail:
    def __init__(self, store: Store):
        self.store = store

    def record(self, kind: str, repo: str | None = None, number: int | None = None,
               **fields: Any) -> dict:
        entry = entry_of(kind, repo, number, **fields)
        log_line(entry)
        stream, cap = (stream_of(repo, number), PER_PULL) if repo and number else \
            ("deliveries", DELIVERIES)
        try:
            self.store.append_record(stream, entry, cap)
        except Exception:  # noqa: BLE001 - the log line above still has it; never fail a gate
            log.warning("audit record not stored: %s", kind)
        return entry

    def sandbox(self, repo: str, number: int, run: SandboxResult) -> None:
        output = (run.stdout + "\0" + run.stderr).encode()
        self.record("sandbox", repo, number, argv=_short_argv(run.argv), exit=run.exit_code,
                    limit=run.limit, duration=round(run.duration, 3),
                    limits=run.limits.__dict__, output_sha256=hashlib.sha256(output).hexdigest())

    def pushed(self, repo: str, **fields: Any) -> dict:
        """A push to a protected branch that bypassed the gate: kept in the repository's own
        stream beside its pull requests', so the activity report reads it with them."""
        entry = entry_of("pushed-past-the-gate", repo, None, **fields)
        log_line(entry)
        try:
            self.store.append_record(f"pull:{repo}#pushes", entry, PER_PULL)
        except Exception:  # noqa: BLE001 - the log line above still has it
            log.warning("audit record not stored: pushed-past-the-gate")
        return entry

    def records(self, repo: str, number: int) -> list[dict]:
        return self.store.read_records(stream_of(repo, number))

    def organisation(self, org: str, since: float) -> list[dict]:
        """Every record of the organisation's pull requests that had one since `since`."""
        return self.store.read_many(self.store.streams_since(f"pull:{org}/", since))


def _short_argv(argv: list[str]) -> list[str]:
    """The sandboxed command, without bwrap's options and the copy-and-run wrapper (both are
    the same every time, and long)."""
    if "--remount-ro" not in argv:
        return argv
    rest = argv[argv.index("--remount-ro") + 2:]  # [bash, -c, WRAPPER, "sandbox", *command]
    return rest[4:] if len(rest) > 4 and rest[3] == "sandbox" else rest
