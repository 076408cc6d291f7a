"""Tests the change made weaker: its base's and its own text of one test file, compared. Pure.

The referee runs the base's version of an edited test, so a test the change weakened (an
`or True`, an equality turned into a truthiness check, a skip) still passes there and says
nothing; merged, it protects no later change. Each function present on both sides is compared
by qualified name (`Class::function`) on normalised syntax trees: formatting, comments and a
moved helper change nothing, and only what reads as less checking is reported, for the
reviewer to acknowledge. A test removed from a file that stays is a notice: the suite's size
is compared elsewhere.
"""

from __future__ import annotations

import ast
import bisect
import dataclasses
import re
from collections import Counter

from gatekeeper.core.model import Finding
from gatekeeper.core.testchecks import (
    Check,
    Func,
    NotCompared,
    dotted,
    dump,
    dump_list,
    read_tests,
)

ACK = "tests.weakened"
RULE = "weakened-test/"
SHOWN = 100  # characters of one assertion in a message
PER_TEST = 3  # findings of one kind listed per function
PER_FILE = 50  # findings listed per file; the rest are counted
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)")

_MESSAGE_KW = {"match"}
_REGEX_METHODS = {"assertRaisesRegex", "assertRaisesRegexp", "assertWarnsRegex"}
_BROADEST = {"Exception", "BaseException", "Warning", "UserWarning"}


def weakened(path: str, base: str, head: str, patch: str = "") -> list[Finding]:
    """The weakenings of `path`'s tests from the base's text to the change's.

    `patch`: the change's diff of the file, when the base's text may be newer than where the
    change started (a pull request's base branch moves on): then only what rests on lines the
    change touched is compared, and a test the base branch strengthened since is not the
    change's weakening. Without it, every difference is the change's."""
    if base == head:
        return []
    touched = _touched(patch) if patch else None
    try:
        old, new = read_tests(base), read_tests(head)
    except NotCompared as err:
        return [not_compared(path, str(err))]
    totals = _totals(old), _totals(new)
    resting = (_resting_on(old, touched[0]), _resting_on(new, touched[1])) if touched else None
    findings = []
    for name, before in old.items():
        after = new.get(name)
        if after is None:
            continue
        if dump(before.node) == dump(after.node) and before.params == after.params and \
                totals[0][name] == totals[1][name]:
            continue  # the same code, with as many checks in the helpers it calls
        if touched and name not in resting[0] and name not in resting[1]:
            continue
        findings += _compare(name, before, after, totals[0][name], totals[1][name])
    gone = [n for n, f in old.items() if f.is_test and n not in new
            and (not resting or n in resting[0])]
    if gone:  # renamed with its body unchanged: not gone, unless to a name never collected
        bodies = {dump_list(f.node.body): f for n, f in new.items()
                  if n not in old and isinstance(f.node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        renamed = {n: bodies.get(dump_list(old[n].node.body)) for n in gone}
        gone = [n for n in gone if renamed[n] is None]
        for name, now in renamed.items():
            if now is not None and not now.is_test and len(findings) < PER_FILE:
                findings.append(_finding("skip-added", f"{name}: renamed to {now.name}, a name "
                                         "the test runner does not collect", now.node.lineno))
    if gone:
        shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        findings.append(Finding("gatekeeper", RULE + "test-removed",
                                f"{len(gone)} test{'s' if len(gone) != 1 else ''} no longer in "
                                f"this file: {shown}", "low", "", 0, 0, blocking=False))
    if len(findings) > PER_FILE:
        more = len(findings) - PER_FILE + 1
        findings = [*findings[:PER_FILE - 1], _finding(
            "many", f"{more} more weakenings of tests in this file, not listed", 1)]
    return [dataclasses.replace(f, path=path) for f in findings]


def not_compared(path: str, why: str) -> Finding:
    """What is said when a file's tests were not compared: unknown is not unweakened."""
    return dataclasses.replace(_finding(
        "not-compared", f"{path} was not compared with the base's version ({why}): whether "
        "its tests were weakened is not known; read its diff and acknowledge", 1), path=path)


def _finding(kind: str, message: str, line: int) -> Finding:
    return Finding("gatekeeper", RULE + kind, message, "medium", "", line, line,
                   blocking=False, waived_by=ACK)


def _touched(patch: str) -> tuple[list[int], list[int]]:
    """(the base's lines the patch removes, the change's lines it adds) from a unified diff;
    a removal also touches the change's line where it happened."""
    removed: set[int] = set()
    added: set[int] = set()
    old = new = 0
    for row in patch.splitlines():
        hunk = _HUNK.match(row)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(2))
        elif row.startswith("-") and not row.startswith("---"):
            removed.add(old)
            added.update((new - 1, new))
            old += 1
        elif row.startswith("+") and not row.startswith("+++"):
            added.add(new)
            new += 1
        elif not row.startswith("\\"):
            old, new = old + 1, new + 1
    return sorted(removed), sorted(added)


# --- comparing the two sides ------------------------------------------------------------------

def _compare(name: str, before: Func, after: Func, count_before: int,
             count_after: int) -> list[Finding]:
    shown = name or "the module"
    line = getattr(after.node, "lineno", 1)
    findings = []
    added = after.skips - before.skips
    if added:
        key = next(iter(added))
        text, at = after.skip_text[key]
        findings.append(_finding("skip-added", f"{shown}: skipped or expected to fail where the "
                                 f"base ran it: {_side(None, text)}", at or line))
    for names, (cases, text) in before.params.items():
        now = after.params[names][0] if names in after.params else 1
        if cases is not None and now is not None and now < cases:
            findings.append(_finding("cases-dropped", f"{shown}: parametrised over "
                                     f"{_clip(text)} with {now} case{'s' if now != 1 else ''} "
                                     f"where the base had {cases}", line))
    if not isinstance(after.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return findings
    fresh, gone = _unmatched(after.checks, before.checks), _unmatched(before.checks, after.checks)
    trivial = [c for c in fresh if c.rank == 0]
    for check in trivial[:PER_TEST]:
        was = _counterpart(check, gone)
        findings.append(_finding("always-true", f"{shown}: an assertion that cannot fail: "
                                 f"{_side(was, check.text)}", check.line or line))
    findings += _paired(shown, gone, [c for c in fresh if c.rank > 0], line)
    # a helper or fixture handing its checks to another file's helper is a refactor seen
    # too often to ask about: only a test's own count is compared
    if after.is_test and count_after < count_before:
        removed = [c.text for c in gone][:2]
        findings.append(_finding("assertions-removed", f"{shown}: {count_after} assertion"
                                 f"{'s' if count_after != 1 else ''} where the base had "
                                 f"{count_before}" + (f"; gone: {' ; '.join(_clip(t) for t in removed)}"
                                                      if removed else ""), line))
    return findings


def _unmatched(mine: list[Check], theirs: list[Check]) -> list[Check]:
    """My checks the other side does not have as they are, each occurrence counted."""
    left = Counter(c.key for c in theirs)
    out = []
    for check in mine:
        if left[check.key] > 0:
            left[check.key] -= 1
        else:
            out.append(check)
    return out


def _counterpart(check: Check, gone: list[Check]) -> Check | None:
    return next((g for g in gone if g.category == check.category
                 and g.subjects & check.subjects), None)


def _paired(shown: str, gone: list[Check], fresh: list[Check], line: int) -> list[Finding]:
    """Each assertion the change no longer has, against the change's one on the same subject."""
    findings, used = [], set()
    # per category and subject, the change's candidates strongest first; each list is walked
    # past used ones once, so pairing is linear however many assertions share a subject
    by_subject: dict[tuple[str, str], list[int]] = {}
    for i, check in enumerate(fresh):
        for subject in check.subjects:
            by_subject.setdefault((check.category, subject), []).append(i)
    for bucket in by_subject.values():
        bucket.sort(key=lambda i: (-fresh[i].rank, i), reverse=True)  # best at the end
    raises = [i for i, c in reversed(list(enumerate(fresh))) if c.category == "raises"]
    for was in gone:
        if was.rank == 0:
            continue
        buckets = [raises] if was.category == "raises" else [
            by_subject.get((was.category, s), []) for s in was.subjects]
        for bucket in buckets:
            while bucket and bucket[-1] in used:
                bucket.pop()
        tops = [b[-1] for b in buckets if b]
        pick = min(tops, key=lambda i: (-fresh[i].rank, i)) if tops else None
        if pick is None:
            continue
        used.add(pick)
        now = fresh[pick]
        why = _raises_broader(was.node, now.node) if was.category == "raises" else \
            _looser(was, now)
        if why and len(findings) < PER_TEST:
            kind = "exception-broadened" if was.category == "raises" else "less-strict"
            findings.append(_finding(kind, f"{shown}: {why}: {_side(was, now.text)}",
                                     now.line or line))
    return findings


def _looser(was: Check, now: Check) -> str:
    if now.rank < was.rank:
        return "compared less strictly"
    if now.rank == was.rank == 4:
        wide_before, wide_after = _tolerance(was.node), _tolerance(now.node)
        if any(wide_after.get(k, 0) > v for k, v in wide_before.items()) or \
                set(wide_after) - set(wide_before) - {"places"}:
            return "tolerance widened"
        if "places" in wide_before and wide_after.get("places", 7) < wide_before["places"]:
            return "tolerance widened"
    return ""


def _tolerance(node: ast.AST) -> dict[str, float]:
    out = {}
    for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
        for kw in call.keywords:
            if kw.arg in ("rel", "abs", "delta", "places", "rtol", "atol", "rel_tol", "abs_tol") \
                    and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value,
                                                                         (int, float)):
                out[kw.arg] = float(kw.value.value)
    return out


def _raises_broader(was: ast.Call, now: ast.Call) -> str:
    before, after = _expected(was), _expected(now)
    if before is None or after is None:
        return ""
    if (after & _BROADEST) - before:
        return "expects a broader exception"
    if before and after - before and not before - after:
        return "expects more exceptions"
    if _message_checked(was) and not _message_checked(now):
        return "no longer checks the exception's message"
    return ""


def _expected(call: ast.Call) -> set[str] | None:
    if not call.args:
        return set() if dotted(call.func).endswith("deprecated_call") else None
    first = call.args[0]
    items = first.elts if isinstance(first, ast.Tuple) else [first]
    names = {dotted(i).rsplit(".", 1)[-1] for i in items}
    return None if "" in names else names


def _message_checked(call: ast.Call) -> bool:
    return dotted(call.func).rsplit(".", 1)[-1] in _REGEX_METHODS or any(
        k.arg in _MESSAGE_KW for k in call.keywords)


def _totals(funcs: dict[str, Func]) -> dict[str, int]:
    """Each function's assertions and those of the file's helpers it calls (once each, a
    cycle cut where it closes), so a moved assert is kept. Linear: memoised, no recursion."""
    totals: dict[str, int] = {}
    for root in funcs:
        stack = [(root, False)]
        while stack:
            name, done = stack.pop()
            if name in totals and not done:
                continue
            func = funcs[name]
            helpers = {c for c in func.calls if c in funcs and not funcs[c].is_test and c != name}
            if done:
                totals[name] = len(func.checks) + sum(totals.get(h, 0) for h in helpers)
                continue
            totals.setdefault(name, len(func.checks))  # in progress: a cycle sees its own count
            stack.append((name, True))
            stack += [(h, False) for h in helpers if h not in totals]
    return totals


def _resting_on(funcs: dict[str, Func], lines: list[int]) -> set[str]:
    """The functions that span one of `lines`, or whose case lists or helpers do."""
    hit = [n for n, f in funcs.items() if any(
        (at := bisect.bisect_left(lines, start)) < len(lines) and lines[at] <= end
        for start, end in f.spans)]
    callers: dict[str, list[str]] = {}
    for name, func in funcs.items():
        for call in set(func.calls):
            if call in funcs and not funcs[call].is_test:
                callers.setdefault(call, []).append(name)
    seen = set(hit)
    while hit:
        for caller in callers.get(hit.pop(), ()):
            if caller not in seen:
                seen.add(caller)
                hit.append(caller)
    return seen


def _clip(text: str) -> str:
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


def _side(was: Check | None, now: str) -> str:
    return f"base `{_clip(was.text) if was else '(none)'}` | change `{_clip(now)}`"
