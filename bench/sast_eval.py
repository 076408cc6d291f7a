"""The SAST stage against a labelled corpus of small applications, per CWE family.

Each case is one file, vulnerable or a safe look-alike (bench/sast_corpus.py writes them, or
give a folder laid out the same way: FAMILY/vuln-*.py, FAMILY/safe-*.py). A case counts as
flagged when a finding that would block, carrying one of the family's CWEs, lands in it:

- gate: the default SAST stage (semgrep with rules/ and bandit, judged as the stage judges:
  new, at or above `block_on: medium`, bandit's superseded tests as hints);
- bandit alone: bandit's own findings at medium severity or more and not low confidence.

Prints TP, FN, FP, TN, TPR, FPR and TPR - FPR (in points) per family and the mean.

    .venv/bin/python bench/sast_eval.py [CASES_DIR]
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sast_corpus import F as FAMILIES  # noqa: E402
from sast_corpus import write  # noqa: E402

from gatekeeper.scanners import SEVERITY_RANK, ScanTarget  # noqa: E402
from gatekeeper.scanners.bandit import Bandit  # noqa: E402
from gatekeeper.scanners.sast import _judged  # noqa: E402
from gatekeeper.scanners.semgrep import Semgrep  # noqa: E402

CWE_ALIASES = {"CWE-95": {"CWE-94"}, "CWE-94": {"CWE-95"}, "CWE-77": {"CWE-78"}}


def cwes(finding) -> set[str]:
    found = set(re.findall(r"CWE-\d+", finding.cwe or ""))
    for cwe in list(found):
        found |= CWE_ALIASES.get(cwe, set())
    return found


def gate_flags(finding) -> bool:
    return _judged(finding, "medium").blocking


def bandit_flags(finding) -> bool:
    return finding.tool == "bandit" and finding.confidence != "low" \
        and SEVERITY_RANK.get(finding.severity, 3) >= SEVERITY_RANK["medium"]


def evaluate(cases: Path) -> tuple[dict, dict, float, list[str]]:
    paths = sorted(str(p.relative_to(cases)) for p in cases.rglob("*.py"))
    target = ScanTarget(cases, paths, {p: None for p in paths})
    started = time.monotonic()
    semgrep, bandit = Semgrep().scan(target), Bandit().scan(target)
    elapsed = time.monotonic() - started
    for result in (semgrep, bandit):
        if result.error:
            raise SystemExit(f"{result.tool} failed: {result.error}")
    unparsed = sorted({f.path for r in (semgrep, bandit) for f in r.findings
                       if f.rule in ("parse-error", "scan-incomplete")})
    tables = {}
    for label, findings, flags in (("gate", semgrep.findings + bandit.findings, gate_flags),
                                   ("bandit alone", bandit.findings, bandit_flags)):
        by_path = defaultdict(set)
        for f in findings:
            if flags(f):
                by_path[f.path] |= cwes(f)
        table = defaultdict(lambda: {"tp": 0, "fn": 0, "fp": 0, "tn": 0})
        for path in paths:
            family, name = path.split("/", 1)
            vulnerable = name.startswith("vuln")
            hit = bool(by_path[path] & FAMILIES[family].cwes)
            table[family][("tp" if hit else "fn") if vulnerable else ("fp" if hit else "tn")] += 1
        tables[label] = dict(table)
    return tables, {"files": len(paths), "unparsed": unparsed}, elapsed, paths


def score(cell: dict) -> tuple[float, float]:
    tpr = cell["tp"] / max(1, cell["tp"] + cell["fn"])
    fpr = cell["fp"] / max(1, cell["fp"] + cell["tn"])
    return tpr, fpr


def print_table(label: str, table: dict) -> float:
    print(f"\n{label}\n")
    print("| family | TP | FN | FP | TN | TPR | FPR | TPR - FPR |")
    print("|---|---|---|---|---|---|---|---|")
    scores = []
    for family in sorted(table):
        c = table[family]
        tpr, fpr = score(c)
        scores.append(100 * (tpr - fpr))
        print(f"| {family} | {c['tp']} | {c['fn']} | {c['fp']} | {c['tn']} | {tpr:.2f} | "
              f"{fpr:.2f} | {scores[-1]:.0f} |")
    mean = sum(scores) / len(scores)
    print(f"| **mean** | | | | | | | **{mean:.1f}** |")
    return mean


def main() -> None:
    if len(sys.argv) > 1:
        cases = Path(sys.argv[1])
    else:
        cases = Path(tempfile.mkdtemp(prefix="sast-corpus-"))
        write(cases)
    tables, info, elapsed, _ = evaluate(cases)
    print(f"{info['files']} cases in {cases}; semgrep + bandit took {elapsed:.1f} s; "
          f"files a scanner could not parse: {len(info['unparsed'])}")
    for label, table in tables.items():
        print_table(label, table)


if __name__ == "__main__":
    main()
