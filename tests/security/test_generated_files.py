"""Files set-up generated are copied into a copy of the base tree for the base's own run:
never through a link the base holds, never read through a link set-up planted."""

from gatekeeper.runner.generated import base_with, generated_files


def test_a_generated_file_never_lands_through_a_link_in_the_base(tmp_path):
    outside = tmp_path / "host"
    outside.mkdir()
    work, source, base = tmp_path / "work", tmp_path / "source", tmp_path / "base"
    for root in (work, source, base):
        root.mkdir()
    (work / "src").mkdir()
    (work / "src" / "_version.py").write_text("version = '1'\n")
    (base / "src").symlink_to(outside)  # the base's own tree holds a link out
    files = generated_files(source, work)
    assert files == ["src/_version.py"]
    assert base_with(base, work, files, tmp_path / "copy") == base  # nothing copied
    assert list(outside.iterdir()) == []
    # control: the same file into a real folder of the base is copied
    real = tmp_path / "base2"
    (real / "src").mkdir(parents=True)
    into = base_with(real, work, files, tmp_path / "copy2")
    assert (into / "src" / "_version.py").read_text() == "version = '1'\n"


def test_a_link_set_up_planted_is_not_followed_to_read_host_files(tmp_path):
    secret = tmp_path / "host"
    secret.mkdir()
    (secret / "key.py").write_text("SECRET\n")
    work, source = tmp_path / "work", tmp_path / "source"
    source.mkdir()
    (work / "pkg").mkdir(parents=True)
    (work / "pkg" / "made.py").write_text("x = 1\n")  # control: a real generated file
    (work / "pkg" / "leak").symlink_to(secret)
    (work / "pkg" / "key.py").symlink_to(secret / "key.py")
    assert generated_files(source, work) == ["pkg/made.py"]
