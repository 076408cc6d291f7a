"""The sast stage: semgrep and bandit on what the pull request changed, new versus existing."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from gatekeeper.core.diff import added_lines, changed_lines
from gatekeeper.core.escape import md_code, md_text
from gatekeeper.core.model import ChangedFile, Finding, StageResult
from gatekeeper.scanners import Scanner, ScanResult, ScanTarget, blocks
from gatekeeper.scanners.bandit import Bandit
from gatekeeper.scanners.semgrep import Semgrep


def default_scanners() -> list[Scanner]:
    return [Semgrep(), Bandit()]


# bandit tests that flag a call whatever reaches it; the taint rules (rules/semgrep/taint-web.yml)
# and weak-hash decide these families, so bandit's hit stays a non-blocking hint
SUPERSEDED = {"B102", "B301", "B302", "B303", "B307", "B310", "B311", "B313", "B314", "B315",
              "B316", "B317", "B318", "B319", "B320", "B324", "B405", "B406", "B407", "B408",
              "B409", "B410", "B506", "B602", "B604", "B605", "B606", "B607", "B608", "B609",
              "B308", "B703",  # mark_safe: markup-from-variable and taint-xss decide
              "B701"}  # jinja2 autoescape: jinja2-autoescape-off also reads **options
UNPARSED = {"parse-error", "scan-incomplete"}


def run_sast(source: Path, files: list[ChangedFile], block_on: str,
             scanners: list[Scanner] | None = None, whole_tree: bool = False,
             unparsed: str = "fail") -> StageResult:
    changed = changed_lines(files)
    candidates = changed if not whole_tree else (
        str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
    paths = sorted(p for p in candidates
                   if (source / p).is_file() and not (source / p).is_symlink())
    if not paths:
        return StageResult("sast", "passed", "no changed files to scan")
    target = ScanTarget(source, paths, changed)
    results = [_scan(scanner, target) for scanner in scanners or default_scanners()]
    findings = tuple(_judged(f, block_on) for r in results for f in r.findings)
    findings = _in_base_conftests(findings, files) + tuple(suppressions_added(files))
    summary = _summary(results, findings, len(paths))
    unread = _unread(findings)
    if unread:
        summary = (f"could not analyse {len(unread)} file{'s' if len(unread) > 1 else ''}, so "
                   "they were not checked:\n" + "\n".join(f"- {u}" for u in unread[:20])
                   + "\n\n" + summary)
    # a tool's error quotes its output (stderr, semgrep's messages): the tree's paths and text
    errors = [f"{r.tool}: {md_text(r.error)}" for r in results if r.error]
    if errors:
        return StageResult("sast", "error", "a scanner did not complete, so nothing is known to be "
                           "safe:\n" + "\n".join(f"- {e}" for e in errors) + "\n\n" + summary,
                           findings)
    if any(f.blocking for f in findings):
        status = "failed"
    elif unread:
        status = "failed" if unparsed == "fail" else "incomplete"
        if status == "incomplete":  # not blocking by policy: the approver must say so
            findings = tuple(dataclasses.replace(f, waived_by="scanners.unparsed")
                             if f.rule in UNPARSED else f for f in findings)
    else:
        status = "passed"
    return StageResult("sast", status, summary, findings)


def _in_base_conftests(findings: tuple[Finding, ...],
                       files: list[ChangedFile]) -> tuple[Finding, ...]:
    """Runner hooks in a conftest.py the base already has are the project's own way of
    shaping its suite (and the referee runs the base's version): acknowledged, not blocking."""
    kept = {f.path for f in files if f.status == "modified" and
            f.path.rsplit("/", 1)[-1] == "conftest.py"}
    return tuple(dataclasses.replace(f, blocking=False, waived_by="sast.base-conftest")
                 if f.rule.startswith("runner-") and f.path in kept and f.blocking else f
                 for f in findings)


def _scan(scanner: Scanner, target: ScanTarget) -> ScanResult:
    """A scanner that raises or times out is that scanner's error, never a crash of the stage."""
    try:
        return scanner.scan(target)
    except Exception as exc:  # noqa: BLE001 - any failure of a tool is an honest error
        return ScanResult(scanner.name, error=f"{exc.__class__.__name__}: {str(exc)[:300]}")


SUPPRESSION_RE = re.compile(r"#\s*(nosemgrep|nosec)\b[^\n]*", re.IGNORECASE)


def suppressions_added(files: list[ChangedFile]) -> list[Finding]:
    """Each `# nosec`/`# nosemgrep` the change adds: the scanners ignore them (they would let
    the change silence its own findings), and the approver must acknowledge each."""
    found = []
    for file in files:
        for line, text in added_lines(file.patch):
            match = SUPPRESSION_RE.search(text)
            if match:
                found.append(Finding("gatekeeper", "suppression-added",
                                     f"the change adds a scanner suppression "
                                     f"({match.group(0).strip()[:80]}): scanners ignore it, "
                                     "acknowledge after reading the line", "medium", file.path,
                                     line, line, blocking=False, waived_by="sast.suppression"))
    return found


# a new call of the most dangerous sinks with an argument the rules cannot show constant
# (rules/semgrep/python-injection.yml): whether data from outside reaches it is often beyond
# what a rule can follow, so the approving reviewer must say they looked
NEEDS_ACK = {"shell-injection", "eval-on-input", "unsafe-deserialization",
             "sql-built-from-strings", "markup-from-variable", "tar-extract-without-filter",
             "xml-entities-resolved", "archive-member-path", "runner-reached-from-code"}
ACK = "sast.dangerous-sink"
# rules about test code that cannot tell a neutralised test from a maintainer's reason (a
# platform skip, a known failure): a person says which; an edited test's weakening is shown
# with both versions by the tests stage (core/weakened.py)
TEST_SHAPE = {"test-skipped", "test-assert-true", "test-swallows-errors"}
TEST_ACK = "sast.test-shape"


def in_test_code(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py" or \
        any(part in ("tests", "test", "testing") for part in path.split("/")[:-1])


def _judged(finding: Finding, block_on: str) -> Finding:
    if finding.tool == "semgrep" and finding.rule in TEST_SHAPE and finding.new:
        return dataclasses.replace(finding, blocking=False, waived_by=TEST_ACK,
                                   message=finding.message + " Acknowledge "
                                   f"(`/gatekeeper ack {finding.rule}`) after checking why.")
    if finding.tool == "bandit" and in_test_code(finding.path) and finding.rule not in UNPARSED:
        # test code runs only in the sandbox and ships nowhere: a hard-coded /tmp or an
        # assert there is a hint, not a vulnerability of the product
        return dataclasses.replace(finding, severity="low", blocking=False,
                                   message=finding.message + " (in test code: a hint)")
    if finding.tool == "semgrep" and finding.rule in NEEDS_ACK and finding.new:
        return dataclasses.replace(finding, severity="medium", blocking=False, waived_by=ACK,
                                   message=finding.message + " A new call like this needs the "
                                   f"approver's acknowledgement (`/gatekeeper ack {finding.rule}`)"
                                   " after checking where its input comes from.")
    if finding.tool == "bandit" and finding.rule.split("-", 1)[0] in SUPERSEDED:
        return dataclasses.replace(finding, severity="low", blocking=False,
                                   message=finding.message + " (a hint: Gatekeeper's taint rules "
                                   "decide whether request data reaches it)")
    return dataclasses.replace(finding, blocking=finding.blocking and blocks(finding, block_on))


def _unread(findings: tuple[Finding, ...]) -> list[str]:
    """Each file a scanner could not parse, with the tools and their reasons."""
    by_path: dict[str, list[str]] = {}
    for f in findings:
        if f.rule in UNPARSED:
            by_path.setdefault(f.path or "(unknown file)", []).append(
                f"{f.tool}: {f.message[:120]}")
    # paths and reasons are the pull request's text: escaped for the check run's markdown
    return [f"{md_code(path)} ({md_text('; '.join(why))})" for path, why in sorted(by_path.items())]


def _summary(results: list[ScanResult], findings: tuple[Finding, ...], files: int) -> str:
    new = sum(1 for f in findings if f.new)
    blocking = sum(1 for f in findings if f.blocking)
    tools = ", ".join(r.version or r.tool for r in results)
    return (f"{files} changed files scanned with {tools}: {new} new findings ({blocking} "
            f"blocking), {len(findings) - new} pre-existing")
