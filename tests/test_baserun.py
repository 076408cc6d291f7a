"""The base run's cache key: what decides the base suite's outcome, and nothing less."""

from gatekeeper.runner import baserun


def test_a_new_sandbox_does_not_reuse_what_the_old_one_saw(tmp_path, monkeypatch):
    (tmp_path / "test_x.py").write_text("def test_x(): pass\n")
    before = baserun.key_of(tmp_path, "pytest", "venv")
    assert baserun.key_of(tmp_path, "pytest", "venv") == before  # stable: later pushes reuse
    monkeypatch.setattr(baserun, "SANDBOX", b"another sandbox version")
    assert baserun.key_of(tmp_path, "pytest", "venv") != before
    monkeypatch.undo()
    (tmp_path / "test_x.py").write_text("def test_x(): assert 0\n")
    assert baserun.key_of(tmp_path, "pytest", "venv") != before
