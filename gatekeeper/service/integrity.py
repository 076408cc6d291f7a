"""Jobs that keep the verdict honest: merge groups, impersonating checks, break-glass."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gatekeeper.core.attestation import Evidence
from gatekeeper.core.detect import detect
from gatekeeper.core.escape import md_text
from gatekeeper.core.governance import changed_paths, eligibility
from gatekeeper.core.mergequeue import group_verdict, pulls_in_group, unattributed
from gatekeeper.core.model import Commit, Target
from gatekeeper.core.override import break_glass_teams
from gatekeeper.core.override import decide as decide_override
from gatekeeper.core.override import verdict as override_verdict
from gatekeeper.core.policy import Policy, PolicyError, with_additions
from gatekeeper.core.review import evaluate_review
from gatekeeper.core.rules import agent_rules
from gatekeeper.core.verdict import (
    GATE,
    STAGE_CONCLUSION,
    CheckVerdict,
    invalid_policy,
    policy_unavailable,
)
from gatekeeper.github.client import Installation
from gatekeeper.service.audit import AuditTrail
from gatekeeper.service.gating import (
    STAGE_RESULTS_TTL,
    Context,
    guarded,
    override_key,
    policy_digest,
    publish,
    reviewer_facts,
    run_gate_stages,
)
from gatekeeper.service.notify import Alert, Slack, pull_url
from gatekeeper.service.policies import OrgPolicyUnavailable, effective_policy

MAX_CANDIDATES = 50  # open pull requests searched for a rebase group's other entries


def merge_group(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A merge queue asks for checks on a group's commit: the stages run on that commit and
    every gated pull request in the group must have its qualified approval."""
    github = ctx.app.installation(args["installation_id"])
    repo, head, base = args["repo"], args["head_sha"], args["base_sha"]
    group, files = github.compare(repo, base, head)
    numbers = pulls_in_group(args["head_ref"], [c.message for c in group])
    target = Target(args["installation_id"], args["repo_id"], repo, numbers[-1] if numbers else 0,
                    head)
    audit = AuditTrail(ctx.store)
    try:
        branch = args["base_ref"].removeprefix("refs/heads/")  # the policy of the queue's branch
        effective, _ = effective_policy(ctx.store, github, repo, branch,
                                        ctx.settings.org_policy_ttl_seconds)
    except PolicyError as err:
        return publish(ctx, github, target, invalid_policy(err)[:1])
    except OrgPolicyUnavailable as err:
        return publish(ctx, github, target, policy_unavailable(str(err))[:1])
    policy = effective.policy
    evidence = Evidence(target.number, policy_digest(effective), effective.level)
    rules = with_additions(agent_rules(), policy.agents)
    pull_commits, loose = _identify(github, repo, branch, group, numbers)
    numbers = sorted(pull_commits)
    missing: dict[int, list[str]] = {}
    for number in numbers:
        pr = github.pull_request(repo, number)
        commits = pull_commits[number]
        detection = detect(pr, commits, rules)
        if not detection.gated(policy.gate):
            continue
        reviews = github.reviews(repo, number)
        facts = reviewer_facts(github, repo, reviews, policy)
        verdict_at = (ctx.store.load(f"verdict-at-{args['repo_id']}-{pr.head_sha}") or {}).get("at")
        result = evaluate_review(pr, reviews, github.changed_files(repo, number), commits,
                                 detection, policy, facts, verdict_at)
        missing[number] = [] if result.satisfied else list(result.missing)
        if detection.is_agent:  # off-limits paths or repository, as on the pull request
            missing[number] += eligibility(effective.rules, effective.level,
                                           changed_paths(github.changed_files(repo, number)))
    unknown = ([] if numbers else ["no pull request is named by the queue branch or commits"]) + \
        ([f"{len(loose)} commit{'s belong' if len(loose) > 1 else ' belongs'} to none of the "
          f"group's known pull requests ({', '.join(loose[:10])}): no approval can be checked"]
         if loose else [])
    audit.record("merge-group", repo, target.number, sha=head, pulls=numbers,
                 gated=sorted(missing), unapproved=sorted(n for n, m in missing.items() if m),
                 unattributed=loose)
    if not missing and numbers and not loose:
        return publish(ctx, github, target, [CheckVerdict(
            GATE, "neutral", "Not gated: no agent pull request in this merge group",
            f"Pull requests in the group: {', '.join(f'#{n}' for n in numbers)}.")], evidence)
    stages = run_gate_stages(ctx, github, target, base, policy, files, audit) if missing else {}
    verdict = group_verdict(stages, missing, unknown)
    stage_checks = [CheckVerdict(f"{GATE}/{name}", STAGE_CONCLUSION.get(r.status, "failure"),
                                 f"{name}: {r.status}", r.summary, r.findings)
                    for name, r in stages.items()]
    return publish(ctx, github, target, [*stage_checks, verdict],
                   replace(evidence, stages=stages))


def _identify(github: Installation, repo: str, branch: str, group: list[Commit],
              numbers: list[int]) -> tuple[dict[int, list[Commit]], list[str]]:
    """The group's pull requests with their commits, and the group's commits none of them
    holds. A rebase queue's entries name no pull request: open pull requests into the branch
    whose commits the group holds copies of are its other entries."""
    pull_commits = {n: github.commits(repo, n) for n in numbers}
    loose = unattributed(group, pull_commits)
    candidates = [p["number"] for p in github.open_pulls(repo, branch)] if loose else []
    for number in [n for n in candidates if n not in pull_commits][:MAX_CANDIDATES]:
        commits = github.commits(repo, number)
        fewer = unattributed(group, {**pull_commits, number: commits})
        if len(fewer) < len(loose):
            pull_commits[number], loose = commits, fewer
        if not loose:
            break
    return pull_commits, loose


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
        results[target.number] = guarded(ctx, target, rescan=False)
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
        effective = effective_policy(ctx.store, github, repo, pr.base_ref,
                                     ctx.settings.org_policy_ttl_seconds)[0]
    except (PolicyError, OrgPolicyUnavailable) as err:
        github.comment(repo, number, "Gatekeeper: the policy could not be read or is invalid, "
                                     f"so no override is possible until it is fixed: "
                                     f"{md_text(str(err))}")
        return {"overridden": False}
    policy = effective.policy
    teams = break_glass_teams(policy.break_glass, repo.split("/")[0])
    member_of = {t for t in teams if not args["bot"] and github.team_member(t, login)}
    decision = decide_override(login, args["bot"], args["reason"], teams, member_of)
    not_allowed = _not_allowed(github, repo, number, pr, effective)
    if decision.allowed and not_allowed:  # the organisation's rule is not this team's to lift
        decision = replace(decision, allowed=False, reply=(
            "break-glass cannot override the organisation's policy, which does not allow this "
            "agent change: " + md_text("; ".join(not_allowed))))
    if not decision.allowed:
        audit.record("override-refused", repo, number, sha=pr.head_sha, by=login,
                     reason=args["reason"], why=decision.reply)
        github.comment(repo, number, f"Gatekeeper: {decision.reply}")
        return {"overridden": False}
    at = datetime.now(UTC).isoformat(timespec="seconds")
    ctx.store.save(override_key(target), {"by": login, "reason": args["reason"], "at": at},
                   STAGE_RESULTS_TTL)
    audit.record("override", repo, number, sha=pr.head_sha, by=login, reason=args["reason"])
    result = publish(ctx, github, target, [override_verdict(login, args["reason"],
                                                             pr.head_sha, at)],
                     Evidence(number, policy_digest(effective), effective.level,
                              override={"by": login, "reason": args["reason"], "at": at}))
    _follow_up(github, policy, target, login, args["reason"])
    if ctx.settings.slack_webhook_url:
        alert = Alert(f"Gatekeeper overridden by @{login}", repo, number, pr.head_sha,
                      f"break-glass: {args['reason']}",
                      pull_url(ctx.settings.github_api_url, repo, number))
        Slack(ctx.settings.slack_webhook_url).send(alert, policy.slack.channel)
    github.comment(repo, number, f"Gatekeeper: {decision.reply}")
    return {"overridden": True, **result}


def _not_allowed(github: Installation, repo: str, number: int, pr, effective) -> list[str]:
    """Why the organisation's levels refuse this pull request, if it is an agent's."""
    if effective.rules is None:
        return []
    reasons = eligibility(effective.rules, effective.level,
                          changed_paths(github.changed_files(repo, number)))
    if not reasons:
        return []
    rules = with_additions(agent_rules(), effective.policy.agents)
    return reasons if detect(pr, github.commits(repo, number), rules).is_agent else []


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
