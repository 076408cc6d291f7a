"""Static analysers behind one small interface: a target in, findings or an error out.

A tool that crashes, times out or prints what cannot be read gives an error, never an
empty list of findings.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gatekeeper.core.bounded import REPORT, ParseError, load_json
from gatekeeper.core.model import Finding

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}
# a report over a whole tree is large (bandit: ~1.5 KiB per finding with its code): kept whole,
# since a cut report cannot be read and would turn the stage into an error
REPORT_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class ScanTarget:
    root: Path  # the head commit's tree (read-only inside the sandbox)
    paths: list[str]  # files to scan, relative to root
    changed: dict[str, set[int] | None]  # lines the PR added per file; None: the whole file


@dataclass(frozen=True)
class ScanResult:
    tool: str
    version: str = ""
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None


class Scanner(Protocol):
    name: str

    def scan(self, target: ScanTarget) -> ScanResult: ...


def json_report(tool: str, version: str, run) -> dict | ScanResult:
    """The JSON a tool printed in the sandbox, or the error that stands in for it."""
    if run.limit:
        return ScanResult(tool, version, error=f"{tool} stopped by the {run.limit} limit")
    if "[output cut:" in run.stdout[-200:]:
        return ScanResult(tool, version, error=f"{tool}'s report was larger than the "
                                               f"{REPORT_BYTES // 1024**2} MiB kept")
    try:
        report = load_json(run.stdout, f"{tool}'s report", REPORT)
    except ParseError:
        return ScanResult(tool, version, error=f"{tool} exited {run.exit_code} without a report: "
                                               f"{run.stderr.strip()[-500:]}")
    if not isinstance(report, dict):
        return ScanResult(tool, version, error=f"{tool} printed JSON that is not a report")
    return report


def blocks(finding: Finding, block_on: str) -> bool:
    """New findings at or above the policy's severity block; pre-existing ones never do."""
    return finding.new and SEVERITY_RANK.get(finding.severity, 3) >= SEVERITY_RANK[block_on]


def safe_version(tool: str, probe) -> str:
    """A tool's version for the report; a probe that fails or times out under load is said,
    never raised out of the stage (and, not cached, is asked again next time)."""
    try:
        return probe()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{tool} (version unknown: {exc.__class__.__name__})"
