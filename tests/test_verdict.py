import pytest
from factories import AGENTS, VERDICT_AT, commit, files, policy, pull, review, unescaped

from gatekeeper.core.detect import detect
from gatekeeper.core.model import StageResult
from gatekeeper.core.policy import PolicyError, parse_policy
from gatekeeper.core.review import ReviewerFacts, evaluate_review
from gatekeeper.core.verdict import GATE, REVIEW, decide, invalid_policy, not_gated

FACTS = ReviewerFacts(permission={"alice": "write"})
ALL_PASSED = {s: StageResult(s, "passed", "ok") for s in ("tests", "sast", "dependencies")}


def verdicts(stages, reviews):
    pr = pull()
    detection = detect(pr, [], AGENTS)
    result = evaluate_review(pr, reviews, files("a.py"), [], detection, policy(), FACTS,
                             VERDICT_AT)
    return {v.name: v for v in decide(detection, stages, result)}


def test_green_only_when_every_stage_passed_and_review_is_satisfied():
    out = verdicts(ALL_PASSED, [review("alice")])
    assert out[GATE].conclusion == "success"
    assert out[REVIEW].conclusion == "success"


@pytest.mark.parametrize("stages,failing", [
    ({**ALL_PASSED, "sast": StageResult("sast", "failed", "2 new findings")}, "gatekeeper/sast"),
    ({**ALL_PASSED, "tests": StageResult("tests", "error", "timed out")}, "gatekeeper/tests"),
    ({k: v for k, v in ALL_PASSED.items() if k != "dependencies"}, "gatekeeper/dependencies"),
    ({**ALL_PASSED, "tests": StageResult("tests", "weird", "?")}, "gatekeeper/tests"),
])
def test_any_failed_errored_or_missing_stage_is_red_even_when_approved(stages, failing):
    out = verdicts(stages, [review("alice")])
    assert out[GATE].conclusion == "failure"
    assert out[failing].conclusion == "failure"
    assert failing in out[GATE].title


def test_stage_skipped_by_policy_is_shown_as_skipped_and_does_not_block():
    stages = {**ALL_PASSED, "tests": StageResult("tests", "skipped", "disabled by policy")}
    out = verdicts(stages, [review("alice")])
    assert out["gatekeeper/tests"].conclusion == "skipped"
    assert out[GATE].conclusion == "success"


def test_waiting_for_review_says_what_is_missing():
    out = verdicts(ALL_PASSED, [])
    assert out[GATE].conclusion == "failure" and out[REVIEW].conclusion == "failure"
    assert out[GATE].title.startswith("Waiting for human review: 1 more approval")
    assert "opened by @copilot-swe-agent[bot]" in unescaped(out[GATE].summary)


def test_human_pull_request_not_gated_is_neutral_and_says_why():
    pr = pull(author="alice", bot=False, head_ref="feature")
    verdict = not_gated(detect(pr, [commit("x", "alice")], AGENTS))
    assert verdict.conclusion == "neutral" and "gate: agents" in verdict.summary


def test_invalid_policy_is_red_with_every_problem():
    with pytest.raises(PolicyError) as err:
        parse_policy("gate: maybe\napprovals: 0\n", "{}")
    out = {v.name: v for v in invalid_policy(err.value)}
    assert out[GATE].conclusion == "failure" and "2 problems" in out[GATE].title
    assert ".github/gatekeeper.yml:1:" in out[GATE].summary
    assert ".github/gatekeeper.yml:2:" in out[GATE].summary


def test_an_incomplete_sast_stage_is_neutral_and_does_not_block_when_the_policy_says_so():
    """`scanners.unparsed: neutral`: files no scanner could parse are shown, not blocking."""
    stages = {**ALL_PASSED, "sast": StageResult("sast", "incomplete", "could not analyse 1 file")}
    out = verdicts(stages, [review("alice")])
    assert out["gatekeeper/sast"].conclusion == "neutral"
    assert out[GATE].conclusion == "success"
    assert "⚠️ `gatekeeper/sast`" in out[GATE].summary


def test_automation_that_the_policy_does_not_gate_gets_a_neutral_check_saying_why():
    found = detect(pull(author="dependabot[bot]", head_ref="dependabot/pip/idna-3.10"), [], AGENTS)
    verdict = not_gated(found)
    assert verdict.conclusion == "neutral"
    assert verdict.title == "Not gated: automation, not an AI coding agent"
    assert "@dependabot[bot] (Dependabot)" in unescaped(verdict.summary)
    assert "gate: agents+automation" in verdict.summary


def test_a_local_verdict_says_what_a_person_must_do():
    from gatekeeper.core.model import Finding, StageResult
    from gatekeeper.core.verdict import EXIT_CODES, local_verdict

    ack = Finding("semgrep", "shell-injection", "a new shell call", "medium", "run.py", 3, 3,
                  blocking=False, waived_by="sast.dangerous-sink")
    hard = Finding("semgrep", "eval-on-input", "eval of request data", "high", "run.py", 4, 4)
    green = {"tests": StageResult("tests", "passed", "1 passed")}
    assert local_verdict(green, True, False) == ("passed", [])
    asks = {**green, "sast": StageResult("sast", "passed", "1 finding", (ack,))}
    assert local_verdict(asks, True, False) == ("needs acknowledgement", ["shell-injection"])
    blocks = {**green, "sast": StageResult("sast", "failed", "2 findings", (ack, hard))}
    assert local_verdict(blocks, True, False)[0] == "blocked"
    broken = {**green, "sast": StageResult("sast", "error", "semgrep did not run")}
    assert local_verdict(broken, True, False)[0] == "could not run"
    assert local_verdict(asks, False, False)[0] == "not gated"
    assert local_verdict(green, True, True)[0] == "blocked"  # an invalid base policy
    assert len({EXIT_CODES[v] for v in ("passed", "blocked", "could not run",
                                        "needs acknowledgement")}) == 4
