"""The activity report over a large organisation: the pipelined read of its audit streams
against reading them one by one (the baseline), same Redis, same records, same run.

Seeds PULLS pull requests with a gate's worth of records each (classification, stages,
verdicts, reviews) into a private redis-server, then times `gatekeeper report`'s two steps.

    .venv/bin/python bench/activity_report.py [PULLS] [RUNS]
"""

from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper.core.activity import summarise  # noqa: E402
from gatekeeper.service.queue import READ_BATCH, RedisBackend  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(store: RedisBackend, pulls: int) -> None:
    day = "2026-11-%02dT10:%02d:00Z"
    for n in range(pulls):
        repo, at = f"acme/repo{n % 40}", day % (1 + n % 28, n % 60)
        base = {"at": at, "repo": repo, "pr": n}
        records = [
            {**base, "kind": "classification", "agent": True, "gated": True,
             "names": ["Claude Code" if n % 3 else "Codex"]},
            {**base, "kind": "policy", "source": "organisation default"},
            {**base, "kind": "stages", "sha": f"{n:040x}", "results": {
                "tests": {"status": "failed" if n % 5 == 0 else "passed"},
                "sast": {"status": "failed" if n % 7 == 0 else "passed"}},
             "found": [{"rule": "r", "cwe": f"CWE-{78 + n % 5}", "severity": "high"}]},
            {**base, "kind": "verdict", "conclusions": {"gatekeeper": "failure"}},
            {**base, "kind": "review", "sha": f"{n:040x}", "satisfied": n % 2 == 0},
            {**base, "kind": "verdict", "conclusions": {"gatekeeper": "success"}},
        ]
        for record in records:
            store.append_record(f"pull:{repo}#{n}", record, 2000)


def main() -> None:
    pulls = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server",
                               "--port", str(port), "--save", "", "--appendonly", "no",
                               "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        store = RedisBackend(f"redis://127.0.0.1:{port}/0", 3 * 86400)
        seed(store, pulls)
        streams = store.streams_since("pull:acme/", 0)
        one_by_one, pipelined, figures = [], [], []
        for _ in range(runs):
            started = time.perf_counter()
            slow = [r for s in streams for r in store.read_records(s)]
            one_by_one.append(time.perf_counter() - started)
            started = time.perf_counter()
            fast = store.read_many(streams)
            pipelined.append(time.perf_counter() - started)
            assert fast == slow
            started = time.perf_counter()
            summarise(fast, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
            figures.append(time.perf_counter() - started)
        base, new = statistics.median(one_by_one), statistics.median(pipelined)
        print(f"{pulls} pull requests, {len(fast)} records, median of {runs} runs")
        print(f"  read one stream per round trip (baseline): {base:.3f} s")
        print(f"  read pipelined, {READ_BATCH} streams per trip:     {new:.3f} s  "
              f"({base / new:.1f}x faster)")
        print(f"  summarise (pure):                          "
              f"{statistics.median(figures):.3f} s")
    finally:
        server.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
