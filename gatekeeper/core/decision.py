"""The whole gate decision over gathered facts: gated or not, eligibility at the repository's
level, stage results, review, governance findings and refusals, a break-glass override. Pure:
the App gathers the facts from GitHub and its store, and `policy test` from YAML files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gatekeeper.core import triage
from gatekeeper.core.detect import Detection, detect
from gatekeeper.core.governance import (
    Effective,
    changed_paths,
    eligibility,
    instructions_problem,
)
from gatekeeper.core.model import (
    ChangedFile,
    Commit,
    Finding,
    PullRequest,
    Review,
    StageResult,
    User,
)
from gatekeeper.core.override import verdict as override_verdict
from gatekeeper.core.policy import AgentRules, with_additions
from gatekeeper.core.review import ReviewerFacts, ReviewResult, evaluate_review
from gatekeeper.core.triage import Applied, Dismissal
from gatekeeper.core.verdict import (
    GATE,
    REVIEW,
    CheckVerdict,
    decide,
    not_eligible,
    not_gated,
    with_governance,
)


@dataclass(frozen=True)
class Override:
    by: str
    reason: str
    at: str


@dataclass(frozen=True)
class GateFacts:
    pr: PullRequest
    commits: tuple[Commit, ...]
    files: tuple[ChangedFile, ...]
    effective: Effective
    rules: AgentRules  # the organisation's agent identities; the policy's own are added here
    stages: Mapping[str, StageResult] = field(default_factory=dict)  # empty: not run yet
    reviews: tuple[Review, ...] = ()
    reviewers: ReviewerFacts = field(default_factory=ReviewerFacts)
    verdict_at: str | None = None  # when the gate first gave a verdict on the head commit
    governance: tuple[Finding, ...] = ()  # e.g. the agent instructions file the level demands
    override: Override | None = None  # break-glass on this very head commit
    dismissals: tuple[Dismissal, ...] = ()  # security reviewers' triage of blocking findings


@dataclass(frozen=True)
class GateDecision:
    detection: Detection
    gated: bool
    refusals: tuple[str, ...]  # why agents may not change this repository at its level
    review: ReviewResult | None
    verdicts: tuple[CheckVerdict, ...]
    triaged: tuple[Applied, ...] = ()  # each dismissal: counted or why not, what it covered

    @property
    def needs_stages(self) -> bool:
        """Stages, reviews and the rest decide: a gated pull request its level allows."""
        return self.gated and not self.refusals

    def conclusion(self, name: str = GATE) -> str | None:
        return next((v.conclusion for v in self.verdicts if v.name == name), None)


def decide_gate(facts: GateFacts) -> GateDecision:
    policy = facts.effective.policy
    rules = with_additions(facts.rules, policy.agents)
    detection = detect(facts.pr, facts.commits, rules)
    if not detection.gated(policy.gate):
        return GateDecision(detection, False, (), None, (not_gated(detection),))
    refusals = tuple(eligibility(facts.effective.rules, facts.effective.level,
                                 changed_paths(facts.files))) if detection.is_agent else ()
    if refusals:
        return GateDecision(detection, True, refusals, None,
                            (not_eligible(list(refusals), detection),))
    stages, triaged = triage.apply(facts.stages, facts.dismissals, lambda d: triage.not_a_reviewer(
        User(d.by, "Bot" if d.bot else "User"), policy.triage, facts.pr, detection,
        facts.commits, facts.reviewers, rules))
    waived = sorted({f.rule for r in stages.values() for f in r.findings if f.waived_by})
    review = evaluate_review(facts.pr, facts.reviews, facts.files, facts.commits, detection,
                             policy, facts.reviewers, facts.verdict_at, waived, rules)
    governance = list(facts.governance) if detection.is_agent else []
    verdicts = with_governance(decide(detection, stages, review), governance,
                               [str(r) for r in facts.effective.refused])
    if facts.override:  # stands until a push: the gate says who broke the glass and why
        verdicts = [v for v in verdicts if v.name != GATE] + [override_verdict(
            facts.override.by, facts.override.reason, facts.pr.head_sha, facts.override.at)]
    return GateDecision(detection, True, (), review, tuple(verdicts), triaged)


def to_publish(decision: GateDecision, ran_now: bool, have_results: bool) -> list[CheckVerdict]:
    """A gate run publishes every check; a review event only the review check, and the gate
    when stage results are stored (without them, a gate job decides: never two at once);
    with dismissals given, the stages they may change too."""
    if ran_now or not decision.needs_stages:
        return list(decision.verdicts)
    triaged = {f"{GATE}/{s}" for s in triage.STAGES} if decision.triaged else set()
    return [v for v in decision.verdicts if v.name == REVIEW or (have_results and (
        v.name == GATE or v.name in triaged))]


def instruction_findings(effective: Effective, present: Mapping[str, str | None]) -> list[Finding]:
    """A finding when the level requires agent instruction files the base branch lacks;
    `present`: those files' text on the base branch (None: absent)."""
    wanted = effective.rules.instructions if effective.rules else None
    if wanted is None:
        return []
    problem = instructions_problem(effective.rules, effective.level,
                                   {path: present.get(path) for path in wanted.files})
    return [] if problem is None else [Finding("gatekeeper", "agent-instructions", problem,
                                               severity="medium", blocking=wanted.blocking)]
