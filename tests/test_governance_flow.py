"""The organisation's policy on the fake GitHub: tighten-only, fail closed, levels, instructions."""
# ruff: noqa: F811 - the review flow's fixtures, imported

from conftest import INSTALLATION_ID, STAGES_OFF, payload
from factories import unescaped
from test_review_flow import (  # noqa: F401
    HEAD,
    NEXT,
    REPO,
    check,
    gate,
    pr_event,
    slack,
    with_slack,
)

from gatekeeper.service import jobs
from gatekeeper.service.audit import AuditTrail

ORG_REPO = "Codertocat/.github"
LATER = "c" * 40
ORG_POLICY_PATH = "/repos/Codertocat/.github/contents/.github/gatekeeper.yml"
RESTRICTED = b"""\
overridable: [stages]  # so these tests can turn the stages off
levels:
  internal:
    instructions:
      references: ["https://codertocat.example/secure-coding"]
  restricted:
    agents: forbidden
  guarded:
    off_limits: ["billing/**"]
assign:
  - level: restricted
    topics: [pci]
  - level: guarded
    properties: {data-sensitivity: guarded}
  - level: internal
    repos: ["Hello-*"]
"""


def org_policy(fake_github, text: bytes):
    org = fake_github.repos.get(ORG_REPO) or fake_github.add_repo(ORG_REPO)
    fake_github.installations[INSTALLATION_ID]["repos"].add(ORG_REPO)
    org.contents[("main", ".github/gatekeeper.yml")] = text
    return org


def records(kind, number=2):
    return [r for r in AuditTrail(jobs.context().store).records(REPO, number)
            if r["kind"] == kind]


def human_pull(repo, number=3, sha="e" * 40):
    repo.add_pull(number, sha, author="octocat", head_ref="fix-typo")
    repo.files[number] = [{"filename": "billing/rates.py", "status": "modified"}]
    data = pr_event("opened", sha)
    data["pull_request"]["number"] = data["number"] = number
    return data


def test_a_repository_file_cannot_lower_the_organisations_approvals(gate, fake_github):
    repo, send = gate
    org_policy(fake_github, b"approvals: 2\noverridable: [stages]\n")
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF + b"approvals: 1\n"
    send("pull_request", pr_event("opened"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert overall["output"]["title"].startswith("Waiting for human review: 2 more approvals")
    summary = unescaped(overall["output"]["summary"])
    assert ("approvals.required: the repository's 1 is refused (looser than the "
            "organisation's); the organisation's 2 applies") in summary
    [policy] = records("policy")
    assert policy["organisation"] == "Codertocat/.github:.github/gatekeeper.yml"
    assert policy["refused"] and policy["source"] == ".github/gatekeeper.yml@main"
    repo.review(2, "alice", "APPROVED")
    send("pull_request_review", {**payload("pull_request_review", "submitted")})
    assert check(fake_github, "gatekeeper")["output"]["title"].startswith(
        "Waiting for human review: 1 more approval")


def test_an_unreadable_organisation_policy_fails_closed_once_per_pull_request(gate, fake_github):
    repo, send = gate
    org_policy(fake_github, b"overridable: [stages]\n")
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    for _ in range(3):  # more than one read would be a second try: there must be none
        fake_github.inject("GET", ORG_POLICY_PATH, 403)
    send("pull_request", pr_event("opened"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert overall["output"]["title"] == "Organisation policy could not be read"
    assert "Codertocat/.github:.github/gatekeeper.yml could not be read" in unescaped(
        overall["output"]["summary"])
    assert overall["updates"] == 2  # started, then completed red once: not left pending
    assert check(fake_github, "gatekeeper/review")["conclusion"] == "failure"
    assert fake_github.runs_for(REPO, HEAD, "gatekeeper/tests") == []  # nothing ran
    assert len(fake_github.injected) == 2
    # the failure is not remembered as "no organisation policy": the next event reads again
    fake_github.injected.clear()
    send("pull_request", pr_event("synchronize"))
    assert check(fake_github, "gatekeeper")["output"]["title"].startswith(
        "Waiting for human review")


def test_an_agent_pull_request_on_a_restricted_repository_fails_and_alerts(gate, fake_github,
                                                                           env, slack):
    repo, send = gate
    with_slack(env, slack)
    org_policy(fake_github, RESTRICTED)
    repo.topics = ["pci", "payments"]
    send("pull_request", pr_event("opened"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert overall["output"]["title"].startswith(
        "Agent change not allowed: levels.restricted.agents: forbidden")
    assert fake_github.runs_for(REPO, HEAD, "gatekeeper/tests") == []  # its code never ran
    [alert] = slack.payloads
    assert "agents are not allowed" in alert["text"]
    assert records("policy")[0]["level"] == "restricted"
    assert records("policy")[0]["level_reason"] == "topic pci"
    # a person's pull request in the same repository is not affected
    send("pull_request", human_pull(repo))
    person = fake_github.runs_for(REPO, "e" * 40, "gatekeeper")[0]
    assert person["conclusion"] == "neutral"
    assert person["output"]["title"] == "Not gated: no sign of an AI coding agent"
    assert len(slack.payloads) == 1


def test_off_limits_paths_by_custom_property_name_the_rule(gate, fake_github):
    repo, send = gate
    org_policy(fake_github, RESTRICTED)
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    repo.properties = {"data-sensitivity": "guarded"}
    repo.files[2] = [{"filename": "billing/rates.py", "status": "modified"}]
    send("pull_request", pr_event("opened"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert "levels.guarded.off_limits: billing/** — agents may not change billing/rates.py" in \
        unescaped(overall["output"]["summary"])
    # elsewhere in that repository, agents are gated as usual
    repo.files[2] = [{"filename": "docs/index.md", "status": "modified"}]
    repo.pulls[2]["head"]["sha"] = NEXT
    send("pull_request", pr_event("synchronize", NEXT))
    assert check(fake_github, "gatekeeper", NEXT)["output"]["title"].startswith(
        "Waiting for human review")


def test_missing_agent_instructions_are_a_warning_finding(gate, fake_github):
    repo, send = gate
    org_policy(fake_github, RESTRICTED)  # Hello-World: level internal, by name
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    send("pull_request", pr_event("opened"))
    overall = check(fake_github, "gatekeeper")
    summary = unescaped(overall["output"]["summary"])
    assert ("- **warning** agent-instructions: level internal requires agent instructions "
            "(AGENTS.md, CLAUDE.md") in summary
    assert overall["output"]["title"].startswith("Waiting for human review")  # not blocking
    # instructions that reference the standard: no finding
    repo.contents[("main", "CLAUDE.md")] = b"Follow https://codertocat.example/secure-coding.\n"
    repo.pulls[2]["head"]["sha"] = NEXT
    send("pull_request", pr_event("synchronize", NEXT))
    assert "agent-instructions" not in check(fake_github, "gatekeeper", NEXT)["output"]["summary"]


def test_a_push_to_the_organisations_policy_is_read_at_the_next_gate(gate, fake_github):
    repo, send = gate
    org = org_policy(fake_github, b"approvals: 2\noverridable: [stages]\n")
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    send("pull_request", pr_event("opened"))
    assert "2 more approvals" in check(fake_github, "gatekeeper")["output"]["title"]
    org.contents[("main", ".github/gatekeeper.yml")] = b"approvals: 3\noverridable: [stages]\n"
    repo.pulls[2]["head"]["sha"] = NEXT
    send("pull_request", pr_event("synchronize", NEXT))  # cached: still 2
    assert "2 more approvals" in check(fake_github, "gatekeeper", NEXT)["output"]["title"]
    send("push", push_to_org_repo())  # gates the open pull request again, without a push
    assert "3 more approvals" in check(fake_github, "gatekeeper", NEXT)["output"]["title"]
    [changed] = [r for r in AuditTrail(jobs.context().store).store.read_records("deliveries")
                 if r["kind"] == "org-policy-changed"]
    assert changed["owner"] == "Codertocat" and changed["queued"] == [f"{REPO}#2"]


def test_policy_show_prints_each_value_with_its_source(gate, fake_github, env, capsys):
    from gatekeeper.cli.policyshow import show
    from gatekeeper.service.settings import load_settings

    repo, _ = gate
    org_policy(fake_github, RESTRICTED + b"approvals: 2\n")
    repo.contents[("main", ".github/gatekeeper.yml")] = b"approvals: 1\nscanners:\n  block_on: low\n"
    assert show(REPO, settings=load_settings(env)) == 0
    out = capsys.readouterr().out
    assert "organisation policy: Codertocat/.github:.github/gatekeeper.yml" in out
    assert "level:               internal (name matches Hello-*)" in out
    assert "refused: approvals.required: the repository's 1 is refused" in out
    lines = {line.split()[0]: line for line in out.splitlines()[6:] if line.strip()}
    assert lines["approvals.required"].split()[1:] == ["2", "organisation", "(Codertocat/.github)"]
    assert lines["scanners.block_on"].split()[1:] == ['"low"', "repository",
                                                      "(.github/gatekeeper.yml)"]
    assert lines["stages.tests"].split()[1:] == ["true", "built-in", "default"]
    assert show("not-a-repo", settings=load_settings(env)) == 2


def test_an_invalid_organisation_policy_fails_every_gate_with_its_line(gate, fake_github):
    repo, send = gate
    org_policy(fake_github, b"approvals: 2\nscanners:\n  block_on: never\n")
    send("pull_request", pr_event("opened"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert overall["output"]["title"] == "Policy file invalid (1 problem)"
    assert "Codertocat/.github:.github/gatekeeper.yml:3: scanners.block_on" in unescaped(
        overall["output"]["summary"])
    assert fake_github.runs_for(REPO, HEAD, "gatekeeper/tests") == []


def test_doctor_reads_each_owners_policy(gate, fake_github, env):
    from gatekeeper.cli.doctor import _org_policies
    from gatekeeper.service.settings import load_settings

    settings = load_settings(env)
    result = _org_policies(settings)
    assert result.startswith("Codertocat: none")  # no .github repository the App can read
    org_policy(fake_github, b"approvals: 2\n")
    assert _org_policies(settings).startswith("Codertocat: read")
    org_policy(fake_github, b"approvals: zero\n")
    broken = _org_policies(settings)
    assert not broken.ok and "Codertocat/.github:.github/gatekeeper.yml:1: approvals" in \
        broken.detail
    org_policy(fake_github, b"approvals: 2\n")
    fake_github.inject("GET", ORG_POLICY_PATH, 403)
    unreadable = _org_policies(settings)
    assert not unreadable.ok and "could not be read" in unreadable.detail
    assert "fail closed" in unreadable.fix


def push_to_org_repo():
    push = payload("push", "event")
    push.update(ref="refs/heads/main", after="f" * 40, installation={"id": INSTALLATION_ID})
    push["repository"].update(full_name=ORG_REPO, name=".github", default_branch="main")
    return push


def test_a_policy_that_vanishes_fails_closed_until_a_push_confirms_its_removal(gate,
                                                                               fake_github):
    repo, send = gate
    org = org_policy(fake_github, b"approvals: 2\noverridable: [stages]\n")
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    send("pull_request", pr_event("opened"))
    assert "2 more approvals" in check(fake_github, "gatekeeper")["output"]["title"]
    # the App loses access to Codertocat/.github: GitHub now answers 404, as for no file
    fake_github.installations[INSTALLATION_ID]["repos"].discard(ORG_REPO)
    jobs.context().store.forget("org-policy-codertocat")  # the cached copy expires
    repo.pulls[2]["head"]["sha"] = NEXT
    send("pull_request", pr_event("synchronize", NEXT))
    lost = check(fake_github, "gatekeeper", NEXT)
    assert lost["conclusion"] == "failure"
    assert lost["output"]["title"] == "Organisation policy could not be read"
    assert "is now missing or out of the App's reach" in unescaped(lost["output"]["summary"])
    # access back, and the file deleted by a push: that push confirms the removal
    fake_github.installations[INSTALLATION_ID]["repos"].add(ORG_REPO)
    del org.contents[("main", ".github/gatekeeper.yml")]
    send("push", push_to_org_repo())
    repo.pulls[2]["head"]["sha"] = LATER
    send("pull_request", pr_event("synchronize", LATER))
    assert check(fake_github, "gatekeeper", LATER)["output"]["title"].startswith(
        "Waiting for human review: 1 more approval")


def test_doctor_lists_the_unknown_bots_each_owner_gated(gate, fake_github, env, redis_url):
    from gatekeeper.cli.doctor import _unknown_bots
    from gatekeeper.service.audit import AuditTrail
    from gatekeeper.service.queue import RedisBackend
    from gatekeeper.service.settings import load_settings

    settings = load_settings({**env, "REDIS_URL": redis_url})
    assert _unknown_bots(settings) == "none in the last 30 days"
    trail = AuditTrail(RedisBackend(redis_url, 3600))
    trail.record("classification", REPO, 2, agent=True, gated=True, signals=[
        "opened by @shiny-new-bot[bot] (a bot known as neither agent nor automation)"])
    found = _unknown_bots(settings)
    assert not found.ok and "Codertocat: shiny-new-bot[bot] (1 pull request)" in found.detail
    assert "agents.automation_logins" in found.fix
