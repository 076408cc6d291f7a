"""Every semgrep rule in rules/ against its labelled positive and negative cases, for real.

The labels are semgrep's own test format (`# ruleid: RULE` / `# ok: RULE` above a line). The
taint rules have their test file beside them (rules/semgrep/taint-web.py), run with
`semgrep --test`; the rules that look at paths (tests/, .github/workflows/) keep theirs in
tests/sast_cases, laid out as a repository. Both sets also go through the gate's own scanner,
in the sandbox.
"""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from gatekeeper.scanners import ScanTarget
from gatekeeper.scanners.semgrep import Semgrep, executable

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "rules" / "semgrep"
RULES = [rule for path in sorted(RULES_DIR.glob("*.yml"))
         for rule in yaml.safe_load(path.read_text())["rules"]]
CASES = ROOT / "tests" / "sast_cases"
LABEL_RE = re.compile(r"#\s*(ruleid|ok):\s*([\w-]+)")


def labels(folder: Path, pattern: str = "*") -> list[tuple[str, int, str, bool]]:
    """(path, line, rule, vulnerable) for every labelled line."""
    found = []
    for path in sorted(p for p in folder.rglob(pattern) if p.is_file()):
        for number, text in enumerate(path.read_text().splitlines(), 1):
            match = LABEL_RE.search(text)
            if match:
                found.append((str(path.relative_to(folder)), number + 1, match.group(2),
                              match.group(1) == "ruleid"))
    return found


def mistakes(folder: Path, pattern: str = "*") -> list[str]:
    expected = labels(folder, pattern)
    paths = sorted({p for p, _, _, _ in expected})
    result = Semgrep().scan(ScanTarget(folder, paths, {p: None for p in paths}))
    assert result.error is None
    hits = {(f.path, line, f.rule) for f in result.findings
            for line in range(f.start_line, f.end_line + 1)}
    wrong = []
    for path, line, rule, vulnerable in expected:
        if ((path, line, rule) in hits) != vulnerable:
            wrong.append(f"{'missed' if vulnerable else 'false alarm'}: {path}:{line} {rule}")
    return wrong


def test_every_labelled_case_is_classified_correctly_by_the_gates_scanner():
    assert mistakes(CASES) == []
    assert mistakes(RULES_DIR, "*.py") == []


def test_semgrep_test_passes_for_the_taint_rules():
    done = subprocess.run([executable(), "--test", "--metrics=off", "--config",
                           str(RULES_DIR / "taint-web.yml"), str(RULES_DIR / "taint-web.py")],
                          capture_output=True, text=True, timeout=300,
                          env={"HOME": "/tmp", "PATH": "/usr/bin:/bin",
                               "SEMGREP_ENABLE_VERSION_CHECK": "0"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    taint_rules = {r["id"] for r in RULES if r.get("mode") == "taint"}
    assert f"{len(taint_rules)}/{len(taint_rules)}" in done.stdout + done.stderr


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["id"])
def test_rule_has_a_positive_and_a_negative_case(rule):
    labelled = labels(CASES) + labels(RULES_DIR, "*.py")
    assert any(r == rule["id"] and vulnerable for _, _, r, vulnerable in labelled)
    assert any(r == rule["id"] and not vulnerable for _, _, r, vulnerable in labelled)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["id"])
def test_rule_carries_cwe_severity_and_category(rule):
    meta = rule["metadata"]
    assert meta["cwe"].startswith("CWE-")
    assert meta["gatekeeper-severity"] in ("low", "medium", "high")
    assert meta["category"]


def test_a_rule_test_file_is_never_loaded_as_rules_by_the_scanner(tmp_path):
    """rules/semgrep holds taint-web.py beside the YAML: the scanner must not trip over it."""
    (tmp_path / "x.py").write_text("import os\nos.system('true')\n")
    result = Semgrep().scan(ScanTarget(tmp_path, ["x.py"], {"x.py": None}))
    assert result.error is None
