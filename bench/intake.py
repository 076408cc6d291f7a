"""Webhook intake: the real app under gunicorn with Redis versus a minimal durable intake
(HMAC check and one Redis LPUSH of the body, bench/baseline_app.py).

Same gunicorn settings, same load generator, same run. Reports throughput (median of runs)
and the p99 acknowledgement time at a fixed 200 requests per second.

    .venv/bin/python bench/intake.py [REQUESTS] [RUNS]
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper.github.webhooks import sign  # noqa: E402

GUNICORN = ["-w", "2", "-k", "gthread", "--threads", "8", "--log-level", "warning"]
SECRET = "bench-secret"
CONCURRENCY = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on {port} did not start")


def deliveries(count: int) -> list[tuple[bytes, dict]]:
    template = json.loads((ROOT / "tests/fixtures/webhooks/pull_request/opened.json").read_text())
    template["installation"] = {"id": 1}
    out = []
    for i in range(count):
        template["pull_request"]["head"]["sha"] = f"{i:040x}"
        body = json.dumps(template).encode()
        out.append((body, {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": str(uuid.uuid4()),
                           "X-Hub-Signature-256": sign(SECRET.encode(), body),
                           "Content-Type": "application/json"}))
    return out


def blast(port: int, work: list[tuple[bytes, dict]],
          pace: float | None = None) -> tuple[float, list[float], int]:
    """Send everything with CONCURRENCY connections; paced to `pace` requests/s if given."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    index = iter(range(len(work)))
    started = time.perf_counter()

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in index:
            if pace:
                delay = started + i / pace - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            body, headers = work[i]
            sent = time.perf_counter()
            conn.request("POST", "/webhook", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            with lock:
                latencies.append(time.perf_counter() - sent)
                errors += response.status >= 500 or response.status not in (200, 202)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, errors


def peak_rss(master: int) -> float:
    """Largest VmHWM among the gunicorn master's workers, in MiB."""
    peaks = []
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


def serve(target: str, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", target, "-b", f"127.0.0.1:{port}",
                             *GUNICORN], cwd=ROOT, env=env)
    wait_up(port)
    return proc, port


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    tmp = Path(tempfile.mkdtemp())
    redis_port = free_port()
    redis = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", "--port",
                              str(redis_port), "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                             stdout=subprocess.DEVNULL)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode()
    env = {**os.environ, "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": key,
           "GITHUB_WEBHOOK_SECRET": SECRET, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
           "PYTHONPATH": str(ROOT / "bench"), "BENCH_SECRET": SECRET,
           "BENCH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    wait_up(redis_port)
    results = {}
    try:
        for name, target in (("baseline (HMAC + one LPUSH)", "baseline_app:app"),
                             ("gatekeeper (app:app + Redis/RQ)", "app:app")):
            proc, port = serve(target, env)
            try:
                blast(port, deliveries(200))  # warm-up
                rates, errors = [], 0
                for _ in range(runs):
                    subprocess.run(["redis-cli", "-p", str(redis_port), "flushall"],
                                   capture_output=True)
                    elapsed, _, failed = blast(port, deliveries(count))
                    rates.append(count / elapsed)
                    errors += failed
                _, latencies, failed = blast(port, deliveries(1000), pace=200)
                errors += failed
                p99 = sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000
                results[name] = (statistics.median(rates), p99, errors, peak_rss(proc.pid))
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    finally:
        redis.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{count} signed deliveries x {runs} runs, {CONCURRENCY} connections, gunicorn "
          f"{' '.join(GUNICORN)}")
    for name, (rate, p99, errors, rss) in results.items():
        print(f"{name:<34} {rate:8.0f} req/s   p99 at 200 req/s: {p99:6.1f} ms   errors: {errors}"
              f"   peak RSS per worker: {rss:.0f} MiB")
    base, ours = list(results.values())
    print(f"throughput ratio (gatekeeper / baseline): {ours[0] / base[0]:.2f}  (target >= 0.8)")


if __name__ == "__main__":
    main()
