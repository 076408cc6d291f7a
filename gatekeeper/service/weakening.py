"""Which edited test files to compare with the base's text, within one budget per change.

The comparison itself is pure (gatekeeper.core.weakened); this picks the files the change
modified that hold tests, reads both sides and keeps the work bounded however many there are.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from gatekeeper.core.model import ChangedFile, Finding
from gatekeeper.core.weakened import not_compared, weakened

TEST_NAMES = ("test*.py", "*_test.py", "conftest.py")
TEST_FOLDERS = ("test", "tests", "testing")
MAX_FILES = 200  # each may cost a request for its base text
MAX_TOTAL_CHARS = 2 * 1024**2  # both sides of every file compared, together

Read = Callable[[str], str | None]


def is_test_file(path: str) -> bool:
    parts = path.split("/")
    return parts[-1].endswith(".py") and (
        any(fnmatch.fnmatchcase(parts[-1], p) for p in TEST_NAMES)
        or any(p in TEST_FOLDERS for p in parts[:-1]))


def weakened_tests(files: list[ChangedFile], base_text: Read, head_text: Read) -> list[Finding]:
    """The weakenings in every test file the change modified or renamed (an added or copied
    file leaves the base's tests as they were; a removed one is said elsewhere)."""
    findings: list[Finding] = []
    budget, compared = MAX_TOTAL_CHARS, 0
    for file in files:
        if file.status in ("added", "removed", "copied") or not is_test_file(file.path):
            continue
        if compared >= MAX_FILES:
            findings.append(not_compared(file.path, f"over {MAX_FILES} edited test files"))
            continue
        compared += 1
        try:
            base, head = base_text(file.previous_path or file.path), head_text(file.path)
        except Exception as exc:  # noqa: BLE001 - unread is said as such, never as unweakened
            findings.append(not_compared(file.path, f"not read: {exc.__class__.__name__}"))
            continue
        if base is None or head is None:
            continue  # not a file on one side (a symlink, say): nothing to compare
        budget -= len(base) + len(head)
        if budget < 0:
            findings.append(not_compared(file.path, "over the change's budget of "
                                         f"{MAX_TOTAL_CHARS} characters of test files"))
            continue
        findings += weakened(file.path, base, head, file.patch)
    return findings
