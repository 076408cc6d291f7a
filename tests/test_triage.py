"""Triage in the pure core: fingerprints, who may dismiss, and the gate's decision with it."""

from factories import AGENTS, HEAD, commit, files, policy, pull, review, unescaped, user

from gatekeeper.core import triage
from gatekeeper.core.decision import GateFacts, decide_gate
from gatekeeper.core.governance import Effective
from gatekeeper.core.model import Finding, StageResult
from gatekeeper.core.report import check_output
from gatekeeper.core.review import ReviewerFacts

SOURCE = ("import subprocess\n\n\ndef grep(q):\n    cmd = 'grep ' + q\n"
          "    return subprocess.run(cmd, shell=True)\n\n\ndef other():\n    return 1\n")
POLICY = "triage:\n  users: [sam]\n  teams: [appsec]\n"


def finding(line=6, rule="shell-true", tool="semgrep", path="tool.py", **kw):
    return Finding(tool, rule, "shell=True with a built command", "high", path, line, line, **kw)


def printed(text, *found):
    return triage.fingerprinted(found, lambda path: text if path == "tool.py" else None)


def test_the_fingerprint_ignores_whitespace_and_moves_but_not_the_code_around_it():
    [first] = printed(SOURCE, finding())
    assert len(first.fingerprint) == 32
    respaced = SOURCE.replace("    cmd = 'grep ' + q", "\tcmd  =  'grep '  +  q   ")
    assert printed(respaced, finding())[0].fingerprint == first.fingerprint
    moved = "# a comment\n\n\n\n\n" + SOURCE  # five lines down: the same code, elsewhere
    assert printed(moved, finding(11))[0].fingerprint == first.fingerprint
    far = SOURCE.replace("return 1", "return 2")  # line 10: outside the context
    assert printed(far, finding())[0].fingerprint == first.fingerprint
    near = SOURCE.replace("'grep ' + q", "'grep -r ' + q")  # the line above it
    assert printed(near, finding())[0].fingerprint != first.fingerprint
    assert printed(SOURCE, finding(rule="other"))[0].fingerprint != first.fingerprint


def test_a_second_copy_of_the_same_code_is_another_occurrence():
    twice = SOURCE + "\n\ndef grep(q):\n    cmd = 'grep ' + q\n" \
        "    return subprocess.run(cmd, shell=True)\n\n\ndef other():\n    return 1\n"
    one, two = printed(twice, finding(6), finding(17))
    assert one.fingerprint == printed(SOURCE, finding())[0].fingerprint
    assert two.fingerprint and two.fingerprint != one.fingerprint


def test_a_finding_whose_code_cannot_be_read_has_no_fingerprint_and_cannot_be_dismissed():
    unread, past_end, no_line = triage.fingerprinted(
        [finding(path="gone.py"), finding(400), finding(0)],
        lambda path: SOURCE if path == "tool.py" else None)
    assert (unread.fingerprint, past_end.fingerprint, no_line.fingerprint) == ("", "", "")
    assert not triage.dismissable("sast", unread)


def test_commands_are_parsed_line_by_line_with_an_optional_location():
    body = ("Looked at both.\n/gatekeeper dismiss shell-true tool.py:6 q is a constant here\n"
            "/gatekeeper ack other\n  /GATEKEEPER dismiss B602 the test fixture\n"
            "/gatekeeper dismiss shell-true\n")
    assert triage.parse_commands(body) == [
        triage.Command("shell-true", "tool.py", 6, "q is a constant here"),
        triage.Command("B602", None, None, "the test fixture"),
        triage.Command("shell-true", None, None, "")]
    assert len(triage.parse_commands("/gatekeeper dismiss r why\n" * 100)) == triage.MAX_COMMANDS


def stages_with(*found, status="failed", stage="sast"):
    result = StageResult(stage, status, "1 changed files scanned", printed(SOURCE, *found))
    return {"tests": StageResult("tests", "passed", "1 passed"),
            "dependencies": StageResult("dependencies", "passed", "no manifest"),
            **{stage: result}}


def facts(stages, dismissals=(), reviews=(), teams=None, text=POLICY, commits=None, pr=None):
    teams = teams if teams is not None else {"ivy": frozenset({"octo/appsec"})}
    pr = pr or pull(assignees=("rob",))
    return GateFacts(pr, tuple(commits or [commit(author="copilot-swe-agent[bot]", bot=True)]),
                     tuple(files("tool.py")), Effective(policy(text), {}), AGENTS, stages,
                     tuple(reviews), ReviewerFacts({"alice": "write"}, teams),
                     "2026-11-24T09:00:00+00:00", dismissals=tuple(dismissals))


def dismissal_by(login, stages, command="shell-true tool.py:6 the input is a constant"):
    [parsed] = triage.parse_commands("/gatekeeper dismiss " + command)
    fingerprints, problem = triage.resolve(parsed, stages)
    assert not problem, problem
    return triage.Dismissal(parsed.rule, fingerprints, login, parsed.reason,
                            "2026-11-24T09:30:00+00:00", parsed.where, HEAD)


APPROVED = (review("alice"),)


def test_a_security_reviewers_dismissal_unblocks_and_the_check_says_by_whom_and_why():
    stages = stages_with(finding())
    blocked = decide_gate(facts(stages, reviews=APPROVED))  # the positive control
    assert blocked.conclusion("gatekeeper/sast") == "failure"
    assert blocked.conclusion() == "failure"
    for by in ("ivy", "sam"):  # a member of triage.teams, a listed user
        decision = decide_gate(facts(stages, [dismissal_by(by, stages)], APPROVED))
        assert decision.conclusion("gatekeeper/sast") == "success"
        assert decision.conclusion() == "success"
        [applied] = decision.triaged
        assert applied.counted and applied.covered == 1
        sast = next(v for v in decision.verdicts if v.name == "gatekeeper/sast")
        summary = unescaped(check_output(sast).summary)
        assert f"dismissed by @{by}: the input is a constant" in summary
        assert "**Dismissed by a security reviewer (1):**" in summary
        assert check_output(sast).annotations[0]["annotation_level"] == "notice"


def test_a_dismissal_by_the_author_an_agent_the_requester_or_a_non_member_blocks_still():
    stages = stages_with(finding())
    everyone = "triage:\n  users: [sam, rob, 'copilot-swe-agent[bot]', dave, carl]\n"
    cases = {
        "copilot-swe-agent[bot]": "coding agent",  # opened it (and is the agent)
        "rob": "asked the agent",  # assigned the agent: the requester
        "carl": "authored commits",
        "erin": "not one of the policy's security reviewers",
    }
    for login, why in cases.items():
        decision = decide_gate(facts(stages, [dismissal_by(login, stages)], APPROVED,
                                     text=everyone,
                                     commits=[commit(author="copilot-swe-agent[bot]", bot=True),
                                              commit(author="carl")]))
        assert decision.conclusion("gatekeeper/sast") == "failure", login
        [applied] = decision.triaged
        assert not applied.counted and why in applied.why, (login, applied.why)
    human = pull(author="dave", bot=False, head_ref="copilot/fix")  # a person's own PR
    decision = decide_gate(facts(stages, [dismissal_by("dave", stages)], APPROVED,
                                 text=everyone + "gate: all\n", pr=human,
                                 commits=[commit(author="dave")]))
    assert decision.conclusion("gatekeeper/sast") == "failure"
    assert "opened this pull request" in decision.triaged[0].why


def test_nobody_can_dismiss_where_the_policy_names_no_security_reviewers():
    stages = stages_with(finding())
    decision = decide_gate(facts(stages, [dismissal_by("ivy", stages)], APPROVED, text=None))
    assert decision.conclusion("gatekeeper/sast") == "failure"
    assert "names no security reviewers" in decision.triaged[0].why


def test_a_team_member_who_leaves_the_team_stops_counting():
    stages = stages_with(finding())
    gone = decide_gate(facts(stages, [dismissal_by("ivy", stages)], APPROVED, teams={}))
    assert gone.conclusion("gatekeeper/sast") == "failure"


def test_when_the_code_around_it_changes_the_finding_blocks_again():
    stages = stages_with(finding())
    given = dismissal_by("ivy", stages)
    assert decide_gate(facts(stages, [given], APPROVED)).conclusion() == "success"
    changed = SOURCE.replace("'grep ' + q", "'grep ' + q + ' /'")
    pushed = {**stages, "sast": StageResult("sast", "failed", "scanned",
                                            printed(changed, finding()))}
    decision = decide_gate(facts(pushed, [given], APPROVED))
    assert decision.conclusion("gatekeeper/sast") == "failure"
    assert decision.conclusion() == "failure"
    assert decision.triaged[0].counted and decision.triaged[0].covered == 0


def test_a_rule_wide_dismissal_covers_the_findings_shown_then_and_not_a_later_one():
    stages = stages_with(finding(6))
    given = dismissal_by("ivy", stages, "shell-true fine in this tool")
    assert given.where == "" and len(given.fingerprints) == 1
    later = SOURCE + "\n\ndef run(x):\n    return subprocess.run(x, shell=True)\n"
    pushed = {**stages, "sast": StageResult("sast", "failed", "scanned",
                                            printed(later, finding(6), finding(14)))}
    decision = decide_gate(facts(pushed, [given], APPROVED))
    sast = next(v for v in decision.verdicts if v.name == "gatekeeper/sast")
    assert sast.conclusion == "failure"
    assert [f.start_line for f in sast.findings if f.blocking] == [14]
    assert [f.start_line for f in sast.findings if f.dismissed] == [6]


def test_what_cannot_be_dismissed_is_refused_with_a_reply_saying_why():
    sast = stages_with(finding())

    def refused(command, stages=sast):
        [parsed] = triage.parse_commands("/gatekeeper dismiss " + command)
        dismissal, reply = triage.decide_command(parsed, user("ivy"), "now", HEAD, stages, None)
        assert dismissal is None
        return reply

    assert "needs a reason" in refused("shell-true tool.py:6")
    assert "/gatekeeper dismiss RULE [path:line] REASON" in refused("shell-true")
    assert "no finding of shell-true at tool.py:9" in refused("shell-true tool.py:9 why")
    tests = stages_with(Finding("pytest", "test-failure", "failed", "high", "tool.py", 6, 6),
                        stage="tests")
    assert "tests stage, which cannot be dismissed" in refused("test-failure flaky", tests)
    acked = stages_with(finding(blocking=False, waived_by="sast.dangerous-sink"), status="passed")
    assert "`/gatekeeper ack shell-true`" in refused("shell-true looked", acked)
    unread = stages_with(finding(rule="parse-error"))
    assert "cannot be dismissed" in refused("parse-error whatever", unread)
    gate_own = stages_with(finding(tool="gatekeeper", rule="policy-invalid"))
    assert "cannot be dismissed" in refused("policy-invalid whatever", gate_own)
    dismissal, reply = triage.decide_command(
        triage.parse_commands("/gatekeeper dismiss shell-true x")[0], user("erin"), "now", HEAD,
        sast, "is not one of the policy's security reviewers")
    assert dismissal is None and "does not count" in reply


def test_a_stage_with_a_file_not_analysed_stays_failed_after_a_dismissal():
    stages = stages_with(finding(), Finding("bandit", "parse-error", "syntax error", "high",
                                            "tool.py", 2, 2, blocking=False))
    decision = decide_gate(facts(stages, [dismissal_by("ivy", stages)], APPROVED))
    assert decision.conclusion("gatekeeper/sast") == "failure"


def test_a_reason_is_inert_markdown_on_the_check_and_in_the_reply():
    hostile = "see [here](javascript:alert(1)) <img src=x> @acme/everyone `x"
    stages = stages_with(finding())
    [parsed] = triage.parse_commands(f"/gatekeeper dismiss shell-true {hostile}\nnext line")
    assert parsed.reason == hostile  # one line: a reason never reaches the next
    dismissal, reply = triage.decide_command(parsed, user("ivy"), "now", HEAD, stages, None)
    decision = decide_gate(facts(stages, [dismissal], APPROVED))
    sast = next(v for v in decision.verdicts if v.name == "gatekeeper/sast")
    for shown in (check_output(sast).summary, triage.replies([reply])):
        assert hostile in unescaped(shown)  # the control: it is there, as written
        assert "[here](" not in shown and "<img" not in shown.replace("\\<img", "")
        assert "@acme/everyone" not in shown  # no mention
