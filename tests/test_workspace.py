"""Hostile archives: nothing lands outside the workspace, and every refusal is reported."""

import io
import os
import tarfile
from pathlib import Path

import pytest

from gatekeeper.runner.workspace import CappedReader, ExtractLimits, extract, workspace

TOP = "octo-widgets-abc123/"


def tarball(*members) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind in ("symlink", "hardlink"):
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = payload
                tar.addfile(info)
            elif kind == "device":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
                tar.addfile(info)
    buffer.seek(0)
    return buffer


def test_a_normal_tree_is_extracted_without_its_top_folder(tmp_path):
    result = extract(tarball((TOP, "dir", b""), (TOP + "src/app.py", "file", b"print(1)\n"),
                             (TOP + "link.py", "symlink", "src/app.py")), tmp_path / "ws")
    assert result.clean and (tmp_path / "ws/src/app.py").read_text() == "print(1)\n"
    assert (tmp_path / "ws/link.py").is_symlink()


@pytest.mark.parametrize("member,why", [
    ((TOP + "etc", "symlink", "/etc"), "AbsoluteLinkError"),
    ((TOP + "up", "symlink", "../../../../etc"), "LinkOutsideDestinationError"),
    ((TOP + "../../escape.txt", "file", b"x"), "OutsideDestinationError"),
    ((TOP + "null", "device", None), "SpecialFileError"),
    ((TOP + "shadow", "hardlink", "/etc/shadow"), "Error"),
])
def test_escapes_are_refused_and_reported(tmp_path, member, why):
    outside = tmp_path / "escape.txt"
    result = extract(tarball((TOP + "ok.txt", "file", b"ok"), member), tmp_path / "a" / "ws")
    assert not result.clean
    assert len(result.refused) == 1 and why in result.refused[0]
    assert (tmp_path / "a/ws/ok.txt").read_text() == "ok"
    assert not outside.exists() and not (tmp_path / "a" / "escape.txt").exists()
    assert not any(p.is_symlink() and not p.resolve().is_relative_to(tmp_path)
                   for p in (tmp_path / "a/ws").rglob("*"))


def test_absolute_member_path_stays_inside(tmp_path):
    result = extract(tarball(("/" + TOP + "x", "file", b"x")), tmp_path / "ws")
    assert not (Path("/") / TOP).exists()
    assert result.files <= 1


def test_write_through_a_symlink_to_outside_is_refused(tmp_path):
    (tmp_path / "target").mkdir()
    result = extract(tarball((TOP + "d", "symlink", str(tmp_path / "target")),
                             (TOP + "d/planted.txt", "file", b"x")), tmp_path / "ws")
    assert not (tmp_path / "target/planted.txt").exists()
    assert "AbsoluteLinkError" in result.refused[0]
    assert all(p.resolve().is_relative_to(tmp_path / "ws") for p in (tmp_path / "ws").rglob("*"))


def test_tarball_bomb_is_stopped_by_the_size_cap(tmp_path):
    big = b"\0" * (4 * 1024 * 1024)
    archive = tarball(*[(TOP + f"f{i}", "file", big) for i in range(8)])
    assert len(archive.getvalue()) < 200_000  # compresses to almost nothing
    result = extract(archive, tmp_path / "ws", ExtractLimits(max_bytes=10 * 1024 * 1024))
    assert result.aborted and "expands past" in result.aborted
    assert sum(p.stat().st_size for p in (tmp_path / "ws").rglob("*")) <= 10 * 1024 * 1024


def test_too_many_files_is_stopped(tmp_path):
    archive = tarball(*[(TOP + f"f{i}", "file", b"") for i in range(50)])
    result = extract(archive, tmp_path / "ws", ExtractLimits(max_files=10))
    assert result.aborted and "more than 10 files" in result.aborted


def test_garbage_is_an_unreadable_archive_not_a_crash(tmp_path):
    result = extract(io.BytesIO(b"not a tarball at all"), tmp_path / "ws")
    assert result.aborted and result.aborted.startswith("archive unreadable")


def test_download_cap(tmp_path):
    data = tarball((TOP + "noise", "file", os.urandom(20_000))).getvalue()  # incompressible
    reader = CappedReader(iter([data[i:i + 1000] for i in range(0, len(data), 1000)]), cap=5000)
    result = extract(reader, tmp_path / "ws")
    assert result.aborted and "download over 5000 bytes" in result.aborted


def test_workspace_is_removed_even_after_an_error():
    with pytest.raises(RuntimeError), workspace() as folder:
        (folder / "f").write_text("x")
        raise RuntimeError("boom")
    assert not folder.exists()
