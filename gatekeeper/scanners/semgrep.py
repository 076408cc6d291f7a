"""semgrep with Gatekeeper's rules, offline, inside the sandbox, on the files the PR changed."""

from __future__ import annotations

import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from gatekeeper.core.diff import is_new
from gatekeeper.core.model import Finding
from gatekeeper.core.rules import rules_dir
from gatekeeper.runner import sandbox, toolargv
from gatekeeper.scanners import REPORT_BYTES, ScanResult, ScanTarget, json_report, safe_version

FLAGS = ["scan", "--metrics=off", "--disable-version-check", "--json", "--quiet",
         "--no-git-ignore", "--timeout", "30",
         "--disable-nosem"]  # a `# nosemgrep` the change adds is the reviewer's call, not its own
LEVELS = {"ERROR": "high", "WARNING": "medium", "INFO": "low"}


def executable() -> str:
    return str(Path(sys.prefix) / "bin" / "semgrep")


def command() -> list[str]:
    """semgrep's Python wrapper started isolated; the pysemgrep it may start in turn is a
    script by path (its folder, not the tree's, first) and gets PYTHONSAFEPATH from ENV."""
    return toolargv.script(sys.executable, executable())


ENV = {"SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off", "HOME": "/tmp",
       "PYTHONSAFEPATH": "1"}


def version() -> str:
    return safe_version("semgrep", _version)


@lru_cache(maxsize=1)
def _version() -> str:
    done = subprocess.run([*command(), "--version"], capture_output=True, text=True, timeout=60,
                          env={**ENV, "PATH": "/usr/bin:/bin"})
    return f"semgrep {done.stdout.strip()}" if done.stdout.strip() else ""


class Semgrep:
    name = "semgrep"

    def __init__(self, limits: sandbox.Limits | None = None):
        self.limits = limits or sandbox.Limits(wall_seconds=300, memory_bytes=4 * 1024**3,
                                               output_bytes=REPORT_BYTES)

    def scan(self, target: ScanTarget) -> ScanResult:
        if not target.paths:
            return ScanResult(self.name, version())
        config = rules_dir() / "semgrep"
        argv = [*command(), *FLAGS, "--config", str(config), "--", *target.paths]
        run = sandbox.run(target.root, argv, self.limits, env=ENV,
                          binds=[sys.prefix, str(rules_dir())])
        return parse(run, target)


def parse(run: sandbox.SandboxResult, target: ScanTarget) -> ScanResult:
    report = json_report("semgrep", version(), run)
    if isinstance(report, ScanResult):
        return report
    fatal = [e for e in report.get("errors", []) if e.get("level") == "error"]
    if run.exit_code not in (0, 1) or fatal:
        messages = "; ".join(str(e.get("message", e))[:200] for e in fatal) or run.stderr[-500:]
        return ScanResult("semgrep", version(), error=f"semgrep exited {run.exit_code}: {messages}")
    findings = [_skipped(e) for e in report.get("errors", []) if e.get("level") != "error"]
    for hit in report.get("results", []):
        extra = hit.get("extra", {})
        meta = extra.get("metadata", {})
        start, end = hit["start"]["line"], hit["end"]["line"]
        findings.append(Finding(
            tool="semgrep",
            rule=hit["check_id"].rsplit(".", 1)[-1],  # the id, without the rules folder path
            message=extra.get("message", "").strip(),
            severity=meta.get("gatekeeper-severity") or LEVELS.get(extra.get("severity"), "high"),
            path=hit["path"], start_line=start, end_line=end,
            new=is_new(target.changed, hit["path"], start, end),
            cwe=str(meta.get("cwe", "")),
        ))
    return ScanResult("semgrep", version(), findings)


def _skipped(error: dict) -> Finding:
    """A part semgrep could not analyse: shown, so a partial scan never looks like a clean one."""
    span = (error.get("spans") or [{}])[0]
    path = error.get("path") or span.get("file", "")
    line = (span.get("start") or {}).get("line", 1) if path else 0
    message = f"semgrep could not analyse this: {str(error.get('message', error))[:300]}"
    return Finding("semgrep", "scan-incomplete", message, "low", path, line, line,
                   blocking=False)
