# ruff: noqa: F811 - the review flow's fixtures, imported
"""Break-glass: `/gatekeeper override REASON` on the fake GitHub, from a real comment payload."""

from conftest import STAGES_OFF, payload
from factories import unescaped
from test_review_flow import HEAD, NEXT, REPO, check, gate, pr_event, slack, with_slack  # noqa: F401

from gatekeeper.service import jobs
from gatekeeper.service.audit import AuditTrail

POLICY = STAGES_OFF + b"break_glass:\n  teams: [oncall]\n"


def comment_event(body, login="carol", user_type="User", comment_id=7):
    data = payload("issue_comment", "created")
    data["issue"]["number"] = 2
    data["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{REPO}/pulls/2"}
    data["comment"].update(id=comment_id, body=body)
    data["comment"]["user"].update(login=login, type=user_type)
    return data


def trail(kind):
    records = AuditTrail(jobs.context().store).records(REPO, 2)
    return [r for r in records if r["kind"] == kind]


def test_a_non_member_override_changes_nothing_and_gets_an_explanation(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = POLICY
    fake_github.teams["codertocat/oncall"] = {"carol"}
    send("pull_request", pr_event("opened"))
    send("issue_comment", comment_event("/gatekeeper override prod is down", login="mallory"))
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"
    [reply] = repo.comments[2]
    assert "@mallory is not a member of a break-glass team (codertocat/oncall)" in reply
    assert trail("override-refused") and not trail("override") and not repo.issues


def test_a_members_override_needs_a_reason(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = POLICY
    fake_github.teams["codertocat/oncall"] = {"carol"}
    send("pull_request", pr_event("opened"))
    send("issue_comment", comment_event("/gatekeeper override"))
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"
    assert "needs a reason" in repo.comments[2][0]


def test_a_members_override_turns_only_that_commit_green_on_the_record(gate, fake_github, env,
                                                                        slack):
    repo, send = gate
    with_slack(env, slack)
    repo.contents[("main", ".github/gatekeeper.yml")] = POLICY
    fake_github.teams["codertocat/oncall"] = {"carol"}
    send("pull_request", pr_event("opened"))
    send("issue_comment", comment_event("/gatekeeper override payments are down, hotfix"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "success"
    assert overall["output"]["title"] == "Overridden by @carol (break-glass)"
    [record] = trail("override")
    assert record["by"] == "carol" and record["reason"] == "payments are down, hotfix"
    assert record["sha"] == HEAD
    [issue] = repo.issues
    assert issue["title"] == "Review the Gatekeeper override on #2"
    assert issue["labels"] == ["gatekeeper-override"] and "payments are down" in issue["body"]
    [alert] = slack.payloads
    assert "Gatekeeper overridden by @carol" in alert["text"]
    # a later review event on the same commit keeps the override
    send("pull_request_review", {**payload("pull_request_review", "submitted")})
    assert check(fake_github, "gatekeeper")["conclusion"] == "success"
    # a push starts over: the new commit is gated as usual
    repo.pulls[2]["head"]["sha"] = NEXT
    send("pull_request", pr_event("synchronize", NEXT))
    assert check(fake_github, "gatekeeper", NEXT)["conclusion"] == "failure"


def test_a_label_can_track_the_follow_up_instead_of_an_issue(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = POLICY + (
        b"  follow_up: label\n  label: needs-postmortem\n")
    fake_github.teams["codertocat/oncall"] = {"carol"}
    send("pull_request", pr_event("opened"))
    send("issue_comment", comment_event("/gatekeeper override incident 42"))
    assert check(fake_github, "gatekeeper")["conclusion"] == "success"
    assert repo.labels[2] == ["needs-postmortem"] and not repo.issues


def test_other_comments_and_comments_on_issues_are_ignored(gate, fake_github):
    from gatekeeper.github.webhooks import Ignored, route

    assert isinstance(route("issue_comment", comment_event("LGTM")), Ignored)
    on_issue = comment_event("/gatekeeper override now")
    on_issue["issue"].pop("pull_request")
    assert isinstance(route("issue_comment", on_issue), Ignored)


def test_break_glass_cannot_lift_the_organisations_off_limits_rule(gate, fake_github, env,
                                                                    slack):
    from test_governance_flow import org_policy

    repo, send = gate
    with_slack(env, slack)
    org_policy(fake_github, b"overridable: [stages, break_glass]\nlevels:\n  guarded:\n"
                            b"    off_limits: ['src/**']\ndefault_level: guarded\n")
    repo.contents[("main", ".github/gatekeeper.yml")] = POLICY
    fake_github.teams["codertocat/oncall"] = {"carol"}
    send("pull_request", pr_event("opened"))
    send("issue_comment", comment_event("/gatekeeper override payments are down"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert overall["output"]["title"].startswith("Agent change not allowed")
    reply = unescaped(repo.comments[2][-1])  # markdown: the paths are the repository's
    assert "src/\\*\\*" in repo.comments[2][-1]  # escaped, not markup
    assert "break-glass cannot override the organisation's policy" in reply
    assert "levels.guarded.off_limits: src/** — agents may not change src/login.py" in reply
    assert trail("override") == [] and len(trail("override-refused")) == 1
    [alert] = slack.payloads  # the refusal of the agent change; no override alert
    assert "agents are not allowed" in alert["text"]
