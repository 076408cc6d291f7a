"""`gatekeeper simulate OWNER/NAME#N [--approve LOGIN ...] [--policy FILE]`: what the gate
says about a real pull request now, if these people approved, or under a proposed policy.
Reads GitHub and the stored stage results; writes nothing anywhere and runs no stage."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import requests

from gatekeeper.core.decision import GateFacts, Override, decide_gate
from gatekeeper.core.escape import one_line
from gatekeeper.core.model import Review, StageResult, User
from gatekeeper.core.policy import PolicyError
from gatekeeper.core.rules import agent_rules
from gatekeeper.github.client import GitHubApp
from gatekeeper.service.gating import dismissals_key, reviewer_facts, stored_dismissals
from gatekeeper.service.policies import (
    OrgPolicyUnavailable,
    effective_policy,
    instruction_findings,
)
from gatekeeper.service.queue import MemoryBackend, backend_of
from gatekeeper.service.settings import load_settings

REF = re.compile(r"^([\w.-]+/[\w.-]+)#(\d+)$")


def simulate(ref: str, approve: list[str], policy_file: str | None, fmt: str = "text",
             out=None, settings=None, store=None) -> int:
    """0 the gate would be green, 1 red, 2 the question could not be answered. `store`: where
    stage results are kept (default: Redis at REDIS_URL; without it, "not run yet")."""
    out = out or sys.stdout
    found = REF.match(ref)
    if not found:
        return _fail(f"expected OWNER/NAME#NUMBER, got {ref!r}")
    repo, number = found.group(1), int(found.group(2))
    proposed = None
    if policy_file is not None:
        if not Path(policy_file).is_file():
            return _fail(f"{policy_file}: no such file (the proposed repository policy)")
        proposed = Path(policy_file).read_text(errors="replace")
    settings = settings or load_settings()
    try:
        github = GitHubApp(settings).repo_installation(repo)
        pr = github.pull_request(repo, number)
        store = store or (backend_of(settings) if settings.redis_url else None)
        effective, _ = effective_policy(store or MemoryBackend(60, workers=1), github, repo,
                                        pr.base_ref, 1, proposed)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else exc
        return _fail(f"{repo}#{number} could not be read through the App ({status}): is it "
                     "installed there, and does the pull request exist?")
    except PolicyError as err:
        return _fail("the policy is invalid: " + "; ".join(str(p) for p in err.problems))
    except OrgPolicyUnavailable as err:
        return _fail(str(err))
    except Exception as exc:  # noqa: BLE001 - GitHub refused or unreachable, Redis down: said once
        from gatekeeper.cli.failures import said

        sentence = said(exc)
        if sentence is None:
            raise  # the command line says it in one line, with where its traceback is
        return _fail(sentence)
    facts = GateFacts(pr, tuple(github.commits(repo, number)),
                      tuple(github.changed_files(repo, number)), effective, agent_rules())
    first = decide_gate(facts)
    stored, verdict_at, override, dismissals = {}, None, None, ()
    if first.needs_stages and store is not None:
        repo_id = github.repository_ids().get(repo)
        stored = store.load(f"stages-{repo_id}-{pr.head_sha}") or {}
        dismissals = stored_dismissals(store, dismissals_key(repo_id, number))
        verdict_at = (store.load(f"verdict-at-{repo_id}-{pr.head_sha}") or {}).get("at")
        override = store.load(f"override-{repo_id}-{pr.head_sha}") if repo_id else None
    stages = {k: StageResult.from_dict(v) for k, v in stored.items()}
    reviews = list(github.reviews(repo, number))
    waived = sorted({f.rule for r in stages.values() for f in r.findings if f.waived_by})
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for i, login in enumerate(approve):  # as if they approved now, acknowledging what's waived
        reviews.append(Review(-1 - i, User(login), "APPROVED", pr.head_sha, now,
                              " ".join(f"/gatekeeper ack {rule}" for rule in waived)))
    decision = decide_gate(replace(
        facts, stages=stages, reviews=tuple(reviews), dismissals=dismissals,
        reviewers=reviewer_facts(github, repo, reviews, effective.policy,
                                 tuple(d.by for d in dismissals)),
        verdict_at=verdict_at or (now if approve else None),
        governance=tuple(instruction_findings(github, repo, pr.base_ref, effective)),
        override=Override(override["by"], override["reason"], override["at"])
        if override else None)) if first.needs_stages else first
    gate = next(v for v in decision.verdicts if v.name == "gatekeeper")
    if fmt == "json":
        out.write(json.dumps({
            "pull_request": ref, "head": pr.head_sha, "gated": decision.gated,
            "level": effective.level, "refusals": list(decision.refusals),
            "policy_refused": [str(r) for r in effective.refused],
            "stages": "stored" if stored else "not run yet",
            "approvals_added": approve, "proposed_policy": policy_file,
            "checks": {v.name: {"conclusion": v.conclusion, "title": v.title}
                       for v in decision.verdicts},
            "reviewers": [{"login": r.login, "counted": r.counted, "why": r.reason}
                          for r in (decision.review.reviewers if decision.review else ())],
            "missing": list(decision.review.missing) if decision.review else []},
            indent=2) + "\n")
    else:
        _text(out, ref, pr.head_sha, decision, effective, bool(stored), approve, policy_file)
    return 0 if gate.conclusion in ("success", "neutral", "skipped") else 1


def _text(out, ref, head, decision, effective, stored, approve, policy_file) -> None:
    said = [f"{ref} at {head[:7]} (simulated: nothing was written to GitHub)"]
    if approve:
        said.append(f"  if approved now by: {', '.join(approve)}")
    if policy_file:
        said.append(f"  under the proposed repository policy {policy_file}")
    said.append(f"  level: {effective.level or 'none'}")
    said += [f"  refused: {r}" for r in effective.refused]
    if decision.needs_stages:
        said.append("  stages: " + ("stored results of the gate's run on this commit" if stored
                                    else "not run yet on this commit (shown as not reported)"))
    for verdict in decision.verdicts:
        said.append(f"  {verdict.name}: {verdict.conclusion}: {verdict.title}")
    for reviewer in decision.review.reviewers if decision.review else ():
        said.append(f"    @{reviewer.login}: {'counts' if reviewer.counted else 'does not count'}"
                    f" ({reviewer.reason})")
    for missing in decision.review.missing if decision.review else ():
        said.append(f"    missing: {missing}")
    out.write("".join(one_line(line) + "\n" for line in said))


def _fail(message: str) -> int:
    print(f"gatekeeper simulate: {one_line(message)}", file=sys.stderr)
    return 2

