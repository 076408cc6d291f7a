"""bandit on the Python files the PR changed, inside the sandbox."""

from __future__ import annotations

import subprocess
from functools import lru_cache

from gatekeeper.core.diff import is_new
from gatekeeper.core.model import Finding
from gatekeeper.runner import sandbox, toolargv
from gatekeeper.scanners import REPORT_BYTES, ScanResult, ScanTarget, json_report, safe_version, toolenv

FLAGS = ["-f", "json", "-q", "--ignore-nosec"]  # a `# nosec` the change adds is the reviewer's call


def command() -> list[str]:
    # isolated: bandit runs in the tree, which must not shadow bandit's own imports (rich, yaml)
    return toolargv.module(toolenv.python(), "bandit")


def version() -> str:
    return safe_version("bandit", _version)


@lru_cache(maxsize=1)
def _version() -> str:
    done = subprocess.run([*command(), "--version"], capture_output=True, text=True, timeout=60)
    first = done.stdout.split("\n", 1)[0].split()
    python = toolenv.version_of(toolenv.python())
    return f"bandit {first[-1]} (Python {python})" if first else ""


class Bandit:
    name = "bandit"

    def __init__(self, limits: sandbox.Limits | None = None):
        self.limits = limits or sandbox.Limits(wall_seconds=300, output_bytes=REPORT_BYTES)

    def scan(self, target: ScanTarget) -> ScanResult:
        paths = [p for p in target.paths if p.endswith(".py")]
        if not paths:
            return ScanResult(self.name, version())
        run = sandbox.run(target.root, [*command(), *FLAGS, "--", *paths],
                          self.limits, binds=toolenv.binds(toolenv.python()))
        return parse(run, target)


UNPARSED = "parse-error"


def _is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py" \
        or "tests/" in path or path.startswith("test/")


def parse(run: sandbox.SandboxResult, target: ScanTarget) -> ScanResult:
    report = json_report("bandit", version(), run)
    if isinstance(report, ScanResult):
        return report
    if run.exit_code not in (0, 1):  # 1 means issues were found
        return ScanResult("bandit", version(), error=f"bandit exited {run.exit_code}")
    findings = []
    for hit in report.get("results", []):
        path = hit["filename"].removeprefix("./")
        if hit["test_id"] == "B101" and _is_test_file(path):
            continue  # assert is how tests are written
        lines = hit.get("line_range") or [hit["line_number"]]
        start, end = min(lines), max(lines)
        confident = hit.get("issue_confidence", "").lower() != "low"
        cwe = (hit.get("issue_cwe") or {}).get("id")
        findings.append(Finding(
            tool="bandit", rule=f"{hit['test_id']}-{hit['test_name']}",
            message=hit.get("issue_text", ""), severity=hit.get("issue_severity", "HIGH").lower(),
            path=path, start_line=start, end_line=end,
            new=is_new(target.changed, path, start, end),
            confidence=hit.get("issue_confidence", "").lower(),
            cwe=f"CWE-{cwe}" if cwe else "", blocking=confident,
        ))
    for error in report.get("errors", []):  # a file bandit could not parse: the stage says so
        findings.append(Finding("bandit", UNPARSED, str(error.get("reason", ""))[:300], "low",
                                error.get("filename", "").removeprefix("./"), 1, 1, blocking=False))
    return ScanResult("bandit", version(), findings)
