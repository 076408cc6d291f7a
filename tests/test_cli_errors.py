"""An operator's first mistakes, through the real command line against the fake GitHub over
HTTP: each is one plain sentence and a "could not run" exit, never a traceback; usage errors
exit 64. Each case has its control: the same command on the good path succeeds."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import APP_ID, INSTALLATION_ID, STAGES_OFF, installed_repo
from gitrepo import Repo

ROOT = Path(__file__).resolve().parent.parent
ORG = "Codertocat"


def gatekeeper(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "gatekeeper", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def one_plain_line(done) -> str:
    assert "Traceback" not in done.stderr and "File \"" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if " INFO " not in line]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_protect_when_the_app_is_not_installed_on_the_organisation(env, fake_github):
    installed_repo(fake_github, f"{ORG}/Hello-World")
    good = gatekeeper("protect", "--org", ORG, "--dry-run", env=env)  # the control
    assert good.returncode == 0 and "would create" in good.stdout, good.stderr
    done = gatekeeper("protect", "--org", "Elsewhere", "--dry-run", env=env)
    assert done.returncode == 2
    line = one_plain_line(done)
    assert "not installed on the organisation 'Elsewhere'" in line
    assert "/organizations/Elsewhere/settings/installations" in line
    assert fake_github.count("GET", "/orgs/Elsewhere/installation") == 1  # GitHub was asked


def test_reconcile_with_an_unexpected_installations_answer(env, fake_github):
    installed_repo(fake_github, f"{ORG}/Hello-World")
    good = gatekeeper("reconcile", env=env)  # the control
    assert good.returncode == 0 and f"reconciled installations [{INSTALLATION_ID}]" in good.stdout
    asked = fake_github.count("GET", "/app/installations")
    fake_github.inject("GET", "/app/installations", 200)  # an object where a list belongs
    done = gatekeeper("reconcile", env=env)
    assert fake_github.count("GET", "/app/installations") == asked + 1
    assert done.returncode == 2
    line = one_plain_line(done)
    assert "GitHub's answer to /app/installations" in line and "not a list" in line


def test_reconcile_with_a_key_of_another_app_names_the_credentials(env, fake_github):
    installed_repo(fake_github, f"{ORG}/Hello-World")
    done = gatekeeper("reconcile", env={**env, "GITHUB_APP_ID": str(APP_ID + 1)})
    assert done.returncode == 2
    line = one_plain_line(done)
    assert "GitHub refused the App's credentials (401" in line and "GITHUB_APP_ID" in line
    # what the fake refused is exactly the wrong app's token, nothing else
    assert fake_github.violations and all("JSON web token" in v for v in fake_github.violations)
    fake_github.violations.clear()


@pytest.mark.parametrize("status,said", [
    (403, "GitHub refused the request (403 for /app/hook/deliveries)"),
    (404, "GitHub answered 404 Not Found for /app/hook/deliveries"),
])
def test_redeliver_against_a_failing_endpoint(env, fake_github, status, said):
    when = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake_github.hook_deliveries = [{
        "id": 3, "guid": "g1", "delivered_at": when, "redelivery": False, "duration": 0.1,
        "status": "x", "status_code": 503, "event": "pull_request", "action": "opened",
        "installation_id": INSTALLATION_ID, "repository_id": 9}]
    fake_github.inject("GET", "/app/hook/deliveries", status)
    done = gatekeeper("redeliver", "--since", "6h", env=env)
    assert done.returncode == 2
    assert said in one_plain_line(done)
    assert fake_github.redelivered == []
    good = gatekeeper("redeliver", "--since", "6h", env=env)  # the control: the same, answered
    assert good.returncode == 0 and "redeliver 1 failed deliveries: g1" in good.stdout
    assert fake_github.redelivered == [3]


LATIN1 = ('# -*- coding: latin-1 -*-\n# café\nimport subprocess\n\n\ndef run(cmd):\n'
          '    return subprocess.call(cmd, shell=True)  # café\n')


def latin1_change(root: Path, encoding: str) -> Repo:
    repo = Repo(root)
    repo.commit({"a.py": "x = 1\n"})
    repo.branch("codex/shell")
    (repo.root / "run.py").write_bytes(LATIN1.encode(encoding))
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "run")
    return repo


def test_a_file_that_is_not_utf8_is_reported_like_any_other(tmp_path, wheel_cache):
    assert pytest.raises(UnicodeDecodeError, LATIN1.encode("latin-1").decode, "utf-8")
    env = {"GATEKEEPER_CACHE_DIR": str(wheel_cache),
           "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"}
    shown = {}
    for encoding in ("utf-8", "latin-1"):  # the control: its UTF-8 twin, through the same path
        repo = latin1_change(tmp_path / encoding, encoding)
        done = gatekeeper("check", str(repo.root), "--base", "main", "--format", "text",
                          "--no-cache", env=env)
        # a new shell call needs the approver's acknowledgement (exit 3), in both encodings
        assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
        assert "Traceback" not in done.stderr and "NEEDS ACKNOWLEDGEMENT" in done.stdout
        shown[encoding] = [line for line in done.stdout.splitlines()
                           if ("shell-injection" in line or "| return subprocess" in line)
                           and not line.startswith("NEEDS ACKNOWLEDGEMENT")]
    assert len(shown["utf-8"]) == 2 and shown["utf-8"][0].split()[0] == "7"
    assert shown["latin-1"][0] == shown["utf-8"][0]  # the same finding on the same line
    assert shown["latin-1"][1].endswith("# caf\N{REPLACEMENT CHARACTER}")  # its line, shown


def test_an_unexpected_error_is_one_line_naming_the_file_with_its_traceback(tmp_path):
    repo = Repo(tmp_path / "repo")
    repo.commit({"a.py": "x = 1\n", ".github/gatekeeper.yml": STAGES_OFF.decode()})
    repo.branch("codex/x")
    repo.commit({"a.py": "x = 2\n"})
    (tmp_path / "tmp").mkdir()
    (tmp_path / "file").write_text("a file where the cache folder should be")
    env = {"TMPDIR": str(tmp_path / "tmp"), "GATEKEEPER_OSV_URL": "http://127.0.0.1:9/v1/query"}
    good = gatekeeper("check", str(repo.root), "--base", "main",
                      env={**env, "GATEKEEPER_CACHE_DIR": str(tmp_path / "cache")})
    assert good.returncode == 0, good.stderr  # the control: a usable cache folder
    done = gatekeeper("check", str(repo.root), "--base", "main",
                      env={**env, "GATEKEEPER_CACHE_DIR": str(tmp_path / "file" / "cache")})
    assert done.returncode == 2
    line = one_plain_line(done)
    assert line.startswith("gatekeeper check: unexpected NotADirectoryError: ")
    [written] = (tmp_path / "tmp").glob("gatekeeper-traceback-*.txt")
    assert line.endswith(f"the traceback is in {written}")
    assert "Traceback (most recent call last)" in written.read_text()
    assert written.stat().st_mode & 0o077 == 0  # owner-only: it may name paths and settings


def test_replay_against_something_that_is_not_a_url_says_so(env, tmp_path):
    delivery = tmp_path / "delivery.json"
    delivery.write_text("{}")
    done = gatekeeper("replay", str(delivery), "--event", "ping", "--against", "http://[::1",
                      env=env)
    assert done.returncode == 2
    line = one_plain_line(done)
    assert "--against 'http://[::1' is not a URL" in line and "not JSON" not in line
    bad = tmp_path / "bad.json"  # the control: a file that is not JSON is still said to be one
    bad.write_text("{nope")
    done = gatekeeper("replay", str(bad), "--event", "ping", "--against", "http://[::1", env=env)
    assert done.returncode == 2 and "is not JSON" in one_plain_line(done)


COMMANDS = [["serve"], ["worker"], ["reconcile"], ["redeliver"], ["check"], ["replay"],
            ["audit"], ["manifest"], ["setup"], ["doctor"], ["protect"], ["policy"],
            ["policy", "show"], ["policy", "check"], ["policy", "test"], ["simulate"],
            ["report"], ["demo"], ["osv-mirror"], []]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "none")
def test_a_usage_error_exits_64_with_the_usage(command):
    done = gatekeeper(*command, "--no-such-option", timeout=60)
    assert done.returncode == 64, done.stderr
    assert done.stderr.startswith("usage: gatekeeper") and "error: " in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_help_lists_the_exit_codes():
    done = gatekeeper("--help", timeout=60)
    assert done.returncode == 0  # the control: the parser itself runs and answers
    for code in ("0 ", "1 ", "2 ", "64 ", "130 "):
        assert f"\n  {code}" in done.stdout


def test_a_pull_request_that_does_not_exist_is_said_with_what_was_asked(env, fake_github):
    repo = installed_repo(fake_github, f"{ORG}/Hello-World")
    repo.add_pull(2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
    repo.contents[("main", ".github/gatekeeper.yml")] = b"gate: all\n"
    good = gatekeeper("simulate", f"{ORG}/Hello-World#2", env=env)  # the control
    assert good.returncode in (0, 1) and "Traceback" not in good.stderr, good.stderr
    done = gatekeeper("simulate", f"{ORG}/Hello-World#99", env=env)
    assert done.returncode == 2
    assert f"GitHub answered 404 Not Found for /repos/{ORG}/Hello-World/pulls/99" in \
        one_plain_line(done)
