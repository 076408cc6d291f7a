"""Every verdict a signed record, end to end: real webhooks through the app on the fake GitHub,
the record downloaded as a deploy pipeline would (a GitHub token that can read the repository)
and checked offline by `gatekeeper verify`, a real process with its real exit codes."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import STAGES_OFF, delivery, installed_repo, payload

from gatekeeper.core.attestation import PAYLOAD_TYPE, canonical_json
from gatekeeper.core.signing import key_id, new_pair, private_key, public_key, sign
from gatekeeper.service import attest, jobs
from gatekeeper.service.queue import MemoryBackend
from gatekeeper.service.settings import load_settings
from gatekeeper.service.web import create_app

ROOT = Path(__file__).resolve().parent.parent
REPO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
NEXT = "d" * 40
AGENT = "copilot-swe-agent[bot]"


@pytest.fixture
def keys(tmp_path):
    private, public = new_pair()
    (tmp_path / "signing.pem").write_text(private)
    (tmp_path / "public.pem").write_text(public)
    return tmp_path / "signing.pem", tmp_path / "public.pem"


def start(env, fake_github, extra):
    repo = installed_repo(fake_github, REPO, 186853002)
    repo.add_pull(2, HEAD, author=AGENT, author_type="Bot", head_ref="copilot/fix-login")
    repo.files[2] = [{"filename": "src/login.py", "status": "modified"}]
    repo.permissions.update({"alice": "write"})
    repo.readers.add("alice")
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    settings = load_settings({**env, "GITHUB_CLIENT_ID": "Iv1.test", "GITHUB_CLIENT_SECRET": "cs",
                              "GATEKEEPER_PUBLIC_URL": "http://localhost", **extra})
    backend = MemoryBackend(settings.delivery_ttl_seconds)
    jobs.configure(settings, backend)
    client = create_app(settings, backend).test_client()

    def send(event, data):
        body, headers = delivery(event, data)
        assert client.post("/webhook", data=body, headers=headers).status_code == 202
        assert backend.wait_idle(120)

    return repo, send, client


@pytest.fixture
def gate(env, fake_github, keys):
    return start(env, fake_github, {"GATEKEEPER_SIGNING_KEY_FILE": str(keys[0])})


def pr_event(action, sha=HEAD):
    data = payload("pull_request", action)
    data["pull_request"]["head"]["sha"] = sha
    return data


def review_event():
    data = payload("pull_request_review", "submitted")
    data["pull_request"]["head"]["sha"] = HEAD
    return data


def download(client, fake_github, sha, who="alice"):
    """GET /attestations/REPO/SHA as a pipeline does, with a GitHub token of `who`."""
    token = f"ghu_{who}_token"
    fake_github.user_tokens[token] = who
    response = client.get(f"/attestations/{REPO}/{sha}",
                          headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_data()


def verify(folder: Path, sha: str, record: bytes | None, *keys: Path):
    path = folder / f"record-{len(list(folder.glob('record-*')))}.json"
    if record is not None:
        path.write_bytes(record)
    argv = ["verify", REPO, sha, "--envelope", str(path)]
    for key in keys:
        argv += ["--public-key", str(key)]
    return subprocess.run([sys.executable, "-m", "gatekeeper", *argv], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env={**os.environ})


def edited(record: bytes, change) -> tuple[dict, bytes]:
    """The envelope with its statement changed by `change`, the signature left as it was."""
    envelope = json.loads(record)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    change(statement)
    payload = canonical_json(statement)
    return {**envelope, "payload": base64.b64encode(payload).decode()}, payload


def test_an_approved_commit_verifies_naming_its_approver_and_no_forgery_does(
        gate, fake_github, keys, tmp_path):
    repo, send, client = gate
    send("pull_request", pr_event("opened"))
    status, blocked = download(client, fake_github, HEAD)
    assert status == 200
    done = verify(tmp_path, HEAD, blocked, keys[1])
    assert done.returncode == 1 and done.stdout.startswith("NOT PASSED"), done
    assert "no approval recorded" in done.stdout
    kid = key_id(public_key(keys[1].read_text()))
    [run] = fake_github.runs_for(REPO, HEAD, "gatekeeper")
    assert f"Signed record of this verdict (key `{kid}`): [http://localhost/attestations/" \
           f"{REPO}/{HEAD}]" in run["output"]["summary"]

    repo.review(2, "alice", "APPROVED")
    send("pull_request_review", review_event())
    assert fake_github.runs_for(REPO, HEAD, "gatekeeper")[0]["conclusion"] == "success"
    merged = pr_event("closed")
    merged["pull_request"]["merged"] = True
    send("pull_request", merged)
    status, record = download(client, fake_github, HEAD)
    assert status == 200
    # control: the record as the gate signed it passes and names who approved which commit
    done = verify(tmp_path, HEAD, record, keys[1])
    assert done.returncode == 0, done
    assert done.stdout.startswith(f"PASSED: {REPO}@{HEAD}: success") and f"key {kid}" in done.stdout
    assert f"approved by alice (commit {HEAD}" in done.stdout
    policy = json.loads(base64.b64decode(json.loads(record)["payload"]))["predicate"]["policy"]
    assert len(policy["sha256"]) == 64

    # the approver changed after signing
    def to_mallory(statement):
        statement["predicate"]["approvals"][0]["by"] = "mallory"

    forged, payload = edited(record, to_mallory)
    done = verify(tmp_path, HEAD, json.dumps(forged).encode(), keys[1])
    assert done.returncode == 2 and "no valid signature by a trusted key" in done.stderr
    # the same edit signed by another key, which claims to be ours: refused
    other = private_key(new_pair()[0])
    resigned = {**forged, "signatures": [{**sign(other, PAYLOAD_TYPE, payload), "keyid": kid}]}
    assert verify(tmp_path, HEAD, json.dumps(resigned).encode(), keys[1]).returncode == 2
    # control: had it been signed with our key it would pass, naming mallory (the signature
    # is the only thing that stopped it)
    ours = private_key(keys[0].read_text())
    genuine = {**forged, "signatures": [sign(ours, PAYLOAD_TYPE, payload)]}
    done = verify(tmp_path, HEAD, json.dumps(genuine).encode(), keys[1])
    assert done.returncode == 0 and "approved by mallory" in done.stdout

    # the subject's commit changed after signing, presented for that commit
    def to_next(statement):
        statement["subject"][0]["digest"]["gitCommit"] = NEXT

    moved, _ = edited(record, to_next)
    assert verify(tmp_path, NEXT, json.dumps(moved).encode(), keys[1]).returncode == 2
    # a genuine record, presented for another commit
    done = verify(tmp_path, NEXT, record, keys[1])
    assert done.returncode == 2 and f"not {REPO}@{NEXT}" in done.stderr
    # the blocked verdict turned into a pass
    flipped, _ = edited(blocked, lambda s: s["predicate"].update(conclusion="success"))
    assert verify(tmp_path, HEAD, json.dumps(flipped).encode(), keys[1]).returncode == 2
    # checked with another public key only (a retired or foreign one): refused; with both,
    # as after a rotation, it verifies
    retired = tmp_path / "retired.pem"
    retired.write_text(new_pair()[1])
    assert verify(tmp_path, HEAD, record, retired).returncode == 2
    assert verify(tmp_path, HEAD, record, retired, keys[1]).returncode == 0


def test_a_commit_the_gate_never_judged_has_no_record(gate, fake_github, keys, tmp_path):
    repo, send, client = gate
    send("pull_request", pr_event("opened"))
    assert download(client, fake_github, HEAD)[0] == 200  # control: the judged one has one
    status, body = download(client, fake_github, NEXT)
    assert status == 404 and b"no signed record" in body
    done = verify(tmp_path, NEXT, None, keys[1])  # `curl -f` left no file
    assert done.returncode == 2 and "no signed record" in done.stderr
    done = verify(tmp_path, NEXT, b"", keys[1])
    assert done.returncode == 2 and "is empty" in done.stderr


def test_only_readers_of_the_repository_get_the_record(gate, fake_github):
    repo, send, client = gate
    send("pull_request", pr_event("opened"))
    assert download(client, fake_github, HEAD)[0] == 200  # control
    status, body = download(client, fake_github, HEAD, who="mallory")
    assert status == 403 and b"payload" not in body
    response = client.get(f"/attestations/{REPO}/{HEAD}")  # nobody: sent to sign in
    assert response.status_code == 302 and "/login" in response.location


def test_a_rerun_that_fails_supersedes_the_green_record(gate, fake_github, keys, tmp_path):
    repo, send, client = gate
    send("pull_request", pr_event("opened"))
    repo.review(2, "alice", "APPROVED")
    send("pull_request_review", review_event())
    green = download(client, fake_github, HEAD)[1]
    assert verify(tmp_path, HEAD, green, keys[1]).returncode == 0
    # the base now runs the tests, which cannot be fetched: the rerun on the same commit fails
    del repo.contents[("main", ".github/gatekeeper.yml")]
    send("pull_request", pr_event("synchronize"))
    assert fake_github.runs_for(REPO, HEAD, "gatekeeper")[0]["conclusion"] == "failure"
    done = verify(tmp_path, HEAD, download(client, fake_github, HEAD)[1], keys[1])
    assert done.returncode == 1 and "failure" in done.stdout
    kinds = [json.loads(base64.b64decode(r["envelope"]["payload"]))["predicate"]["conclusion"]
             for r in jobs.context().store.read_records(attest.stream_of(REPO, HEAD))]
    assert kinds[-2:] == ["in_progress", "failure"] and "success" in kinds


def test_without_a_key_the_gate_works_and_says_not_signed(env, fake_github, tmp_path):
    repo, send, client = start(env, fake_github, {})
    send("pull_request", pr_event("opened"))
    [run] = fake_github.runs_for(REPO, HEAD, "gatekeeper")
    assert run["conclusion"] == "failure" and attest.NOT_SIGNED in run["output"]["summary"]
    assert download(client, fake_github, HEAD)[0] == 404
    from test_details import sign_in

    assert "/attestations/" not in sign_in(client, fake_github, "alice").get_data(as_text=True)


def test_doctor_warns_without_a_key_and_names_the_key_in_use(env, keys):
    from gatekeeper.cli.doctor import _signing

    unsigned = _signing(load_settings(env))
    assert not unsigned.ok and unsigned.warning and "signing-key new" in unsigned.fix
    signed = _signing(load_settings({**env, "GATEKEEPER_SIGNING_KEY_FILE": str(keys[0])}))
    assert signed.ok and key_id(public_key(keys[1].read_text())) in signed.detail


def test_a_signing_key_of_the_wrong_kind_is_refused_without_echoing_it(env, app_key):
    from gatekeeper.service.settings import SettingsError

    with pytest.raises(SettingsError) as raised:
        load_settings({**env, "GATEKEEPER_SIGNING_KEY": app_key[0]})
    assert "GATEKEEPER_SIGNING_KEY is a PEM private key, but not Ed25519" in str(raised.value)
    assert app_key[0].splitlines()[1] not in str(raised.value)


def test_the_signing_key_leaves_the_environment(keys, tmp_path):
    """Like the App's key: taken into memory, gone from os.environ and /proc/self/environ."""
    pem = keys[0].read_text()
    line = pem.splitlines()[1]
    probe = ("import os\nfrom gatekeeper.service.settings import take_secrets, taken\n"
             "take_secrets()\n"
             f"raw = open('/proc/self/environ', 'rb').read()\n"
             f"print(sorted(k for k in os.environ if k.startswith('GATEKEEPER_SIGNING')),"
             f" raw.count({line.encode()!r}), taken('GATEKEEPER_SIGNING_KEY') == {pem!r})\n")
    for given in ({"GATEKEEPER_SIGNING_KEY": pem, "UNLISTED": pem},
                  {"GATEKEEPER_SIGNING_KEY_FILE": str(keys[0]), "UNLISTED": pem}):
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=60, cwd=ROOT, env={**os.environ, **given})
        # one copy left: the unlisted variable's (control: the probe does see the environment)
        assert done.stdout.split() == ["[]", "1", "True"], done


def test_the_details_page_links_the_record_for_a_signed_in_reader(gate, fake_github):
    from test_details import PAGE, sign_in

    repo, send, client = gate
    send("pull_request", pr_event("opened"))
    html = sign_in(client, fake_github, "alice").get_data(as_text=True)
    link = f'href="/attestations/{REPO}/{HEAD}"'
    assert link in html
    record = client.get(f"/attestations/{REPO}/{HEAD}")  # the same session, no token
    assert record.status_code == 200 and record.json["payloadType"] == PAYLOAD_TYPE
    assert PAGE.endswith(HEAD)


def test_a_break_glass_pass_verifies_and_names_who_broke_the_glass(gate, fake_github, keys,
                                                                   tmp_path):
    from test_override import POLICY, comment_event

    repo, send, client = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = POLICY
    fake_github.teams["codertocat/oncall"] = {"carol"}
    send("pull_request", pr_event("opened"))
    assert verify(tmp_path, HEAD, download(client, fake_github, HEAD)[1], keys[1]).returncode == 1
    send("issue_comment", comment_event("/gatekeeper override payments are down, hotfix"))
    done = verify(tmp_path, HEAD, download(client, fake_github, HEAD)[1], keys[1])
    assert done.returncode == 0, done
    assert "break-glass by carol: payments are down, hotfix" in done.stdout
    assert "Overridden by @carol" in done.stdout


def test_a_gate_job_that_fails_for_good_supersedes_the_green_record(gate, fake_github, keys,
                                                                    tmp_path):
    from types import SimpleNamespace

    from conftest import INSTALLATION_ID

    repo, send, client = gate
    send("pull_request", pr_event("opened"))
    repo.review(2, "alice", "APPROVED")
    send("pull_request_review", review_event())
    green = download(client, fake_github, HEAD)[1]
    assert verify(tmp_path, HEAD, green, keys[1]).returncode == 0  # control
    target = {"installation_id": INSTALLATION_ID, "repo_id": 186853002, "repo": REPO,
              "number": 2, "head_sha": HEAD}
    jobs.on_failure(SimpleNamespace(args=("gate", {"target": target})), None, TimeoutError,
                    TimeoutError("job timed out"), None)
    done = verify(tmp_path, HEAD, download(client, fake_github, HEAD)[1], keys[1])
    assert done.returncode == 1 and "Gate did not complete" in done.stdout
