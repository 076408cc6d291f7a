"""The sast stage: semgrep and bandit on what the pull request changed, new versus existing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gatekeeper.core.diff import changed_lines
from gatekeeper.core.model import ChangedFile, Finding, StageResult
from gatekeeper.scanners import Scanner, ScanResult, ScanTarget, blocks
from gatekeeper.scanners.bandit import Bandit
from gatekeeper.scanners.semgrep import Semgrep


def default_scanners() -> list[Scanner]:
    return [Semgrep(), Bandit()]


def run_sast(source: Path, files: list[ChangedFile], block_on: str,
             scanners: list[Scanner] | None = None, whole_tree: bool = False) -> StageResult:
    changed = changed_lines(files)
    candidates = changed if not whole_tree else (
        str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
    paths = sorted(p for p in candidates
                   if (source / p).is_file() and not (source / p).is_symlink())
    if not paths:
        return StageResult("sast", "passed", "no changed files to scan")
    target = ScanTarget(source, paths, changed)
    results = [scanner.scan(target) for scanner in scanners or default_scanners()]
    findings = tuple(_judged(f, block_on) for r in results for f in r.findings)
    summary = _summary(results, findings, len(paths))
    errors = [f"{r.tool}: {r.error}" for r in results if r.error]
    if errors:
        return StageResult("sast", "error", "a scanner did not complete, so nothing is known to be "
                           "safe:\n" + "\n".join(f"- {e}" for e in errors) + "\n\n" + summary,
                           findings)
    status = "failed" if any(f.blocking for f in findings) else "passed"
    return StageResult("sast", status, summary, findings)


def _judged(finding: Finding, block_on: str) -> Finding:
    return dataclasses.replace(finding, blocking=finding.blocking and blocks(finding, block_on))


def _summary(results: list[ScanResult], findings: tuple[Finding, ...], files: int) -> str:
    new = sum(1 for f in findings if f.new)
    blocking = sum(1 for f in findings if f.blocking)
    tools = ", ".join(r.version or r.tool for r in results)
    return (f"{files} changed files scanned with {tools}: {new} new findings ({blocking} "
            f"blocking), {len(findings) - new} pre-existing")
