"""The referee's verdict: the base branch's suite, run by the gate on the change's code.

The pull request controls its own tests, their configuration and their process, so its own
run is evidence only. What decides is the base's tests and configuration on the head's code:
a base test the change did not touch that fails there (and not on the base) blocks, whatever
the head's run says; one the change edited needs the reviewer's acknowledgement, since that is
what an intended behaviour change looks like.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from dataclasses import dataclass

from gatekeeper.core.model import Finding

ACK = "tests.referee"  # the waiver an approval acknowledges with /gatekeeper ack RULE


@dataclass(frozen=True)
class SessionRecord:
    """What a pytest session registered, as the gate's report plugin wrote it at its end."""
    plugins: dict[str, tuple[str, ...]]  # plugin name -> hooks it implements
    entrypoints: tuple[str, ...] = ()  # plugins loaded from distributions' entry points
    inifile: str | None = None
    rootdir: str | None = None
    site: tuple[str, ...] = ()  # plugins whose code is installed (their hooks vary by version)

    @classmethod
    def decode(cls, text: bytes | str) -> SessionRecord | None:
        """From the report's record; None when it is not one the plugin could have written."""
        try:
            data = json.loads(base64.b64decode(text, validate=True))
            plugins = {str(k): tuple(str(h) for h in v) for k, v in data["plugins"].items()}
            return cls(plugins, tuple(str(n) for n in data["entrypoints"]),
                       data["inifile"] if isinstance(data["inifile"], str) else None,
                       data["rootdir"] if isinstance(data["rootdir"], str) else None,
                       tuple(str(n) for n in data["site"]))
        except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
            return None

    def encode(self) -> dict:
        return {"plugins": {k: list(v) for k, v in self.plugins.items()},
                "entrypoints": list(self.entrypoints), "inifile": self.inifile,
                "rootdir": self.rootdir, "site": list(self.site)}

    @classmethod
    def of(cls, data: dict | None) -> SessionRecord | None:
        if not data:
            return None
        return cls({k: tuple(v) for k, v in data["plugins"].items()},
                   tuple(data["entrypoints"]), data["inifile"], data["rootdir"],
                   tuple(data["site"]))


@dataclass(frozen=True)
class RefereeRun:
    failing: dict[str, tuple[str, int]]  # test id -> (file, line), failures and errors
    executed: int  # tests that ran: passed, failed or errored (not skipped)
    messages: dict[str, str]  # test id -> first line of its failure
    attempts: tuple[dict, ...] = ()  # what the change's code tried under the base's tests
    covered: dict[str, frozenset[int]] | None = None  # lines of the change's code that ran
    coverage_errors: tuple[str, ...] = ()
    passed: frozenset[str] = frozenset()  # test ids that ran and passed
    attempts_lost: int = 0  # lines in its attempt log the gate's hook did not write
    sessions: tuple[SessionRecord | None, ...] = ()  # the session records its report holds
    left_out: tuple[str, ...] = ()  # the head's files its working copy did not take
    missing_plugins: tuple[str, ...] = ()  # the base's plugins the change's environment lacks

    def with_copy(self, left_out: tuple[str, ...], missing: tuple[str, ...]) -> RefereeRun:
        return dataclasses.replace(self, left_out=left_out, missing_plugins=missing)


TAMPER = "runner-tampering/referee-session"


def session_findings(base: SessionRecord | None, run: RefereeRun) -> list[Finding]:
    """The referee's pytest session against the base's own: a plugin or hook implementation
    the base's run did not have was brought in by the change (its code, its environment), and
    a session without exactly one record had its report rewritten. Both block."""
    if base is None:
        return []  # the base's own run left no record: nothing to compare with (said apart)
    if len(run.sessions) != 1 or run.sessions[0] is None:
        return [Finding("tests", TAMPER, f"the referee's report holds {len(run.sessions)} "
                        "session records where the gate's plugin writes exactly one: the report "
                        "was rewritten or forged after pytest finished", "high")]
    extra = []
    for name, hooks in sorted(run.sessions[0].plugins.items()):
        known = base.plugins.get(name)
        if known is None:
            extra.append(f"plugin {name!r} (hooks: {', '.join(hooks) or 'none'})")
        elif set(hooks) - set(known) and name not in base.site:
            extra.append(f"plugin {name!r} gained hooks "
                         f"{', '.join(sorted(set(hooks) - set(known)))}")
    if not extra:
        return []
    return [Finding("tests", TAMPER, "the referee's pytest session registered what the base's "
                    "own run did not: " + "; ".join(extra[:10]) + ". The change's code or "
                    "environment put it there; it can rewrite any outcome", "high")]


def judge(run: RefereeRun | None, base_failing: set[str] | None, base_executed: int | None,
          edited: set[str], why_not_run: str = "",
          head_executed: int | None = None,
          passed_again: frozenset[str] = frozenset()) -> tuple[list[Finding], str]:
    """Findings and one summary line. `edited`: test files the change modified (kept, not
    deleted: a deleted test that fails on the change blocks like any other). `passed_again`:
    new failures that passed when the referee ran them again alone (flaky or order-dependent:
    the approver must acknowledge, never silently passed)."""
    if run is None:
        return [Finding("tests", "referee-not-run", "the base branch's suite could not be run "
                        f"on this change ({why_not_run}): nothing decides that its tests still "
                        "pass", severity="high")], (
            f"- referee: the base branch's suite could not be run on this change "
            f"({why_not_run}): blocking")
    if run.executed == 0:
        return [Finding("tests", "referee-ran-nothing", "the base branch's suite ran no test on "
                        "this change" + (f" (it ran {base_executed} on the base commit)"
                                         if base_executed else "") + ": nothing decides that "
                        "its tests still pass", severity="high")], (
            "- referee: the base branch's suite ran no test on this change: blocking")
    known = base_failing or set()
    new = sorted(t for t in run.failing if t not in known)
    findings = []
    for test in new:
        path, line = run.failing[test]
        message = run.messages.get(test, "failed")
        if test in passed_again:
            findings.append(Finding(
                "tests", "base-test-flaky", f"the base branch's version of {test} failed on "
                f"this change in the full run ({message}) and passed when run again alone: "
                "flaky, or dependent on what ran before it. Check that the change did not "
                "cause it and acknowledge", "medium", path, line, line,
                blocking=False, waived_by=ACK))
        elif path in edited or _of_edited(test, edited):
            findings.append(Finding(
                "tests", "base-test-changed", f"the base branch's version of {test} fails on "
                f"this change, which edits that test: an intended change of behaviour? Read "
                f"the test's diff and acknowledge ({message})", "medium", path, line, line,
                blocking=False, waived_by=ACK))
        else:
            findings.append(Finding(
                "tests", "base-test-fails", f"the base branch's version of {test} fails on "
                f"this change (and not on the base commit), whatever the change's own run "
                f"says: {message}", "high", path, line, line))
    if base_executed is not None and run.executed < base_executed:
        findings.append(Finding(
            "tests", "fewer-tests-ran", f"the base branch's suite ran {run.executed} tests on "
            f"this change where it ran {base_executed} on the base commit: tests were skipped "
            "or no longer collected; acknowledge after checking why", "medium",
            blocking=False, waived_by=ACK))
    elif base_executed is not None and head_executed is not None and \
            head_executed < base_executed:
        findings.append(Finding(
            "tests", "fewer-tests-ran", f"the change's own run executed {head_executed} tests "
            f"where the base commit ran {base_executed}: tests were removed, skipped or "
            "deselected; acknowledge after checking why", "medium",
            blocking=False, waived_by=ACK))
    unknown = "" if base_failing is not None else " (the base commit's own failures are " \
        "unknown, so none is taken as pre-existing)"
    line = (f"- referee: the base branch's suite on this change: {run.executed} ran, "
            f"{len(run.failing)} failing, {len(new)} not failing on the base{unknown}")
    return findings, line


def _of_edited(test: str, edited: set[str]) -> bool:
    """Whether the test lives in an edited file, by its id (`tests.test_llm.TestLLM::test_x`):
    a failure's location is where it failed, often the code under test, not the test."""
    classname = test.split("::")[0]
    modules = {p[:-3].replace("/", ".") for p in edited if p.endswith(".py")}
    return any(classname == m or classname.startswith(m + ".") for m in modules)


def flaky_in_own_run(own: tuple[Finding, ...], run: RefereeRun | None,
                     edited: set[str]) -> tuple[Finding, ...]:
    """A failure in the change's own run of a base test the change did not edit, which the
    referee ran on the same code and saw pass: flaky or order-dependent under load, say. The
    approver acknowledges it; it does not block (the referee's run is what decides)."""
    if run is None:
        return own
    kept = []
    for finding in own:
        test = finding.message.split(" ")[0]
        if finding.tool == "pytest" and finding.blocking and test in run.passed and \
                finding.path not in edited and not _of_edited(test, edited):
            finding = dataclasses.replace(
                finding, rule="own-run-flaky", severity="medium", blocking=False, waived_by=ACK,
                message=f"{finding.message} (failed in the change's own run; the base's "
                        "version passed in the referee's run on the same code: flaky or "
                        "order-dependent? Acknowledge after checking)")
        kept.append(finding)
    return tuple(kept)
