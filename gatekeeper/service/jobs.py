"""Job entry points; the only orchestrator. Runs in an RQ worker or the embedded pool."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rq import Worker

from gatekeeper.core import redact
from gatekeeper.core.detect import detect
from gatekeeper.core.mergequeue import group_verdict, pulls_in_group
from gatekeeper.core.model import RERUN_ACTION, CheckOutput, JobRequest, Review, StageResult, Target
from gatekeeper.core.override import break_glass_teams
from gatekeeper.core.override import decide as decide_override
from gatekeeper.core.override import verdict as override_verdict
from gatekeeper.core.policy import POLICY_PATH, Policy, PolicyError, parse_policy, with_additions
from gatekeeper.core.protection import requires_gate
from gatekeeper.core.report import check_output
from gatekeeper.core.review import ReviewerFacts, evaluate_review, latest_reviews, teams_of
from gatekeeper.core.rules import agent_rules, default_policy_text
from gatekeeper.core.verdict import (
    GATE,
    REVIEW,
    STAGE_CONCLUSION,
    CheckVerdict,
    decide,
    invalid_policy,
    not_gated,
)
from gatekeeper.github.client import GitHubApp, Installation, is_permanent
from gatekeeper.runner import sandbox
from gatekeeper.runner.workspace import CappedReader, Extraction, ExtractLimits, extract
from gatekeeper.service import metrics
from gatekeeper.service.audit import AuditTrail
from gatekeeper.service.details import report_key
from gatekeeper.service.notify import Alert, Slack, pull_url
from gatekeeper.service.queue import TIMEOUT_OF, Backend, make_backend
from gatekeeper.service.settings import Settings, load_settings
from gatekeeper.service.stages import run_stages

log = logging.getLogger(__name__)

STAGE_RESULTS_TTL = 30 * 24 * 3600
DEFER_SECONDS = 15
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
    store = store or make_backend(settings.redis_url, settings.delivery_ttl_seconds)
    _context = Context(settings, GitHubApp(settings, shared=store), store)
    return _context


def context() -> Context:
    return _context or configure(load_settings())


def run(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The one function the queue calls."""
    handlers = {"gate": gate, "review": review, "installation": installation_added,
                "merged": merged, "reconcile-all": reconcile_all, "override": override,
                "impersonation": impersonation, "merge-group": merge_group}
    ctx = context()
    started = time.monotonic()
    outcome = "error"
    try:
        result = handlers[kind](ctx, args)
        outcome = "ok"
        return result
    except Exception as exc:
        if not is_permanent(exc):
            raise  # RQ retries it with backoff
        outcome = "permanent"  # repository or installation gone: retrying cannot help
        target = args.get("target", {})
        AuditTrail(ctx.store).record("permanent-failure", target.get("repo"),
                                     target.get("number"), job=kind,
                                     error=f"{exc.__class__.__name__} {getattr(exc, 'status', '')}")
        return {"permanent": True}
    finally:
        try:
            ctx.store.add_counts({
                metrics.key("gatekeeper_jobs_total", kind=kind, outcome=outcome): 1,
                **metrics.timing("gatekeeper_job_seconds", time.monotonic() - started, kind=kind)})
        except Exception:  # noqa: BLE001 - metrics never decide a job's fate
            log.warning("job metrics not stored")


def gate(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Run the stages on the head commit, then evaluate review and publish every check.

    At most GATEKEEPER_INSTALLATION_CAP gates of one installation run at once, so one
    organisation's burst of agent pull requests cannot take every worker.
    """
    target = Target(**args["target"])
    group, holder = f"installation-{target.installation_id}", target.key("gate")
    if not ctx.store.acquire(group, holder, ctx.settings.installation_cap,
                             TIMEOUT_OF["gate"] + 300):
        ctx.store.defer(JobRequest("gate", holder, args), DEFER_SECONDS)
        return {"deferred": True}
    try:
        return _guarded(ctx, target, rescan=True)
    finally:
        ctx.store.release(group, holder)


def review(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A review changed: evaluate it again over the stored stage results, without rescanning."""
    return _guarded(ctx, Target(**args["target"]), rescan=False)


def _guarded(ctx: Context, target: Target, rescan: bool) -> dict[str, Any]:
    """Whatever goes wrong, the gate check ends red and says so; never left in progress."""
    github = ctx.app.installation(target.installation_id)
    run_id = github.start_check_run(target.repo, target.head_sha, GATE) if rescan else None
    try:
        return _evaluate(ctx, github, target, rescan)
    except Exception as exc:
        fail_gate(github, target, f"{exc.__class__.__name__}", run_id)
        raise


def fail_gate(github: Installation, target: Target, reason: str, run_id: int | None = None) -> None:
    """Complete the gate check red with the reason and a Re-run button; best effort."""
    output = CheckOutput("Gate did not complete",
                         f"gate did not complete: {reason}. Re-run to try again.")
    try:
        run_id = run_id or github.ensure_check_run(target.repo, target.head_sha, GATE)
        github.complete_check_run(target.repo, run_id, "failure", output, [RERUN_BUTTON])
    except Exception as exc:  # noqa: BLE001 - the original error is the one to report
        log.warning("could not mark the gate red on %s: %s", target.head_sha[:12],
                    exc.__class__.__name__)


HEARTBEAT_SECONDS = 5  # how often a worker vouches for the job it runs
HEARTBEAT_GRACE = 10  # a job unvouched for this long past its heartbeat is abandoned
MAINTENANCE_SECONDS = 10  # how often workers look for abandoned jobs and retry them


class GatekeeperWorker(Worker):
    """RQ's worker, plus: a job whose work horse was killed (OOM, SIGKILL) and has no retry
    left still leaves its gate red rather than in progress; and a job whose whole worker died
    (OOM killer, lost node, deploy) is taken up again within a minute.

    RQ by default keeps a dead worker's job "started" for 60 s past its last heartbeat and
    looks for such jobs every 10 minutes: a pull request showed "in progress" for 14.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("job_monitoring_interval", HEARTBEAT_SECONDS)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        # an idle worker waits for work in blocking pops of worker_ttl - 15 s and only looks
        # for abandoned jobs between two pops
        kwargs.setdefault("worker_ttl", MAINTENANCE_SECONDS + 15)
        super().__init__(*args, **kwargs)

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return self.job_monitoring_interval + HEARTBEAT_GRACE

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        if not job.should_retry:
            on_failure(job, self.connection, WorkHorseKilled, None, None)


class WorkHorseKilled(Exception):
    """The process running the job died before it could report."""


def on_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ calls this when a job fails for good (retries spent, or its worker died)."""
    kind, args = job.args
    if kind not in ("gate", "review") or "target" not in args:
        return
    target = Target(**args["target"])
    fail_gate(context().app.installation(target.installation_id), target,
              getattr(exc_type, "__name__", "the job failed"))


def _evaluate(ctx: Context, github: Installation, target: Target, rescan: bool) -> dict[str, Any]:
    audit = AuditTrail(ctx.store)
    pr = github.pull_request(target.repo, target.number)
    if pr.head_sha != target.head_sha:
        superseded = CheckVerdict(GATE, "cancelled", f"Superseded by {pr.head_sha[:7]}",
                                  f"A newer commit {pr.head_sha} is the pull request's head; "
                                  "this commit is no longer evaluated.")
        return _publish(ctx, github, target, [superseded])
    policy_text = github.file_text(target.repo, POLICY_PATH, pr.base_ref)
    audit.record("policy", target.repo, target.number, sha=target.head_sha,
                 source=f"{POLICY_PATH}@{pr.base_ref}" if policy_text else "organisation default",
                 sha256=hashlib.sha256((policy_text or "").encode()).hexdigest())
    try:
        policy = parse_policy(policy_text, default_policy_text())
    except PolicyError as err:
        return _publish(ctx, github, target, invalid_policy(err))
    commits = github.commits(target.repo, target.number)
    files = github.changed_files(target.repo, target.number)
    detection = detect(pr, commits, with_additions(agent_rules(), policy.agents))
    gated = detection.gated(policy.gate)
    audit.record("classification", target.repo, target.number, sha=target.head_sha,
                 agent=detection.is_agent, strong=detection.strong, gated=gated,
                 automation=[str(s) for s in detection.automation],
                 signals=[str(s) for s in detection.signals],
                 requesters=sorted(detection.requesters))
    if not gated:
        return _publish(ctx, github, target, [not_gated(detection)])

    key = f"stages-{target.repo_id}-{target.head_sha}"
    stored = None if rescan else ctx.store.load(key)
    stages = {k: StageResult.from_dict(v) for k, v in (stored or {}).items()}
    verdict_key = f"verdict-at-{target.repo_id}-{target.head_sha}"
    if rescan:
        _note_protection(ctx, github, target, pr.base_ref)
        stages = _run_stages(ctx, github, target, pr.base_sha, policy, files, audit)
        ctx.store.save(key, {k: v.to_dict() for k, v in stages.items()}, STAGE_RESULTS_TTL)
        if ctx.store.load(verdict_key) is None:  # the first verdict on this commit: approvals
            now = datetime.now(UTC).isoformat(timespec="seconds")  # count from here
            ctx.store.save(verdict_key, {"at": now}, STAGE_RESULTS_TTL)
    verdict_at = (ctx.store.load(verdict_key) or {}).get("at") if stored or rescan else None

    reviews = github.reviews(target.repo, target.number)
    facts = _reviewer_facts(github, target.repo, reviews, policy)
    waived = sorted({f.rule for r in stages.values() for f in r.findings if f.waived_by})
    result = evaluate_review(pr, reviews, files, commits, detection, policy, facts, verdict_at,
                             waived)
    audit.record("review", target.repo, target.number, sha=target.head_sha,
                 satisfied=result.satisfied, approved=result.approved, required=result.required,
                 sensitive_paths=list(result.sensitive_paths), missing=list(result.missing),
                 reviewers=[[r.login, r.state, r.counted, r.reason] for r in result.reviewers])
    verdicts = decide(detection, stages, result)
    overridden = ctx.store.load(_override_key(target))
    if overridden:  # break-glass on this very commit stands until a push
        verdicts = [v for v in verdicts if v.name != GATE] + [override_verdict(
            overridden["by"], overridden["reason"], target.head_sha, overridden["at"])]
    elif rescan:
        _alert_if_blocked(ctx, target, verdicts, policy)
    if not rescan:
        verdicts = [v for v in verdicts if v.name == REVIEW or (stored and v.name == GATE)]
        if not stored:  # results gone or not there yet: a gate (never two at once) decides
            ctx.store.submit(JobRequest("gate", target.key("gate"), {"target": target.__dict__}))
    return _publish(ctx, github, target, verdicts)


def _note_protection(ctx: Context, github: Installation, target: Target, branch: str) -> None:
    """Whether the base branch requires this App's check: a gate nobody must pass is shown
    as such on the details page."""
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
    ctx.store.save(key, report, STAGE_RESULTS_TTL)


def _run_stages(ctx: Context, github: Installation, target: Target, base_sha: str,
                policy: Policy, files: list, audit: AuditTrail) -> dict[str, StageResult]:
    started: dict[str, float] = {}

    def fetch(dest: Path, sha: str = target.head_sha) -> Extraction:
        chunks = github.tarball(target.repo, sha)
        return extract(CappedReader(chunks, ExtractLimits().max_archive_bytes), dest)

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
    for run in runs:
        audit.sandbox(target.repo, target.number, run)
        if run.limit:
            ctx.store.add_counts({metrics.key("gatekeeper_sandbox_limit_hits_total",
                                              limit=run.limit): 1})
    audit.record("stages", target.repo, target.number, sha=target.head_sha, results={
        name: {"status": r.status, "findings": len(r.findings),
               "blocking": sum(1 for f in r.findings if f.blocking)}
        for name, r in stages.items()})
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
    alert = Alert(headline, target.repo, target.number, target.head_sha,
                  "blocked: " + ", ".join(v.name for v in failing),
                  pull_url(ctx.settings.github_api_url, target.repo, target.number), findings)
    Slack(ctx.settings.slack_webhook_url).send(alert, policy.slack.channel)


def merged(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A pull request merged: alert when it was gated and did not have a green gatekeeper."""
    target = Target(**args["target"])
    github = ctx.app.installation(target.installation_id)
    conclusion = github.check_run_conclusion(target.repo, target.head_sha, GATE)
    if conclusion in ("success", "neutral"):
        return {"alert": False, "conclusion": conclusion}
    if conclusion is None:  # never gated: was it an agent's?
        pr = github.pull_request(target.repo, target.number)
        rules = agent_rules()
        if not detect(pr, github.commits(target.repo, target.number), rules).is_agent:
            return {"alert": False, "conclusion": None}
    AuditTrail(ctx.store).record("merged-without-green", target.repo, target.number,
                                 sha=target.head_sha, conclusion=conclusion)
    if ctx.settings.slack_webhook_url:
        alert = Alert("Agent pull request merged without Gatekeeper's green check", target.repo,
                      target.number, target.head_sha, f"gatekeeper: {conclusion or 'never ran'}",
                      pull_url(ctx.settings.github_api_url, target.repo, target.number))
        Slack(ctx.settings.slack_webhook_url).send(alert)
    return {"alert": True, "conclusion": conclusion}


def merge_group(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A merge queue asks for checks on a group's commit: the stages run on that commit and
    every gated pull request in the group must have its qualified approval."""
    github = ctx.app.installation(args["installation_id"])
    repo, head, base = args["repo"], args["head_sha"], args["base_sha"]
    messages, files = github.compare(repo, base, head)
    numbers = pulls_in_group(args["head_ref"], messages)
    target = Target(args["installation_id"], args["repo_id"], repo, numbers[-1] if numbers else 0,
                    head)
    audit = AuditTrail(ctx.store)
    try:
        branch = args["base_ref"].removeprefix("refs/heads/")  # the policy of the queue's branch
        policy = parse_policy(github.file_text(repo, POLICY_PATH, branch), default_policy_text())
    except PolicyError as err:
        return _publish(ctx, github, target, invalid_policy(err)[:1])
    rules = with_additions(agent_rules(), policy.agents)
    missing: dict[int, list[str]] = {}
    for number in numbers:
        pr = github.pull_request(repo, number)
        commits = github.commits(repo, number)
        detection = detect(pr, commits, rules)
        if not detection.gated(policy.gate):
            continue
        reviews = github.reviews(repo, number)
        facts = _reviewer_facts(github, repo, reviews, policy)
        verdict_at = (ctx.store.load(f"verdict-at-{args['repo_id']}-{pr.head_sha}") or {}).get("at")
        result = evaluate_review(pr, reviews, github.changed_files(repo, number), commits,
                                 detection, policy, facts, verdict_at)
        missing[number] = [] if result.satisfied else list(result.missing)
    audit.record("merge-group", repo, target.number, sha=head, pulls=numbers,
                 gated=sorted(missing), unapproved=sorted(n for n, m in missing.items() if m))
    if not missing and numbers:
        return _publish(ctx, github, target, [CheckVerdict(
            GATE, "neutral", "Not gated: no agent pull request in this merge group",
            f"Pull requests in the group: {', '.join(f'#{n}' for n in numbers)}.")])
    stages = _run_stages(ctx, github, target, base, policy, files, audit) if missing else {}
    verdict = group_verdict(stages, missing, unknown=not numbers)
    stage_checks = [CheckVerdict(f"{GATE}/{name}", STAGE_CONCLUSION.get(r.status, "failure"),
                                 f"{name}: {r.status}", r.summary, r.findings)
                    for name, r in stages.items()]
    return _publish(ctx, github, target, [*stage_checks, verdict])


def impersonation(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Another App posted a check named like the gate's: record who, alert, and post the
    gate's own verdict again so the latest word on the commit is Gatekeeper's."""
    if "target" in args:  # a check run names its pull requests
        targets = [Target(**args["target"])]
    else:  # a commit status does not: the open pull requests at that commit
        github = ctx.app.installation(args["installation_id"])
        targets = [Target(args["installation_id"], args["repo_id"], args["repo"], p["number"],
                          args["sha"]) for p in github.open_pulls(args["repo"])
                   if p["head_sha"] == args["sha"]]
    results = {}
    for target in targets:
        AuditTrail(ctx.store).record("impersonation", target.repo, target.number,
                                     sha=target.head_sha, check=args["check"], by=args["poster"],
                                     conclusion=args["conclusion"])
        if ctx.settings.slack_webhook_url:
            alert = Alert(f"A check named {args['check']!r} was posted by {args['poster']}, "
                          "not by Gatekeeper", target.repo, target.number, target.head_sha,
                          f"impersonation: {args['check']} = {args['conclusion'] or 'pending'}",
                          pull_url(ctx.settings.github_api_url, target.repo, target.number))
            Slack(ctx.settings.slack_webhook_url).send(alert)
        results[target.number] = _guarded(ctx, target, rescan=False)
    return {"answered": results}


def override(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """`/gatekeeper override REASON`: a break-glass team member turns this head commit green,
    on the record (audit, Slack, a follow-up issue or label); anyone else gets a reply."""
    github = ctx.app.installation(args["installation_id"])
    repo, number, login = args["repo"], args["number"], args["login"]
    pr = github.pull_request(repo, number)
    target = Target(args["installation_id"], args["repo_id"], repo, number, pr.head_sha)
    audit = AuditTrail(ctx.store)
    try:
        policy = parse_policy(github.file_text(repo, POLICY_PATH, pr.base_ref),
                              default_policy_text())
    except PolicyError:
        github.comment(repo, number, "Gatekeeper: the base branch's policy file is invalid, "
                                     "so no override is possible until it is fixed.")
        return {"overridden": False}
    teams = break_glass_teams(policy.break_glass, repo.split("/")[0])
    member_of = {t for t in teams if not args["bot"] and github.team_member(t, login)}
    decision = decide_override(login, args["bot"], args["reason"], teams, member_of)
    if not decision.allowed:
        audit.record("override-refused", repo, number, sha=pr.head_sha, by=login,
                     reason=args["reason"], why=decision.reply)
        github.comment(repo, number, f"Gatekeeper: {decision.reply}")
        return {"overridden": False}
    at = datetime.now(UTC).isoformat(timespec="seconds")
    ctx.store.save(_override_key(target), {"by": login, "reason": args["reason"], "at": at},
                   STAGE_RESULTS_TTL)
    audit.record("override", repo, number, sha=pr.head_sha, by=login, reason=args["reason"])
    result = _publish(ctx, github, target, [override_verdict(login, args["reason"],
                                                             pr.head_sha, at)])
    _follow_up(github, policy, target, login, args["reason"])
    if ctx.settings.slack_webhook_url:
        alert = Alert(f"Gatekeeper overridden by @{login}", repo, number, pr.head_sha,
                      f"break-glass: {args['reason']}",
                      pull_url(ctx.settings.github_api_url, repo, number))
        Slack(ctx.settings.slack_webhook_url).send(alert, policy.slack.channel)
    github.comment(repo, number, f"Gatekeeper: {decision.reply}")
    return {"overridden": True, **result}


def _override_key(target: Target) -> str:
    return f"override-{target.repo_id}-{target.head_sha}"


def _follow_up(github: Installation, policy: Policy, target: Target, login: str,
               reason: str) -> None:
    label = policy.break_glass.label
    if policy.break_glass.follow_up == "label":
        github.add_labels(target.repo, target.number, [label])
        return
    github.create_issue(
        target.repo, f"Review the Gatekeeper override on #{target.number}",
        f"@{login} overrode Gatekeeper on #{target.number} (commit {target.head_sha[:12]}) "
        f"with the reason:\n\n> {reason}\n\nReview the change after the fact and close this "
        "issue when done.", [label])


def _reviewer_facts(github: Installation, repo: str, reviews: list[Review],
                    policy: Policy) -> ReviewerFacts:
    """Permission and team membership of each human whose latest review decides something."""
    owner = repo.split("/")[0]
    teams = set(teams_of(policy.approvers, owner))
    if policy.sensitive.approvers:
        teams |= set(teams_of(policy.sensitive.approvers, owner))
    permission, membership = {}, {}
    for login, latest in latest_reviews(reviews).items():
        if latest.user.is_bot or latest.state == "DISMISSED":
            continue
        permission[login] = github.permission(repo, latest.user.login)
        membership[login] = frozenset(t for t in teams if github.team_member(t, latest.user.login))
    return ReviewerFacts(permission, membership)


def _publish(ctx: Context, github: Installation, target: Target,
             verdicts: list[CheckVerdict]) -> dict[str, Any]:
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


def installation_added(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A new installation or new repositories: gate what is already open there."""
    return reconcile(ctx, args)


def reconcile(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Gate every open pull request of an installation whose head has no finished gate.

    Recovers deliveries lost while the queue was down and gates stuck in progress past the
    job timeout; the queue's dedupe keeps this from running a gate twice at once.
    """
    installation_id = args["installation_id"]
    github = ctx.app.installation(installation_id)
    queued, repos = [], github.repository_ids()
    for repo, repo_id in repos.items():
        for pull in github.open_pulls(repo):
            run = github.check_run(repo, pull["head_sha"], GATE)
            if run is not None and not _stuck(run):
                continue
            target = Target(installation_id, repo_id, repo, pull["number"], pull["head_sha"])
            if ctx.store.submit(JobRequest("gate", target.key("gate"),
                                           {"target": target.__dict__})):
                queued.append(f"{repo}#{pull['number']}")
    AuditTrail(ctx.store).record("reconcile", installation=installation_id,
                                 repositories=len(repos), queued=queued)
    return {"repositories": sorted(repos), "queued": queued}


def reconcile_all(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Queue a reconcile for every installation of the app."""
    ids = ctx.app.installation_ids()
    for installation_id in ids:
        ctx.store.submit(JobRequest("installation", f"reconcile-{installation_id}",
                                    {"installation_id": installation_id}))
    return {"installations": ids}


def _stuck(run: dict) -> bool:
    """In progress for longer than a gate may run: its worker is gone."""
    if run.get("status") == "completed":
        return False
    started = run.get("started_at")
    if not started:
        return True
    began = datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - began).total_seconds() > TIMEOUT_OF["gate"] + 300
