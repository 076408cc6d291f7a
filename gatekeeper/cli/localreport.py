"""A local gate's report as text, JSON, markdown or SARIF 2.1.0."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from urllib.parse import quote

from gatekeeper import __version__
from gatekeeper.cli.local import LocalReport
from gatekeeper.core.escape import md_code, md_fence, md_text, md_unescape, one_line, terminal
from gatekeeper.core.model import Finding
from gatekeeper.core.quiet import preexisting_line, quiet, weight
from gatekeeper.core.report import level
from gatekeeper.core.verdict import BLOCKED, NEEDS_ACK, NOT_GATED, NOT_RUN, evidence

LineOf = Callable[[str, int], str]  # the text of a line of the head tree, "" if unknown
MARK = {"passed": "ok", "skipped": "skipped", "failed": "FAILED", "error": "ERROR"}


def verdict_line(report: LocalReport) -> str:
    if report.policy_error is not None:
        return "BLOCKED: the base branch's policy file is invalid"
    verdict, acks = report.verdict
    if verdict == NOT_GATED:
        return "NOT GATED: no sign of an AI coding agent (policy gates agent-authored changes)"
    if verdict == BLOCKED:
        failing = [n for n, r in report.stages.items() if r.status not in ("passed", "skipped")]
        return "BLOCKED: " + ", ".join(failing) + " (human review is not evaluated locally)"
    if verdict == NOT_RUN:
        failing = [n for n, r in report.stages.items() if r.status not in ("passed", "skipped")]
        return ("COULD NOT RUN: " + ", ".join(failing) + " (neither a pass nor the change's "
                "failure: see why above)")
    if verdict == NEEDS_ACK:
        return (f"NEEDS ACKNOWLEDGEMENT: the approver must acknowledge {len(acks)} finding"
                f"{'s' if len(acks) != 1 else ''} in the approval: "
                + " ".join(f"/gatekeeper ack {one_line(rule)}" for rule in acks))
    return "PASSED: every stage is green (human review is not evaluated locally)"


def shown(report: LocalReport, show_preexisting: bool) -> tuple[list[Finding], int]:
    """The findings a person reads (core.quiet), or every one of them."""
    every = tuple(f for r in report.stages.values() for f in r.findings)
    if show_preexisting:
        return list(every), 0
    found, preexisting = quiet(every)
    return list(found), preexisting


def _summary_lines(summary: str) -> list[str]:
    """A stage summary (check-run markdown) for a terminal: its markdown escapes undone, each
    line of it one line here (split on newlines only: any other separator is shown)."""
    return [one_line(md_unescape(line)) for line in summary.replace("\r\n", "\n").split("\n")]


def text(report: LocalReport, line_of: LineOf, show_preexisting: bool = False) -> str:
    # every field may carry the repository's text (trailers, paths, source, messages, tool
    # output): each is put on its one line with its controls shown (one_line), so nothing of
    # theirs starts a line, a verdict line included
    out = [f"Gatekeeper {__version__}: {one_line(report.repo)} "
           f"{one_line(report.base)}..{one_line(report.head)}", ""]
    if report.policy_error is not None:
        out += [one_line(p) for p in report.policy_error.problems] + ["", verdict_line(report)]
        return "\n".join(terminal(line) for line in out) + "\n"
    if report.detection is not None:
        out += [one_line(line) for line in evidence(report.detection, markdown=False).split("\n")]
        out.append("")
    for name, result in report.stages.items():
        lines = _summary_lines(result.summary) if result.summary else [""]
        out.append(f"[{MARK.get(result.status, result.status)}] {one_line(name)}: {lines[0]}")
        if result.status == "error":
            out += ["    " + line for line in lines[1:12]]
    by_file: dict[str, list[Finding]] = defaultdict(list)
    loose: list[Finding] = []
    findings, preexisting = shown(report, show_preexisting)
    for finding in findings:
        (by_file[finding.path] if finding.path else loose).append(finding)
    for path in sorted(by_file, key=lambda p: -max(weight(f) for f in by_file[p])):
        out += ["", one_line(path)]
        for f in sorted(by_file[path], key=lambda f: f.start_line):
            out.append(f"  {f.start_line:>5}  {level(f):<8} {_said(f)}")
            code = line_of(path, f.start_line).strip()
            if code:
                out.append(f"         | {one_line(code[:160])}")
    for f in loose:
        out.append(f"  {level(f):<8} {_said(f)}")
    if preexisting:
        out += ["", preexisting_line(preexisting) + " (--show-preexisting lists them)"]
    out += ["", verdict_line(report)]
    return "\n".join(terminal(line) for line in out) + "\n"


def _said(f: Finding) -> str:
    return f"{one_line(f.tool)}/{one_line(f.rule)}: {one_line(f.message)}"


def as_json(report: LocalReport) -> str:
    return json.dumps({
        "repository": report.repo, "base": report.base, "head": report.head,
        "verdict": report.verdict[0],
        "acknowledgements": [{"rule": rule, "command": f"/gatekeeper ack {rule}"}
                             for rule in report.verdict[1]],
        "policy_errors": [str(p) for p in report.policy_error.problems]
        if report.policy_error else [],
        "agent_evidence": [str(s) for s in report.detection.signals] if report.detection else [],
        "stages": {name: r.to_dict() for name, r in report.stages.items()},
        "review": "not evaluated locally",
    }, indent=2) + "\n"


def markdown(report: LocalReport, show_preexisting: bool = False) -> str:
    out = [f"## Gatekeeper: {verdict_line(report)}", ""]
    if report.policy_error is not None:
        return "\n".join(out + [f"- {p}" for p in report.policy_error.problems]) + "\n"
    if report.detection is not None:
        out += [evidence(report.detection), ""]
    out += ["| stage | status | summary |", "|---|---|---|"]
    for name, r in report.stages.items():
        first = r.summary.splitlines()[0] if r.summary else ""
        out.append(f"| {name} | {r.status} | {md_text(first)} |")
    for name, r in report.stages.items():
        if r.status == "error":  # why it did not complete, not only that it did not
            out += ["", f"**{md_text(name)} did not complete:**", "",
                    md_fence("\n".join(r.summary.splitlines()[:40]))]
    findings, preexisting = shown(report, show_preexisting)
    for f in findings:
        where = f"{md_code(f'{f.path}:{f.start_line}')} " if f.path else ""
        out.append(f"- **{level(f)}** {where}{md_text(f.tool)}/{md_text(f.rule)}: "
                   f"{md_text(f.message)}")
    if preexisting:
        out.append(f"- {preexisting_line(preexisting)}")
    return "\n".join(out) + "\n"


SARIF_LEVEL = {"failure": "error", "warning": "warning", "notice": "note"}


TOOL_URIS = {"semgrep": "https://semgrep.dev/", "bandit": "https://bandit.readthedocs.io/",
             "pip-audit": "https://pypi.org/project/pip-audit/",
             "pytest": "https://docs.pytest.org/",
             "gatekeeper": "https://github.com/search?q=gatekeeper&type=repositories"}


def sarif(report: LocalReport) -> str:
    """SARIF 2.1.0: one run per tool, every finding a result with its location; a stage that
    did not complete is a failed invocation with its reason as a notification."""
    by_tool: dict[str, list[Finding]] = defaultdict(list)
    for r in report.stages.values():
        for f in r.findings:
            by_tool[f.tool].append(f)
    runs = []
    for tool, findings in sorted(by_tool.items()):
        rules = sorted({f.rule for f in findings})
        runs.append({
            "tool": {"driver": {
                "name": tool, "informationUri": TOOL_URIS.get(tool, TOOL_URIS["gatekeeper"]),
                "rules": [{"id": rule, "shortDescription": {"text": rule},
                           "properties": _rule_properties(rule, findings)} for rule in rules],
            }},
            "results": [_sarif_result(f, rules.index(f.rule)) for f in findings],
        })
    errors = [(name, r) for name, r in report.stages.items() if r.status == "error"]
    if errors or not runs:
        runs.append({
            "tool": {"driver": {"name": "gatekeeper", "informationUri": TOOL_URIS["gatekeeper"],
                                "rules": []}},
            "invocations": [{
                "executionSuccessful": not errors,
                "toolExecutionNotifications": [
                    {"level": "error", "message": {"text": f"{name}: {terminal(r.summary)[:2000]}"}}
                    for name, r in errors]}],
            "results": []})
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": runs,
    }
    return json.dumps(document, indent=2) + "\n"


def _rule_properties(rule: str, findings: list[Finding]) -> dict:
    sample = next(f for f in findings if f.rule == rule)
    tags = ["security"] + ([f"external/cwe/{sample.cwe.lower()}"] if sample.cwe else [])
    return {"tags": tags, "problem.severity": sample.severity}


def _sarif_result(f: Finding, index: int) -> dict:
    result = {
        "ruleId": f.rule, "ruleIndex": index, "level": SARIF_LEVEL[level(f)],
        "message": {"text": f.message or f.rule},
        "baselineState": "new" if f.new else "unchanged",
        "properties": {"severity": f.severity, "blocking": f.blocking},
    }
    if f.path:
        region = {"startLine": max(f.start_line, 1), "endLine": max(f.end_line, f.start_line, 1)}
        result["locations"] = [{"physicalLocation": {
            # a URI (RFC 3986): no raw newline, quote or direction mark, `/` kept
            "artifactLocation": {"uri": quote(f.path, safe="/")}, "region": region}}]
    return result
