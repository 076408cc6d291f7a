# ruff: noqa: F811 - the review flow's fixtures, imported
"""A check named like the gate's, posted by another App, is answered within one event."""

from conftest import APP_ID, STAGES_OFF, payload
from test_review_flow import HEAD, REPO, gate, pr_event, slack, with_slack  # noqa: F401

from gatekeeper.github.webhooks import Ignored, Routed, route
from gatekeeper.service import jobs
from gatekeeper.service.audit import AuditTrail
from gatekeeper.service.queue import QUEUE_OF, TIMEOUT_OF

SNEAKY = 999


def posted(name="gatekeeper", app_id=SNEAKY, conclusion="success"):
    data = payload("check_run", "created")
    data["check_run"].update(name=name, conclusion=conclusion, head_sha=HEAD, id=77)
    data["check_run"]["app"].update(id=app_id, name="Totally Gatekeeper")
    data["check_run"]["app"]["owner"]["login"] = "mallory"
    return data


def ours(fake_github, name="gatekeeper"):
    return [r for r in fake_github.runs_for(REPO, HEAD, name) if r["app"]["id"] == APP_ID]


def test_only_checks_named_like_the_gates_from_another_app_are_acted_on():
    assert isinstance(route("check_run", posted(), APP_ID), Routed)
    assert isinstance(route("check_run", posted("gatekeeper/tests"), APP_ID), Routed)
    assert isinstance(route("check_run", posted(app_id=APP_ID), APP_ID), Ignored)  # our own
    assert isinstance(route("check_run", posted("ci/lint"), APP_ID), Ignored)


def test_an_impersonating_green_check_is_answered_recorded_and_alerted(gate, fake_github, env,
                                                                        slack):
    repo, send = gate
    with_slack(env, slack)
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    send("pull_request", pr_event("opened"))
    [before] = ours(fake_github)
    assert before["conclusion"] == "failure"  # waiting for review
    fake = {"id": 77, "repo": REPO, "name": "gatekeeper", "head_sha": HEAD, "status": "completed",
            "conclusion": "success", "app": {"id": SNEAKY}, "output": {"annotations": []},
            "updates": 0, "started_at": None}
    fake_github.check_runs[77] = fake
    updates = before["updates"]
    send("check_run", posted())
    [after] = ours(fake_github)
    assert after["conclusion"] == "failure" and after["updates"] > updates  # posted again
    [record] = [r for r in AuditTrail(jobs.context().store).records(REPO, 2)
                if r["kind"] == "impersonation"]
    assert record["by"] == "App Totally Gatekeeper (id 999, owned by mallory)"
    assert record["check"] == "gatekeeper" and record["conclusion"] == "success"
    [alert] = slack.payloads
    assert "posted by App Totally Gatekeeper (id 999, owned by mallory)" in alert["text"]


def test_every_job_kind_has_a_queue_and_a_time_limit():
    kinds = {"gate", "review", "installation", "merged", "reconcile-all", "override",
             "impersonation"}
    assert kinds <= set(QUEUE_OF) and kinds <= set(TIMEOUT_OF)



def status_event(context="gatekeeper", state="success", login="mallory"):
    data = payload("status", "status")
    data.update(sha=HEAD, context=context, state=state)
    data["sender"]["login"] = login
    return data


def test_a_commit_status_named_like_the_gate_is_answered_too(gate, fake_github, env, slack):
    repo, send = gate
    with_slack(env, slack)
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    send("pull_request", pr_event("opened"))
    [before] = ours(fake_github)
    updates = before["updates"]
    assert isinstance(route("status", status_event("ci/build"), APP_ID), Ignored)
    send("status", status_event())
    [after] = ours(fake_github)
    assert after["conclusion"] == "failure" and after["updates"] > updates
    [record] = [r for r in AuditTrail(jobs.context().store).records(REPO, 2)
                if r["kind"] == "impersonation"]
    assert record["by"] == "@mallory (a commit status, not a check run)"
    [alert] = slack.payloads
    assert "posted by @mallory (a commit status" in alert["text"]
