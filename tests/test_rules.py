"""Every semgrep rule in rules/ against its labelled positive and negative cases, for real."""

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("sast_eval", ROOT / "bench" / "sast_eval.py")
sast_eval = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sast_eval)

RULES = [rule for path in sorted((ROOT / "rules" / "semgrep").glob("*.yml"))
         for rule in yaml.safe_load(path.read_text())["rules"]]
CASES = ROOT / "tests" / "sast_cases"


@pytest.fixture(scope="module")
def evaluation():
    return sast_eval.evaluate(CASES)  # one semgrep run, in the sandbox, over every case


def test_every_labelled_case_is_classified_correctly(evaluation):
    _, mistakes = evaluation
    assert mistakes == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["id"])
def test_rule_has_a_positive_and_a_negative_case(rule):
    labelled = sast_eval.labels(CASES)
    assert any(r == rule["id"] and vulnerable for _, _, r, vulnerable in labelled)
    assert any(r == rule["id"] and not vulnerable for _, _, r, vulnerable in labelled)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["id"])
def test_rule_carries_cwe_severity_and_category(rule):
    meta = rule["metadata"]
    assert meta["cwe"].startswith("CWE-")
    assert meta["gatekeeper-severity"] in ("low", "medium", "high")
    assert meta["category"]
