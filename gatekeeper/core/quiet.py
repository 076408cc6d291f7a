"""What a reviewer reads first: one finding per line and weakness, blocking ones first, the
pre-existing ones counted rather than listed.

semgrep and bandit often see the same call (a shell string: the taint rule and B602); listed
twice, the second reads as a second problem. The strongest finding stands for the line and
names every tool that saw it. Only what is shown changes: the stages' findings, and so the
acknowledgements a review needs, stay as the stages found them.
"""

from __future__ import annotations

import dataclasses
import re

from gatekeeper.core.model import Finding


def weight(finding: Finding) -> int:
    """Blocking, then needing acknowledgement, then warnings, then hints and notices."""
    if not finding.new:
        return 0
    if finding.blocking:
        return 4
    if finding.waived_by:
        return 3
    return 2 if finding.severity != "low" else 1


def weakness(finding: Finding) -> str:
    found = re.search(r"CWE-\d+", finding.cwe or "")
    return found.group(0) if found else f"{finding.tool}/{finding.rule}"


def quiet(findings: tuple[Finding, ...]) -> tuple[tuple[Finding, ...], int]:
    """(the findings to show, strongest first; how many pre-existing ones were left out)."""
    groups: dict[tuple, list[Finding]] = {}
    for f in findings:
        key = (f.path, f.start_line, weakness(f)) if f.path and f.start_line > 0 else (id(f),)
        groups.setdefault(key, []).append(f)
    shown, preexisting = [], 0
    for group in groups.values():
        best = max(group, key=weight)
        if not best.new:
            preexisting += 1
            continue
        others = sorted({f"{f.tool} {f.rule}" for f in group if f is not best})
        shown.append(dataclasses.replace(best, message=best.message + (
            f" (also seen by {', '.join(others)})" if others else "")))
    shown.sort(key=lambda f: (-weight(f), f.path, f.start_line))
    return tuple(shown), preexisting


def preexisting_line(count: int) -> str:
    return (f"{count} pre-existing finding{'s' if count != 1 else ''} on lines this change did "
            "not add, not listed" if count else "")
