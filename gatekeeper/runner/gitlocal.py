"""A local git checkout as the gate sees a pull request: changed files with diffs, and trees."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

from gatekeeper.core.model import ChangedFile
from gatekeeper.runner.workspace import Extraction, extract

STATUS = {"A": "added", "M": "modified", "D": "removed", "R": "renamed", "C": "copied",
          "T": "modified"}


def git(repo: Path, *args: str, errors: str = "replace") -> str:
    """git's output as text; bytes that are not UTF-8 (a Latin-1 file's diff) are data, read
    with replacement. Paths are read with `errors="surrogateescape"`, as the tree export
    reads them, so a name that is not UTF-8 still names the same file."""
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, encoding="utf-8",
                          errors=errors, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()[:300]}")
    return done.stdout


def changed_files(repo: Path, base: str, head: str) -> list[ChangedFile]:
    """Files changed from the merge base of `base` to `head`, each with its -U0 diff."""
    fields = git(repo, "diff", "--name-status", "-z", "-M", f"{base}...{head}",
                 errors="surrogateescape").split("\0")
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


def export_tree(repo: Path, ref: str, dest: Path, missing_ok: bool = False) -> Extraction:
    """The tree at `ref` exactly as committed, through the same safe extraction as a GitHub
    tarball. Not `git archive`: it applies the tree's own `.gitattributes` (export-ignore,
    export-subst), so a commit could hide files from the gate or rewrite them."""
    listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "-z", "--full-tree", ref],
                             capture_output=True, timeout=120)
    if listing.returncode != 0:
        raise RuntimeError(f"git ls-tree failed: {listing.stderr.decode(errors='replace')[:300]}")
    entries = []
    for record in listing.stdout.split(b"\0"):
        if record:
            meta, _, path = record.partition(b"\t")
            mode, kind, sha = meta.split()
            if kind == b"blob":  # submodules (commit entries) have no content here
                entries.append((mode.decode(), sha.decode(), path.decode("utf-8", "surrogateescape")))
    with tempfile.TemporaryFile() as archive:
        _write_tar(repo, entries, archive, missing_ok)
        archive.seek(0)
        return extract(archive, dest)


def _write_tar(repo: Path, entries: list[tuple[str, str, str]], out,
               missing_ok: bool = False) -> None:
    """A tar of the blobs, read with one `git cat-file --batch` (no attribute, no filter)."""
    reader = subprocess.Popen(["git", "-C", str(repo), "cat-file", "--batch"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=out, mode="w") as tar:
            for mode, sha, path in entries:
                reader.stdin.write(sha.encode() + b"\n")
                reader.stdin.flush()
                header = reader.stdout.readline().split()
                if len(header) < 3:  # "<sha> missing": a partial clone or mirror
                    if missing_ok:
                        continue
                    raise RuntimeError(f"{path}: blob {sha[:10]} is missing from {repo} "
                                       "(fetch the whole history)")
                size = int(header[2])
                content = reader.stdout.read(size)
                reader.stdout.read(1)  # the newline after each object
                info = tarfile.TarInfo(f"tree/{path}")
                if mode == "120000":
                    info.type, info.linkname = tarfile.SYMTYPE, content.decode(errors="replace")
                    tar.addfile(info)
                    continue
                info.size, info.mode = size, 0o755 if mode == "100755" else 0o644
                tar.addfile(info, io.BytesIO(content))
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)


def file_at(repo: Path, ref: str, path: str) -> str | None:
    done = subprocess.run(["git", "-C", str(repo), "show", f"{ref}:{path}"], capture_output=True,
                          encoding="utf-8", errors="replace", timeout=60)
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
