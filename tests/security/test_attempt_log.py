"""Attacks on the attempt log: code in the sandbox trying to read, replace or silence it.
Each attack prints what it managed, so the test shows the path was really taken."""

import os
import sys
import textwrap
from pathlib import Path

import pytest
from factories import policy

from gatekeeper.core.attempts import attempt_findings
from gatekeeper.core.attempts import key as attempt_key
from gatekeeper.runner import sandbox
from gatekeeper.runner.attempts import INSIDE, MAX_PER_KIND
from gatekeeper.runner.suite import suite_setting

PYTHON = os.path.join(os.path.realpath(sys.base_prefix), "bin", "python3")


def attack(tmp_path: Path, code: str) -> sandbox.SandboxResult:
    (tmp_path / "attack.py").write_text(textwrap.dedent(code))
    run = sandbox.run(tmp_path, [PYTHON, "attack.py"], sandbox.Limits(wall_seconds=120),
                      attempts=True)
    assert run.exit_code == 0, run.stderr
    return run


def targets(run: sandbox.SandboxResult, kind: str) -> set[str]:
    return {a["target"] for a in run.attempts if a["kind"] == kind}


CONNECT = """
import socket
def connect(host):
    try:
        socket.create_connection((host, 80), timeout=1)
    except OSError:
        pass
"""


def test_the_log_cannot_be_read_replaced_or_removed_from_inside(tmp_path):
    run = attack(tmp_path, CONNECT + f"""
        import os
        for name, call in (("read", lambda: os.open({INSIDE!r}, os.O_RDONLY | os.O_NONBLOCK)),
                           ("chmod", lambda: os.chmod({INSIDE!r}, 0o666)),
                           ("unlink", lambda: os.unlink({INSIDE!r})),
                           ("rename", lambda: os.rename({INSIDE!r}, "/tmp/x"))):
            try:
                call()
                print(name, "done")
            except OSError as exc:
                print(name, "refused", exc.errno)
        fd = os.open({INSIDE!r}, os.O_WRONLY)  # writing is allowed: an unsigned line is found
        os.write(fd, b'{{"kind": "network", "target": "forged:1", "test": "", "at": ""}}\\n')
        os.close(fd)
        connect("198.51.100.7")
        """.replace("\n        ", "\n"))
    for name in ("read", "chmod", "unlink", "rename"):
        assert f"{name} refused" in run.stdout, run.stdout
    assert targets(run, "network") == {"198.51.100.7:80"}  # the hook's own line verifies
    assert run.attempts_lost == 1 and any("attempt log" in t for t in targets(run, "tamper"))


def test_closing_every_descriptor_does_not_silence_it(tmp_path):
    run = attack(tmp_path, CONNECT + """
import os
held = os.open("/dev/null", os.O_RDONLY)
os.closerange(3, 65536)
try:
    os.fstat(held)
except OSError:
    print("descriptors closed")
connect("198.51.100.8")
""")
    assert "descriptors closed" in run.stdout  # control: the attack really closed them
    assert "198.51.100.8:80" in targets(run, "network")


def test_disabling_the_hook_is_itself_recorded_first(tmp_path):
    run = attack(tmp_path, CONNECT + """
import gc
found = [f for f in gc.get_objects()
         if type(f).__name__ == "function" and f.__code__.co_name == "hook"]
for hook in found:
    names = hook.__code__.co_varnames[:hook.__code__.co_argcount]
    values = dict(zip(names[2:], hook.__defaults__))
    values["_wanted"] = frozenset()
    hook.__defaults__ = tuple(values[n] for n in names[2:])
print("neutered", len(found))
connect("198.51.100.9")
""")
    assert "neutered 1" in run.stdout  # control: the attack found and disabled the hook
    assert "198.51.100.9:80" not in targets(run, "network")  # and it went unrecorded...
    # ...but the hunt for it was recorded before it worked
    assert "gc.get_objects" in targets(run, "introspection")
    tampered = targets(run, "tamper")
    assert any("__defaults__" in t for t in tampered), tampered
    findings = attempt_findings(run.attempts, set())
    assert any(f.rule == "attempt-tamper" and f.blocking for f in findings)


def test_a_child_with_a_cleared_environment_is_recorded_as_a_process_start(tmp_path):
    run = attack(tmp_path, f"""
import subprocess
done = subprocess.run([{PYTHON!r}, "-I", "-c", "import sys; print(len(sys.path))"], env={{}},
                      capture_output=True, text=True)
print("child ran", done.returncode)
""")
    assert "child ran 0" in run.stdout
    [started] = targets(run, "process")
    assert started.startswith("python3 -I -c import sys")


def test_a_flood_of_forged_lines_is_a_blocking_tamper_finding_not_a_lost_read(tmp_path):
    # before: 2,500 forged lines filled the 2,000-record bound first, the credential read
    # after them was dropped, and only a non-blocking "log incomplete" was left
    run = attack(tmp_path, f"""
import os
for n in range(2500):
    fd = os.open({INSIDE!r}, os.O_WRONLY)
    os.write(fd, ('{{"kind": "file", "target": "/x/%d", "test": "", "at": ""}}\\n' % n).encode())
    os.close(fd)
try:
    open("/proc/1/environ", "rb").read()
    print("read")
except OSError as exc:
    print("refused", exc.errno)
""")
    assert "read" in run.stdout or "refused" in run.stdout  # control: the attack ran to the end
    assert run.attempts_lost == 2500 and not any(t.startswith("/x/") for t in targets(run, "file"))
    assert targets(run, "credential") == {"/proc/1/environ"}
    findings = attempt_findings(run.attempts, set(), run.attempts_lost)
    blocking = {f.rule for f in findings if f.blocking}
    assert blocking == {"attempt-credential", "attempt-tamper"}, findings
    # the tamper finding stands even when the base's run had the same record
    assert any(f.rule == "attempt-tamper" for f in attempt_findings(
        run.attempts, {attempt_key(a) for a in run.attempts}, run.attempts_lost))


def test_a_flood_of_real_attempts_never_pushes_out_another_kind(tmp_path):
    # records the hook itself signs: 2,500 distinct files, then the credential read
    run = attack(tmp_path, """
for n in range(2500):
    try:
        open("/etc/x%d" % n)
    except OSError:
        pass
try:
    open("/proc/1/environ", "rb").read()
except OSError:
    pass
print("done")
""")
    assert "done" in run.stdout and run.attempts_lost == 0
    files = [a for a in run.attempts if a["kind"] == "file"]
    assert len(files) == MAX_PER_KIND + 1  # control: the flood filled its kind's bound
    [more] = [a for a in files if a.get("overflow")]
    assert more["overflow"] == 2500 - MAX_PER_KIND
    assert targets(run, "credential") == {"/proc/1/environ"}
    findings = attempt_findings(run.attempts, {attempt_key(a) for a in files})
    # the kind past its bound is said even when the base made every attempt kept
    assert [f.rule for f in findings if "past the log's bound" in f.message] == ["attempt-file"]


@pytest.mark.parametrize("env", ["PYTHONPATH: vendor\n", "PYTHONPATH: 'a:b'\n"])
def test_a_policy_path_never_comes_before_the_gates_own_folder(env):
    setting = suite_setting(policy("tests:\n  env:\n    " + env))
    assert setting.startswith(f"export PYTHONPATH={sandbox.PYTEST_PLUGINS}:")


def test_the_coverage_log_is_bounded_in_files_and_line_length(tmp_path):
    from gatekeeper.runner.attempts import COVERAGE_INSIDE, MAX_FILES

    (tmp_path / "flood.py").write_text(textwrap.dedent(f"""
        import json, os
        def send(text):
            fd = os.open({COVERAGE_INSIDE!r}, os.O_WRONLY)
            os.write(fd, text.encode())
            os.close(fd)
        send(json.dumps({{"file": "long.py", "lines": list(range(2000))}}) + "\\n")
        for n in range({MAX_FILES} + 5000):
            send(json.dumps({{"file": "forged/%d.py" % n, "lines": [1]}}) + "\\n")
        print("sent")
        """))
    run = sandbox.run(tmp_path, [PYTHON, "flood.py"], sandbox.Limits(wall_seconds=120),
                      coverage=True)
    assert "sent" in run.stdout, run.stderr  # control: the flood was written
    assert len(run.covered) == MAX_FILES  # the first files kept, the rest not held
    assert "long.py" not in run.covered  # sent first, but a line past the bound is not read
