"""A commit that hides files from the gate through its own `.gitattributes`.

`git archive` (and GitHub's tarball) apply `export-ignore` and `export-subst` from the tree
they archive. The local gate reads blobs instead; the App checks every changed file of the
extraction against the commit's blob ids. Controls: `git archive` of the same commit really
leaves the file out, and the same change without the attribute is caught the same way.
"""

import io
import subprocess
import tarfile

from gitrepo import Repo

from gatekeeper.cli.local import check
from gatekeeper.core.diff import blob_id, tree_mismatches
from gatekeeper.core.model import ChangedFile
from gatekeeper.runner.gitlocal import export_tree
from gatekeeper.service.settings import load_stage_config

INJECTION = ("import subprocess\n\nfrom flask import Flask, request\n\napp = Flask(__name__)\n\n\n"
             "@app.route('/grep')\ndef grep():\n    pattern = request.args.get('q', '')\n"
             "    return subprocess.run(f\"grep {pattern} log.txt\", shell=True).stdout\n")
AGENT = "\n\nCo-authored-by: Copilot <198982749+Copilot@users.noreply.github.com>"


def _repo(tmp_path, attributes: str | None) -> tuple[Repo, str]:
    repo = Repo(tmp_path / "repo")
    repo.commit({"pkg/__init__.py": "", "README.md": "x\n"}, "base")
    repo.branch("agent")
    files = {"pkg/web.py": INJECTION}
    if attributes:
        files[".gitattributes"] = attributes
    return repo, repo.commit(files, "add grep" + AGENT)


def test_git_archive_really_leaves_the_file_out(tmp_path):  # the attack path is live
    repo, head = _repo(tmp_path, "pkg/web.py export-ignore\n")
    archive = subprocess.run(["git", "-C", str(repo.root), "archive", "--format=tar", head],
                             capture_output=True, check=True).stdout
    names = tarfile.open(fileobj=io.BytesIO(archive)).getnames()
    assert "pkg/web.py" not in names and "pkg/__init__.py" in names


def test_the_local_export_is_the_commit_itself(tmp_path):
    repo, head = _repo(tmp_path, "pkg/web.py export-ignore\n*.md export-subst\n")
    extraction = export_tree(repo.root, head, tmp_path / "out")
    assert (extraction.root / "pkg" / "web.py").read_text() == INJECTION
    assert (extraction.root / ".gitattributes").is_file()


def _sast(tmp_path, wheel_cache, attributes):
    repo, _ = _repo(tmp_path, attributes)
    config = load_stage_config({"GATEKEEPER_CACHE_DIR": str(wheel_cache),
                                "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"})
    report = check(repo.root, "main", "agent", config, use_cache=False)
    return report.stages["sast"]


def test_export_ignore_does_not_hide_an_injection_from_the_local_gate(tmp_path, wheel_cache):
    hidden = _sast(tmp_path / "hidden", wheel_cache, "pkg/web.py export-ignore\n")
    control = _sast(tmp_path / "plain", wheel_cache, None)
    assert control.status == "failed"  # the control: the injection is caught without the trick
    assert hidden.status == "failed"
    assert {f.rule for f in hidden.findings if f.blocking} == \
        {f.rule for f in control.findings if f.blocking}


def test_a_changed_file_missing_or_rewritten_in_the_extraction_fails(tmp_path):
    content = INJECTION.encode()
    subst = blob_id(b"$Format:%H$\n")
    files = [ChangedFile("pkg/web.py", "added", sha=blob_id(content)),
             ChangedFile("README.md", "modified", sha=subst)]
    extracted = {"README.md": b"0123abcd\n"}  # export-subst rewrote it; web.py left out
    wrong = tree_mismatches(files, extracted.get)
    assert wrong == ["pkg/web.py is missing",
                     f"README.md differs from the commit's blob {subst[:10]}"]
    exact = {"pkg/web.py": content, "README.md": b"$Format:%H$\n"}
    assert tree_mismatches(files, exact.get) == []  # the control: the exact tree passes


def test_blob_id_is_gits(tmp_path):
    repo = Repo(tmp_path / "r")
    repo.commit({"a.txt": "hello\n"}, "one")
    assert blob_id(b"hello\n") == repo.git("rev-parse", "HEAD:a.txt")
