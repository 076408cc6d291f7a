"""The tests stage's cost before and after a change to the gate's code, paired, same run.

    .venv/bin/python bench/referee_versions.py OLD_CHECKOUT [NAME==VERSION ...]

OLD_CHECKOUT is a work tree of the earlier gate (`git worktree add /tmp/old COMMIT`). Each
project is a PyPI sdist with its tests: the base is the release, the head the same tree with a
README line added. For each project and each version, alternating (old, new, new, old, ...):
the first push on a base not seen before, then a later push on the same base. Each run is a
child process importing the gate from its own checkout; one untimed run of each warms the
caches. Ratios are new over old, medians of the pairs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from real_suites import release_pair  # noqa: E402

PROJECTS = ["toolz==1.0.0", "cachetools==5.5.0", "six==1.16.0"]
PAIRS = 2
CHILD = """
import json, sys, time
from pathlib import Path
from gatekeeper.core.policy import parse_policy
from gatekeeper.core.rules import default_policy_text
from gatekeeper.runner.sandbox import Limits
from gatekeeper.runner.testrun import run_tests
head, base, cache = map(Path, sys.argv[1:4])
started = time.monotonic()
result = run_tests(head, parse_policy("", default_policy_text()), cache,
                   Limits(wall_seconds=900, cpu_seconds=1800, memory_bytes=4 * 1024**3),
                   base=base, changed=["README.rst"], version_tag="v0.0.0")
print(json.dumps({"seconds": time.monotonic() - started, "status": result.status,
                  "stages": result.seconds}))
"""


def timed(checkout: Path, head: Path, base: Path, cache: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(head), str(base), str(cache)],
                          cwd=checkout, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(checkout)})
    return json.loads(done.stdout.strip().splitlines()[-1])


def fresh_base(base: Path) -> None:
    (base / ".cache-buster").write_text(str(time.time_ns()))


def main(old: Path, names: list[str]) -> None:
    cache = Path(tempfile.mkdtemp(prefix="referee-versions-cache-"))
    try:
        compare(old, names, cache)
    finally:  # the package cache the runs started is not left behind
        from gatekeeper.runner.indexcache import stop_cache

        stop_cache(cache)


def compare(old: Path, names: list[str], cache: Path) -> None:
    print("project | old first | new first | ratio | old later | new later | ratio | "
          "new first push breakdown (s)")
    for spec in names or PROJECTS:
        with tempfile.TemporaryDirectory(prefix="referee-versions-") as folder:
            base, head = release_pair(spec, Path(folder))
            readme = next(iter(sorted(head.glob("README*"))), head / "README.rst")
            readme.write_text(readme.read_text(errors="replace") + "\nA line.\n")
            for checkout in (old, ROOT):  # warm: wheels, cache, interpreter
                timed(checkout, head, base, cache)
            first = {old: [], ROOT: []}
            later = {old: [], ROOT: []}
            last = {}
            for pair in range(PAIRS):
                for checkout in ((old, ROOT) if pair % 2 == 0 else (ROOT, old)):
                    fresh_base(base)
                    run = timed(checkout, head, base, cache)
                    first[checkout].append(run["seconds"])
                    later[checkout].append(timed(checkout, head, base, cache)["seconds"])
                    last[checkout] = run
            ratio = [n / o for n, o in zip(first[ROOT], first[old], strict=True)]
            ratio_later = [n / o for n, o in zip(later[ROOT], later[old], strict=True)]
            breakdown = ", ".join(f"{k} {v:g}" for k, v in last[ROOT]["stages"])
            print(f"{spec} | {statistics.median(first[old]):.1f} s | "
                  f"{statistics.median(first[ROOT]):.1f} s ({last[ROOT]['status']}) | "
                  f"{statistics.median(ratio):.2f} | {statistics.median(later[old]):.1f} s | "
                  f"{statistics.median(later[ROOT]):.1f} s | {statistics.median(ratio_later):.2f}"
                  f" | {breakdown}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), sys.argv[2:])
