"""The stages together: a crash in one is a red stage, never a missing one."""

import io
import tarfile

from factories import policy

from gatekeeper.core.model import ChangedFile
from gatekeeper.runner.workspace import extract
from gatekeeper.service import stages
from gatekeeper.service.settings import load_stage_config


def fetch_tree(files):
    def fetch(dest):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, text in files.items():
                info = tarfile.TarInfo("top/" + name)
                info.size = len(text)
                tar.addfile(info, io.BytesIO(text.encode()))
        buffer.seek(0)
        return extract(buffer, dest)
    return fetch


def test_a_crashing_stage_is_an_error_and_the_others_still_run(monkeypatch, wheel_cache):
    def boom(*args, **kwargs):
        raise MemoryError("scanner exploded")

    monkeypatch.setattr(stages, "run_sast", boom)
    config = load_stage_config({"GATEKEEPER_CACHE_DIR": str(wheel_cache),
                                "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"})
    results = stages.run_stages(policy("stages:\n  tests: false\n"), fetch_tree({"a.py": "x = 1\n"}),
                                [ChangedFile("a.py", "added")], lambda path: None, config)
    assert results["sast"].status == "error"
    assert "crashed: MemoryError: scanner exploded" in results["sast"].summary
    assert results["dependencies"].status == "passed"  # no manifest changed
    assert results["tests"].status == "skipped"


def test_unsafe_archive_member_fails_the_tests_stage(wheel_cache):
    def fetch(dest):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            link = tarfile.TarInfo("top/passwd")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
        buffer.seek(0)
        return extract(buffer, dest)

    config = load_stage_config({"GATEKEEPER_CACHE_DIR": str(wheel_cache)})
    results = stages.run_stages(policy("stages:\n  sast: false\n  dependencies: false\n"
                                       "tests:\n  command: 'true'\n"), fetch, [], lambda p: None,
                                config)
    assert results["tests"].status == "failed"
    assert any(f.rule == "workspace/unsafe-archive-member" for f in results["tests"].findings)
