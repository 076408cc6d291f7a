"""Evaluating a pull request's gate and publishing its checks: what the jobs share."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gatekeeper.core import redact
from gatekeeper.core.attestation import Evidence, digest
from gatekeeper.core.coverage import share_in
from gatekeeper.core.decision import GateFacts, Override, decide_gate, to_publish
from gatekeeper.core.detect import agent_names
from gatekeeper.core.diff import tree_differences
from gatekeeper.core.governance import Effective
from gatekeeper.core.model import RERUN_ACTION, CheckOutput, Finding, JobRequest, Review, StageResult, Target
from gatekeeper.core.policy import Policy, PolicyError, with_additions
from gatekeeper.core.protection import requires_gate
from gatekeeper.core.report import check_output
from gatekeeper.core.review import ReviewerFacts, latest_reviews, teams_of
from gatekeeper.core.rules import agent_rules, default_policy_text
from gatekeeper.core.triage import Dismissal, reviewer_teams
from gatekeeper.core.verdict import (
    GATE,
    REVIEW,
    CheckVerdict,
    invalid_policy,
    policy_unavailable,
)
from gatekeeper.github.client import GitHubApp, Installation
from gatekeeper.runner import sandbox
from gatekeeper.runner.workspace import (
    CappedReader,
    Extraction,
    ExtractLimits,
    blob_ids,
    extract,
)
from gatekeeper.service import attest, metrics
from gatekeeper.service.audit import AuditTrail
from gatekeeper.service.details import report_key
from gatekeeper.service.notify import Alert, Slack, pull_url
from gatekeeper.service.policies import (
    OrgPolicyUnavailable,
    effective_policy,
    instruction_findings,
    shown,
)
from gatekeeper.service.queue import Backend, backend_of
from gatekeeper.service.settings import Settings, load_settings
from gatekeeper.service.stages import run_stages

log = logging.getLogger(__name__)


STAGE_RESULTS_TTL = 30 * 24 * 3600
FOUND_KEPT = 200  # findings per stages record, for the activity report


RERUN_BUTTON = {
    "label": "Re-run",
    "description": "Run Gatekeeper again on this commit",
    "identifier": RERUN_ACTION,
}


@dataclass
class Context:
    settings: Settings
    app: GitHubApp
    store: Backend


_context: Context | None = None


def configure(settings: Settings, store: Backend | None = None) -> Context:
    """Set the process-wide context; a forked RQ work horse inherits it."""
    global _context
    redact.add(*settings.secrets())
    default_policy_text()  # a broken org default stops the process here, not every gate
    store = store or backend_of(settings)
    _context = Context(settings, GitHubApp(settings, shared=store), store)
    return _context


def context() -> Context:
    return _context or configure(load_settings())


class GateTrouble(Exception):
    """A stage could not run for the gate's own reasons (its package cache, a tool): not the
    change's failure and not a pass. The job is retried with backoff."""


def guarded(ctx: Context, target: Target, rescan: bool) -> dict[str, Any]:
    """Whatever goes wrong, the gate check ends red and says so; never left in progress,
    except while the gate's own trouble is retried (the operator is told)."""
    github = ctx.app.installation(target.installation_id)
    run_id = github.start_check_run(target.repo, target.head_sha, GATE) if rescan else None
    try:
        if rescan:  # the commit's last record is no longer its verdict
            attest.record(ctx.settings, ctx.store, target.repo, target.head_sha, [],
                          Evidence(target.number), pending="The gate is running on this commit")
        return evaluate(ctx, github, target, rescan)
    except GateTrouble as exc:
        if _retried_later():
            _still_in_progress(ctx, github, target, str(exc), run_id)
        else:
            fail_gate(github, target, f"the gate could not run its stages ({exc}); this is "
                      "the gate's own trouble, not the change's", run_id, ctx)
        raise
    except Exception as exc:
        fail_gate(github, target, f"{exc.__class__.__name__}", run_id, ctx)
        raise


def _retried_later() -> bool:
    """Whether the queue will run this job again (RQ's retries left)."""
    from rq import get_current_job

    job = get_current_job()
    return bool(job is not None and job.retries_left)


def _still_in_progress(ctx: Context, github: Installation, target: Target, why: str,
                       run_id: int | None) -> None:
    """The check stays in progress and says so; the operator hears of it (log, audit trail,
    Slack): a red check would blame the change, a green one would pass what was not run."""
    log.error("gate of %s#%s waits on the gate's own trouble: %s", target.repo, target.number,
              why)
    AuditTrail(ctx.store).record("gate-trouble", target.repo, target.number,
                                 sha=target.head_sha, error=why[:500])
    ctx.store.add_counts({metrics.key("gatekeeper_gate_trouble_total"): 1})
    try:
        if run_id is not None:
            github.note_check_run(target.repo, run_id, CheckOutput(
                "Waiting: the gate could not run a stage",
                f"The gate could not run a stage for its own reasons ({why}). It tries again "
                "shortly; the operator has been told. This is not the change's failure."))
        if ctx.settings.slack_webhook_url:
            Slack(ctx.settings.slack_webhook_url).send(Alert(
                "Gatekeeper could not run a gate (its own trouble)", target.repo,
                target.number, target.head_sha, why[:300],
                pull_url(ctx.settings.github_api_url, target.repo, target.number), ()), None)
    except Exception as exc:  # noqa: BLE001 - the retry is what matters
        log.warning("could not report the wait on %s: %s", target.head_sha[:12],
                    exc.__class__.__name__)


def fail_gate(github: Installation, target: Target, reason: str, run_id: int | None = None,
              ctx: Context | None = None) -> None:
    """Complete the gate check red with the reason and a Re-run button; best effort."""
    output = CheckOutput("Gate did not complete",
                         f"gate did not complete: {reason}. Re-run to try again.")
    try:
        if ctx is not None:
            attest.record(ctx.settings, ctx.store, target.repo, target.head_sha,
                          [CheckVerdict(GATE, "failure", output.title, output.summary)],
                          Evidence(target.number))
    except Exception as exc:  # noqa: BLE001 - the check run below still turns red
        log.warning("could not sign the failed gate of %s: %s", target.head_sha[:12],
                    exc.__class__.__name__)
    try:
        run_id = run_id or github.ensure_check_run(target.repo, target.head_sha, GATE)
        github.complete_check_run(target.repo, run_id, "failure", output, [RERUN_BUTTON])
    except Exception as exc:  # noqa: BLE001 - the original error is the one to report
        log.warning("could not mark the gate red on %s: %s", target.head_sha[:12],
                    exc.__class__.__name__)


def evaluate(ctx: Context, github: Installation, target: Target, rescan: bool) -> dict[str, Any]:
    audit = AuditTrail(ctx.store)
    pr = github.pull_request(target.repo, target.number)
    if pr.head_sha != target.head_sha:
        superseded = CheckVerdict(GATE, "cancelled", f"Superseded by {pr.head_sha[:7]}",
                                  f"A newer commit {pr.head_sha} is the pull request's head; "
                                  "this commit is no longer evaluated.")
        return publish(ctx, github, target, [superseded], Evidence(target.number))
    try:
        effective, source = effective_policy(ctx.store, github, target.repo, pr.base_ref,
                                             ctx.settings.org_policy_ttl_seconds)
    except (PolicyError, OrgPolicyUnavailable) as err:
        audit.record("policy", target.repo, target.number, sha=target.head_sha, error=str(err))
        return publish(ctx, github, target, invalid_policy(err) if isinstance(err, PolicyError)
                       else policy_unavailable(str(err)))
    audit.record("policy", target.repo, target.number, sha=target.head_sha, **source)
    policy = effective.policy
    evidence = Evidence(target.number, policy_digest(effective), effective.level)
    facts = GateFacts(pr, tuple(github.commits(target.repo, target.number)),
                      tuple(github.changed_files(target.repo, target.number)), effective,
                      agent_rules())
    first = decide_gate(facts)
    detection = first.detection
    audit.record("classification", target.repo, target.number, sha=target.head_sha,
                 agent=detection.is_agent, strong=detection.strong, gated=first.gated,
                 automation=[str(s) for s in detection.automation],
                 signals=[str(s) for s in detection.signals],
                 names=agent_names(detection, with_additions(facts.rules, policy.agents)),
                 requesters=sorted(detection.requesters))
    if first.refusals:
        audit.record("not-eligible", target.repo, target.number, sha=target.head_sha,
                     level=effective.level, reasons=list(first.refusals))
        if rescan:
            _alert(ctx, target, "An agent pull request where agents are not allowed",
                   first.verdicts[0].title, (), policy)
    if not first.needs_stages:
        return publish(ctx, github, target, list(first.verdicts),
                       replace(evidence, agent=detection.is_agent))

    key = f"stages-{target.repo_id}-{target.head_sha}"
    stored = None if rescan else ctx.store.load(key)
    stages = {k: StageResult.from_dict(v) for k, v in (stored or {}).items()}
    verdict_key = f"verdict-at-{target.repo_id}-{target.head_sha}"
    governance_key = f"governance-{target.repo_id}-{target.head_sha}"
    if rescan:
        _note_protection(ctx, github, target, pr.base_ref, effective)
        found = instruction_findings(github, target.repo, pr.base_ref, effective) \
            if detection.is_agent else []
        ctx.store.save(governance_key, {"findings": [f.to_dict() for f in found]},
                       STAGE_RESULTS_TTL)
        stages = run_gate_stages(ctx, github, target, pr.base_sha, policy, list(facts.files),
                                 audit)
        ctx.store.save(key, {k: v.to_dict() for k, v in stages.items()}, STAGE_RESULTS_TTL)
        if ctx.store.load(verdict_key) is None:  # the first verdict on this commit: approvals
            now = datetime.now(UTC).isoformat(timespec="seconds")  # count from here
            ctx.store.save(verdict_key, {"at": now}, STAGE_RESULTS_TTL)
    verdict_at = (ctx.store.load(verdict_key) or {}).get("at") if stored or rescan else None
    reviews = tuple(github.reviews(target.repo, target.number))
    overridden = ctx.store.load(override_key(target))
    dismissals = stored_dismissals(ctx.store, dismissals_key(target.repo_id, target.number))
    decision = decide_gate(replace(
        facts, stages=stages, reviews=reviews, dismissals=dismissals,
        reviewers=reviewer_facts(github, target.repo, list(reviews), policy,
                                 tuple(d.by for d in dismissals)),
        verdict_at=verdict_at,
        governance=tuple(Finding(**f) for f in
                         (ctx.store.load(governance_key) or {}).get("findings", [])),
        override=Override(overridden["by"], overridden["reason"], overridden["at"])
        if overridden else None))
    result = decision.review
    audit.record("review", target.repo, target.number, sha=target.head_sha,
                 satisfied=result.satisfied, approved=result.approved, required=result.required,
                 sensitive_paths=list(result.sensitive_paths), missing=list(result.missing),
                 reviewers=[[r.login, r.state, r.counted, r.reason] for r in result.reviewers],
                 dismissals=[[a.dismissal.by, a.dismissal.rule, a.counted, a.why, a.covered]
                             for a in decision.triaged])
    if rescan and not overridden:
        _alert_if_blocked(ctx, target, list(decision.verdicts), policy)
    if not rescan and not stored:  # results gone or not there yet: a gate (never two at once)
        ctx.store.submit(JobRequest("gate", target.key("gate"), {"target": target.__dict__}))
    return publish(ctx, github, target, to_publish(decision, rescan, bool(stored)), replace(
        evidence, stages=stages, review=result, reviews=reviews, agent=detection.is_agent,
        override=overridden))


def _note_protection(ctx: Context, github: Installation, target: Target, branch: str,
                     effective: Effective) -> None:
    """For the details page: whether the base branch requires this App's check (a gate
    nobody must pass is shown as such) and the effective policy with its sources."""
    try:
        required = requires_gate(github.branch_rules(target.repo, branch),
                                 ctx.settings.github_app_id)
    except Exception as exc:  # noqa: BLE001 - unknown is shown as unknown, the gate goes on
        log.info("could not read the rules of %s@%s: %s", target.repo, branch,
                 exc.__class__.__name__)
        required = None
    key = report_key(target.repo, target.number, target.head_sha)
    report = ctx.store.load(key) or {"checks": {}}
    report["protection"] = {"branch": branch, "required": required}
    report["policy"] = shown(effective)
    ctx.store.save(key, report, STAGE_RESULTS_TTL)


def run_gate_stages(ctx: Context, github: Installation, target: Target, base_sha: str,
                policy: Policy, files: list, audit: AuditTrail) -> dict[str, StageResult]:
    started: dict[str, float] = {}

    def fetch(dest: Path, sha: str = target.head_sha) -> Extraction:
        """The tarball is quick to fetch but honours the commit's export-ignore and
        export-subst; the trees API lists the commit as it is, so the extraction is held
        against it, whole."""
        chunks = github.tarball(target.repo, sha)
        extraction = extract(CappedReader(chunks, ExtractLimits().max_archive_bytes), dest)
        if extraction.aborted:
            return extraction
        wrong = tree_differences(github.tree(target.repo, sha), blob_ids(extraction.root))
        return replace(extraction, mismatches=tuple(wrong))

    def base_text(path: str) -> str | None:
        return github.file_text(target.repo, path, base_sha)

    def progress(stage: str, status: str) -> None:
        if status == "running":
            started[stage] = time.monotonic()
            return
        ctx.store.add_counts({
            **metrics.timing("gatekeeper_stage_seconds", time.monotonic() - started[stage],
                             stage=stage),
            metrics.key("gatekeeper_stage_results_total", stage=stage, status=status): 1})

    with sandbox.recording() as runs:
        stages = run_stages(policy, fetch, files, base_text, ctx.settings.stages, progress,
                            fetch_base=lambda dest: fetch(dest, base_sha))
    trouble = [f"{name}: {r.summary.splitlines()[0][:300]}" for name, r in stages.items()
               if r.cause == "gate"]
    if trouble:
        raise GateTrouble("; ".join(trouble))
    for run in runs:
        audit.sandbox(target.repo, target.number, run)
        if run.limit:
            ctx.store.add_counts({metrics.key("gatekeeper_sandbox_limit_hits_total",
                                              limit=run.limit): 1})
    audit.record("stages", target.repo, target.number, sha=target.head_sha, results={
        name: {"status": r.status, "findings": len(r.findings),
               "blocking": sum(1 for f in r.findings if f.blocking)}
        for name, r in stages.items()},
        found=[{"rule": f.rule, "cwe": f.cwe, "severity": f.severity, "blocking": f.blocking}
               for r in stages.values() for f in r.findings if f.new][:FOUND_KEPT],
        coverage=share_in(stages["tests"].summary) if "tests" in stages else None)
    return stages


def _alert_if_blocked(ctx: Context, target: Target, verdicts: list[CheckVerdict],
                      policy: Policy) -> None:
    """Slack, when stages (not just a pending review) block the gate."""
    failing = [v for v in verdicts if v.name not in (GATE, REVIEW) and v.conclusion == "failure"]
    if not ctx.settings.slack_webhook_url or not failing:
        return
    findings = tuple(f for v in failing for f in v.findings)
    high = any(f.blocking and f.severity == "high" for f in findings)
    headline = ("High-severity finding in an agent pull request" if high
                else "Gatekeeper blocked an agent pull request")
    _alert(ctx, target, headline, "blocked: " + ", ".join(v.name for v in failing), findings,
           policy)


def _alert(ctx: Context, target: Target, headline: str, reason: str, findings: tuple,
           policy: Policy) -> None:
    if not ctx.settings.slack_webhook_url:
        return
    alert = Alert(headline, target.repo, target.number, target.head_sha, reason,
                  pull_url(ctx.settings.github_api_url, target.repo, target.number), findings)
    Slack(ctx.settings.slack_webhook_url).send(alert, policy.slack.channel)


def override_key(target: Target) -> str:
    return f"override-{target.repo_id}-{target.head_sha}"


def reviewer_facts(github: Installation, repo: str, reviews: list[Review],
                   policy: Policy, dismissers: tuple[str, ...] = ()) -> ReviewerFacts:
    """Permission and team membership of each human whose latest review decides something,
    and the security reviewers' team membership of whoever gave a dismissal."""
    owner = repo.split("/")[0]
    teams = set(teams_of(policy.approvers, owner)) | set(reviewer_teams(policy.triage, owner))
    if policy.sensitive.approvers:
        teams |= set(teams_of(policy.sensitive.approvers, owner))
    permission, membership = {}, {}
    for login, latest in latest_reviews(reviews).items():
        if latest.user.is_bot or latest.state == "DISMISSED":
            continue
        permission[login] = github.permission(repo, latest.user.login)
        membership[login] = frozenset(t for t in teams if github.team_member(t, latest.user.login))
    triage_teams = reviewer_teams(policy.triage, owner)
    for login in {d.lower() for d in dismissers} - set(membership):
        membership[login] = frozenset(t for t in triage_teams if github.team_member(t, login))
    return ReviewerFacts(permission, membership)


def dismissals_key(repo_id: int | None, number: int) -> str:
    """A pull request's dismissals: kept across its commits, since a fingerprint is."""
    return f"dismissals-{repo_id}-{number}"


def stored_dismissals(store: Backend, key: str) -> tuple[Dismissal, ...]:
    return tuple(Dismissal.from_dict(d) for d in (store.load(key) or {}).get("dismissals", []))


def policy_digest(effective: Effective) -> str:
    """sha256 of the effective policy's canonical JSON: which rules the verdict applied."""
    return digest(effective.policy.model_dump(mode="json"))


def publish(ctx: Context, github: Installation, target: Target, verdicts: list[CheckVerdict],
            evidence: Evidence | None = None) -> dict[str, Any]:
    """The checks on GitHub; a gate verdict is signed and kept first, and its check says so."""
    if any(v.name == GATE for v in verdicts):
        kid = attest.record(ctx.settings, ctx.store, target.repo, target.head_sha, verdicts,
                            evidence or Evidence(target.number))
        note = attest.line(ctx.settings, target.repo, target.head_sha, kid)
        verdicts = [replace(v, summary=f"{v.summary}\n\n{note}") if v.name == GATE else v
                    for v in verdicts]
    details = None
    if ctx.settings.public_url:
        details = (f"{ctx.settings.public_url}/pulls/{target.repo}/{target.number}/"
                   f"{target.head_sha}")
    key = report_key(target.repo, target.number, target.head_sha)
    report = ctx.store.load(key) or {"checks": {}}
    for verdict in verdicts:
        run_id = github.ensure_check_run(target.repo, target.head_sha, verdict.name)
        actions = [RERUN_BUTTON] if verdict.name == GATE else None
        output = check_output(verdict)
        github.complete_check_run(target.repo, run_id, verdict.conclusion, output, actions,
                                  details)
        report["checks"][verdict.name] = {"name": verdict.name, "conclusion": verdict.conclusion,
                                          "title": output.title, "summary": output.summary}
    ctx.store.save(key, report, STAGE_RESULTS_TTL)  # what the details page shows
    conclusions = {v.name: v.conclusion for v in verdicts}
    AuditTrail(ctx.store).record("verdict", target.repo, target.number, sha=target.head_sha,
                                 conclusions=conclusions)
    if GATE in conclusions:
        ctx.store.add_counts({metrics.key("gatekeeper_verdicts_total",
                                          conclusion=conclusions[GATE]): 1})
    return {"conclusions": conclusions}
