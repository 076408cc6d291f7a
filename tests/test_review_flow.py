"""One agent pull request through the app, against the fake GitHub: red → approved → green → push → red."""

import pytest
from conftest import STAGES_OFF, delivery, installed_repo, payload
from factories import unescaped

from gatekeeper.service import jobs
from gatekeeper.service.queue import MemoryBackend
from gatekeeper.service.settings import load_settings
from gatekeeper.service.web import create_app

REPO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
NEXT = "d" * 40
AGENT = "copilot-swe-agent[bot]"


@pytest.fixture
def gate(env, fake_github):
    repo = installed_repo(fake_github, REPO, 186853002)
    repo.add_pull(2, HEAD, author=AGENT, author_type="Bot", head_ref="copilot/fix-login",
                  assignees=("bob",))
    repo.files[2] = [{"filename": "src/login.py", "status": "modified"}]
    repo.permissions.update({"alice": "write", "bob": "admin", "erin": "read"})
    settings = load_settings(env)
    backend = MemoryBackend(settings.delivery_ttl_seconds)
    jobs.configure(settings, backend)
    client = create_app(settings, backend).test_client()

    def send(event, data):
        body, headers = delivery(event, data)
        response = client.post("/webhook", data=body, headers=headers)
        assert response.status_code == 202, response.json
        assert backend.wait_idle(120)

    return repo, send


def check(fake_github, name, sha=HEAD):
    runs = fake_github.runs_for(REPO, sha, name)
    assert len(runs) == 1, f"{name}: {len(runs)} check runs"
    assert runs[0]["status"] == "completed"
    return runs[0]


def pr_event(action, sha=HEAD):
    data = payload("pull_request", action)
    data["pull_request"]["head"]["sha"] = sha
    return data


def review_event(sha=HEAD):
    data = payload("pull_request_review", "submitted")
    data["pull_request"]["head"]["sha"] = sha
    return data


def test_agent_pull_request_from_opened_to_green_and_back_to_red(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF

    send("pull_request", pr_event("opened"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert overall["output"]["title"].startswith("Waiting for human review: 1 more approval")
    summary = unescaped(overall["output"]["summary"])
    assert f"opened by @{AGENT} (GitHub Copilot coding agent) (strong)" in summary
    assert check(fake_github, "gatekeeper/review")["conclusion"] == "failure"
    for stage in ("tests", "sast", "dependencies"):
        stage_run = check(fake_github, f"gatekeeper/{stage}")
        assert stage_run["conclusion"] == "skipped"
        assert "turned off by the base branch's policy" in stage_run["output"]["summary"]
    stage_updates = check(fake_github, "gatekeeper/tests")["updates"]

    # the human who assigned the agent approves: does not count
    repo.review(2, "bob", "APPROVED")
    send("pull_request_review", review_event())
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert "| @bob | approved | no | asked the agent" in overall["output"]["summary"]

    # a qualified human approves the head commit: green, without rescanning
    repo.review(2, "alice", "APPROVED")
    send("pull_request_review", review_event())
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "success", overall["output"]
    assert "| @alice | approved | yes | has write permission |" in overall["output"]["summary"]
    assert check(fake_github, "gatekeeper/review")["conclusion"] == "success"
    assert check(fake_github, "gatekeeper/tests")["updates"] == stage_updates

    # a new push: the approval is stale and the new head is red again
    repo.push(2, NEXT, "Fix the fix", AGENT, "Bot")
    send("pull_request", pr_event("synchronize", NEXT))
    overall = check(fake_github, "gatekeeper", NEXT)
    assert overall["conclusion"] == "failure"
    assert "approved an older commit ec26c3e" in overall["output"]["summary"]
    assert check(fake_github, "gatekeeper", HEAD)["conclusion"] == "success"  # history kept


def test_stages_that_cannot_run_keep_the_gate_red_even_when_approved(gate, fake_github):
    repo, send = gate
    send("pull_request", pr_event("opened"))
    repo.review(2, "alice", "APPROVED")  # after the verdict, so it counts
    send("pull_request_review", review_event())
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert overall["output"]["title"].startswith("Blocked: gatekeeper/tests")
    assert check(fake_github, "gatekeeper/review")["conclusion"] == "success"
    assert "could not be fetched" in check(fake_github, "gatekeeper/tests")["output"]["summary"]
    assert "could not be fetched" in check(fake_github, "gatekeeper/sast")["output"]["summary"]


def test_policy_is_read_from_the_base_branch_only(gate, fake_github):
    repo, send = gate
    # the pull request's own branch turns everything off: ignored
    repo.contents[("copilot/fix-login", ".github/gatekeeper.yml")] = STAGES_OFF + b"approvals: 1\n"
    repo.review(2, "alice", "APPROVED")
    send("pull_request", pr_event("opened"))
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"
    assert check(fake_github, "gatekeeper/tests")["conclusion"] == "failure"


def test_invalid_base_policy_turns_the_gate_red_with_its_lines(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = b"gate: agents\naprovals: 2\n"
    send("pull_request", pr_event("opened"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert overall["output"]["title"] == "Policy file invalid (1 problem)"
    assert ".github/gatekeeper.yml:2: unknown key 'aprovals', did you mean 'approvals'?" in \
        overall["output"]["summary"]


def test_human_pull_request_is_not_gated_and_says_why(gate, fake_github):
    repo, send = gate
    repo.add_pull(2, HEAD, author="Codertocat", head_ref="feature")
    send("pull_request", pr_event("opened"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "neutral"
    assert "No sign of an AI coding agent" in overall["output"]["summary"]
    assert fake_github.runs_for(REPO, HEAD, "gatekeeper/review") == []


def test_gate_all_gates_human_pull_requests_too(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = b"gate: all\n"
    repo.add_pull(2, HEAD, author="Codertocat", head_ref="feature")
    send("pull_request", pr_event("opened"))
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"
    assert check(fake_github, "gatekeeper/review")["conclusion"] == "failure"


def test_sensitive_path_and_team_rules_through_the_api(gate, fake_github):
    repo, send = gate
    # about who counts, not when: an approval given before the verdict counts here (the
    # default after_verdict made this race the gate's clock under load)
    repo.contents[("main", ".github/gatekeeper.yml")] = (
        STAGES_OFF + b"approvers:\n  min_permission: admin\n  teams: [reviewers]\n"
        b"approvals:\n  after_verdict: false\n")
    repo.files[2].append({"filename": ".github/workflows/ci.yml", "status": "modified"})
    fake_github.teams["codertocat/reviewers"] = {"erin", "alice"}
    repo.review(2, "erin", "APPROVED")
    send("pull_request", pr_event("opened"))
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure"
    assert "member of team codertocat/reviewers" in overall["output"]["summary"]
    assert "1 more approval for sensitive paths (.github/workflows/ci.yml)" in \
        overall["output"]["summary"]
    repo.review(2, "alice", "APPROVED")
    send("pull_request_review", review_event())
    assert check(fake_github, "gatekeeper")["conclusion"] == "success"


def test_superseded_commit_is_not_reported_as_passing(gate, fake_github):
    repo, send = gate
    repo.push(2, NEXT, "newer", AGENT, "Bot")
    send("pull_request", pr_event("opened", HEAD))
    old = check(fake_github, "gatekeeper", HEAD)
    assert old["conclusion"] == "cancelled" and old["output"]["title"] == "Superseded by ddddddd"


def tree_tarball(files: dict[str, str], sha: str = HEAD) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"Codertocat-Hello-World-{sha[:7]}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


PROJECT = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
}
TESTS_ONLY = "stages:\n  sast: false\n  dependencies: false\n"


def test_real_test_suite_runs_and_an_approved_pull_request_goes_green(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = TESTS_ONLY.encode()
    repo.tarballs[HEAD] = tree_tarball(PROJECT)
    repo.files[2] = [{"filename": "calc.py", "status": "modified"}]  # in the tree, as on GitHub
    repo.review(2, "alice", "APPROVED", submitted_at="2026-11-24T10:00:00Z")  # before the gate
    send("pull_request", pr_event("opened"))
    tests = check(fake_github, "gatekeeper/tests")
    assert tests["conclusion"] == "success", tests["output"]
    assert tests["output"]["summary"].startswith("1 passed, 0 failed")
    gate_run = check(fake_github, "gatekeeper")
    assert gate_run["conclusion"] == "failure"  # approved before the findings were in
    review_run = check(fake_github, "gatekeeper/review")
    assert "approved before the findings were in" in unescaped(review_run["output"]["summary"])
    repo.review(2, "alice", "APPROVED")  # after the verdict: counts
    send("pull_request_review", review_event())
    assert check(fake_github, "gatekeeper")["conclusion"] == "success"


def test_failing_test_is_an_annotation_on_its_file_and_line(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = TESTS_ONLY.encode()
    repo.tarballs[HEAD] = tree_tarball({**PROJECT, "calc.py": "def add(a, b):\n    return 5\n"})
    repo.files[2] = [{"filename": "calc.py", "status": "modified"}]
    repo.review(2, "alice", "APPROVED")
    send("pull_request", pr_event("opened"))
    tests = check(fake_github, "gatekeeper/tests")
    assert tests["conclusion"] == "failure"
    [note] = fake_github.check_runs[tests["id"]]["output"]["annotations"]
    assert (note["path"], note["start_line"], note["annotation_level"]) == \
        ("test_calc.py", 5, "failure")
    assert "assert 5 == 4" in note["message"]
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"


def test_every_stage_for_real_then_green_once_approved(gate, fake_github):
    repo, send = gate
    repo.tarballs[HEAD] = tree_tarball(PROJECT)
    repo.files[2] = [{"filename": name, "status": "added"} for name in PROJECT]
    send("pull_request", pr_event("opened"))
    for stage in ("tests", "sast", "dependencies"):
        run = check(fake_github, f"gatekeeper/{stage}")
        assert run["conclusion"] == "success", (stage, run["output"])
    assert "2 changed files scanned" in check(fake_github, "gatekeeper/sast")["output"]["summary"]
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"  # no approval yet
    repo.review(2, "alice", "APPROVED")
    send("pull_request_review", review_event())
    assert check(fake_github, "gatekeeper")["conclusion"] == "success"


def test_agent_adding_shell_injection_is_blocked_on_its_line(gate, fake_github):
    repo, send = gate
    tool = ("import subprocess\n\nfrom flask import request\n\n\ndef grep():\n"
            "    return subprocess.run('grep ' + request.args['q'], shell=True)\n")
    repo.tarballs[HEAD] = tree_tarball({**PROJECT, "tool.py": tool})
    repo.files[2] = [{"filename": "tool.py", "status": "added"}]
    repo.review(2, "alice", "APPROVED")
    send("pull_request", pr_event("opened"))
    sast = check(fake_github, "gatekeeper/sast")
    assert sast["conclusion"] == "failure"
    notes = fake_github.check_runs[sast["id"]]["output"]["annotations"]
    assert ("tool.py", 7, "failure") in {(n["path"], n["start_line"], n["annotation_level"])
                                         for n in notes}
    assert any("taint-command-injection" in n["title"] for n in notes)
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure" and "gatekeeper/sast" in overall["output"]["title"]


def test_one_full_gate_leaves_an_audit_trail_and_metrics(gate, fake_github, env, app_key):
    from gatekeeper.service.audit import AuditTrail

    repo, send = gate
    repo.tarballs[HEAD] = tree_tarball(PROJECT)
    repo.files[2] = [{"filename": name, "status": "added"} for name in PROJECT]
    send("pull_request", pr_event("opened"))
    store = jobs.context().store
    records = AuditTrail(store).records(REPO, 2)
    kinds = [r["kind"] for r in records]
    assert kinds[:2] == ["policy", "classification"] and kinds[-2:] == ["review", "verdict"]
    sandboxed = [r for r in records if r["kind"] == "sandbox"]
    assert len(sandboxed) >= 3  # the suite, semgrep, bandit (and the venv, when first built)
    for run in sandboxed:
        assert run["exit"] is not None and run["duration"] > 0 and len(run["output_sha256"]) == 64
        assert run["limits"]["wall_seconds"] > 0
    commands = sorted(" ".join(run["argv"][:5]) for run in sandboxed)
    assert any(c.startswith("/bin/sh -c export PATH=") for c in commands)  # the suite
    # the scanners start isolated (-I): nothing of the tree on their import path
    assert any(" -I " in c and c.endswith("semgrep scan --metrics=off") for c in commands), \
        commands
    assert any(" -I -m bandit" in c for c in commands), commands
    assert records[-1]["conclusions"]["gatekeeper"] == "failure"
    text = "\n".join(map(str, records))
    assert env["GITHUB_WEBHOOK_SECRET"] not in text and "PRIVATE KEY" not in text
    client = create_app(load_settings(env), store).test_client()
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'gatekeeper_verdicts_total{conclusion="failure"} 1.0' in metrics
    assert 'gatekeeper_stage_seconds_count{stage="tests"} 1.0' in metrics
    assert 'gatekeeper_stage_results_total{stage="sast",status="passed"} 1.0' in metrics
    assert 'gatekeeper_jobs_total{kind="gate",outcome="ok"} 1.0' in metrics
    assert 'gatekeeper_queue_depth{queue="embedded"} 0.0' in metrics
    assert 'gatekeeper_webhook_deliveries_total{event="pull_request",outcome="queued"}' in metrics


@pytest.fixture
def slack(env, fake_github):
    from support.receiver import Receiver

    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def with_slack(env, slack):
    settings = load_settings({**env, "SLACK_WEBHOOK_URL": slack.url})
    jobs.configure(settings, jobs.context().store)


def test_blocked_gate_alerts_slack_with_the_top_findings(gate, fake_github, env, slack):
    repo, send = gate
    with_slack(env, slack)
    repo.contents[("main", ".github/gatekeeper.yml")] = b"slack:\n  channel: '#agents'\n"
    tool = "import os\n\n\ndef clean(request):\n    os.system('rm -rf /tmp/' + request.GET['name'])\n"
    repo.tarballs[HEAD] = tree_tarball({**PROJECT, "tool.py": tool})
    repo.files[2] = [{"filename": "tool.py", "status": "added"}]
    send("pull_request", pr_event("opened"))
    [payload] = slack.payloads
    assert payload["channel"] == "#agents"
    assert payload["text"] == f"High-severity finding in an agent pull request: {REPO}#2"
    top = payload["blocks"][2]["text"]["text"]
    assert "`tool.py:5` *taint-command-injection* (high)" in top
    # a review event does not alert again
    repo.review(2, "alice", "APPROVED")
    send("pull_request_review", review_event())
    assert len(slack.payloads) == 1


def test_agent_pull_request_merged_without_green_alerts(gate, fake_github, env, slack):
    repo, send = gate
    with_slack(env, slack)
    send("pull_request", pr_event("opened"))  # red: stages cannot fetch, no approval
    merged = pr_event("closed")
    merged["pull_request"]["merged"] = True
    send("pull_request", merged)
    alerts = [p for p in slack.payloads if "merged without" in p["text"]]
    assert len(alerts) == 1 and "gatekeeper: failure" in str(alerts[0]["blocks"])


def test_green_merge_does_not_alert(gate, fake_github, env, slack):
    repo, send = gate
    with_slack(env, slack)
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    send("pull_request", pr_event("opened"))
    repo.review(2, "alice", "APPROVED")
    send("pull_request_review", review_event())
    assert check(fake_github, "gatekeeper")["conclusion"] == "success"
    merged = pr_event("closed")
    merged["pull_request"]["merged"] = True
    send("pull_request", merged)
    assert slack.payloads == []


def test_an_approval_must_acknowledge_failures_the_policy_waived(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = TESTS_ONLY.encode()
    known = {**PROJECT, "test_known.py": "def test_known():\n    assert 1 == 2\n"}
    repo.tarballs[HEAD] = tree_tarball(known)
    repo.tarballs["0" * 40] = tree_tarball(known, "0" * 40)  # the base fails the same test
    repo.files[2] = [{"filename": "calc.py", "status": "modified"}]
    send("pull_request", pr_event("opened"))
    tests = check(fake_github, "gatekeeper/tests")
    assert tests["conclusion"] == "success", tests["output"]  # pre-existing: waived
    repo.review(2, "alice", "APPROVED")
    send("pull_request_review", review_event())
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"
    summary = unescaped(check(fake_github, "gatekeeper/review")["output"]["summary"])
    assert "/gatekeeper ack test-failure" in summary
    repo.review(2, "alice", "APPROVED", body="Seen, fails on main too.\n/gatekeeper ack test-failure")
    send("pull_request_review", review_event())
    assert check(fake_github, "gatekeeper")["conclusion"] == "success"


def test_an_agent_weakening_an_assertion_so_a_broken_function_passes_is_blocked(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = (
        TESTS_ONLY + "tests:\n  base_tests: block\n").encode()
    repo.tarballs["0" * 40] = tree_tarball(PROJECT, "0" * 40)
    repo.tarballs[HEAD] = tree_tarball({
        "calc.py": "def add(a, b):\n    return a - b\n",  # broken
        "test_calc.py": PROJECT["test_calc.py"].replace("== 4", "is not None")})  # weakened
    repo.files[2] = [{"filename": "calc.py", "status": "modified"},
                     {"filename": "test_calc.py", "status": "modified"}]
    send("pull_request", pr_event("opened"))
    tests = check(fake_github, "gatekeeper/tests")
    assert tests["conclusion"] == "failure", tests["output"]
    notes = fake_github.check_runs[tests["id"]]["output"]["annotations"]
    assert any("base branch's version of test_calc::test_add fails on this change" in n["message"]
               for n in notes), notes


def test_a_changed_file_the_tarball_leaves_out_fails_every_stage(gate, fake_github):
    """GitHub's tarball honours the commit's export-ignore: the file the pull request changes
    is not in it. The gate compares the extraction with the changed files, and fails."""
    repo, send = gate
    repo.tarballs[HEAD] = tree_tarball(PROJECT)  # no web.py: hidden from the archive
    repo.trees[HEAD] = {**{k: v.encode() for k, v in PROJECT.items()}, "web.py": b"X = 1\n",
                        ".gitattributes": b"web.py export-ignore\n"}
    repo.files[2] = [{"filename": "web.py", "status": "added"},
                     {"filename": ".gitattributes", "status": "added"}]
    send("pull_request", pr_event("opened"))
    for stage in ("tests", "sast", "dependencies"):
        run = check(fake_github, f"gatekeeper/{stage}")
        assert run["conclusion"] == "failure", (stage, run["output"])
        assert "web.py is missing" in unescaped(run["output"]["summary"])
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"


FORGE = ("import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\n"
         "def pytest_runtest_makereport(item, call):\n    outcome = yield\n"
         "    report = outcome.get_result()\n    report.outcome = 'passed'\n"
         "    report.longrepr = None\n")


def test_the_referee_catches_a_forged_passing_run_through_the_app(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = TESTS_ONLY.encode()
    repo.tarballs["0" * 40] = tree_tarball(PROJECT, "0" * 40)
    repo.tarballs[HEAD] = tree_tarball({**PROJECT, "calc.py": "def add(a, b):\n    return 5\n",
                                        "conftest.py": FORGE})
    repo.files[2] = [{"filename": "calc.py", "status": "modified"},
                     {"filename": "conftest.py", "status": "added"}]
    send("pull_request", pr_event("opened"))
    tests = check(fake_github, "gatekeeper/tests")
    assert tests["output"]["summary"].startswith("1 passed, 0 failed")  # the forgery worked
    assert tests["conclusion"] == "failure", tests["output"]
    notes = fake_github.check_runs[tests["id"]]["output"]["annotations"]
    assert any("base branch's version of test_calc::test_add fails on this change" in n["message"]
               for n in notes), notes
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"


def test_a_suppression_the_agent_adds_does_not_silence_the_scanner_through_the_app(gate,
                                                                                 fake_github):
    repo, send = gate
    tool = ("import subprocess\n\nfrom flask import request\n\n\ndef grep():\n"
            "    return subprocess.run('grep ' + request.args['q'], shell=True)"
            "  # nosemgrep  # nosec\n")
    repo.tarballs[HEAD] = tree_tarball({**PROJECT, "tool.py": tool})
    repo.files[2] = [{"filename": "tool.py", "status": "added",
                      "patch": "@@ -0,0 +1,7 @@\n" + "".join(f"+{r}\n" for r in tool.splitlines())}]
    send("pull_request", pr_event("opened"))
    sast = check(fake_github, "gatekeeper/sast")
    assert sast["conclusion"] == "failure", sast["output"]
    notes = fake_github.check_runs[sast["id"]]["output"]["annotations"]
    assert any("scanner suppression" in n["message"] and n["start_line"] == 7 for n in notes)
    assert any(n["annotation_level"] == "failure" and n["start_line"] == 7 for n in notes)


def test_copilot_reviews_apps_and_automation_never_count_as_a_human_approval(gate, fake_github):
    repo, send = gate
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF + \
        b"agents:\n  automation_logins: [release-robot]\n"
    repo.permissions.update({"copilot-pull-request-reviewer[bot]": "admin", "Copilot": "admin",
                             "release-robot": "admin", "helper-app[bot]": "admin"})
    send("pull_request", pr_event("opened"))
    # Copilot code review as GitHub sends it (an App's bot), and as a plain-typed login
    repo.review(2, "copilot-pull-request-reviewer[bot]", "APPROVED", user_type="Bot")
    repo.review(2, "Copilot", "APPROVED", user_type="User")
    repo.review(2, "release-robot", "APPROVED")
    repo.review(2, "helper-app[bot]", "APPROVED", user_type="User")
    send("pull_request_review", review_event())
    overall = check(fake_github, "gatekeeper")
    assert overall["conclusion"] == "failure", overall["output"]
    summary = unescaped(overall["output"]["summary"])
    assert "| @copilot-pull-request-reviewer[bot] | approved | no | is a bot account" \
        in summary
    assert "| @Copilot | approved | no | is a coding agent's account" in summary
    assert "| @release-robot | approved | no | is an automation account" in summary
    assert "| @helper-app[bot] | approved | no | is a bot account" in summary
    repo.review(2, "alice", "APPROVED")  # control: a human's approval is what counts
    send("pull_request_review", review_event())
    assert check(fake_github, "gatekeeper")["conclusion"] == "success"


def push_event(*commits, branch="main", sender="erin"):
    data = payload("push", "event")
    data.update(ref=f"refs/heads/{branch}", after=commits[-1]["id"], sender={"login": sender},
                commits=list(commits), head_commit=commits[-1])
    data["repository"]["default_branch"] = "main"
    return data


def pushed(sha, message, login="erin"):
    person = {"name": login, "email": f"{login}@example.com", "username": login}
    return {"id": sha, "message": message, "author": person, "committer": person}


def past_gate(org="Codertocat"):
    from datetime import UTC, datetime, timedelta

    from gatekeeper.service.activity import organisation_report

    now = datetime.now(UTC)
    report = organisation_report(jobs.context().store, org, now - timedelta(days=1),
                                 now + timedelta(minutes=5))
    return report["past_gate"]


def test_a_merge_past_a_red_gate_alerts_naming_who_merged_and_is_in_the_report(
        gate, fake_github, env, slack):
    repo, send = gate
    with_slack(env, slack)
    send("pull_request", pr_event("opened"))  # red: stages cannot fetch, no approval
    assert past_gate() == []
    merged = pr_event("closed")
    merged["pull_request"].update(merged=True, merged_by={"login": "alice"})
    send("pull_request", merged)
    [alert] = [p for p in slack.payloads if "merged without" in p["text"]]
    assert "merged by @alice" in str(alert["blocks"])
    [row] = past_gate()
    assert (row["repo"], row["pr"], row["by"]) == (REPO, 2, "alice")
    assert row["how"] == "merged with gatekeeper failure"


def test_agent_commits_pushed_with_no_pull_request_alert_and_are_in_the_report(
        gate, fake_github, env, slack):
    repo, send = gate
    with_slack(env, slack)
    person = pushed("a" * 40, "Fix typo")
    carried = pushed(HEAD, "Fix login\n\nCo-authored-by: Claude <noreply@anthropic.com>")
    # a person's commit, and an agent's that pull request #2 carried (its head): no bypass
    send("push", push_event(person, carried))
    assert fake_github.count("GET", f"/repos/{REPO}/commits/{HEAD}/pulls") == 1
    assert slack.payloads == [] and past_gate() == []
    send("push", push_event(pushed("b" * 40, "Fix login\n\nCo-authored-by: Claude "
                                             "<noreply@anthropic.com>")))
    send("push", push_event(pushed("c" * 40, "Co-authored-by: Claude <noreply@anthropic.com>"),
                            branch="scratch"))  # not a protected branch
    [alert] = slack.payloads
    assert "Agent commits pushed to main with no pull request" in alert["text"]
    assert "pushed by @erin" in str(alert["blocks"]) and "b" * 12 in str(alert["blocks"])
    [row] = past_gate()
    assert (row["repo"], row["pr"], row["by"]) == (REPO, None, "erin")
    assert row["how"] == "1 agent commit(s) pushed to main with no pull request"
