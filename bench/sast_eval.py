"""Recall and false-positive rate of the SAST stage's rules, per rule category.

Runs the real semgrep scanner (in the sandbox, with rules/) over a labelled set of snippets,
where `# ruleid: RULE` marks the next line as vulnerable and `# ok: RULE` as safe.

    .venv/bin/python bench/sast_eval.py [CASES_DIR]      (default: tests/sast_cases)
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper.core.rules import rules_dir  # noqa: E402
from gatekeeper.scanners import ScanTarget  # noqa: E402
from gatekeeper.scanners.semgrep import Semgrep  # noqa: E402

LABEL_RE = re.compile(r"#\s*(ruleid|ok):\s*([\w-]+)")


def labels(cases: Path) -> list[tuple[str, int, str, bool]]:
    """(path, line, rule, vulnerable) for every labelled line."""
    found = []
    for path in sorted(p for p in cases.rglob("*") if p.is_file()):
        rel = str(path.relative_to(cases))
        for number, text in enumerate(path.read_text().splitlines(), 1):
            match = LABEL_RE.search(text)
            if match:
                found.append((rel, number + 1, match.group(2), match.group(1) == "ruleid"))
    return found


def categories() -> dict[str, str]:
    mapping = {}
    for path in (rules_dir() / "semgrep").glob("*.yml"):
        for rule in yaml.safe_load(path.read_text())["rules"]:
            mapping[rule["id"]] = rule.get("metadata", {}).get("category", "other")
    return mapping


def evaluate(cases: Path) -> tuple[dict[str, dict[str, int]], list[str]]:
    expected = labels(cases)
    paths = sorted({p for p, _, _, _ in expected})
    result = Semgrep().scan(ScanTarget(cases, paths, {p: None for p in paths}))
    if result.error:
        raise SystemExit(f"semgrep failed: {result.error}")
    hits = {(f.path, line, f.rule) for f in result.findings
            for line in range(f.start_line, f.end_line + 1)}
    rule_category = categories()
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fn": 0, "fp": 0, "tn": 0})
    mistakes = []
    for path, line, rule, vulnerable in expected:
        hit = (path, line, rule) in hits
        cell = table[rule_category.get(rule, "unknown rule")]
        key = ("tp" if hit else "fn") if vulnerable else ("fp" if hit else "tn")
        cell[key] += 1
        if key in ("fn", "fp"):
            mistakes.append(f"{key}: {path}:{line} {rule}")
    return dict(table), mistakes


def main() -> None:
    cases = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "sast_cases"
    table, mistakes = evaluate(cases)
    print(f"{'category':<16}{'recall':>8}{'FP rate':>9}{'vuln':>6}{'safe':>6}")
    for category, c in sorted(table.items()):
        vulnerable, safe = c["tp"] + c["fn"], c["fp"] + c["tn"]
        recall = c["tp"] / vulnerable if vulnerable else float("nan")
        fp_rate = c["fp"] / safe if safe else float("nan")
        print(f"{category:<16}{recall:>8.0%}{fp_rate:>9.0%}{vulnerable:>6}{safe:>6}")
    for line in mistakes:
        print(line)


if __name__ == "__main__":
    main()
