"""A local check leaves nothing running: an interrupt ends it at once, cleaned up, and the
package cache it started is stopped. Waits are on conditions (a process appears, the command
exits), never on a fixed time."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gitrepo import Repo

from gatekeeper.runner.indexcache import stop_cache

ROOT = Path(__file__).resolve().parent.parent


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
            except OSError:
                continue
            if text in cmdline and int(entry.name) != os.getpid():
                found.append(int(entry.name))
    return found


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def descends_from(pid: int, ancestor: int) -> bool:
    for _ in range(50):
        pid = parent_of(pid)
        if pid in (0, 1):
            return False
        if pid == ancestor:
            return True
    return False


def until(condition, what: str, limit: float = 900):
    """Poll `condition` until it holds; the limit only guards against a hang."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, f"never happened: {what}"
        time.sleep(0.2)


@pytest.mark.timeout(900)  # a cold cache of its own starts and warms first
def test_an_interrupted_check_exits_130_with_no_traceback_and_nothing_left(tmp_path):
    repo = Repo(tmp_path / "repo")
    repo.commit({"calc.py": "def add(a, b):\n    return a + b\n",
                 "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n"
                                       "    assert add(1, 1) == 2\n"})
    repo.branch("codex/slow")
    marker = f"waits-{os.getpid()}-{tmp_path.name}"
    repo.commit({"tests/test_slow.py": f"import time\n\n\ndef test_{marker.replace('-', '_')}():\n"
                                       f"    open('/tmp/{marker}', 'w').close()\n"
                                       "    time.sleep(3600)\n"})
    cache = tmp_path / "cache"  # a cache of its own: this check starts it
    env = {**os.environ, "GATEKEEPER_CACHE_DIR": str(cache),
           "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"}
    check = subprocess.Popen([sys.executable, "-m", "gatekeeper", "check", str(repo.root),
                              "--base", "main"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # the control: the suite really runs in the sandbox (its slow test is in the tree),
        # and the cache this check started is up
        until(lambda: processes_mentioning(str(cache / "index-cache")), "the cache started")
        def suites():
            return {p for p in processes_mentioning("gatekeeper_pytest.py")
                    if descends_from(p, check.pid)}

        until(lambda: suites() or check.poll() is not None, "the suite started")
        assert check.poll() is None, check.communicate()
        started = suites()
        check.send_signal(signal.SIGINT)
        out, err = check.communicate(timeout=600)
    finally:
        if check.poll() is None:
            os.killpg(check.pid, signal.SIGKILL)
            stop_cache(cache)  # what the killed check could not stop
    assert check.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err, err[-2000:]
    until(lambda: not processes_mentioning(str(cache / "index-cache")), "the cache stopped")
    until(lambda: not started & set(processes_mentioning("gatekeeper_pytest.py")),
          "the sandboxed suites ended")


@pytest.mark.timeout(900)  # a cold cache of its own starts and warms first
def test_two_checks_on_one_empty_cache_both_pass_and_leave_nothing_running(tmp_path):
    """A new worker's first two gates at once: the cache starts once, warms, serves both; the
    one that finishes first does not stop it under the other; the last one stops it."""
    repo = Repo(tmp_path / "repo")
    repo.commit({"calc.py": "def add(a, b):\n    return a + b\n",
                 "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n"
                                       "    assert add(1, 1) == 2\n"})
    repo.branch("codex/sub")
    repo.commit({"calc.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n"
                            "    return a - b\n",
                 "tests/test_sub.py": "from calc import sub\n\n\ndef test_sub():\n"
                                      "    assert sub(2, 1) == 1\n"})
    cache = tmp_path / "cache"
    env = {**os.environ, "GATEKEEPER_CACHE_DIR": str(cache),
           "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"}
    checks = [subprocess.Popen([sys.executable, "-m", "gatekeeper", "check", str(repo.root),
                                "--base", "main", "--no-cache"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    try:
        outputs = [check.communicate() for check in checks]
    finally:
        for check in checks:
            if check.poll() is None:
                check.kill()
        stop_cache(cache)
    for check, (out, err) in zip(checks, outputs, strict=True):
        assert check.returncode == 0, out[-3000:] + err[-2000:]
        assert "[ok] tests: 2 passed" in out  # the control: each really set up and ran
    until(lambda: not processes_mentioning(str(cache / "index-cache")), "the cache stopped")
