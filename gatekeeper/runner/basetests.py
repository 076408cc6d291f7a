"""The base branch's tests against the change's code: an agent that edits tests until they
pass gets a green suite of its own, but the tests it edited still say what they used to.

For every test file the change modified or deleted, the base commit's version runs on the head
commit's tree (in the sandbox, with the same environment as the suite). A test that fails there
and not on the base commit is a finding: "the base branch's tests fail on this change".
"""

from __future__ import annotations

import dataclasses
import fnmatch
import shlex
from pathlib import Path
from xml.etree import ElementTree

from gatekeeper.core.model import Finding
from gatekeeper.runner import sandbox


def edited_tests(changed: list[str], base: Path, patterns: tuple[str, ...]) -> list[str]:
    """Test files of the base commit that the change touched (modified, renamed or deleted)."""
    return sorted(p for p in changed
                  if any(fnmatch.fnmatch(p.rsplit("/", 1)[-1], pat) for pat in patterns)
                  and (base / p).is_file() and not (base / p).is_symlink())


def _script(prepare: str, base: Path, paths: list[str], pytest: str, overlay: bool) -> str:
    lines = [prepare]
    if overlay:  # the base's versions over the change's tree (its /work copy is writable)
        for path in paths:
            folder = path.rsplit("/", 1)[0] if "/" in path else "."
            lines.append(f"mkdir -p {shlex.quote(folder)} && "
                         f"cp {shlex.quote(str(base / path))} {shlex.quote(path)}")
    lines.append(f"{pytest} -- {' '.join(shlex.quote(p) for p in paths)}")
    return "\n".join(lines) + "\n"


def base_tests_fail(source: Path, base: Path, paths: list[str], prepare_head: str,
                    prepare_base: str, pytest: str, report: str, binds: list[str],
                    limits: sandbox.Limits | None, parse) -> tuple[list[Finding], str]:
    """Findings for base tests that fail on the change's code but not on the base's own, and
    a note for the summary. `parse` reads a JUnit report into (counts, findings)."""
    limits = limits or sandbox.Limits()
    head_run = sandbox.run(source, ["/bin/sh", "-c", _script(prepare_head, base, paths, pytest,
                                                             True)],
                           limits, collect=report, binds=[*binds, str(base)])
    failing = _failures(head_run, parse)
    if failing is None:  # a change that makes the base's tests hang or crash is not let through
        why = sandbox.describe_limit(head_run) + " limit" if head_run.limit else "no report"
        return [Finding("tests", "base-tests-not-run", "the base branch's versions of the edited "
                        f"test files could not be run against this change ({why})",
                        path=paths[0], start_line=1, end_line=1)], (
            f"- the base branch's versions of {len(paths)} edited test file(s) could not be run "
            f"against this change ({why}): blocking")
    if not failing:
        return [], (f"- the base branch's versions of the {len(paths)} test file(s) this change "
                    "edits pass on it too")
    base_run = sandbox.run(base, ["/bin/sh", "-c", _script(prepare_base, base, paths, pytest,
                                                           False)],
                           limits, collect=report, binds=binds)
    before = {f.message.split(" ")[0] for f in _failures(base_run, parse) or []}
    new = [f for f in failing if f.message.split(" ")[0] not in before]
    findings = [dataclasses.replace(
        f, rule="base-test-fails", severity="high", new=True, blocking=True,
        message=f"the base branch's version of this test fails on this change: {f.message}")
        for f in new]
    note = (f"- {len(new)} test{'s' if len(new) != 1 else ''} of the base branch fail"
            f"{'' if len(new) != 1 else 's'} on this change (the change edited them)"
            if new else "- the base branch's edited tests fail on the base commit too")
    return findings, note


def _failures(run: sandbox.SandboxResult, parse) -> list[Finding] | None:
    if run.limit or not run.result:
        return None
    try:
        _, findings = parse(run.result)
    except ElementTree.ParseError:
        return None
    return [f for f in findings if f.rule in ("test-failure", "test-error")]
