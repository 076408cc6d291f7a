"""`gatekeeper simulate`: a real pull request on the fake GitHub, as it is, if someone
approved, or under a proposed policy; nothing is written to GitHub."""

import io
import json

import pytest
from conftest import STAGES_OFF
from test_review_flow import REPO, gate, pr_event  # noqa: F401 - the fixture is used

from gatekeeper.cli.simulate import simulate
from gatekeeper.service import jobs
from gatekeeper.service.settings import load_settings


@pytest.fixture
def opened(gate, env):  # noqa: F811 - pytest's fixture by name
    """An agent's pull request the App has gated (stages off by policy): red, no approval."""
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    send("pull_request", pr_event("opened"))
    return load_settings(env), jobs.context().store


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
