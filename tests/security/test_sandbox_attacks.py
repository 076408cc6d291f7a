"""Pull request code attacking the sandbox for the worker's secrets: one test per attack.

Each attack runs in the real sandbox, started by a process that holds canary secrets exactly
as a worker does (given as variables or as *_FILE paths). Each asserts that no canary is seen,
in any encoding, and carries a control showing the attack itself works.
"""

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from canaries import canaries
from conftest import free_port

HERE = Path(__file__).parent


@pytest.fixture(scope="module", params=["variables", "files"])
def worker_secrets(request, tmp_path_factory, app_key):
    folder = tmp_path_factory.mktemp("secrets")
    return canaries(folder, app_key[0], free_port(), as_files=request.param == "files")


def attack(tmp_path: Path, secrets, wheel_cache, name: str, *args: str) -> dict:
    source = tmp_path / "pr"
    source.mkdir(exist_ok=True)
    shutil.copy(HERE / "hostile.py", source / "hostile.py")
    (source / "planted.txt").write_text("CANARY-planted-file\n")  # the file attack's control
    env = {"PATH": "/usr/bin:/bin", "GATEKEEPER_CACHE_DIR": str(wheel_cache), **secrets.env}
    done = subprocess.run([sys.executable, str(HERE / "launcher.py"), str(source), name, *args],
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout)
    assert outcome["exit"] == 0 and outcome["limit"] is None, outcome["stderr"][-3000:]
    # the launcher itself no longer holds them in its environment
    assert not {"GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "REDIS_URL",
                "GATEKEEPER_SIGNING_KEY"} & set(outcome["environ"])
    report = json.loads(base64.b64decode(outcome["result"]))
    blobs = [base64.b64decode(d) for d in report["data"]]
    contexts = [(h["where"], base64.b64decode(h["context"])) for h in report["hits"]]
    everything = b"\n".join(blobs + [c for _, c in contexts]) + done.stdout.encode()
    assert secrets.found_in(everything) == [], [w for w, c in contexts if secrets.found_in(c)]
    return {"data": b"\n".join(blobs), "hits": contexts, "notes": report["notes"]}


def test_reading_every_proc_environ(tmp_path, worker_secrets, wheel_cache):
    seen = attack(tmp_path, worker_secrets, wheel_cache, "environ")
    assert b"PATH=/usr/local/bin" in seen["data"]  # control: environments can be read


def test_reading_every_proc_cmdline_and_status(tmp_path, worker_secrets, wheel_cache):
    seen = attack(tmp_path, worker_secrets, wheel_cache, "cmdline")
    assert b"bwrap" in seen["data"]  # control: PID 1's command line is bubblewrap's


def test_reading_inherited_and_foreign_descriptors(tmp_path, worker_secrets, wheel_cache):
    seen = attack(tmp_path, worker_secrets, wheel_cache, "descriptors")
    # nothing but stdin, stdout and stderr: not even the result pipe reaches the command
    assert not [n for n in seen["notes"] if n.startswith("open descriptor")], seen["notes"]


def test_reading_every_process_memory_and_maps(tmp_path, worker_secrets, wheel_cache):
    seen = attack(tmp_path, worker_secrets, wheel_cache, "memory")
    assert any(b"CANARY-planted-in-my-own-memory" in c for _, c in seen["hits"])  # control
    assert any("bytes of memory read" in n and not n.endswith(" 0 bytes of memory read")
               for n in seen["notes"])


def test_ptrace_attach_to_pid_1(tmp_path, worker_secrets, wheel_cache):
    seen = attack(tmp_path, worker_secrets, wheel_cache, "ptrace")
    assert any(n.startswith("PTRACE_ATTACH 1:") for n in seen["notes"])


def test_reading_the_workers_files_key_caches_and_root(tmp_path, worker_secrets, wheel_cache):
    paths = [p for p in worker_secrets.env.values() if p.startswith("/")]
    paths += ["/root/.bash_history", "/proc/1/root/root", "/etc/shadow"]
    seen = attack(tmp_path, worker_secrets, wheel_cache, "files", *paths)
    assert any(where.endswith("/planted.txt") for where, _ in seen["hits"])  # control
    assert any(n.endswith("files read") and int(n.split()[0]) > 100 for n in seen["notes"])


def test_reaching_redis_and_the_github_api(tmp_path, worker_secrets, wheel_cache, redis_server,
                                            fake_github):
    host = fake_github.url.split("//")[1].split("/")[0]
    seen = attack(tmp_path, worker_secrets, wheel_cache, "network",
                  f"127.0.0.1:{redis_server.port}", host, "/var/run/redis/redis-server.sock")
    assert not [n for n in seen["notes"] if n.startswith("CONNECTED")], seen["notes"]
    assert len(seen["notes"]) == 3
