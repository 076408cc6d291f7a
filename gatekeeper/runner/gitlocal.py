"""A local git checkout as the gate sees a pull request: changed files with diffs, and trees."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gatekeeper.core.model import ChangedFile
from gatekeeper.runner.workspace import Extraction, extract

STATUS = {"A": "added", "M": "modified", "D": "removed", "R": "renamed", "C": "copied",
          "T": "modified"}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()[:300]}")
    return done.stdout


def changed_files(repo: Path, base: str, head: str) -> list[ChangedFile]:
    """Files changed from the merge base of `base` to `head`, each with its -U0 diff."""
    fields = git(repo, "diff", "--name-status", "-z", "-M", f"{base}...{head}").split("\0")
    files = []
    i = 0
    while i < len(fields) - 1:
        code = fields[i][:1]
        if code in ("R", "C"):
            old, new = fields[i + 1], fields[i + 2]
            i += 3
        else:
            old, new = None, fields[i + 1]
            i += 2
        patch = "" if code == "D" else git(repo, "diff", "-U0", f"{base}...{head}", "--", new)
        files.append(ChangedFile(new, STATUS.get(code, "modified"), old, _hunks(patch)))
    return files


def _hunks(diff: str) -> str:
    """GitHub's `patch` field starts at the first hunk; so does this."""
    start = diff.find("\n@@")
    return diff[start + 1:] if start >= 0 else ""


def export_tree(repo: Path, ref: str, dest: Path) -> Extraction:
    """The tree at `ref`, written through the same safe extraction as a GitHub tarball."""
    archive = subprocess.Popen(["git", "-C", str(repo), "archive", "--format=tar",
                                "--prefix=tree/", ref], stdout=subprocess.PIPE)
    try:
        return extract(archive.stdout, dest)
    finally:
        archive.stdout.close()
        archive.wait(timeout=60)


def file_at(repo: Path, ref: str, path: str) -> str | None:
    done = subprocess.run(["git", "-C", str(repo), "show", f"{ref}:{path}"], capture_output=True,
                          text=True, timeout=60)
    return done.stdout if done.returncode == 0 else None


def line_at(repo: Path, ref: str, path: str, number: int) -> str:
    """One line of a file at `ref`, or "" when there is no such line."""
    lines = (file_at(repo, ref, path) or "").splitlines()
    return lines[number - 1] if 0 < number <= len(lines) else ""


def latest_tag(repo: Path, ref: str) -> str | None:
    """The newest tag reachable from `ref` (versioning plugins read the version from it)."""
    done = subprocess.run(["git", "-C", str(repo), "describe", "--tags", "--abbrev=0", ref],
                          capture_output=True, text=True, timeout=60)
    tag = done.stdout.strip()
    return tag if done.returncode == 0 and tag and not tag.startswith("-") else None
