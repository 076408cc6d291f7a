"""A repository's effective policy: the organisation's (cached for a short while, forgotten on
a push to ORG/.github), the base branch's file, and the level the repository is in."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from gatekeeper.core.decision import instruction_findings as required_instructions
from gatekeeper.core.governance import (
    ORG_REPO,
    Effective,
    RepoFacts,
    combine,
    leaves,
    needs_facts,
    parse_org,
)
from gatekeeper.core.model import Finding
from gatekeeper.core.policy import POLICY_PATH
from gatekeeper.core.rules import default_policy_text
from gatekeeper.github.client import Installation
from gatekeeper.service.queue import Backend

KNOWN_TTL = 400 * 86400  # how long an organisation is remembered to have had a policy


class OrgPolicyUnavailable(Exception):
    """What the effective policy depends on could not be read: the gate fails closed."""


def org_label(owner: str) -> str:
    return f"organisation ({owner}/{ORG_REPO})"


def org_file(owner: str) -> str:
    return f"{owner}/{ORG_REPO}:{POLICY_PATH}"


def org_policy_key(owner: str) -> str:
    return f"org-policy-{owner.lower()}"


def org_policy_text(store: Backend, github: Installation, owner: str, ttl: int) -> str | None:
    """The organisation policy's text (None: there is none). A failed read is never cached,
    so it neither turns every repository green nor sticks after GitHub recovers."""
    cached = store.load(org_policy_key(owner))
    if cached is not None:
        return cached["text"]
    try:
        text = github.file_text(f"{owner}/{ORG_REPO}", POLICY_PATH, None)
    except Exception as exc:  # noqa: BLE001 - any failure: fail closed, saying what
        raise OrgPolicyUnavailable(
            f"the organisation policy {org_file(owner)} could not be read "
            f"({exc.__class__.__name__}: {str(exc)[:200]})") from exc
    known = store.load(org_policy_known_key(owner))
    if text is None and known:
        # GitHub says 404 alike for "no such file" and "the App cannot see the repository":
        # a policy that was there does not silently stop applying
        raise OrgPolicyUnavailable(
            f"the organisation policy {org_file(owner)}, read since {known['since']}, is now "
            "missing or out of the App's reach; if it was removed on purpose, the push that "
            f"removed it from {owner}/{ORG_REPO} confirms that (push again to re-check)")
    if text is not None and not known:
        store.save(org_policy_known_key(owner), {"since": _now()}, KNOWN_TTL)
    store.save(org_policy_key(owner), {"text": text}, ttl)
    return text


def confirm_removal(store: Backend, github: Installation, owner: str) -> bool:
    """After a push to OWNER/.github (proof that the App sees it): when the policy file is
    gone there, it was removed on purpose. True when the removal is confirmed."""
    store.forget(org_policy_key(owner))
    if github.file_text(f"{owner}/{ORG_REPO}", POLICY_PATH, None) is None:
        store.forget(org_policy_known_key(owner))
        return True
    return False


def org_policy_known_key(owner: str) -> str:
    return f"org-policy-known-{owner.lower()}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def effective_policy(store: Backend, github: Installation, repo: str, base_ref: str,
                     ttl: int, proposed: str | None = None) -> tuple[Effective, dict[str, Any]]:
    """The policy that applies, and what the audit trail keeps about where it came from.
    `proposed`: a repository policy text to use instead of the base branch's (simulation).
    Raises PolicyError for an invalid file, OrgPolicyUnavailable when a read fails."""
    owner = repo.split("/")[0]
    org_text = org_policy_text(store, github, owner, ttl)
    org = parse_org(org_text, org_file(owner)) if org_text is not None else None
    repo_text = proposed if proposed is not None else github.file_text(repo, POLICY_PATH,
                                                                          base_ref)
    facts = RepoFacts(repo)
    if org and needs_facts(org):
        try:
            topics, properties = github.repository_facts(repo)
        except Exception as exc:  # noqa: BLE001 - the level decides what is allowed
            raise OrgPolicyUnavailable(
                f"the topics and custom properties of {repo}, which choose its sensitivity "
                f"level, could not be read ({exc.__class__.__name__})") from exc
        facts = RepoFacts(repo, tuple(topics), properties)
    result = combine(default_policy_text(), org, org_label(owner), repo_text, facts)
    record = {
        "source": f"{POLICY_PATH}@{base_ref}" if repo_text else "organisation default",
        "sha256": _digest(repo_text),
        "organisation": org_file(owner) if org_text is not None else None,
        "organisation_sha256": _digest(org_text) if org_text is not None else None,
        "level": result.level, "level_reason": result.level_reason,
        "refused": [str(r) for r in result.refused],
    }
    return result, record


def _digest(text: str | None) -> str:
    return hashlib.sha256((text or "").encode()).hexdigest()


def instruction_findings(github: Installation, repo: str, base_ref: str,
                         result: Effective) -> list[Finding]:
    """A finding when the level requires agent instruction files the base branch lacks."""
    wanted = result.rules.instructions if result.rules else None
    texts = {path: github.file_text(repo, path, base_ref) for path in wanted.files} \
        if wanted else {}
    return required_instructions(result, texts)


def shown(result: Effective) -> dict[str, Any]:
    """The effective policy, key by key with its source, for the details page and the CLI."""
    values = [[".".join(key), value, result.sources.get(".".join(key), "built-in default")]
              for key, value in leaves(result.policy.model_dump())]
    return {"level": result.level, "level_reason": result.level_reason,
            "refused": [str(r) for r in result.refused], "values": values}
