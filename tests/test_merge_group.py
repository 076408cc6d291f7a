# ruff: noqa: F811 - the review flow's fixtures, imported
"""Merge queues: a group's commit is gated, and every gated pull request in it must be
approved (fake GitHub, a real merge_group payload)."""

from conftest import STAGES_OFF, payload
from test_review_flow import AGENT, HEAD, REPO, gate  # noqa: F401

from gatekeeper.core.mergequeue import pulls_in_group
from gatekeeper.service import jobs

GROUP = "a" * 40
BASE = "b" * 40
SECOND = "e" * 40
EARLY = "2026-11-24T09:00:00+00:00"  # both pull requests' verdicts were posted then


def group_event():
    data = payload("merge_group", "checks_requested")
    data["merge_group"].update(head_sha=GROUP, base_sha=BASE,
                               head_ref=f"refs/heads/gh-readonly-queue/main/pr-3-{SECOND}")
    data["repository"].update(id=186853002, full_name=REPO, name="Hello-World")
    data["repository"]["owner"]["login"] = "Codertocat"
    return data


def two_agent_pulls(repo, policy=STAGES_OFF):
    repo.contents[("main", ".github/gatekeeper.yml")] = policy
    repo.add_pull(3, SECOND, author=AGENT, author_type="Bot", head_ref="copilot/fix-logout")
    repo.files[3] = [{"filename": "src/logout.py", "status": "modified"}]
    repo.compares[f"{BASE}...{GROUP}"] = {
        "messages": ["Merge pull request #2 from Codertocat/copilot/fix-login\n\nFix login",
                     "Fix logout (#3)"],
        "files": ["src/login.py", "src/logout.py"]}
    store = jobs.context().store
    for sha in (HEAD, SECOND):
        store.save(f"verdict-at-186853002-{sha}", {"at": EARLY}, 3600)


def group_check(fake_github, name="gatekeeper"):
    [run] = fake_github.runs_for(REPO, GROUP, name)
    return run


def test_the_pull_requests_of_a_group_are_read_from_its_commits_and_branch():
    assert pulls_in_group("refs/heads/gh-readonly-queue/main/pr-104-929f8209d40f",
                          ["Merge pull request #98 from a/b\n\nx", "Tidy (#101)", "wip"]) == \
        [98, 101, 104]


def test_a_group_with_one_unapproved_agent_pull_request_fails(gate, fake_github):
    repo, send = gate
    two_agent_pulls(repo)
    repo.review(2, "alice", "APPROVED", commit_id=HEAD)
    send("merge_group", group_event())
    run = group_check(fake_github)
    assert run["conclusion"] == "failure"
    assert run["output"]["title"] == "Merge group blocked: no qualified approval on #3"
    assert "✅ #2: review satisfied" in run["output"]["summary"]


def test_a_group_whose_agent_pull_requests_are_all_approved_passes(gate, fake_github):
    repo, send = gate
    two_agent_pulls(repo)
    repo.review(2, "alice", "APPROVED", commit_id=HEAD)
    repo.review(3, "alice", "APPROVED", commit_id=SECOND)
    send("merge_group", group_event())
    assert group_check(fake_github)["conclusion"] == "success"


def test_the_stages_run_on_the_groups_commit(gate, fake_github):
    from test_review_flow import tree_tarball

    repo, send = gate
    two_agent_pulls(repo, policy=b"stages:\n  tests: false\n  dependencies: false\n")
    repo.review(2, "alice", "APPROVED", commit_id=HEAD)
    repo.review(3, "alice", "APPROVED", commit_id=SECOND)
    tool = ("import subprocess\n\nfrom flask import request\n\n\ndef grep():\n"
            "    return subprocess.run('grep ' + request.args['q'], shell=True)\n")
    repo.tarballs[GROUP] = tree_tarball({"src/login.py": "X = 1\n", "src/logout.py": tool})
    send("merge_group", group_event())
    assert group_check(fake_github, "gatekeeper/sast")["conclusion"] == "failure"
    run = group_check(fake_github)
    assert run["conclusion"] == "failure" and "stages sast" in run["output"]["title"]


def test_an_approved_agent_pull_request_on_off_limits_paths_blocks_its_group(gate, fake_github):
    from factories import unescaped
    from test_governance_flow import org_policy

    repo, send = gate
    org_policy(fake_github, b"overridable: [stages]\nlevels:\n  guarded:\n"
                            b"    off_limits: ['src/logout.py']\ndefault_level: guarded\n")
    two_agent_pulls(repo)
    repo.review(2, "alice", "APPROVED", commit_id=HEAD)
    repo.review(3, "alice", "APPROVED", commit_id=SECOND)
    send("merge_group", group_event())
    run = group_check(fake_github)
    assert run["conclusion"] == "failure"
    assert "levels.guarded.off_limits: src/logout.py — agents may not change src/logout.py" in \
        unescaped(run["output"]["summary"])


def test_commits_of_a_group_are_tied_to_its_pull_requests():
    from gatekeeper.core.mergequeue import unattributed
    from gatekeeper.core.model import Commit

    own = [Commit("1" * 40, "Fix logout\n\nbody", "dev@example.org")]
    group = [Commit("a" * 40, "Merge pull request #2 from o/b\n\nx"),  # a merge queue's merge
             Commit("b" * 40, "Tidy (#4)"),  # squash
             Commit("c" * 40, "Fix logout\n\nbody", "DEV@example.org"),  # rebased copy of #3's
             Commit("d" * 40, "Fix logout\n\nbody", "other@example.org"),  # same words, not #3's
             Commit("e" * 40, "Add a helper", "agent@example.org")]
    assert unattributed(group, {3: own}) == ["ddddddd", "eeeeeee"]


def test_a_rebase_group_with_commits_of_no_known_pull_request_fails_closed(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    # the queue branch names #3, a person's pull request; a rebase queue keeps no PR numbers
    repo.add_pull(3, SECOND, author="octocat", head_ref="fix-logout")
    repo.push(3, SECOND, message="Fix logout", author="octocat")
    repo.compares[f"{BASE}...{GROUP}"] = {
        "messages": [{"message": "Add a helper", "email": "agent@example.invalid"},
                     {"message": "Fix logout", "email": "octocat@example.invalid"}],
        "files": ["src/helper.py", "src/logout.py"]}
    send("merge_group", group_event())
    run = group_check(fake_github)
    assert run["conclusion"] == "failure"  # before: neutral, "no agent pull request"
    assert run["output"]["title"] == "Merge group blocked: commits of no known pull request"
    assert "1 commit belongs to none of the group's known pull requests (0000000)" in \
        run["output"]["summary"]


def test_a_rebase_groups_other_entries_are_found_among_open_pull_requests(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    repo.push(2, HEAD, message="Fix login", author="copilot-swe-agent[bot]", author_type="Bot")
    repo.add_pull(3, SECOND, author="octocat", head_ref="fix-logout")
    repo.push(3, SECOND, message="Fix logout", author="octocat")
    repo.add_pull(4, "f" * 40, author="octocat", head_ref="other", base_ref="release")
    repo.compares[f"{BASE}...{GROUP}"] = {  # rebased copies: the queue branch names only #3
        "messages": [{"message": "Fix login", "email": "copilot-swe-agent[bot]@example.invalid"},
                     {"message": "Fix logout", "email": "octocat@example.invalid"}],
        "files": ["src/login.py", "src/logout.py"]}
    jobs.context().store.save(f"verdict-at-186853002-{HEAD}", {"at": EARLY}, 3600)
    send("merge_group", group_event())
    run = group_check(fake_github)
    assert run["output"]["title"] == "Merge group blocked: no qualified approval on #2"
    repo.review(2, "alice", "APPROVED", commit_id=HEAD)
    send("merge_group", group_event())
    assert group_check(fake_github)["conclusion"] == "success"
