"""Start-up hooks in a set-up environment: read from a site-packages folder, then judged."""

import base64
import hashlib

from gatekeeper.core.envhooks import Hook, hook_findings
from gatekeeper.runner.envhooks import startup_hooks

SHIM = "import os; enabled = os.environ.get('X') == 'local'\n"
EDITABLE = "import __editable___calc_1_0_finder; __editable___calc_1_0_finder.install('/w')\n"


def _digest(text: str) -> str:
    raw = hashlib.sha256(text.encode()).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _dist(site, name, files, local=False):
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("".join(f"{p},{_digest(t)},{len(t)}\n" for p, t in files.items()))
    if local:
        (info / "direct_url.json").write_text('{"url": "file:///work"}')
    for path, text in files.items():
        (site / path).write_text(text)


def test_hooks_are_read_with_their_owner_and_whether_it_was_built_locally(tmp_path):
    site = tmp_path / "lib/python3.12/site-packages"
    site.mkdir(parents=True)
    _dist(site, "setuptools", {"distutils-precedence.pth": SHIM})
    _dist(site, "calc", {"__editable__.calc-1.0.pth": EDITABLE}, local=True)
    (site / "paths.pth").write_text("/some/folder\n")  # a path, no code: not a hook
    (site / "sitecustomize.py").write_text("import os\n")
    hooks = {h.path.rsplit("/", 1)[-1]: h for h in startup_hooks(tmp_path)}
    assert set(hooks) == {"distutils-precedence.pth", "__editable__.calc-1.0.pth",
                          "sitecustomize.py"}
    assert (hooks["distutils-precedence.pth"].owner, hooks["distutils-precedence.pth"].local) \
        == ("setuptools", False)
    assert hooks["__editable__.calc-1.0.pth"].local
    assert hooks["sitecustomize.py"].owner == ""
    assert hook_findings(list(hooks.values())) and all(
        "sitecustomize.py" in f.message for f in hook_findings(list(hooks.values())))


def test_an_installers_hook_rewritten_after_install_belongs_to_nobody(tmp_path):
    site = tmp_path / "lib/python3.12/site-packages"
    site.mkdir(parents=True)
    _dist(site, "setuptools", {"distutils-precedence.pth": SHIM})
    assert hook_findings(startup_hooks(tmp_path)) == []  # the control: as recorded, trusted
    (site / "distutils-precedence.pth").write_text("import _forge\n")
    [finding] = hook_findings(startup_hooks(tmp_path))
    assert finding.blocking and "no distribution's RECORD accounts for" in finding.message


def test_only_an_editable_finder_is_accepted_from_the_projects_own_package():
    editable = Hook("lib/x/__editable__.calc.pth", "pth", "calc", True, EDITABLE.strip())
    assert hook_findings([editable]) == []
    own = Hook("lib/x/calc.pth", "pth", "calc", True, "import calc_boot; calc_boot.go()")
    [finding] = hook_findings([own])
    assert finding.blocking and "the project's own distribution calc" in finding.message
    chained = Hook("lib/x/e.pth", "pth", "calc", True, EDITABLE.strip() + "; import evil")
    assert hook_findings([chained])  # the finder's shape, then more code: not a finder
    index = Hook("lib/x/distutils-precedence.pth", "pth", "setuptools", False, SHIM.strip())
    assert hook_findings([index]) == []


def test_the_environment_creators_own_hook_is_known_only_while_it_is_untouched(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from gatekeeper.runner.interpreters import available

    # uv writes `_virtualenv.pth` (and the module it imports) into environments of older
    # Pythons: the gate's own set-up does so, and it was read as a planted hook
    [old] = [i for i in available(None) if i.short == "3.9"]
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    subprocess.run([uv, "venv", "-q", "--python", old.path, str(tmp_path / "env")], check=True)
    env = tmp_path / "env"
    [hook] = startup_hooks(env, old.path)
    assert hook.path.endswith("_virtualenv.pth") and hook.creator
    assert hook_findings([hook]) == []
    # set-up code rewrites the module the creator's hook imports: the hook is anybody's now
    [module] = env.glob("lib/python*/site-packages/_virtualenv.py")
    module.write_text(module.read_text() + "\nimport builtins  # planted\n")
    [hook] = startup_hooks(env, old.path)
    assert not hook.creator
    [finding] = hook_findings([hook])
    assert finding.blocking and "_virtualenv.pth" in finding.message


FINDER = "import sys\n\ndef install(path):\n    sys.path.append(path)\n"
SHIM_PTH = ("import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, "
            "'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n")


def test_a_hook_is_vouched_for_by_its_record_with_the_modules_it_imports(tmp_path):
    site = tmp_path / "lib/python3.12/site-packages"
    site.mkdir(parents=True)
    _dist(site, "calc", {"__editable__.calc-1.0.pth": EDITABLE,
                         "__editable___calc_1_0_finder.py": FINDER}, local=True)
    (site / "_distutils_hack").mkdir()
    _dist(site, "setuptools", {"distutils-precedence.pth": SHIM_PTH,
                               "_distutils_hack/__init__.py": "def add_shim():\n    pass\n"})
    # control: as the installers wrote them, both are accounted for
    hooks = startup_hooks(tmp_path)
    assert {(h.owner, h.local) for h in hooks} == {("calc", True), ("setuptools", False)}
    assert hook_findings(hooks) == []
    # the editable finder's shape is kept, its module rewritten after install: before, the
    # shape alone let it through
    (site / "__editable___calc_1_0_finder.py").write_text(FINDER + "import _planted\n")
    # and the module setuptools' shim loads with __import__
    (site / "_distutils_hack/__init__.py").write_text("def add_shim():\n    import _planted\n")
    findings = hook_findings(startup_hooks(tmp_path))
    assert sorted(f.message.split(" (")[0].rsplit("/", 1)[-1] for f in findings) == [
        "__editable__.calc-1.0.pth", "distutils-precedence.pth"]
    assert all(f.blocking and "no distribution's RECORD accounts for" in f.message
               for f in findings)


def test_an_editable_shaped_hook_no_record_lists_blocks(tmp_path):
    site = tmp_path / "lib/python3.12/site-packages"
    site.mkdir(parents=True)
    _dist(site, "calc", {"__editable___calc_1_0_finder.py": FINDER}, local=True)
    (site / "__editable__.calc-1.0.pth").write_text(EDITABLE)  # written by set-up code
    [finding] = hook_findings(startup_hooks(tmp_path))
    assert finding.blocking and "__editable__.calc-1.0.pth" in finding.message


def test_a_sitecustomize_package_or_bytecode_is_a_hook_too(tmp_path):
    site = tmp_path / "lib/python3.12/site-packages"
    (site / "sitecustomize").mkdir(parents=True)
    (site / "sitecustomize/__init__.py").write_text("import _planted\n")
    (site / "usercustomize.pyc").write_bytes(b"\x00" * 16)
    (site / "sitecustomizer.py").write_text("")  # another name: control, not a hook
    findings = hook_findings(startup_hooks(tmp_path))
    assert sorted(f.message.split(" (")[0].rsplit("/", 1)[-1] for f in findings) == [
        "sitecustomize", "usercustomize.pyc"]


def test_a_folder_past_the_scan_bound_is_a_blocking_could_not_verify(tmp_path):
    from gatekeeper.runner.envhooks import MAX_ENTRIES

    site = tmp_path / "lib/python3.12/site-packages"
    site.mkdir(parents=True)
    for n in range(MAX_ENTRIES - 1):
        (site / f"m{n:05d}.txt").touch()
    (site / "zz_planted.pth").write_text("import _planted\n")  # sorted last
    # control: at the bound, the hook at the end is still looked at
    [found] = hook_findings(startup_hooks(tmp_path))
    assert "zz_planted.pth" in found.message
    # one more entry: before, the scan stopped silently and the hook ran in every later run
    (site / "m_extra.txt").touch()
    [finding] = hook_findings(startup_hooks(tmp_path))
    assert finding.blocking and f"more than {MAX_ENTRIES} entries" in finding.message
    assert "could not verify" in finding.message
