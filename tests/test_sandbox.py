"""Hostile code in the real bubblewrap sandbox: each attack contained, named, and bounded in time."""

import os
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from gatekeeper.runner import sandbox
from gatekeeper.runner.sandbox import Limits

PY = os.path.realpath(sys.base_prefix) + "/bin/python3"
SMALL = Limits(wall_seconds=20, cpu_seconds=10, memory_bytes=256 * 1024**2, processes=64,
               file_bytes=8 * 1024**2, disk_bytes=32 * 1024**2, output_bytes=64 * 1024)


def run_script(tmp_path: Path, code: str, limits: Limits = SMALL, **kwargs):
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "attack.py").write_text(textwrap.dedent(code))
    return sandbox.run(source, [PY, "attack.py"], limits, **kwargs)


def test_a_plain_command_runs_and_returns_its_result_file(tmp_path):
    result = run_script(tmp_path, """
        open("/tmp/report.txt", "w").write("ok")
        print("hello")
    """, collect="/tmp/report.txt")
    assert result.ok and result.stdout == "hello\n" and result.result == b"ok"


def test_no_network_not_even_loopback(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    result = run_script(tmp_path, f"""
        import socket
        for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 53), ("10.0.0.1", 80)]:
            try:
                socket.create_connection((host, port), timeout=2)
                print("CONNECTED", host)
            except OSError as exc:
                print("refused", host, exc.errno)
        try:
            socket.getaddrinfo("pypi.org", 443)
            print("RESOLVED")
        except OSError:
            print("no dns")
        print(open("/proc/net/dev").read())
    """)
    assert "CONNECTED" not in result.stdout and "RESOLVED" not in result.stdout
    assert result.stdout.count("refused") == 3 and "no dns" in result.stdout
    assert "eth" not in result.stdout  # only a loopback interface exists inside
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()


def test_nothing_to_steal(tmp_path, monkeypatch):
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\nsecret\n")
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", "SECRET-KEY-VALUE")
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "SECRET-HOOK-VALUE")
    held = socket.socket()  # an open descriptor in the worker, like a Redis connection
    result = run_script(tmp_path, f"""
        import os
        for path in ["/root", "/etc/shadow", "{key}", "/home", "/var/run/redis"]:
            print(path, "EXISTS" if os.path.exists(path) else "absent",
                  os.listdir(path) if os.path.isdir(path) else "")
        print("ENV", sorted(os.environ))
        fds = {{}}
        for fd in os.listdir("/proc/self/fd"):
            try:
                fds[fd] = os.readlink("/proc/self/fd/" + fd)
            except OSError:
                pass  # the descriptor listdir itself used
        result_fd = os.environ["GATEKEEPER_RESULT_FD"]
        print("RESULT", fds.pop(result_fd, "closed"))
        print("FDS", sorted(fd for fd, target in fds.items() if "/proc/" not in target))
        print("SOCKETS", [t for t in fds.values() if t.startswith("socket:")])
        print(open("/proc/self/status").read())
        try:
            open("/src/attack.py", "a").write("# changed")
            print("WROTE SOURCE")
        except OSError:
            print("source is read-only")
        try:
            open("/usr/evil", "w")
            print("WROTE USR")
        except OSError:
            print("usr is read-only")
    """)
    held.close()
    out = result.stdout
    assert "/etc/shadow absent" in out and f"{key} absent" in out and "/home absent" in out
    assert "/root EXISTS ['.pyenv']" in out or "/root absent" in out  # only the toolchain
    assert "SECRET" not in out and "GITHUB_" not in out
    assert "FDS ['0', '1', '2']" in out and "SOCKETS []" in out and "RESULT closed" in out
    assert "CapEff:\t0000000000000000" in out and "Uid:\t65534" in out
    assert "source is read-only" in out and "usr is read-only" in out
    assert not (tmp_path / "src" / "attack.py").read_text().endswith("# changed")


def test_fork_bomb_is_stopped_by_the_process_cap(tmp_path):
    result = run_script(tmp_path, """
        import os, time
        children = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                children += 1
        except OSError as exc:
            print("fork failed after", children, exc)
            raise SystemExit(3)
    """)
    assert result.limit == "processes"


def test_memory_hog_is_killed(tmp_path):
    result = run_script(tmp_path, """
        blocks = []
        while True:
            blocks.append(bytearray(16 * 1024 * 1024))
    """)
    assert result.limit == "memory" and not result.ok


def test_cpu_spin_is_stopped(tmp_path):
    limits = Limits(**{**SMALL.__dict__, "cpu_seconds": 1})
    result = run_script(tmp_path, "while True:\n    pass\n", limits)
    assert result.limit == "cpu time"


def test_disk_fill_stays_inside_the_capped_tmpfs(tmp_path):
    result = run_script(tmp_path, """
        written = 0
        try:
            for i in range(1000):
                with open(f"/work/fill{i}", "wb") as f:
                    f.write(b"x" * 4 * 1024 * 1024)
                written += 4
        except OSError as exc:
            print("stopped at", written, "MiB:", exc.strerror)
            raise SystemExit(1)
    """)
    assert "No space left on device" in result.stdout
    assert int(result.stdout.split()[2]) <= 32
    assert not result.ok


def test_one_huge_file_hits_the_file_size_limit(tmp_path):
    result = run_script(tmp_path, """
        import signal
        with open("/tmp/huge", "wb") as f:
            f.write(b"x" * 16 * 1024 * 1024)
    """)
    assert result.limit == "file size"


def test_endless_output_is_capped_and_stopped(tmp_path):
    result = run_script(tmp_path, """
        import sys
        while True:
            sys.stdout.write("spam " * 1000 + "\\n")
    """)
    assert result.limit == "output" and result.truncated
    assert len(result.stdout) < 70 * 1024 and "output cut" in result.stdout


def test_sleep_forever_hits_the_wall_clock_and_leaves_nothing_behind(tmp_path):
    limits = Limits(**{**SMALL.__dict__, "wall_seconds": 1.5})
    marker = f"sleeper-{os.getpid()}-{tmp_path.name}"
    result = run_script(tmp_path, f"""
        import os, time
        if os.fork() == 0:
            os.setsid()  # try to escape the process group
            time.sleep(3600)
        time.sleep(3600)  # {marker}
    """, limits)
    assert result.limit == "wall-clock timeout"
    leftovers = [p for p in os.listdir("/proc") if p.isdigit()
                 and _cmdline(p).count("attack.py")]
    assert leftovers == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_missing_bwrap_fails_closed_with_the_package_name(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        sandbox.check_available()


def test_an_interactive_bash_starts_with_an_ordinary_prompt(tmp_path):
    """Tools that drive bash through a terminal set their own prompt and read up to it (SWE-ReX
    starts bash with only PS1 in its environment): on a runner, /etc/bash.bashrc puts the
    usual prompt first. Without it they read one prompt behind and every timeout is missed."""
    (tmp_path / "src").mkdir()
    asked = sandbox.run(tmp_path / "src", ["/usr/bin/env", "-i", "PS1=MARK", "/bin/bash", "-i",
                                           "-c", 'echo "prompt=$PS1"'], sandbox.Limits())
    assert "prompt=\\u@\\h:\\w\\$ " in asked.stdout
    plain = sandbox.run(tmp_path / "src", ["/usr/bin/env", "-i", "/bin/bash", "-c",
                                           'echo "prompt=$PS1"'], sandbox.Limits())
    assert "prompt=\n" in plain.stdout  # a script's shell is left alone
