"""What the change's code tried when its tests ran, as findings: each kind of attempt the
head's runs made (the change's own run and the base suite on the change's code) that the
base's own run did not. Pure: records in, findings out.

A record: {"kind", "target", "test", "at"} from the attempt log (`at` is the first repository
frame, "path:line"). Kinds: network, credential, shell, process, file, environment, native,
introspection (gc's object walks: how the hook is found, and how leak tests look for cycles),
tamper (the hook itself reached, the log's key read, or lines in the log the hook did not
write: never excused by the base). Credential reads and tampering block;
the rest need the approving reviewer's acknowledgement (`/gatekeeper ack attempt-network`,
...), or block under the policy's `tests.attempts: block`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gatekeeper.core.escape import inside_path, plain
from gatekeeper.core.model import Finding, StageResult, with_findings

ACK = "tests.attempts"
BLOCKING = ("credential", "tamper")
ORDER = ("credential", "tamper", "network", "shell", "process", "native", "introspection",
         "environment", "file")
SHOWN_PER_KIND = 5

_WHAT = {
    "network": "tried to connect to {} (blocked: the sandbox has no network)",
    "credential": "read {}, where credentials are kept",
    "shell": "started a shell: {}",
    "process": "started a process: {}",
    "file": "opened {}, outside the work and temporary folders",
    "environment": "read the environment variable {} (the sandbox holds no secrets)",
    "native": "loaded native code: {}",
    "tamper": "reached for the gate's attempt log ({})",
    "introspection": "walked the interpreter's objects ({}): how the gate's hook is found, or a "
                     "leak test; check which",
}


def key(record: dict) -> tuple[str, str]:
    """What two runs are compared on: a program by its name, a process's pid folder as N."""
    kind, target = record.get("kind", ""), record.get("target", "")
    if kind == "shell":
        words = target.split()
        command = words[2:3] if words[1:2] == ["-c"] else words[1:2]
        return kind, " ".join(words[:1] + [w.rsplit("/", 1)[-1] for w in command])
    if kind == "process":
        return kind, target.split(" ", 1)[0]
    return kind, re.sub(r"^/proc/\d+/", "/proc/N/", target)


UNCOMPARED = ("credential", "tamper", "network", "shell")  # kinds shown with no base to compare


def attempt_findings(head: Iterable[dict], base: set[tuple[str, str]] | None,
                     lost: int = 0, setting: str = "ack") -> list[Finding]:
    """Findings for the head's attempts the base did not make. `base` None: the base's own run
    gave no log, so only the kinds no suite needs count (and say so). `lost`: lines in the log
    the gate's hook did not write (they block). `setting`: the policy's tests.attempts (ack, block or off)."""
    if setting == "off":
        return []
    first: dict[tuple[str, str], dict] = {}
    tests: dict[tuple[str, str], set[str]] = {}
    head = list(head)
    for record in head:
        k = key(record)
        # tampering, and a kind past the log's bound, are never the base's doing
        fixed = k[0] == "tamper" or record.get("overflow")
        if not fixed and ((k in base) if base is not None else (k[0] not in UNCOMPARED)):
            continue
        first.setdefault(k, record)
        if record.get("test"):
            tests.setdefault(k, set()).add(_test(record["test"]))
    findings = []
    for kind in ORDER:
        keys = [k for k in first if k[0] == kind]
        for k in keys[:SHOWN_PER_KIND]:
            findings.append(_finding(first[k], sorted(tests.get(k, ())),
                                     "" if base is not None else " (the base's own run left no "
                                     "log to compare with)"))
        if len(keys) > SHOWN_PER_KIND:
            findings.append(_made(kind, f"{len(keys) - SHOWN_PER_KIND} more {kind} attempts "
                                        "not shown, each new on the change", "", 0))
    if lost and not any(r.get("log") for r in head):  # else the log's own record says so
        findings.append(Finding("sandbox", "attempt-log-incomplete", f"{lost} lines in the "
                                "attempt log were not written by the gate's hook (forged, "
                                "replayed or cut): what the code tried is not known", "high"))
    if setting == "block":
        findings = [Finding(f.tool, f.rule, f.message, "high", f.path, f.start_line, f.end_line)
                    for f in findings]
    return findings


def _test(current: str) -> str:
    """PYTEST_CURRENT_TEST's `path::name (call)` without its phase."""
    return plain(re.sub(r" \((setup|call|teardown)\)$", "", current))[:200]


SETUP_KINDS = ("credential", "tamper")  # what no installer or build backend does


def setup_findings(records: Iterable[dict]) -> list[Finding]:
    """What the project's own build and install code tried during set-up, where installers
    legitimately reach the index and start processes: only credential reads and tampering."""
    seen: dict[tuple[str, str], dict] = {}
    for record in records:
        if record.get("kind") in SETUP_KINDS:
            seen.setdefault(key(record), record)
    return [_finding(r, [], "", who="set-up (the project's own build or install code)")
            for r in list(seen.values())[:SHOWN_PER_KIND * 2]]


def _finding(record: dict, tests: list[str], note: str, who: str = "") -> Finding:
    kind = record.get("kind", "")
    what = _WHAT.get(kind, kind + ": {}").format(plain(record.get("target", ""))[:200])
    who = who or (f"{tests[0]}" + (f" and {len(tests) - 1} more tests" if len(tests) > 1
                                   else "") if tests else
                  "code outside any test (collection, a fixture at start-up, or a child)")
    path, _, line = (record.get("at") or "").rpartition(":")
    where = inside_path(path) if line.isdigit() else ""
    return _made(kind, f"{who} {what}{note}", where, int(line) if where else 0)


def _made(kind: str, message: str, path: str, line: int) -> Finding:
    blocking = kind in BLOCKING
    return Finding("sandbox", f"attempt-{kind}", message, "high" if blocking else "medium",
                   path, line, line, blocking=blocking, waived_by="" if blocking else ACK)


def with_attempts(result: StageResult, head: Iterable[dict], base: set[tuple[str, str]] | None,
                  lost: int, setting: str) -> StageResult:
    """The tests stage with the change's new attempts as findings; a blocking one fails it."""
    return with_findings(result, attempt_findings(head, base, lost, setting))
