"""Review rules, one row each: who counts, who does not, and what is still missing."""

import pytest
from factories import AGENTS, BOT, OLD, VERDICT_AT, commit, files, policy, pull, review

from gatekeeper.core.detect import detect
from gatekeeper.core.review import ReviewerFacts, evaluate_review, explain, latest_reviews

WRITERS = ReviewerFacts(permission={"alice": "write", "bob": "admin", "carol": "maintain",
                                    "dave": "write", "erin": "read", "frank": "write"})


def evaluate(reviews, pr=None, changed=("src/app.py",), commits=(), text=None, facts=WRITERS,
             verdict_at=VERDICT_AT, waived=()):
    pr = pr or pull(assignees=["dave"])  # dave asked the agent
    detection = detect(pr, list(commits), AGENTS)
    return evaluate_review(pr, reviews, files(*changed), list(commits), detection, policy(text),
                           facts, verdict_at, waived)


def reason_of(result, login):
    [reviewer] = [r for r in result.reviewers if r.login == login]
    return reviewer.counted, reviewer.reason


@pytest.mark.parametrize("name,reviews,satisfied,login,fragment", [
    ("qualified human on the head commit", [review("alice")], True, "alice", "has write"),
    ("no reviews", [], False, None, None),
    ("bot approval", [review("helper[bot]", bot=True)], False, "helper[bot]", "bot account"),
    ("agent approves itself", [review(BOT, bot=True)], False, BOT, "bot account"),
    ("requester approves", [review("dave")], False, "dave", "asked the agent"),
    ("read permission", [review("erin")], False, "erin", "has read permission"),
    ("stranger", [review("mallory")], False, "mallory", "has none permission"),
    ("stale approval after a push", [review("alice", commit_id=OLD)], False, "alice", "stale"),
    ("changes requested then approved",
     [review("alice", "CHANGES_REQUESTED", at="2026-11-24T09:00:00Z", rid=1),
      review("alice", at="2026-11-24T10:00:00Z", rid=2)], True, "alice", "has write"),
    ("approved then changes requested",
     [review("alice", at="2026-11-24T09:00:00Z", rid=1),
      review("alice", "CHANGES_REQUESTED", at="2026-11-24T10:00:00Z", rid=2)],
     False, "alice", "blocks"),
    ("another qualified reviewer requests changes",
     [review("alice", rid=1), review("bob", "CHANGES_REQUESTED", rid=2)], False, "bob", "blocks"),
    ("changes requested by someone without standing does not block",
     [review("alice", rid=1), review("erin", "CHANGES_REQUESTED", rid=2)], True, "erin",
     "does not block"),
    ("a comment after an approval keeps it",
     [review("alice", at="2026-11-24T09:00:00Z", rid=1),
      review("alice", "COMMENTED", at="2026-11-24T10:00:00Z", rid=2)], True, "alice", "has write"),
    ("dismissed approval",
     [review("alice", at="2026-11-24T09:00:00Z", rid=1),
      review("alice", "DISMISSED", at="2026-11-24T10:00:00Z", rid=2)], False, "alice", "dismissed"),
])
def test_review_rules(name, reviews, satisfied, login, fragment):
    result = evaluate(reviews)
    assert result.satisfied is satisfied, (name, result)
    if login:
        assert fragment in reason_of(result, login)[1], name


def test_self_approval_by_the_human_who_opened_an_agent_pull_request():
    pr = pull(author="alice", bot=False, head_ref="codex/fix")
    result = evaluate([review("alice")], pr=pr)
    assert not result.satisfied
    assert "opened this pull request" in reason_of(result, "alice")[1]


def test_a_human_who_pushed_commits_to_the_pull_request_cannot_approve_it():
    result = evaluate([review("frank")], commits=[commit("fixup", "frank", sha="f" * 40)])
    assert not result.satisfied and "authored commits" in reason_of(result, "frank")[1]


def test_sensitive_path_needs_two_approvals():
    one = evaluate([review("alice")], changed=("src/app.py", ".github/workflows/ci.yml"))
    assert not one.satisfied
    assert one.sensitive_paths == (".github/workflows/ci.yml",)
    assert any("1 more approval for sensitive paths" in m for m in one.missing)
    two = evaluate([review("alice", rid=1), review("bob", rid=2)],
                   changed=("src/app.py", ".github/workflows/ci.yml"))
    assert two.satisfied and two.sensitive_approved == 2


def test_policy_file_changed_in_the_pull_request_is_a_sensitive_path():
    result = evaluate([review("alice")], changed=(".github/gatekeeper.yml",))
    assert not result.satisfied and result.sensitive_paths == (".github/gatekeeper.yml",)


def test_renamed_away_from_a_sensitive_path_still_counts():
    from gatekeeper.core.model import ChangedFile
    pr = pull(assignees=["dave"])
    result = evaluate_review(pr, [review("alice")],
                             [ChangedFile("ci-old.yml", "renamed", ".github/workflows/ci.yml")],
                             [], detect(pr, [], AGENTS), policy(), WRITERS, VERDICT_AT)
    assert result.sensitive_paths == ("ci-old.yml",)


def test_team_membership_qualifies_a_reviewer_without_write_permission():
    text = "approvers:\n  min_permission: admin\n  teams: [security]\n"
    facts = ReviewerFacts(permission={"erin": "read", "alice": "write"},
                          teams={"erin": frozenset({"octo/security"})})
    assert evaluate([review("erin")], text=text, facts=facts).satisfied
    result = evaluate([review("alice")], text=text, facts=facts)
    assert not result.satisfied and "policy needs admin" in reason_of(result, "alice")[1]


def test_sensitive_paths_can_require_their_own_approvers():
    text = ("sensitive:\n  approvals: 1\n  approvers:\n    min_permission: admin\n"
            "    teams: [octo/security]\n")
    changed = ("requirements.txt",)
    assert not evaluate([review("alice")], changed=changed, text=text).satisfied  # write only
    assert evaluate([review("bob")], changed=changed, text=text).satisfied  # admin


def test_listed_users_may_approve_whatever_their_permission():
    result = evaluate([review("erin")], text="approvers:\n  users: [Erin]\n")
    assert result.satisfied and reason_of(result, "erin")[1] == "listed in approvers.users"


def test_two_approvals_required_by_policy():
    result = evaluate([review("alice")], text="approvals: 2\n")
    assert not result.satisfied and "1 more approval of the head commit" in result.missing[0]


def test_latest_review_wins_by_time_then_id():
    reviews = [review("alice", "APPROVED", at="2026-11-24T10:00:00Z", rid=5),
               review("alice", "CHANGES_REQUESTED", at="2026-11-24T10:00:00Z", rid=4)]
    assert latest_reviews(reviews)["alice"].id == 5


def test_explanation_names_who_counted_and_what_is_missing():
    result = evaluate([review("alice", rid=1), review("dave", rid=2)],
                      changed=(".github/workflows/ci.yml",))
    text = explain(result)
    assert "| @alice | approved | yes |" in text
    assert "| @dave | approved | no | asked the agent" in text
    assert "Still needed" in text and ".github/workflows/ci.yml" in text



def test_an_approval_before_the_verdict_does_not_count_and_one_after_does():
    early = review("alice", at="2026-11-24T08:59:00Z", rid=1)
    result = evaluate([early])
    assert not result.satisfied
    assert "approved before the findings were in" in reason_of(result, "alice")[1]
    assert not evaluate([review("alice")], verdict_at=None).satisfied  # no verdict yet
    again = evaluate([early, review("alice", at="2026-11-24T09:05:00Z", rid=2)])
    assert again.satisfied
    relaxed = evaluate([early], text="approvals:\n  after_verdict: false\n")
    assert relaxed.satisfied



def test_findings_waived_by_policy_must_be_acknowledged_in_the_approval():
    waived = ("test-failure", "base-test-fails")
    silent = evaluate([review("alice")], waived=waived)
    assert not silent.satisfied
    reason = reason_of(silent, "alice")[1]
    assert "`/gatekeeper ack base-test-fails`, `/gatekeeper ack test-failure`" in reason
    partly = evaluate([review("alice", body="/gatekeeper ack test-failure")], waived=waived)
    assert not partly.satisfied
    both = evaluate([review("alice", body="Read them.\n/gatekeeper ack test-failure\n"
                                          "/gatekeeper ACK base-test-fails")], waived=waived)
    assert both.satisfied
