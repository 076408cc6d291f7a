"""The stages a gated pull request goes through: tests, sast, dependencies.

Each stage returns a StageResult; a stage that cannot run is an error, never a pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from .model import STAGES, ChangedFile, Finding, StageResult
from .policy import Policy
from .sandbox import SandboxUnavailable
from .testrun import run_tests, weakened_suite
from .workspace import Extraction, workspace

NOT_AVAILABLE = ("the {stage} stage is not available in this version of Gatekeeper, so it fails "
                 "closed. The base branch's policy can turn it off (`stages.{stage}: false`), "
                 "which shows it as skipped.")

Fetch = Callable[[Path], Extraction]  # puts the head commit's tree into the given folder


def run_stages(policy: Policy, fetch: Fetch, files: list[ChangedFile],
               cache: Path) -> dict[str, StageResult]:
    results = {s: StageResult(s, "skipped", f"turned off by the base branch's policy "
                                            f"(`stages.{s}: false`)")
               for s in STAGES if not getattr(policy.stages, s)}
    enabled = [s for s in STAGES if s not in results]
    if not enabled:
        return results
    with workspace() as folder:
        try:
            extraction = fetch(folder / "src")
        except Exception as exc:  # noqa: BLE001 - any failure to fetch is a red stage, named
            return results | _all(enabled, f"the sources could not be fetched: "
                                           f"{exc.__class__.__name__}: {exc}")
        if extraction.aborted:
            return results | _all(enabled, f"the sources were refused: {extraction.aborted}")
        refused = [Finding("gatekeeper", "workspace/unsafe-archive-member", line)
                   for line in extraction.refused]
        for stage in enabled:
            if stage == "tests":
                results[stage] = _tests(extraction.root, policy, cache, files, refused)
            else:
                results[stage] = StageResult(stage, "error", NOT_AVAILABLE.format(stage=stage))
    return results


def _tests(source: Path, policy: Policy, cache: Path, files: list[ChangedFile],
           refused: list[Finding]) -> StageResult:
    try:
        result = run_tests(source, policy, cache)
    except SandboxUnavailable as exc:
        return StageResult("tests", "error", f"the sandbox is not available: {exc}")
    status = "failed" if refused and result.status == "passed" else result.status
    findings = (*result.findings, *refused, *weakened_suite(files))
    return dataclasses.replace(result, status=status, findings=findings)


def _all(stages: list[str], reason: str) -> dict[str, StageResult]:
    return {s: StageResult(s, "error", reason) for s in stages}
