"""Real agent-authored commits, sampled by a written rule, through the tests stage, against
the same suites installed the way each project's CI does and run by hand on both sides.

    .venv/bin/python bench/real_prs.py [CASES.jsonl] [ID ...]

The cases (bench/data/real_prs.jsonl) name a repository, a commit and its parent, and the
hand-run ground truth ("pass": no test fails on the commit that did not fail on its parent;
"fail": some do; "unknown": could not be established, with why). Bring each repository first
with the search tool's fetch (it lands in /work/.mirror). Trees are rebuilt from the mirror's
blobs (never `git archive`), the base as the commit's parent. The gate agrees when its tests
stage passes where the truth is "pass" and fails where it is "fail"; a stage error is a
disagreement of the gate's own making. Every case is printed, failures with their cause.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper.core.policy import parse_policy  # noqa: E402
from gatekeeper.core.rules import default_policy_text  # noqa: E402
from gatekeeper.runner.gitlocal import changed_files, export_tree, latest_tag  # noqa: E402
from gatekeeper.runner.sandbox import Limits  # noqa: E402
from gatekeeper.runner.testrun import run_tests  # noqa: E402

CASES = ROOT / "bench" / "data" / "real_prs.jsonl"
CACHE = Path.home() / ".cache" / "gatekeeper"


def mirror_of(case: dict) -> Path | None:
    owner, name = case["repo"].split("/")
    found = sorted(Path("/work/.mirror").glob(f"{owner}+{name}*"))
    for folder in found:
        for candidate in (folder, *folder.iterdir()):
            if (candidate / "objects").is_dir():
                return candidate
    return None


def gate(case: dict, mirror: Path) -> tuple[str, str, float]:
    with tempfile.TemporaryDirectory(prefix="real-pr-") as folder:
        work = Path(folder)
        # a mirror may lack its largest blobs: left out on both sides
        head = export_tree(mirror, case["commit"], work / "head", missing_ok=True).root
        base = export_tree(mirror, case["parent"], work / "base", missing_ok=True).root
        policy_file = base / ".github" / "gatekeeper.yml"
        policy = parse_policy(policy_file.read_text() if policy_file.is_file() else None,
                              default_policy_text())
        files = changed_files(mirror, case["parent"], case["commit"])
        started = time.monotonic()
        result = run_tests(head, policy, CACHE, Limits(wall_seconds=1200, cpu_seconds=2400,
                                                       memory_bytes=4 * 1024**3),
                           base=base, changed=[f.path for f in files if f.status != "removed"],
                           touched=[p for f in files for p in (f.path, f.previous_path) if p],
                           version_tag=latest_tag(mirror, case["parent"]))
        return result.status, result.summary, time.monotonic() - started


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv and argv[0].endswith(".jsonl") else CASES
    wanted = [a for a in argv if not a.endswith(".jsonl")]
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows, agree, judged = [], 0, 0
    for case in cases:
        if wanted and case["id"] not in wanted:
            continue
        mirror = mirror_of(case)
        if mirror is None:
            rows.append((case["id"], case["truth"], "not fetched", "-", "fetch github:"
                         + case["repo"] + " first"))
            continue
        status, summary, seconds = gate(case, mirror)
        truth = case["truth"]
        if truth in ("pass", "fail"):
            judged += 1
            ok = (status == "passed") == (truth == "pass") and status in ("passed", "failed")
            agree += ok
            mark = "agree" if ok else "DISAGREE"
        else:
            mark = "no truth" if status != "skipped" else "no suite (skipped)"
        lines = summary.splitlines()
        first = lines[0] if lines else ""
        why = next((line for line in lines if line.startswith(("installer:", "- referee",
                                                               "- not installed"))), "")
        rows.append((case["id"], truth, status, f"{seconds:.0f} s",
                     f"{mark}: {first[:140]} {why[:200]}".strip()))
        if mark == "DISAGREE":
            print(summary[-3000:], file=sys.stderr)
        print(" | ".join(rows[-1]), flush=True)
    print()
    print("| case | truth | gate | time | outcome |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(r.replace("|", "\\|") for r in row) + " |")
    print(f"\nagreement: {agree} of {judged} cases with a ground truth "
          f"({len(rows) - judged} without one)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
