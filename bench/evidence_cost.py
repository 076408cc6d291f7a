"""What the reviewer's evidence costs on real suites: the attempt log and changed-line coverage
against the same stage with both off, in the same run.

    .venv/bin/python bench/evidence_cost.py [FIRST [LAST]]

The projects of bench/real_suites.py from FIRST to LAST (1-based, default all), in its order.
Each is its PyPI sdist (with its tests); the base is the release, the head the same tree with a
statement added to its first package module, so coverage has a changed file to report on.
Three settings, each run twice after one untimed warm-up, the median kept:
- baseline: `tests.attempts: off`, `coverage.enabled: false`;
- attempts: the attempt log only;
- evidence: the attempt log and coverage (the default).
Reported: the change's own suite run ("suite" in the stage's breakdown) and the whole stage,
each as a ratio to the baseline; and the attempt findings of the last evidence run, which on a
change that touches no test should be none (anything there is noise the reviewer would see).
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

from real_suites import PROJECTS, release_pair  # noqa: E402

from gatekeeper.core.policy import parse_policy  # noqa: E402
from gatekeeper.core.rules import default_policy_text  # noqa: E402
from gatekeeper.runner.sandbox import Limits  # noqa: E402
from gatekeeper.runner.testrun import run_tests  # noqa: E402

LIMITS = Limits(wall_seconds=900, cpu_seconds=1800, memory_bytes=4 * 1024**3)
CACHE = Path.home() / ".cache" / "gatekeeper"
SETTINGS = {
    "baseline": "tests:\n  attempts: off\ncoverage:\n  enabled: false\n",
    "attempts": "coverage:\n  enabled: false\n",
    "evidence": "",
}


def first_module(tree: Path) -> Path:
    """The first package module by path (src/ layouts included), tests and set-up left out."""
    for path in sorted(tree.rglob("*.py")):
        relative = path.relative_to(tree).as_posix()
        if "test" not in relative and path.name not in ("setup.py", "conftest.py") and \
                not relative.startswith(("docs/", "doc/", "benchmarks/")) and path.stat().st_size:
            return path
    raise SystemExit(f"no module in {tree}")


def timed(head: Path, base: Path, setting: str, changed: str):
    policy = parse_policy(setting, default_policy_text())
    started = time.monotonic()
    result = run_tests(head, policy, CACHE, LIMITS, base=base, changed=[changed],
                       version_tag="v0.0.0")
    return time.monotonic() - started, dict(result.seconds).get("suite", 0.0), result


def main(first: int, last: int) -> None:
    print("project | suite: baseline s | attempts × | evidence × | stage: baseline s | "
          "attempts × | evidence × | coverage of the changed file | attempt findings | status")
    for spec, *_ in PROJECTS[first - 1:last]:
        with tempfile.TemporaryDirectory(prefix="evidence-cost-") as folder:
            base, head = release_pair(spec, Path(folder))
            module = first_module(head)
            module.write_text(module.read_text(errors="replace") + "\n_GATEKEEPER_BENCH = 1\n")
            changed = module.relative_to(head).as_posix()
            timed(head, base, SETTINGS["evidence"], changed)  # warm: set-up, cache, base run
            figures, shown = {}, None
            for name, setting in SETTINGS.items():
                runs = [timed(head, base, setting, changed) for _ in range(2)]
                figures[name] = (statistics.median(r[0] for r in runs),
                                 statistics.median(r[1] for r in runs))
                shown = runs[-1][2] if name == "evidence" else shown
            stage0, suite0 = figures["baseline"]
            line = next((x for x in shown.summary.splitlines() if "changed-line coverage" in x),
                        "- changed-line coverage: not reported")
            print(f"{spec} | {suite0:.1f} | {figures['attempts'][1] / suite0:.2f} | "
                  f"{figures['evidence'][1] / suite0:.2f} | {stage0:.1f} | "
                  f"{figures['attempts'][0] / stage0:.2f} | {figures['evidence'][0] / stage0:.2f}"
                  f" | {line.removeprefix('- changed-line coverage: ')[:60]} | "
                  f"{', '.join(f.rule for f in shown.findings if f.rule.startswith('attempt-')) or 'none'}"
                  f" | {shown.status}",
                  flush=True)


if __name__ == "__main__":
    bounds = [int(a) for a in sys.argv[1:3]]
    main(bounds[0] if bounds else 1, bounds[1] if len(bounds) > 1 else len(PROJECTS))
