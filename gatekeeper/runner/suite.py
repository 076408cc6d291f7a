"""Running a suite in the sandbox and reading what it says: the gate's own pytest flags, the
JUnit report, and what a run means (passed, failed, not run). Shared by both set-ups."""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
import shlex
from pathlib import Path
from xml.etree import ElementTree

from gatekeeper.core.escape import inside_path, md_fence
from gatekeeper.core.model import Finding, StageResult
from gatekeeper.core.policy import Policy
from gatekeeper.runner import sandbox
from gatekeeper.runner.basetests import edited_tests
from gatekeeper.runner.testenv import pytest_collection

REPORT = "/tmp/gatekeeper-junit.xml"
PROJECT_PATH = "GATEKEEPER_PYTHONPATH"  # the project's import folders, added by sitecustomize

SETUP_FAILED = 97  # with SETUP_MARK: the project could not be built, no test ran

SETUP_MARK = "gatekeeper: the project did not build and install"

# a module that does not import (a missing credential, a network call at import) is its own
# error; the rest of the suite still runs, as with the xdist many projects' CI uses. The cache
# plugin stays (its `cache` fixture is used by tests), its files outside the tree.
PYTEST_FLAGS = ["-o", "cache_dir=/tmp/gatekeeper-pytest-cache", "-o", "junit_family=xunit1",
                f"--junitxml={REPORT}", "--continue-on-collection-errors",
                "-p", "gatekeeper_report"]  # the report lands at REPORT wherever conftest puts it

# the gate's pytest launcher, by absolute path: the working copy is never first on the import
# path (`python -m pytest` would put it there: a root `pytest.py` or `gatekeeper_report.py`)
LAUNCHER = f"{sandbox.PYTEST_PLUGINS}/gatekeeper_pytest.py"

TEST_FILES = ("test_*.py", "*_test.py")

UNITTEST_FILES = ("test*.py",)  # unittest's default pattern: tests.py and test*.py too

LOCATION_RE = re.compile(r"^(?P<path>[^\s:]+\.py):(?P<line>\d+): ", re.MULTILINE)

def has_tests(root: Path, patterns: tuple[str, ...] = TEST_FILES) -> bool:
    """Test files by the usual names, or by the project's own `python_files` in its
    `testpaths` (a suite of `test/*.py`, say)."""
    files, paths = pytest_collection(root)
    places = [root / p for p in paths if (root / p).is_dir()] or [root]
    # the project's globs are matched against file names in one walk, never handed to
    # Path.rglob: a pattern with many `**` would be exponential there
    wanted = (*patterns, *(f for f in files if "/" not in f and len(f) <= 100))
    for place in places:
        for count, (_, dirs, names) in enumerate(os.walk(place)):
            dirs[:] = [d for d in dirs if d not in (".git", ".venv", "site-packages")]
            if count > 50_000:
                return False
            if any(fnmatch.fnmatch(name, pattern) for name in names for pattern in wanted):
                return True
    return False


def suite_setting(policy: Policy) -> str:
    """The policy's tests.env and tests.workdir, as shell before the test command."""
    # the policy's PYTHONPATH (the tree's `src`, say) goes on sys.path only once the gate's
    # start-up file has run (it reads PROJECT_PATH): on PYTHONPATH it would come before the
    # standard library, and a tree's `encodings` there runs before anything of the gate's
    lines = [f"export {PROJECT_PATH if name == 'PYTHONPATH' else name}={shlex.quote(value)}"
             for name, value in policy.tests.env.items()]
    # the gate's launcher drops every PYTEST_* variable but those the gate set: these
    kept = [name for name in policy.tests.env if name.startswith("PYTEST_")]
    if kept:
        lines.append(f"export GATEKEEPER_PYTEST_ENV={shlex.quote(','.join(kept))}")
    if policy.tests.workdir:
        folder = shlex.quote(policy.tests.workdir)
        lines.append(f"cd {folder} || {{ echo \"gatekeeper: the policy's tests.workdir\" {folder} "
                     "'is not a folder of this commit'; exit 2; }")
    return "".join(line + "\n" for line in lines)

def interpret(run: sandbox.SandboxResult, is_pytest: bool, notes: list[str]) -> StageResult:
    tail = output_tail(run.stdout + "\n" + run.stderr)
    if run.limit:  # the pull request's own code ran into it: the change's failure
        return StageResult("tests", "failed", f"tests exceeded the {sandbox.describe_limit(run)} "
                                              f"limit and were stopped after {run.duration:.1f} s"
                                              f"\n\n{tail}",
                           (Finding("sandbox", "limit-exceeded", f"tests exceeded the "
                                    f"{sandbox.describe_limit(run)} limit"),))
    if run.exit_code == SETUP_FAILED and SETUP_MARK in run.stdout:
        # the gate could not set the suite up: not a failing test, and said as such
        return StageResult("tests", "error", "could not run the suite: the project did not "
                                             "build and install offline in the sandbox (its "
                                             "[build-system] or setup.py; the policy's "
                                             f"tests.command can replace this step)\n\n{tail}")
    if not is_pytest:
        status = "passed" if run.exit_code == 0 else "failed"
        return StageResult("tests", status, f"test command exited {run.exit_code} in "
                                            f"{run.duration:.1f} s\n\n{tail}")
    if run.result is None or not run.result.strip():
        return StageResult("tests", "error", "\n".join([
            f"the test run wrote no JUnit report (exit {run.exit_code}): pytest did not start "
            "or stopped before collecting", *notes, "", tail]))
    try:
        counts, findings = parse_junit(run.result)
    except ElementTree.ParseError as exc:
        return StageResult("tests", "error", f"the JUnit report is not valid XML: {exc}")
    summary = (f"{counts['passed']} passed, {counts['failed']} failed, {counts['errors']} errors, "
               f"{counts['skipped']} skipped in {run.duration:.1f} s")
    if run.exit_code == 5 or counts["total"] == 0:
        return StageResult("tests", "failed", "no tests ran (pytest collected nothing)\n\n" + tail,
                           (Finding("gatekeeper", "tests/none-executed", "no test ran: pytest "
                                    "collected nothing, so nothing shows the change works"),))
    if counts["total"] == counts["skipped"]:  # all skipped or deselected: nothing was tested
        return StageResult("tests", "failed", f"no test executed: all {counts['skipped']} "
                                              f"skipped\n\n{tail}",
                           (Finding("gatekeeper", "tests/none-executed", "no test executed: "
                                    "every test was skipped"),))
    if run.exit_code not in (0, 1):
        return StageResult("tests", "error", "\n".join([f"pytest exited {run.exit_code}: {summary}",
                                                        *notes, "", tail]), tuple(findings))
    lines = [summary, *notes]
    if run.exit_code != 0 and not findings:  # e.g. a session-level error after the tests
        lines += ["", tail]
        findings.append(Finding("gatekeeper", "tests/run-failed", f"pytest exited "
                                f"{run.exit_code} though no test failed: the run itself failed "
                                "(its output's last lines are in the summary)"))
    return StageResult("tests", "failed" if findings else "passed", "\n".join(lines),
                       tuple(findings))

def parse_junit(xml: bytes) -> tuple[dict[str, int], list[Finding]]:
    root = ElementTree.fromstring(xml)
    counts = {"total": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    findings: list[Finding] = []
    for case in root.iter("testcase"):
        counts["total"] += 1
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")),
                       None)
        if outcome is None:
            counts["passed"] += 1
            continue
        if outcome.tag == "skipped":
            counts["skipped"] += 1
            continue
        counts["failed" if outcome.tag == "failure" else "errors"] += 1
        findings.append(_test_finding(case, outcome))
    return counts, findings

def _test_finding(case: ElementTree.Element, outcome: ElementTree.Element) -> Finding:
    text = (outcome.text or "") + "\n" + (outcome.get("message") or "")
    path, line = case.get("file", ""), int(case.get("line", "-1")) + 1
    located = [m for m in LOCATION_RE.finditer(text) if inside_path(m.group("path"))]
    if located:  # where the assertion failed, rather than where the test starts
        path, line = inside_path(located[-1].group("path")), int(located[-1].group("line"))
    path = inside_path(path)  # a report's path that leaves the repository is not used
    name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
    message = (outcome.get("message") or outcome.tag).strip().splitlines()[0][:500]
    return Finding("pytest", f"test-{outcome.tag}", f"{name} {outcome.tag}: {message}",
                   path=path, start_line=max(line, 1), end_line=max(line, 1))

def _ids(xml: bytes, failed: bool) -> set[str]:
    """`classname::name` of the tests that failed or errored (`failed`), or that ran and
    passed (not `failed`: no failure, error or skip)."""
    found = set()
    for case in ElementTree.fromstring(xml).iter("testcase"):
        tags = {child.tag for child in case}
        if (bool(tags & {"failure", "error"}) if failed else
                not tags & {"failure", "error", "skipped"}):
            found.add(f"{case.get('classname', '')}::{case.get('name', '')}".strip(":"))
    return found

def passed_ids(xml: bytes) -> set[str]:
    """Every test that ran and passed in a JUnit report."""
    return _ids(xml, failed=False)

def failing_ids(xml: bytes) -> set[str]:
    """Every test that failed or errored in a JUnit report."""
    return _ids(xml, failed=True)

def base_tests_not_run(result: StageResult, policy: Policy, base: Path | None,
                        touched: list[str] | None, patterns: tuple[str, ...],
                        why: str) -> StageResult:
    """The base's versions of edited tests could not be run on the change: the reviewer is
    told, with a warning, rather than the check passing in silence."""
    edited = edited_tests(touched or [], base, patterns) if base is not None else []
    if not edited or policy.tests.base_tests == "off":
        return result
    shown = ", ".join(edited[:5]) + (" …" if len(edited) > 5 else "")
    warning = Finding("gatekeeper", "base-tests-not-compared",
                      f"the change edits tests ({shown}); their base versions were not run "
                      f"on the change's code: {why}. Check the edits by hand.",
                      severity="medium", blocking=False)
    return dataclasses.replace(result, findings=(*result.findings, warning))

def output_tail(text: str, lines: int = 30) -> str:
    kept = text.strip().splitlines()[-lines:]
    return md_fence("\n".join(kept)) if kept else ""  # output the test run cannot break out of
