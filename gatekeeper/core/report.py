"""Verdicts → what a check run shows, within GitHub's limits."""

from __future__ import annotations

from gatekeeper.core.escape import md_code, md_text
from gatekeeper.core.model import CheckOutput, Finding
from gatekeeper.core.quiet import preexisting_line, quiet
from gatekeeper.core.verdict import CheckVerdict

MAX_TEXT = 65535  # GitHub's limit for output.summary and output.text
MAX_TITLE = 255
MAX_ANNOTATIONS = 1000  # kept per check run; github.py sends them 50 to a request
LISTED = 30
CUT_NOTE = "\n\n… (cut at GitHub's 65,535-character limit)"


def level(finding: Finding) -> str:
    if not finding.new or finding.dismissed:
        return "notice"
    return "failure" if finding.blocking else "warning"


def annotation(finding: Finding) -> dict:
    return {
        "path": finding.path,
        "start_line": finding.start_line,
        "end_line": max(finding.end_line, finding.start_line),
        "annotation_level": level(finding),
        "title": f"{finding.tool}: {finding.rule}"[:MAX_TITLE],
        "message": (finding.message + (f" (dismissed by {finding.dismissed})"
                                       if finding.dismissed else ""))[:4000],
    }


def findings_markdown(findings: tuple[Finding, ...]) -> str:
    findings, preexisting = quiet(findings)
    if not findings and not preexisting:
        return ""
    lines = ["", f"### Findings ({len(findings)})"]
    for f in findings[:LISTED]:
        # path, rule and message may all come from the pull request: inert markdown
        where = md_code(f"{f.path}:{f.start_line}") + " " if f.path else ""
        if f.dismissed:  # who dismissed it and why stay beside it
            lines.append(f"- **dismissed** {where}{md_text(f.rule)}: {md_text(f.message)} — "
                         f"dismissed by {md_text(f.dismissed)}")
            continue
        lines.append(f"- **{level(f)}** {where}{md_text(f.rule)}: {md_text(f.message)}")
    if len(findings) > LISTED:
        lines.append(f"- … and {len(findings) - LISTED} more")
    if preexisting:
        lines.append(f"- {preexisting_line(preexisting)}")
    return "\n".join(lines)


def check_output(verdict: CheckVerdict) -> CheckOutput:
    summary = verdict.summary + findings_markdown(verdict.findings)
    if len(summary) > MAX_TEXT:
        summary = summary[: MAX_TEXT - len(CUT_NOTE)] + CUT_NOTE
    shown, _ = quiet(verdict.findings)
    placed = [annotation(f) for f in shown if f.path and f.start_line > 0]
    return CheckOutput(title=verdict.title[:MAX_TITLE], summary=summary,
                       annotations=placed[:MAX_ANNOTATIONS])
