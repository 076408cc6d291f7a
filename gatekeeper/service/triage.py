"""`/gatekeeper dismiss RULE [path:line] REASON` in a review or comment: the job gathers the
facts (policy, stored findings of the head commit, who the commenter is) and records what
core/triage.py decides; the gate is then evaluated again, as after a review."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gatekeeper.core import triage
from gatekeeper.core.detect import detect
from gatekeeper.core.escape import md_text
from gatekeeper.core.model import StageResult, Target, User
from gatekeeper.core.policy import PolicyError, with_additions
from gatekeeper.core.rules import agent_rules
from gatekeeper.service.audit import AuditTrail
from gatekeeper.service.gating import (
    STAGE_RESULTS_TTL,
    Context,
    dismissals_key,
    guarded,
    reviewer_facts,
)
from gatekeeper.service.policies import OrgPolicyUnavailable, effective_policy

MAX_KEPT = 200  # dismissals kept per pull request; the oldest go first


def dismiss(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    commands = triage.parse_commands(args["text"])
    if not commands:
        return {"dismissed": 0}
    github = ctx.app.installation(args["installation_id"])
    repo, number, login = args["repo"], args["number"], args["login"]
    pr = github.pull_request(repo, number)
    target = Target(args["installation_id"], args["repo_id"], repo, number, pr.head_sha)
    try:
        policy = effective_policy(ctx.store, github, repo, pr.base_ref,
                                  ctx.settings.org_policy_ttl_seconds)[0].policy
    except (PolicyError, OrgPolicyUnavailable) as err:
        github.comment(repo, number, "Gatekeeper: the policy could not be read or is invalid, "
                                     f"so nothing is dismissed until it is fixed: "
                                     f"{md_text(str(err))}")
        return {"dismissed": 0}
    user = User(login, "Bot" if args["bot"] else "User")
    at = datetime.now(UTC).isoformat(timespec="seconds")
    stored = ctx.store.load(f"stages-{target.repo_id}-{pr.head_sha}")
    outcomes: list[tuple[triage.Command, triage.Dismissal | None, str]] = []
    if args.get("commit") and args["commit"] != pr.head_sha:
        why = (f"not dismissed: the review is of {args['commit'][:7]}, not of the head commit "
               f"{pr.head_sha[:7]}; dismiss what the head's checks show")
        outcomes = [(c, None, why) for c in commands]
    elif stored is None:
        why = (f"not dismissed: the gate has no findings for the head commit {pr.head_sha[:7]} "
               "yet; dismiss once its checks are in")
        outcomes = [(c, None, why) for c in commands]
    else:
        stages = {k: StageResult.from_dict(v) for k, v in stored.items()}
        commits = github.commits(repo, number)
        rules = with_additions(agent_rules(), policy.agents)
        facts = reviewer_facts(github, repo, [], policy, (login,))
        refused = triage.not_a_reviewer(user, policy.triage, pr, detect(pr, commits, rules),
                                        commits, facts, rules)
        for command in commands:
            outcomes.append((command, *triage.decide_command(command, user, at, pr.head_sha,
                                                            stages, refused)))
    given = [d for _, d, _ in outcomes if d is not None]
    if given:
        key = dismissals_key(target.repo_id, number)
        kept = (ctx.store.load(key) or {}).get("dismissals", [])
        kept = (kept + [d.to_dict() for d in given])[-MAX_KEPT:]
        ctx.store.save(key, {"dismissals": kept}, STAGE_RESULTS_TTL)
    audit = AuditTrail(ctx.store)
    for command, dismissal, reply in outcomes:
        fields = {"sha": pr.head_sha, "by": login, "rule": command.rule, "where": command.where,
                  "reason": command.reason, "source": args.get("source", "")}
        if dismissal is None:
            audit.record("dismissal-refused", repo, number, **fields, why=reply)
        else:
            audit.record("dismissal", repo, number, **fields,
                         fingerprints=list(dismissal.fingerprints))
    github.comment(repo, number, triage.replies([reply for _, _, reply in outcomes]))
    result = guarded(ctx, target, rescan=False) if given else {}
    return {"dismissed": len(given), **result}
