"""Signature check and routing, on the real example payloads."""

import json

import pytest
from conftest import INSTALLATION_ID, payload

from gatekeeper.github.webhooks import Ignored, Malformed, Routed, route, sign, signature_valid

SECRET = b"s3cret"
BODY = b'{"action":"opened"}'
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


@pytest.mark.parametrize("header", [
    None, "", "sha256=", "sha1=" + "0" * 40, "sha256=" + "0" * 64, "sha256=xyz",
    sign(SECRET, BODY)[:-2], sign(b"other", BODY), sign(SECRET, BODY + b" "),
])
def test_bad_signatures_are_refused(header):
    assert not signature_valid(SECRET, BODY, header)


def test_good_signature_is_accepted():
    assert signature_valid(SECRET, BODY, sign(SECRET, BODY))


@pytest.mark.parametrize("event,name,kind", [
    ("pull_request", "opened", "gate"),
    ("pull_request", "reopened", "gate"),
    ("pull_request", "synchronize", "gate"),
    ("pull_request", "ready_for_review", "gate"),
    ("pull_request_review", "submitted", "review"),
    ("pull_request_review", "dismissed", "review"),
])
def test_pull_request_events_become_jobs_for_that_commit(event, name, kind):
    data = payload(event, name)
    decision = route(event, data)
    assert isinstance(decision, Routed)
    [job] = decision.jobs
    target = job.args["target"]
    assert job.kind == kind
    assert target["installation_id"] == INSTALLATION_ID
    assert target["repo"] == data["repository"]["full_name"]
    assert target["number"] == data["pull_request"]["number"]
    assert target["head_sha"] == data["pull_request"]["head"]["sha"]
    assert job.key == f"{kind}-{data['repository']['id']}-{target['number']}-{target['head_sha']}"


def test_check_suite_rerequest_gates_each_of_its_pull_requests():
    decision = route("check_suite", payload("check_suite", "rerequested"))
    assert [(j.kind, j.args["target"]["number"], j.args["target"]["head_sha"])
            for j in decision.jobs] == [("gate", 2, HEAD)]


def test_rerun_button_reruns_but_other_buttons_do_not():
    data = payload("check_run", "requested_action")
    assert isinstance(route("check_run", data), Ignored)  # the fixture's button is "lgtm|26764"
    data["requested_action"]["identifier"] = "rerun"
    decision = route("check_run", data)
    assert [j.args["target"]["number"] for j in decision.jobs] == [26764]


def test_rerequest_of_a_check_without_pull_request_is_ignored_with_a_reason():
    decision = route("check_run", payload("check_run", "rerequested"))
    assert isinstance(decision, Ignored) and "not attached to a pull request" in decision.reason


@pytest.mark.parametrize("event,name", [("installation", "created"),
                                        ("installation_repositories", "added")])
def test_installation_events_become_installation_jobs(event, name):
    data = payload(event, name, installation=None)
    [job] = route(event, data).jobs
    assert job.kind == "installation"
    assert job.args == {"installation_id": data["installation"]["id"]}


@pytest.mark.parametrize("event,name", [
    ("pull_request", "closed"), ("pull_request", "labeled"), ("push", "event"),
    ("issue_comment", "created"), ("check_run", "completed"), ("installation", "deleted"),
])
def test_other_events_are_ignored_and_say_so(event, name):
    decision = route(event, payload(event, name))
    assert isinstance(decision, Ignored)
    assert decision.reason.startswith("ignored: ") and event in decision.reason


def test_ping_is_answered():
    assert route("ping", payload("ping", "event")) == Ignored("pong")


def test_payload_without_installation_is_malformed():
    with pytest.raises(Malformed, match="installation"):
        route("pull_request", payload("pull_request", "opened", installation=None))


def test_payload_with_bad_head_sha_is_malformed():
    data = payload("pull_request", "opened")
    data["pull_request"]["head"]["sha"] = "not-a-sha"
    with pytest.raises(Malformed, match="pull_request.head.sha"):
        route("pull_request", data)


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b"\xff\xfe", b'"text"'])
def test_body_that_is_not_a_json_object_is_malformed(body):
    with pytest.raises(Malformed):
        route("pull_request", body)


def test_merged_pull_request_becomes_a_merged_job_and_unmerged_is_ignored():
    data = payload("pull_request", "closed")
    assert "without a merge" in route("pull_request", data).reason
    data["pull_request"]["merged"] = True
    [job] = route("pull_request", data).jobs
    assert job.kind == "merged" and job.args["target"]["number"] == data["pull_request"]["number"]


@pytest.mark.parametrize("event,name", [("pull_request", "opened"), ("pull_request", "closed"),
                                        ("pull_request_review", "submitted"),
                                        ("check_suite", "rerequested"),
                                        ("check_run", "rerequested"), ("push", "event"),
                                        ("installation", "created")])
def test_routing_the_raw_body_decides_as_routing_the_parsed_one(event, name):
    data = payload(event, name)
    assert route(event, json.dumps(data).encode()) == route(event, data)


@pytest.mark.parametrize("body,reason", [(b"{nope", "body is not JSON"),
                                         (b"[1, 2]", "not an object"),
                                         (b'"text"', "not an object")])
def test_a_raw_body_that_is_not_a_json_object_is_malformed(body, reason):
    with pytest.raises(Malformed, match=reason):
        route("pull_request", body)


def test_a_dismissal_is_taken_from_the_body_as_created_never_from_an_edit():
    """Whoever may write to a repository may edit others' comments: an edit that puts a
    dismissal into a security reviewer's comment or review is not one."""
    body = "Looked at it.\n/gatekeeper dismiss taint-sql-injection db.py:3 a constant"
    comment = payload("issue_comment", "created")
    comment["issue"]["pull_request"] = {"url": "https://api.github.com/repos/x/y/pulls/1"}
    comment["comment"]["body"] = body
    [job] = route("issue_comment", comment).jobs  # the control: as created, it is a command
    assert job.kind == "dismiss" and job.args["text"] == body
    assert isinstance(route("issue_comment", {**comment, "action": "edited"}), Ignored)
    review = payload("pull_request_review", "submitted")
    review["review"]["body"] = body
    assert [j.kind for j in route("pull_request_review", review).jobs] == ["review", "dismiss"]
    edited = {**review, "action": "edited"}
    assert [j.kind for j in route("pull_request_review", edited).jobs] == ["review"]
