"""The change's code as coverage sees it: per changed Python file (tests left out), the
executable lines it added or edited and the functions it added. The files are parsed as data
(coverage.py's parser and ast), never run."""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
from pathlib import Path

from gatekeeper.core.coverage import ChangedCode, changed_in, coverage_findings
from gatekeeper.core.escape import md_text
from gatekeeper.core.model import Finding, StageResult, with_findings
from gatekeeper.core.policy import Policy
from gatekeeper.runner.attempts import FORGED

MAX_FILES = 300
MAX_BYTES = 1024**2


def changed_code(source: Path, base: Path | None, changed: list[str],
                 test_patterns: tuple[str, ...]) -> tuple[list[ChangedCode], list[str]]:
    """(the files, the changed files that could not be read as Python and why)."""
    from coverage.parser import PythonParser

    files, skipped = [], []
    for path in sorted(set(changed))[:MAX_FILES]:
        name = path.rsplit("/", 1)[-1]
        if not path.endswith(".py") or name == "conftest.py" or \
                any(fnmatch.fnmatch(name, p) for p in test_patterns):
            continue
        new = _text(source / path)
        if new is None:
            continue
        old = _text(base / path) if base is not None else None
        try:
            parser = PythonParser(text=new, filename=path)
            parser.parse_source()
            tree = ast.parse(new)
        except Exception as exc:  # noqa: BLE001 - syntax this Python does not know, say
            skipped.append(f"{path} ({type(exc).__name__})")
            continue
        statements = set(parser.statements)
        edited = changed_in(old, new)
        lines = frozenset(parser.first_lines(edited) & statements)
        functions = tuple(
            (node.name, node.lineno, node.end_lineno or node.lineno,
             frozenset(n for n in statements if node.lineno < n <= (node.end_lineno or 0)))
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.lineno in edited
            and parser.first_line(node.lineno) in lines)
        if lines:
            files.append(ChangedCode(path, lines, functions))
    return files, skipped


def _text(path: Path) -> str | None:
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def with_coverage(result: StageResult, source: Path, base: Path | None, changed: list[str],
                  patterns: tuple[str, ...], runs: list, policy: Policy) -> StageResult:
    """The stage with the change's uncovered lines: `runs` are the sandbox results that
    measured (the change's run, the referee's), their covered lines joined."""
    forged = [e for r in runs if r is not None for e in r.coverage_errors
              if e.startswith(FORGED)]
    if forged:  # whatever the policy says: the change's code wrote its own coverage
        return with_findings(result, [Finding(
            "coverage", "coverage-forged", f"changed-line coverage not measured: "
            f"{md_text(forged[0])}, which only the code under test could have done", "high")])
    measured = [r.covered for r in runs if r is not None and r.covered]
    files, skipped = changed_code(source, base, changed, patterns)
    if not files:
        return result
    if not measured:
        errors = sorted({e for r in runs if r is not None for e in r.coverage_errors})
        why = md_text("; ".join(errors[:2])) if errors else \
            "no Python process of the suite reported (the interpreter is older than the gate's " \
            "coverage.py supports, or the suite's own coverage run held the tracer)"
        return dataclasses.replace(result, summary=result.summary +
                                   f"\n- changed-line coverage: not measured: {why}")
    ran: dict[str, frozenset[int]] = {}
    for covered in measured:
        for path, lines in covered.items():
            ran[path] = ran.get(path, frozenset()) | lines
    findings, line = coverage_findings(files, ran, policy.coverage.changed_lines,
                                       policy.coverage.blocking)
    if skipped:
        line += f"; not read as Python here: {md_text(', '.join(skipped[:3]))}"
    return with_findings(dataclasses.replace(result, summary=result.summary + "\n" + line),
                         findings)
