"""Files the project's set-up wrote into its working copy (a versioning plugin's `_version.py`,
an editable install's metadata). The base commit's own run uses the head's environment, whose
editable install points into /work, so the base tree needs them too or it cannot import."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SKIP = {".git", "__pycache__", ".pytest_cache", "build", "dist", ".tox", ".nox"}
MOST_FILES, LARGEST = 200, 1 << 20


def generated_files(source: Path, work: Path) -> list[str]:
    """Regular files in `work` that `source` does not have, relative; small ones only. The
    walk never follows a link: set-up code could have planted one to a host path."""
    found = []
    for folder, dirs, names in os.walk(work):  # followlinks=False
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        for name in sorted(names):
            path = Path(folder) / name
            relative = path.relative_to(work)
            if path.is_symlink() or not path.is_file() or (source / relative).exists() or \
                    path.stat().st_size > LARGEST:
                continue
            found.append(relative.as_posix())
            if len(found) == MOST_FILES:
                return found
    return found


def base_with(base: Path, work: Path, files: list[str], into: Path) -> Path:
    """`base` as it is, or a copy at `into` with the generated files the base lacks, each
    into a real folder of the base (never through a link the base holds)."""
    missing = [f for f in files if not (base / f).exists() and _real_folder(base, f)]
    if not missing:
        return base
    shutil.copytree(base, into, symlinks=True)
    for name in missing:
        shutil.copyfile(work / name, into / name, follow_symlinks=False)
    return into


def _real_folder(base: Path, name: str) -> bool:
    """The file's folder exists in `base` and no part of its path is a link."""
    parts = Path(name).parts[:-1]
    return all(not (base.joinpath(*parts[:i + 1])).is_symlink() and
               base.joinpath(*parts[:i + 1]).is_dir() for i in range(len(parts)))
