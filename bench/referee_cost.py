"""What the referee and the set-up cost on real projects, against the earlier design, same run.

    .venv/bin/python bench/referee_cost.py [NAME==VERSION ...]

Each project is a PyPI sdist (with its tests); the base is the release, the head the same tree
with one README line added. Three ways, each on a warm cache (one untimed run first):
- earlier: `tests.setup: wheels` (requirements as data, wheels fetched outside, no referee);
- now: `tests.setup: sandbox` (the project's installers in the sandbox, the referee);
- now, second push on the same base (the base's own run remembered).
The stage's own breakdown (set-up, suite, base suite, referee) is printed for the "now" run.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from real_suites import release_pair  # noqa: E402

from gatekeeper.core.policy import parse_policy  # noqa: E402
from gatekeeper.core.rules import default_policy_text  # noqa: E402
from gatekeeper.runner.sandbox import Limits  # noqa: E402
from gatekeeper.runner.testrun import run_tests  # noqa: E402

PROJECTS = ["toolz==1.0.0", "cachetools==5.5.0", "six==1.16.0"]
LIMITS = Limits(wall_seconds=900, cpu_seconds=1800, memory_bytes=4 * 1024**3)
CACHE = Path.home() / ".cache" / "gatekeeper"


def timed(tree: Path, base: Path, setting: str) -> tuple[float, object]:
    policy = parse_policy(setting, default_policy_text())
    started = time.monotonic()
    result = run_tests(tree, policy, CACHE, LIMITS, base=base, changed=["README.rst"],
                       version_tag="v0.0.0")
    return time.monotonic() - started, result


def main(names: list[str]) -> None:
    print("project | earlier (wheels, no referee) | now, first push | ratio | "
          "now, later push | ratio | breakdown of the first push (s)")
    for spec in names or PROJECTS:
        with tempfile.TemporaryDirectory(prefix="referee-cost-") as folder:
            base, head = release_pair(spec, Path(folder))
            readme = next(iter(sorted(head.glob("README*"))), head / "README.rst")
            readme.write_text(readme.read_text(errors="replace") + "\nA line.\n")
            timed(head, base, "tests:\n  setup: wheels\n")  # warm: wheels, cache, interpreter
            timed(head, base, "")
            earlier = statistics.median(timed(head, base, "tests:\n  setup: wheels\n")[0]
                                        for _ in range(2))
            (base / ".cache-buster").write_text(str(time.time()))  # a base not seen before
            first, result = timed(head, base, "")
            later = timed(head, base, "")[0]
            breakdown = ", ".join(f"{k} {v:g}" for k, v in result.seconds)
            print(f"{spec} | {earlier:.1f} s | {first:.1f} s ({result.status}) | "
                  f"{first / earlier:.2f} | {later:.1f} s | {later / earlier:.2f} | {breakdown}",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
