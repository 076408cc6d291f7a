# ruff: noqa: F811 - the review flow's fixtures, imported
"""Triage end to end: real webhooks, real semgrep, the fake GitHub. A blocking finding is
dismissed by a security reviewer in a review; others' dismissals do not count; a push that
changes the code around it makes it block again."""

from conftest import payload
from factories import unescaped
from test_override import comment_event, trail
from test_review_flow import HEAD, NEXT, PROJECT, check, gate, pr_event, tree_tarball  # noqa: F401

POLICY = b"stages:\n  tests: false\n  dependencies: false\ntriage:\n  teams: [appsec]\n"
TOOL = ("import subprocess\n\nfrom flask import request\n\n\ndef grep():\n"
        "    return subprocess.run('grep ' + request.args['q'], shell=True)\n")
RULE = "taint-command-injection"


def review_with(body, login, sha=HEAD, rid=9001):
    data = payload("pull_request_review", "submitted")
    data["pull_request"]["head"]["sha"] = sha
    data["review"].update(id=rid, body=body, commit_id=sha, state="commented")
    data["review"]["user"].update(login=login, type="User")
    return data


def sast_run(fake_github, sha=HEAD):
    run = check(fake_github, "gatekeeper/sast", sha)
    notes = fake_github.check_runs[run["id"]]["output"]["annotations"]
    return run, {(n["path"], n["start_line"], n["annotation_level"]) for n in notes
                 if RULE in n["title"]}


def test_a_security_reviewer_dismisses_a_blocking_finding_until_the_code_around_it_changes(
        gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = POLICY
    fake_github.teams["codertocat/appsec"] = {"ivy", "bob"}
    repo.tarballs[HEAD] = tree_tarball({**PROJECT, "tool.py": TOOL})
    repo.files[2] = [{"filename": "tool.py", "status": "added"}]
    send("pull_request", pr_event("opened"))
    ack = "/gatekeeper ack shell-injection"  # the same line's other rule, needing acknowledgement
    repo.review(2, "alice", "APPROVED", body=ack)  # after the verdict: counts
    send("pull_request_review", review_with(ack, "alice", rid=9000))
    run, notes = sast_run(fake_github)  # the positive control: it blocks without a dismissal
    assert run["conclusion"] == "failure" and ("tool.py", 7, "failure") in notes
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"

    # a non-member, and a member who asked the agent for the change: neither counts
    send("issue_comment", comment_event(f"/gatekeeper dismiss {RULE} tool.py:7 fine", "erin"))
    send("issue_comment", comment_event(f"/gatekeeper dismiss {RULE} tool.py:7 fine", "bob",
                                        comment_id=8))
    erin, bob = (unescaped(c) for c in repo.comments[2][-2:])
    assert "does not count" in erin and "not one of the policy's security reviewers" in erin
    assert "does not count" in bob and "asked the agent" in bob
    assert [r["by"] for r in trail("dismissal-refused")] == ["erin", "bob"]
    assert sast_run(fake_github)[0]["conclusion"] == "failure"
    # a member without a reason is told how
    send("issue_comment", comment_event(f"/gatekeeper dismiss {RULE} tool.py:7", "ivy",
                                        comment_id=9))
    assert "needs a reason" in unescaped(repo.comments[2][-1])
    assert trail("dismissal") == []

    repo.review(2, "ivy", "COMMENTED", body=f"/gatekeeper dismiss {RULE} tool.py:7 q is an "
                                            "allow-listed pattern, checked in grep_guard")
    send("pull_request_review", review_with(repo.reviews[2][-1]["body"], "ivy"))
    assert f"{RULE} at tool.py:7 dismissed by @ivy" in unescaped(repo.comments[2][-1])
    run, notes = sast_run(fake_github)
    assert run["conclusion"] == "success", run["output"]
    summary = unescaped(run["output"]["summary"])
    assert "**Dismissed by a security reviewer (1):**\n- taint-command-injection at `tool.py:7`, " \
        "by @ivy: q is an allow-listed pattern, checked in grep_guard" in summary
    assert check(fake_github, "gatekeeper")["conclusion"] == "success"
    [record] = trail("dismissal")
    assert (record["by"], record["rule"], record["where"], record["sha"]) == \
        ("ivy", RULE, "tool.py:7", HEAD)
    assert len(record["fingerprints"]) == 1

    # a push that leaves the code around it alone keeps the dismissal (the control for below)
    same = "e" * 40
    repo.push(2, same, author="copilot-swe-agent[bot]", author_type="Bot")
    repo.tarballs[same] = tree_tarball({**PROJECT, "tool.py": "# a new first line\n" + TOOL,
                                        "calc.py": "def add(a, b):\n    return b + a\n"}, same)
    send("pull_request", pr_event("synchronize", same))
    run, _ = sast_run(fake_github, same)
    assert run["conclusion"] == "success", run["output"]
    assert "at `tool.py:8`, by @ivy" in unescaped(run["output"]["summary"])

    # the agent changes the code around it: the same rule, a new fingerprint, blocking again
    repo.push(2, NEXT, author="copilot-swe-agent[bot]", author_type="Bot")
    repo.tarballs[NEXT] = tree_tarball({**PROJECT, "tool.py": TOOL.replace(
        "'grep ' + request", "'grep -r ' + request")}, NEXT)
    send("pull_request", pr_event("synchronize", NEXT))
    run, notes = sast_run(fake_github, NEXT)
    assert run["conclusion"] == "failure" and ("tool.py", 7, "failure") in notes
    assert check(fake_github, "gatekeeper", NEXT)["conclusion"] == "failure"
