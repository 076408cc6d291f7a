"""`gatekeeper simulate`: a real pull request on the fake GitHub, as it is, if someone
approved, or under a proposed policy; nothing is written to GitHub."""

import io
import json

import pytest
from conftest import STAGES_OFF, delivery, installed_repo, payload

from gatekeeper.cli.simulate import simulate
from gatekeeper.service import jobs
from gatekeeper.service.queue import MemoryBackend
from gatekeeper.service.settings import load_settings
from gatekeeper.service.web import create_app

REPO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
AGENT = "copilot-swe-agent[bot]"


@pytest.fixture
def opened(env, fake_github):
    """An agent's pull request the App has gated (stages off by policy): red, no approval."""
    repo = installed_repo(fake_github, REPO, 186853002)
    repo.add_pull(2, HEAD, author=AGENT, author_type="Bot", head_ref="copilot/fix-login",
                  assignees=("bob",))
    repo.files[2] = [{"filename": "src/login.py", "status": "modified"}]
    repo.permissions.update({"alice": "write", "bob": "admin", "erin": "read"})
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    settings = load_settings(env)
    backend = MemoryBackend(settings.delivery_ttl_seconds)
    jobs.configure(settings, backend)
    data = payload("pull_request", "opened")
    data["pull_request"]["head"]["sha"] = HEAD
    body, headers = delivery("pull_request", data)
    assert create_app(settings, backend).test_client().post(
        "/webhook", data=body, headers=headers).status_code == 202
    assert backend.wait_idle(120)
    return settings, backend


def run(settings, backend, *approve, policy=None, fmt="text"):
    out = io.StringIO()
    code = simulate(f"{REPO}#2", list(approve), policy, fmt, out, settings, backend)
    return code, out.getvalue()


def test_simulate_answers_now_with_approvals_and_under_a_proposed_policy(
        opened, fake_github, tmp_path):
    settings, backend = opened
    writes = [r for r in fake_github.requests if r[0] != "GET" and "access_tokens" not in r[1]]
    code, text = run(settings, backend)
    assert code == 1 and "gatekeeper: failure: Waiting for human review" in text
    assert "stages: stored results" in text
    code, text = run(settings, backend, "bob")
    assert code == 1 and "@bob: does not count (asked the agent" in text
    code, text = run(settings, backend, "alice")
    assert code == 0 and "gatekeeper: success" in text and "@alice: counts" in text
    stricter = tmp_path / "gatekeeper.yml"
    stricter.write_text(STAGES_OFF.decode() + "approvals: 2\n")
    code, text = run(settings, backend, "alice", policy=str(stricter))
    assert code == 1 and "missing: 1 more approval" in text
    code, out = run(settings, backend, "alice", "erin", fmt="json")
    report = json.loads(out)
    assert report["checks"]["gatekeeper"]["conclusion"] == "success"
    assert {r["login"]: r["counted"] for r in report["reviewers"]} == {"alice": True,
                                                                       "erin": False}
    # nothing was written to GitHub by any of it
    assert [r for r in fake_github.requests
            if r[0] != "GET" and "access_tokens" not in r[1]] == writes


def test_simulate_says_what_is_wrong_with_its_question(opened, tmp_path):
    settings, backend = opened
    assert simulate("Codertocat/Hello-World", [], None, "text", io.StringIO(), settings,
                    backend) == 2
    assert simulate(f"{REPO}#2", [], str(tmp_path / "missing.yml"), "text", io.StringIO(),
                    settings, backend) == 2
    bad = tmp_path / "bad.yml"
    bad.write_text("aprovals: 2\n")
    assert simulate(f"{REPO}#2", [], str(bad), "text", io.StringIO(), settings, backend) == 2
    assert simulate("Codertocat/Nope#9", [], None, "text", io.StringIO(), settings,
                    backend) == 2
