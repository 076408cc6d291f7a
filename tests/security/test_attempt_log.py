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
    # not on PYTHONPATH at all: the gate's sitecustomize adds it once it has run
    # (tests/security/test_tool_imports.py attacks it)
    assert "PYTHONPATH=" in setting and "export PYTHONPATH" not in setting
    assert setting.startswith("export GATEKEEPER_PYTHONPATH=")


def test_the_coverage_log_is_bounded_in_files_and_line_length(tmp_path):
    # lines signed with the channel's key, as only the gate's tracer can: the bounds hold
    import hashlib

    from gatekeeper.runner.attempts import FORGED, MAX_FILES, CoverageLog

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    def signed(log: CoverageLog, bodies) -> tuple[dict, list]:
        fd = os.open(log.path, os.O_WRONLY)
        for body in bodies:
            mac = hashlib.blake2b(body.encode(), key=log._key, digest_size=16).hexdigest()
            os.write(fd, f'{body}, "mac": "{mac}"}}\n'.encode())
        os.close(fd)
        return log.close()

    covered, errors = signed(CoverageLog(tmp_path / "a"), (
        f'{{"file": "many/{n}.py", "lines": [1], "proc": "p", "seq": {n}'
        for n in range(MAX_FILES + 500)))
    assert len(covered) == MAX_FILES and not errors  # the first files kept, none forged
    # a line longer than the gate's writers ever write is not read, and says the channel
    # was written by other code
    covered, errors = signed(CoverageLog(tmp_path / "b"), [
        '{"file": "long.py", "lines": [' + ", ".join(map(str, range(2000))) + "]",
        '{"file": "short.py", "lines": [1]'])
    assert covered == {} and errors[0].startswith(f"{FORGED}: 1 lines")


FORGE = """
def untested(a):
    b = a + 1
    c = b * 2
    return c


import os, sys
if sys.argv[1:] == ["forge"]:
    fd = os.open("/run/gatekeeper-coverage/lines", os.O_WRONLY)
    os.write(fd, b'{"file": "suite.py", "lines": [2, 3, 4, 5, 8, 9, 10, 11, 12, 13]}\\n')
    os.close(fd)
print("ran")
"""


def test_coverage_lines_written_by_the_code_under_test_are_a_blocking_finding(tmp_path):
    from factories import policy

    from gatekeeper.core.model import StageResult
    from gatekeeper.runner.attempts import FORGED
    from gatekeeper.runner.changedcode import with_coverage

    (tmp_path / "suite.py").write_text(FORGE)
    honest = sandbox.run(tmp_path, [PYTHON, "suite.py"], coverage=True)
    forged = sandbox.run(tmp_path, [PYTHON, "suite.py", "forge"], coverage=True)
    assert "ran" in honest.stdout and "ran" in forged.stdout, forged.stderr
    # control: the tracer's own signed lines are read, and the function body never ran
    assert honest.covered["suite.py"] >= {2, 8, 9} and 3 not in honest.covered["suite.py"]
    assert forged.covered == {} and forged.coverage_errors[0].startswith(FORGED)
    stage = StageResult("tests", "passed", "- tests passed")
    for run, rule in ((forged, "coverage-forged"), (honest, "untested-function")):
        result = with_coverage(stage, tmp_path, None, ["suite.py"], ("test_*.py",), [run],
                               policy())
        assert rule in {f.rule for f in result.findings}, result.findings
    result = with_coverage(stage, tmp_path, None, ["suite.py"], ("test_*.py",), [forged, honest],
                           policy())
    assert result.status == "failed"  # blocks whatever the policy's coverage.blocking says


def test_a_path_is_recorded_by_what_it_reaches_not_what_it_names(tmp_path):
    # none of the names below looks like a credential; each one reaches /proc/1/environ
    run = attack(tmp_path, """
import os, subprocess
subprocess.run(["ln", "-s", "/proc/1/environ", "/tmp/notes.txt"], check=True)  # not Python
os.symlink("/proc/1", "/tmp/p")
folder = os.open("/proc/1", os.O_RDONLY)
for name in ("/tmp/notes.txt", "/proc/self/root/proc/1/environ", "/tmp/p/environ",
             "/proc/self/fd/%d/environ" % folder, "/tmp/../proc/self/root/tmp/notes.txt"):
    with open(name, "rb") as f:
        f.read()
    print("opened", name)
""")
    assert run.stdout.count("opened") == 5, run.stdout + run.stderr  # control: each one read
    reached = targets(run, "credential")
    assert {t.split(" -> ")[0] for t in reached} >= {
        "/tmp/notes.txt", "/proc/self/root/proc/1/environ", "/tmp/p/environ"}
    assert all(t.endswith(" -> /proc/1/environ") for t in reached), reached
    assert any(t.startswith("/proc/self/fd/") for t in reached), reached
    assert any(f.rule == "attempt-credential" and f.blocking
               for f in attempt_findings(run.attempts, set()))


def test_a_str_subclass_or_bytes_path_is_recorded_too(tmp_path):
    run = attack(tmp_path, """
class Name(str):
    pass
for name in (Name("/proc/1/environ"), b"/proc/self/root/proc/1/environ"):
    open(name, "rb").read()
    print("opened")
""")
    assert run.stdout.count("opened") == 2  # control: both were read
    assert targets(run, "credential") == {
        "/proc/1/environ", "/proc/self/root/proc/1/environ -> /proc/1/environ"}


def test_a_replaced_python_function_never_runs_inside_the_hook(tmp_path):
    # the hook used json.dumps and os.path's functions: code that replaced them ran inside
    # it, and could rewrite the line (here: into a harmless one) or reach the hook's frame
    run = attack(tmp_path, """
import json, os.path, sys
class Quiet(json.JSONEncoder):
    def encode(self, o):
        return json.JSONEncoder.encode(self, {"kind": "file", "target": "/x", "test": "", "at": ""})
json._default_encoder = Quiet()
print("patched", json.dumps({"a": 1}))
frames = []
def spy(*args):
    frames.append(sys._getframe(1).f_code.co_name)
    return "/work/x"
os.path.join = os.path.normpath = os.path.basename = os.fsdecode = spy
os.fspath = lambda p: spy() or p
try:
    open("/tmp/home/.ssh/id_rsa").read()
except OSError:
    pass
print("hook frames seen", frames.count("hook"))
""")
    assert 'patched {"kind": "file", "target": "/x"' in run.stdout  # control: json replaced
    assert "hook frames seen 0" in run.stdout
    assert "/tmp/home/.ssh/id_rsa" in targets(run, "credential")


def test_libc_reached_through_ctypes_is_recorded(tmp_path):
    run = attack(tmp_path, """
import ctypes
print("plain import")
libc = ctypes.CDLL(None)
print("system", libc.system(b"true"))
ctypes.pythonapi.execv
ctypes.CDLL("libc.so.6").connect
""")
    assert "system 0" in run.stdout, run.stderr  # control: libc's system() really ran
    assert targets(run, "shell") == {"ctypes: system"}
    assert targets(run, "process") == {"ctypes: execv"}
    assert targets(run, "network") == {"ctypes: connect"}
    assert targets(run, "native") == {"ctypes: the main program (libc's functions)",
                                      "ctypes libc.so.6"}
    # the benign twin: importing ctypes (its own pythonapi is the main program) is no record
    quiet = attack(tmp_path, "import ctypes\nprint(ctypes.sizeof(ctypes.c_int))\n")
    assert "4" in quiet.stdout and not quiet.attempts


def test_reading_the_logs_key_is_tampering(tmp_path):
    run = attack(tmp_path, f"""
with open({INSIDE + ".key"!r}, "rb") as f:
    print("key of", len(f.read()))
""")
    assert "key of 32" in run.stdout  # control: the read worked (the file must be readable
    # by every Python's start-up); the hook saw it first
    assert targets(run, "tamper") == {f"the gate's channel {INSIDE}.key"}
    assert any(f.rule == "attempt-tamper" and f.blocking
               for f in attempt_findings(run.attempts, {("tamper", f"the gate's channel {INSIDE}"
                                                                   ".key")}))


@pytest.mark.parametrize("minor", [8, 9, 10, 12, 13])
def test_every_interpreter_a_project_may_use_records_signed_lines(tmp_path, minor):
    from gatekeeper.runner.interpreters import available

    python = next((i for i in available() if i.version.release[:2] == (3, minor)), None)
    if python is None:
        pytest.skip(f"no Python 3.{minor} on this worker")
    (tmp_path / "attack.py").write_text(CONNECT + """
import ctypes, os
os.symlink("/proc/1", "/tmp/p")
open("/tmp/p/environ", "rb").read()
ctypes.CDLL(None).system
connect("198.51.100.10")
os.environ.get("API_TOKEN")
print("done")
""")
    run = sandbox.run(tmp_path, [python.path, "attack.py"], attempts=True, binds=[python.prefix])
    assert "done" in run.stdout, run.stderr
    assert run.attempts_lost == 0  # every line verified
    assert targets(run, "credential") == {"/tmp/p/environ -> /proc/1/environ"}
    assert targets(run, "shell") == {"ctypes: system"}
    assert targets(run, "network") == {"198.51.100.10:80"}
    assert targets(run, "environment") == {"API_TOKEN"}


def test_a_program_started_on_the_logs_key_is_tampering(tmp_path):
    # a program without the hook reads what it is given unrecorded: its start names the key
    run = attack(tmp_path, f"""
import subprocess
done = subprocess.run(["wc", "-c", {INSIDE + ".key"!r}], capture_output=True, text=True)
print("child read", done.stdout.split()[0])
""")
    assert "child read 32" in run.stdout  # control: the child really read the key
    [tamper] = targets(run, "tamper")
    assert tamper.startswith("wc -c /run/gatekeeper-attempts/records.key")
