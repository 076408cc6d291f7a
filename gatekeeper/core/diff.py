"""What a pull request changed, line by line, from GitHub's (or git's) unified diffs. Pure."""

from __future__ import annotations

import re

from gatekeeper.core.model import ChangedFile

HUNK_RE = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)")


def added_lines(patch: str) -> list[tuple[int, str]]:
    """(line number on the new side, text) of every added line."""
    added, line = [], 0
    for row in patch.splitlines():
        hunk = HUNK_RE.match(row)
        if hunk:
            line = int(hunk.group(1))
        elif row.startswith("+") and not row.startswith("+++"):
            added.append((line, row[1:]))
            line += 1
        elif not row.startswith("-") and not row.startswith("\\"):
            line += 1
    return added


def changed_lines(files: list[ChangedFile]) -> dict[str, set[int] | None]:
    """Per file still present: the lines the pull request added, or None for "all of it".

    GitHub leaves out the patch of large or binary files; then every line counts as new,
    so a finding there blocks rather than passing as pre-existing.
    """
    changed: dict[str, set[int] | None] = {}
    for file in files:
        if file.status == "removed":
            continue
        if file.status == "added" or not file.patch:
            changed[file.path] = None
        else:
            changed[file.path] = {line for line, _ in added_lines(file.patch)}
    return changed


def is_new(changed: dict[str, set[int] | None], path: str, start: int, end: int) -> bool:
    if path not in changed:
        return False
    lines = changed[path]
    return lines is None or any(n in lines for n in range(start, max(end, start) + 1))
