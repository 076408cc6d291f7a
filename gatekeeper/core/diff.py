"""What a pull request changed, line by line, from GitHub's (or git's) unified diffs. Pure."""

from __future__ import annotations

import hashlib
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


def blob_id(content: bytes) -> str:
    """git's id of a blob with this content (sha1 of "blob <size>\\0" and the bytes)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def tree_differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Where an extracted tree (path -> blob id) differs from the commit's tree as GitHub
    lists it: every file of the commit present with its exact content, and nothing else."""
    wrong = [f"{path} is missing" if path not in actual else
             f"{path} differs from the commit's blob {blob[:10]}"
             for path, blob in sorted(expected.items()) if actual.get(path) != blob]
    return wrong + [f"{path} is not in the commit" for path in sorted(actual.keys() - expected)]


def tree_mismatches(files, read) -> list[str]:
    """Changed files the extracted tree lacks or holds with other content. `read(path)`:
    the extracted file's bytes, or None when absent. An archive can leave files out
    (`export-ignore`) or rewrite them (`export-subst`) by the commit's own attributes."""
    wrong = []
    for file in files:
        if file.status == "removed":
            continue
        content = read(file.path)
        if content is None:
            wrong.append(f"{file.path} is missing")
        elif file.sha and blob_id(content) != file.sha:
            wrong.append(f"{file.path} differs from the commit's blob {file.sha[:10]}")
    return wrong
