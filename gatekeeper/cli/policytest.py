"""`gatekeeper policy test [DIR]`: policy test cases run offline through the gate's own
decision. DIR holds org.yml (the organisation's policy, optional), policy.yml (the
repository's, optional) and any other *.yml files of `cases:`."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from gatekeeper.core.decision import decide_gate
from gatekeeper.core.escape import one_line
from gatekeeper.core.policy import PolicyError
from gatekeeper.core.policycases import differences, effective_of, facts_of, parse_cases
from gatekeeper.core.rules import agent_rules, default_policy_text

POLICIES = ("org.yml", "policy.yml")


def run_suite(folder: str, form: str = "text", out=None) -> int:
    """0 every case met its expectation, 1 some did not, 2 the suite could not be read."""
    out = out or sys.stdout
    root = Path(folder)
    files = sorted(p for p in [*root.glob("*.yml"), *root.glob("*.yaml")]
                   if p.name not in POLICIES) if root.is_dir() else []
    if not files:
        print(f"error: {folder}: no case files (*.yml besides org.yml and policy.yml); see "
              "README's 'Testing a policy' for the format", file=sys.stderr)
        return 2
    texts = {name: (root / name).read_text() if (root / name).is_file() else None
             for name in POLICIES}
    results, problems = [], []
    for file in files:
        try:
            cases = parse_cases(file.read_text(errors="replace"), str(file))
        except PolicyError as err:
            problems += [dataclasses.replace(p, file=str(file)) for p in err.problems]
            continue
        for case in cases:
            try:
                effective = effective_of(case, texts["org.yml"], texts["policy.yml"],
                                         default_policy_text())
            except PolicyError as err:
                results.append((file.name, case.name, [f"policy: {p}" for p in err.problems]))
                continue
            decision = decide_gate(facts_of(case, effective, agent_rules()))
            wrong = differences(case, effective, decision)
            if wrong:
                gate = next((v for v in decision.verdicts if v.name == "gatekeeper"), None)
                wrong.append(f"(the gate said: {gate.conclusion}: {gate.title})" if gate else
                             "(the gate gave no verdict)")
            results.append((file.name, case.name, wrong))
    if problems:
        for problem in problems:
            print(one_line(str(problem)), file=sys.stderr)
        print(f"{len(problems)} problem(s) in the case files: nothing was run", file=sys.stderr)
        return 2
    failed = sum(1 for _, _, wrong in results if wrong)
    if form == "json":
        out.write(json.dumps({"passed": len(results) - failed, "failed": failed, "cases": [
            {"file": f, "name": n, "ok": not w, "differences": w} for f, n, w in results]},
            indent=2) + "\n")
    else:
        for file, name, wrong in results:
            out.write(f"{'ok  ' if not wrong else 'FAIL'}  {one_line(name)}  ({file})\n")
            out.write("".join(f"      {one_line(str(line))}\n" for line in wrong))
        out.write(f"{len(results) - failed} passed, {failed} failed\n")
    return 1 if failed else 0
