"""Safe extraction of a pull request's sources into a fresh, temporary workspace.

Nothing in an archive may land outside the workspace: absolute paths, `..`, links that
point outside, device files and oversize archives are refused and reported, never followed.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gatekeeper.core.diff import blob_id


@dataclass(frozen=True)
class ExtractLimits:
    max_bytes: int = 512 * 1024**2  # total of the files' sizes
    max_files: int = 50_000
    max_archive_bytes: int = 256 * 1024**2  # compressed, as downloaded


@dataclass(frozen=True)
class Extraction:
    root: Path
    files: int
    bytes: int
    refused: tuple[str, ...]  # one line per member refused, with why
    aborted: str | None = None  # a cap that stopped the extraction
    mismatches: tuple[str, ...] = ()  # where the files differ from the commit's own tree

    @property
    def clean(self) -> bool:
        return not self.refused and self.aborted is None


def blob_ids(root: Path) -> dict[str, str]:
    """Every regular file under `root` (links not followed) as path -> git blob id."""
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                found[path.relative_to(root).as_posix()] = blob_id(path.read_bytes())
    return found


class ArchiveTooLarge(Exception):
    pass


@contextmanager
def workspace(prefix: str = "gatekeeper-ws-") -> Iterator[Path]:
    """A fresh directory that is removed afterwards, whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def extract(archive: IO[bytes], dest: Path, limits: ExtractLimits = ExtractLimits()) -> Extraction:
    """Extract a .tar.gz stream (GitHub's tarball: one top-level folder) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    refused: list[str] = []
    files = total = 0
    aborted = None
    try:
        with tarfile.open(fileobj=archive, mode="r|*") as tar:
            for member in tar:
                name = _strip_top(member.name)
                if not name:
                    continue
                files += 1
                total += max(member.size, 0)
                if files > limits.max_files:
                    aborted = f"more than {limits.max_files} files in the archive"
                    break
                if total > limits.max_bytes:
                    aborted = f"archive expands past {limits.max_bytes} bytes"
                    break
                if member.islnk() or member.issym():
                    member = member.replace(linkname=_link_target(member), deep=False)
                member = member.replace(name=name, deep=False)
                try:
                    # the "data" filter refuses absolute paths, "..", links leaving dest,
                    # device files, and clears setuid bits
                    tar.extract(member, dest, filter="data")
                except (tarfile.FilterError, tarfile.ExtractError, OSError, KeyError) as exc:
                    refused.append(f"{member.name}: {exc.__class__.__name__}: {exc}")
    except (tarfile.TarError, EOFError, OSError, ArchiveTooLarge) as exc:
        aborted = aborted or f"archive unreadable: {exc.__class__.__name__}: {exc}"
    return Extraction(dest, files, total, tuple(refused), aborted)


def _strip_top(name: str) -> str:
    """GitHub wraps the tree in OWNER-REPO-SHA/; the tree itself is what follows."""
    parts = name.split("/", 1)
    return parts[1].rstrip("/") if len(parts) == 2 else ""


def _link_target(member: tarfile.TarInfo) -> str:
    # hard links name a member, which lost its top folder like every other
    return _strip_top(member.linkname) if member.islnk() else member.linkname


class CappedReader:
    """A file-like view of a byte iterator that stops past `cap` bytes."""

    def __init__(self, chunks: Iterator[bytes], cap: int):
        self._chunks, self._cap = chunks, cap
        self._buffer = b""
        self.seen = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self.seen += len(chunk)
            if self.seen > self._cap:
                raise ArchiveTooLarge(f"download over {self._cap} bytes")
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data
