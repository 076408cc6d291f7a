"""Stage results and the review evaluation → the conclusion of every check run. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gatekeeper.core.detect import Detection
from gatekeeper.core.escape import md_text
from gatekeeper.core.model import STAGES, Finding, StageResult
from gatekeeper.core.policy import PolicyError
from gatekeeper.core.review import ReviewResult, explain

GATE = "gatekeeper"
REVIEW = "gatekeeper/review"
STAGE_CONCLUSION = {"passed": "success", "skipped": "skipped", "failed": "failure",
                    "error": "failure", "incomplete": "neutral"}
PASSING = ("success", "skipped", "neutral")  # neutral: the policy chose not to block on it


@dataclass(frozen=True)
class CheckVerdict:
    name: str
    conclusion: str
    title: str
    summary: str
    findings: tuple[Finding, ...] = ()


def evidence(detection: Detection, markdown: bool = True) -> str:
    if not detection.is_agent:
        return "No sign of an AI coding agent was found."
    lines = ["**Why this pull request is treated as agent-authored:**" if markdown else
             "Why this change is treated as agent-authored:"]
    # signals quote branch names, labels, commit messages: the pull request's own text
    lines += [f"- {md_text(str(s)) if markdown else s}" for s in detection.signals]
    durable = sum(1 for s in detection.signals if s.durable)
    lines.append(f"\n{durable} of {len(detection.signals)} signals would survive a rewritten "
                 "history (who opened it, its branch, labels, its body); commit authors and "
                 "trailers can be rewritten or stripped.")
    if detection.requesters:
        lines.append("\nAsked for by: " + ", ".join(f"@{r}" for r in sorted(detection.requesters))
                     + " (cannot approve it)")
    return "\n".join(lines)


def not_gated(detection: Detection) -> CheckVerdict:
    if detection.is_automation:
        found = "\n".join(f"- {md_text(str(s))}" for s in detection.automation)
        return CheckVerdict(GATE, "neutral", "Not gated: automation, not an AI coding agent",
                            "The base branch's policy gates AI agents' pull requests "
                            "(`gate: agents`); this one is automation's work:\n\n" + found +
                            "\n\n`gate: agents+automation` in the policy gates these too.")
    return CheckVerdict(GATE, "neutral", "Not gated: no sign of an AI coding agent",
                        "The base branch's policy gates agent-authored pull requests only "
                        "(`gate: agents`), and none of the agent signals matched.\n\n"
                        + evidence(detection))


def invalid_policy(error: PolicyError) -> list[CheckVerdict]:
    problems = "\n".join(f"- {p}" for p in error.problems)
    summary = ("A policy file is invalid (the base branch's, or the organisation's), so "
               f"nothing can be evaluated. Fix it there:\n\n{problems}")
    title = f"Policy file invalid ({len(error.problems)} problem"
    title += "s)" if len(error.problems) > 1 else ")"
    return [CheckVerdict(GATE, "failure", title, summary),
            CheckVerdict(REVIEW, "failure", title, summary)]


def policy_unavailable(reason: str) -> list[CheckVerdict]:
    summary = (f"Gatekeeper failed closed: {md_text(reason)}.\n\nNothing is evaluated without "
               "the organisation's policy. Re-run (or push) once it can be read again.")
    title = "Organisation policy could not be read"
    return [CheckVerdict(GATE, "failure", title, summary),
            CheckVerdict(REVIEW, "failure", title, summary)]


def not_eligible(reasons: list[str], detection: Detection) -> CheckVerdict:
    """An agent's pull request where the organisation's policy allows no agent change."""
    listed = "\n".join(f"- {md_text(r)}" for r in reasons)
    return CheckVerdict(GATE, "failure", ("Agent change not allowed: " + reasons[0])[:255],
                        "The organisation's policy does not allow this agent pull request:\n\n"
                        f"{listed}\n\n{evidence(detection)}")


def with_governance(verdicts: list[CheckVerdict], findings: list[Finding],
                    refused: list[str]) -> list[CheckVerdict]:
    """The gate's verdict with the organisation policy's findings (a blocking one fails it)
    and the repository settings it refused."""
    if not findings and not refused:
        return verdicts
    out = []
    for verdict in verdicts:
        if verdict.name != GATE:
            out.append(verdict)
            continue
        blocking = [f.rule for f in findings if f.blocking]
        title, conclusion = verdict.title, verdict.conclusion
        if blocking:
            title = ("Blocked: " + ", ".join(blocking) if conclusion != "failure"
                     else f"{title}, {', '.join(blocking)}")
            conclusion = "failure"
        summary = verdict.summary
        if refused:
            summary += ("\n\n**Repository policy settings refused by the organisation's "
                        "policy:**\n" + "\n".join(f"- {md_text(r)}" for r in refused))
        out.append(CheckVerdict(GATE, conclusion, title[:255], summary,
                                verdict.findings + tuple(findings)))
    return out


def decide(detection: Detection, stages: Mapping[str, StageResult],
           review: ReviewResult) -> list[CheckVerdict]:
    """Every check run's verdict for a gated pull request. Missing stages fail."""
    verdicts = []
    for name in STAGES:
        result = stages.get(name) or StageResult(name, "error", "the stage did not report")
        verdicts.append(CheckVerdict(f"{GATE}/{name}", STAGE_CONCLUSION.get(result.status, "failure"),
                                     f"{name}: {result.status}", result.summary, result.findings))
    review_title = ("Approved by a qualified human" if review.satisfied
                    else "Waiting for human review: " + review.missing[0])
    verdicts.append(CheckVerdict(REVIEW, "success" if review.satisfied else "failure",
                                 review_title[:255], explain(review)))

    failing = [v.name for v in verdicts if v.conclusion not in PASSING]
    if not failing:
        title = "Passed: stages green and approved by a qualified human"
    elif failing == [REVIEW]:
        title = review_title
    else:
        title = "Blocked: " + ", ".join(failing)
    lines = [f"- {_mark(v.conclusion)} `{v.name}`: {v.title}" for v in verdicts]
    summary = "\n".join(lines) + "\n\n" + evidence(detection) + "\n\n" + explain(review)
    verdicts.append(CheckVerdict(GATE, "failure" if failing else "success", title[:255], summary))
    return verdicts


def _mark(conclusion: str) -> str:
    return {"success": "✅", "skipped": "✅", "neutral": "⚠️"}.get(conclusion, "❌")


PASSED, NEEDS_ACK, BLOCKED, NOT_RUN, NOT_GATED = (
    "passed", "needs acknowledgement", "blocked", "could not run", "not gated")
EXIT_CODES = {PASSED: 0, NOT_GATED: 0, BLOCKED: 1, NOT_RUN: 2, NEEDS_ACK: 3}


def local_verdict(stages: Mapping[str, StageResult], gated: bool,
                  policy_invalid: bool) -> tuple[str, list[str]]:
    """What a person must do about a local gate, as the App would wait for it: the verdict,
    and the rules an approval must acknowledge (`/gatekeeper ack RULE`). A stage that failed
    blocks; one that could not run (and none failed) is neither a pass nor the change's
    failure; findings kept from blocking by the policy need the approver's acknowledgement."""
    if policy_invalid:
        return BLOCKED, []
    if not gated:
        return NOT_GATED, []
    acks = sorted({f.rule for r in stages.values() for f in r.findings if f.waived_by})
    statuses = {r.status for r in stages.values()}
    if "failed" in statuses or any(f.blocking for r in stages.values() for f in r.findings
                                   if r.status != "skipped"):
        return BLOCKED, acks
    if statuses - {"passed", "skipped"}:
        return NOT_RUN, acks
    return (NEEDS_ACK if acks else PASSED), acks
