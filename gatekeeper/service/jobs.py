"""Job entry points; the only orchestrator. Runs in an RQ worker or the embedded pool."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from rq import Worker

from gatekeeper.core.bypass import pushed_past_the_gate
from gatekeeper.core.detect import detect
from gatekeeper.core.model import Commit, JobRequest, Target, User
from gatekeeper.core.policy import PolicyError, with_additions
from gatekeeper.core.protection import requires_gate
from gatekeeper.core.rules import agent_rules
from gatekeeper.core.verdict import GATE
from gatekeeper.github.client import is_permanent
from gatekeeper.service import metrics
from gatekeeper.service.audit import AuditTrail
from gatekeeper.service.gating import (
    Context,
    configure,  # noqa: F401 - part of the jobs' API
    context,
    fail_gate,
    guarded,
    override_key,
)
from gatekeeper.service.integrity import impersonation, merge_group, override
from gatekeeper.service.notify import Alert, Slack, pull_url
from gatekeeper.service.policies import OrgPolicyUnavailable, confirm_removal, effective_policy
from gatekeeper.service.queue import TIMEOUT_OF
from gatekeeper.service.triage import dismiss

log = logging.getLogger(__name__)

DEFER_SECONDS = 15


def org_policy_changed(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A push to ORG/.github: the organisation policy is read again, and every open pull
    request of the owner's repositories in this installation is gated again under it."""
    github = ctx.app.installation(args["installation_id"])
    owner = args["owner"]
    removed = confirm_removal(ctx.store, github, owner)
    queued = []  # open pull requests are gated again under the new policy, not at their next push
    for repo, repo_id in github.repository_ids().items():
        if repo.split("/")[0].lower() != owner.lower():
            continue
        for pull in github.open_pulls(repo):
            target = Target(args["installation_id"], repo_id, repo, pull["number"],
                            pull["head_sha"])
            if ctx.store.submit(JobRequest("gate", target.key("gate"),
                                           {"target": target.__dict__})):
                queued.append(f"{repo}#{pull['number']}")
    AuditTrail(ctx.store).record("org-policy-changed", owner=owner, removed=removed,
                                 queued=queued)
    return {"forgotten": owner, "removed": removed, "queued": queued}


def run(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The one function the queue calls."""
    handlers = {"gate": gate, "review": review, "installation": installation_added,
                "merged": merged, "reconcile-all": reconcile_all, "override": override,
                "impersonation": impersonation, "merge-group": merge_group,
                "org-policy": org_policy_changed, "pushed": pushed, "dismiss": dismiss}
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
        return guarded(ctx, target, rescan=True)
    finally:
        ctx.store.release(group, holder)


def review(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A review changed: evaluate it again over the stored stage results, without rescanning."""
    return guarded(ctx, Target(**args["target"]), rescan=False)


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
    ctx = context()
    fail_gate(ctx.app.installation(target.installation_id), target,
              getattr(exc_type, "__name__", "the job failed"), ctx=ctx)


def merged(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A pull request merged: alert when it was gated and its gate was not green, or was green
    only by a break-glass override, naming who merged it."""
    target = Target(**args["target"])
    github = ctx.app.installation(target.installation_id)
    conclusion = github.check_run_conclusion(target.repo, target.head_sha, GATE)
    overridden = ctx.store.load(override_key(target)) if conclusion == "success" else None
    if conclusion in ("success", "neutral") and not overridden:
        return {"alert": False, "conclusion": conclusion}
    if conclusion is None:  # never gated: was it an agent's?
        pr = github.pull_request(target.repo, target.number)
        rules = agent_rules()
        if not detect(pr, github.commits(target.repo, target.number), rules).is_agent:
            return {"alert": False, "conclusion": None}
    by = args.get("merged_by") or "someone"
    AuditTrail(ctx.store).record("merged-without-green", target.repo, target.number,
                                 sha=target.head_sha, conclusion=conclusion, merged_by=by,
                                 override=bool(overridden))
    if ctx.settings.slack_webhook_url:
        headline = ("Agent pull request merged on a break-glass override" if overridden else
                    "Agent pull request merged without Gatekeeper's green check")
        verdict = (f"overridden by @{overridden['by']}; merged by @{by}" if overridden else
                   f"gatekeeper: {conclusion or 'never ran'}; merged by @{by}")
        alert = Alert(headline, target.repo, target.number, target.head_sha, verdict,
                      pull_url(ctx.settings.github_api_url, target.repo, target.number))
        Slack(ctx.settings.slack_webhook_url).send(alert)
    return {"alert": True, "conclusion": conclusion}


def pushed(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Commits pushed to a branch the gate protects: agents' commits that no pull request
    carried are a bypass, recorded and alerted with who pushed them."""
    github = ctx.app.installation(args["installation_id"])
    repo, branch = args["repo"], args["branch"]
    if not _protected(ctx, github, repo, branch, args.get("default_branch", "")):
        return {"protected": False}
    commits = [Commit(c["sha"], c["message"], c["author_email"],
                      User(c["author"]) if c.get("author") else None,
                      User(c["committer"]) if c.get("committer") else None,
                      c.get("author_name", ""), c.get("committer_name", ""))
               for c in args["commits"]]
    try:
        effective, _ = effective_policy(ctx.store, github, repo, branch,
                                        ctx.settings.org_policy_ttl_seconds)
        rules = with_additions(agent_rules(), effective.policy.agents)
    except (PolicyError, OrgPolicyUnavailable):  # the built-in identities still apply
        rules = agent_rules()
    found = pushed_past_the_gate(commits, {c.sha: github.commit_pulls(repo, c.sha)
                                           for c in commits}, rules)
    if not found:
        return {"protected": True, "bypass": []}
    pusher = args.get("pusher") or "someone"
    AuditTrail(ctx.store).pushed(repo, sha=args.get("after", ""), branch=branch, pusher=pusher,
                                 commits=[b.sha for b in found],
                                 evidence=[b.evidence[0] for b in found])
    if ctx.settings.slack_webhook_url:
        web = pull_url(ctx.settings.github_api_url, repo, 1).rsplit("/pull/", 1)[0]
        alert = Alert(f"Agent commits pushed to {branch} with no pull request", repo, 0,
                      found[-1].sha, f"{len(found)} agent commit(s) pushed by @{pusher}: "
                      f"{found[0].evidence[0]}", f"{web}/commit/{found[-1].sha}")
        Slack(ctx.settings.slack_webhook_url).send(alert)
    return {"protected": True, "bypass": [b.sha for b in found]}


def _protected(ctx: Context, github, repo: str, branch: str, default_branch: str) -> bool:
    """The default branch, or a branch whose rules require this App's check."""
    if branch == default_branch:
        return True
    try:
        return bool(requires_gate(github.branch_rules(repo, branch), ctx.settings.github_app_id))
    except Exception as exc:  # noqa: BLE001 - unknown: only the default branch is assumed
        log.info("could not read the rules of %s@%s: %s", repo, branch, exc.__class__.__name__)
        return False


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
