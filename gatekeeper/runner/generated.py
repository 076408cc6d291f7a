"""Files the project's set-up wrote into its working copy (a versioning plugin's `_version.py`,
an editable install's metadata). The base commit's own run uses the head's environment, whose
editable install points into /work, so the base tree needs them too or it cannot import."""

from __future__ import annotations

import shutil
from pathlib import Path

SKIP = {".git", "__pycache__", ".pytest_cache", "build", "dist", ".tox", ".nox"}
MOST_FILES, LARGEST = 200, 1 << 20


def generated_files(source: Path, work: Path) -> list[str]:
    """Regular files in `work` that `source` does not have, relative; small ones only."""
    found = []
    for path in sorted(work.rglob("*")):
        relative = path.relative_to(work)
        if SKIP & set(relative.parts) or path.is_symlink() or not path.is_file():
            continue
        if not (source / relative).exists() and path.stat().st_size <= LARGEST:
            found.append(relative.as_posix())
            if len(found) == MOST_FILES:
                break
    return found


def base_with(base: Path, work: Path, files: list[str], into: Path) -> Path:
    """`base` as it is, or a copy at `into` with the generated files the base lacks."""
    missing = [f for f in files if not (base / f).exists() and (base / f).parent.is_dir()]
    if not missing:
        return base
    shutil.copytree(base, into, symlinks=True)
    for name in missing:
        shutil.copyfile(work / name, into / name)
    return into
