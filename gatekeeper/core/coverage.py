"""Which of the change's lines no test ran, from the gate's own line coverage. Pure: the
change's files (their changed executable lines and new functions) and the lines that ran in,
findings and a summary line out. New code that no test touches at all is named first."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from gatekeeper.core.escape import md_code
from gatekeeper.core.model import Finding

MAX_RANGES = 50  # uncovered ranges shown as annotations; the rest are counted
SHARE_RE = re.compile(r"changed-line coverage: (\d+) of (\d+) changed executable lines")


def share_in(summary: str) -> tuple[int, int] | None:
    """(covered, total) from a tests stage's summary, for the audit trail."""
    found = SHARE_RE.search(summary)
    return (int(found.group(1)), int(found.group(2))) if found else None


@dataclass(frozen=True)
class ChangedCode:
    path: str
    changed: frozenset[int]  # executable lines (first line of each statement) added or edited
    functions: tuple[tuple[str, int, int, frozenset[int]], ...] = ()  # new: name, first, last,
    # and the executable lines of its body


def changed_in(old: str | None, new: str) -> set[int]:
    """Line numbers of `new` added or modified against `old` (every line when it is new)."""
    new_lines = new.splitlines()
    if old is None:
        return set(range(1, len(new_lines) + 1))
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new_lines, autojunk=False)
    return {j + 1 for tag, _, _, j1, j2 in matcher.get_opcodes() if tag in ("replace", "insert")
            for j in range(j1, j2)}


def coverage_findings(files: list[ChangedCode], ran: dict[str, frozenset[int]],
                      threshold: float, blocking: bool) -> tuple[list[Finding], str]:
    """Findings (untested new functions, then uncovered ranges, then the share against the
    policy's `threshold`) and one summary line."""
    total = sum(len(f.changed) for f in files)
    if not total:
        return [], ""
    first, ranges, covered = [], [], 0
    for code in files:
        done = ran.get(code.path, frozenset())
        covered += len(code.changed & done)
        reported: set[int] = set()
        for name, start, end, body in code.functions:
            if body and not body & done:
                first.append(Finding("coverage", "untested-function",
                                     f"new function {md_code(name)} never ran under any test",
                                     "medium", code.path, start, end, blocking=False))
                reported |= body
        ranges += [Finding("coverage", "uncovered-lines",
                           "changed line" + (f"s {a}–{b}" if b > a else f" {a}") +
                           " never ran under any test", "low", code.path, a, b, blocking=False)
                   for a, b in _ranges(sorted(code.changed), done | reported)]
    share = covered / total
    line = (f"- changed-line coverage: {covered} of {total} changed executable lines ran under "
            f"a test ({share:.0%}; the policy asks {threshold:.0%})")
    if len(ranges) > MAX_RANGES:
        line += f"; {len(ranges) - MAX_RANGES} more uncovered ranges not annotated"
    findings = first + ranges[:MAX_RANGES]
    if share < threshold:
        findings.append(Finding("coverage", "changed-lines",
                                f"only {share:.0%} of the change's {total} executable lines "
                                f"ran under a test; the policy asks {threshold:.0%}",
                                "medium", blocking=blocking))
    return findings, line


def _ranges(lines: list[int], skip: frozenset[int] | set[int]) -> list[tuple[int, int]]:
    """Runs of the changed lines not in `skip`, unbroken by a changed line that ran."""
    found: list[tuple[int, int]] = []
    open_ = False
    for n in lines:
        if n in skip:
            open_ = False
        elif open_:
            found[-1] = (found[-1][0], n)
        else:
            found.append((n, n))
            open_ = True
    return found
