"""Sandbox overhead: a trivial command in the bubblewrap sandbox versus run bare, same process.

    .venv/bin/python bench/sandbox_overhead.py [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatekeeper import sandbox  # noqa: E402


def timed(call, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as source:
        bare = timed(lambda: subprocess.run(["/bin/true"], check=True), runs)
        boxed = timed(lambda: sandbox.run(Path(source), ["/bin/true"]), runs)
    b, s = statistics.median(bare) * 1000, statistics.median(boxed) * 1000
    print(f"runs: {runs}")
    print(f"bare /bin/true median:       {b:7.2f} ms")
    print(f"sandboxed /bin/true median:  {s:7.2f} ms  (p90 {sorted(boxed)[int(runs * .9)] * 1000:.2f})")
    print(f"added per command:           {s - b:7.2f} ms  (ratio {s / b:.1f}x; target <= 30 ms added)")


if __name__ == "__main__":
    main()
