"""A verdict as a record: an in-toto Statement (v1) about one commit, carried in a DSSE
envelope. Pure: building the statement, DSSE's pre-authentication encoding (PAE), the
canonical JSON the policy digest is taken over, and reading a statement back.

The signature (gatekeeper.core.signing) covers PAE(payloadType, payload): the bytes of the
payload exactly as stored, so nothing here needs to re-serialise a statement to check it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gatekeeper.core.model import Review, StageResult
from gatekeeper.core.review import ACK_RE, ReviewResult, latest_reviews
from gatekeeper.core.verdict import GATE, PASSING, CheckVerdict

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://gatekeeper.dev/verdict/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
FINDINGS_KEPT = 200  # findings per record; the count says how many there were
SUMMARY_CHARS = 300  # a stage's first summary line (it names the tools and their versions)
MAX_ENVELOPE_BYTES = 2 * 1024 * 1024  # what `verify` reads; a record is far smaller


class Malformed(ValueError):
    """Not an envelope, or not a statement of ours."""


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same value always gives the same bytes (the
    values here are strings, integers, booleans and null; no floats)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is signed, type and body both bound."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Evidence:
    """What the verdict was decided from, as far as the job that publishes it knows."""

    number: int = 0
    policy_digest: str | None = None
    level: str | None = None
    stages: Mapping[str, StageResult] = field(default_factory=dict)
    review: ReviewResult | None = None
    reviews: tuple[Review, ...] = ()
    override: Mapping[str, str] | None = None  # by, reason, at
    agent: bool | None = None


def predicate(verdicts: Sequence[CheckVerdict], evidence: Evidence, at: str,
              version: str, pending: str = "") -> dict:
    """The verdict record. `pending`: the gate has started on the commit and not concluded
    (why, in a few words); its conclusion is then "in_progress", never a pass."""
    gate = next((v for v in verdicts if v.name == GATE), None)
    conclusion = "in_progress" if pending or gate is None else gate.conclusion
    findings = [{"stage": name, "tool": f.tool, "rule": f.rule, "path": f.path,
                 "line": f.start_line, "severity": f.severity, "new": f.new,
                 "blocking": f.blocking, "waived_by": f.waived_by}
                for name, r in sorted(evidence.stages.items()) for f in r.findings]
    return {
        "gatekeeper": version,
        "time": at,
        "pullRequest": evidence.number or None,
        "conclusion": conclusion,
        "title": pending or (gate.title if gate else ""),
        "checks": {v.name: v.conclusion for v in verdicts},
        "policy": {"sha256": evidence.policy_digest, "level": evidence.level}
        if evidence.policy_digest else None,
        "agent": evidence.agent,
        "stages": [{"name": name, "status": r.status,
                    "summary": (r.summary.splitlines() or [""])[0][:SUMMARY_CHARS]}
                   for name, r in sorted(evidence.stages.items())],
        "findings": findings[:FINDINGS_KEPT],
        "findingsTotal": len(findings),
        "approvals": approvals(evidence.review, evidence.reviews),
        "acknowledgements": acknowledgements(evidence.review, evidence.reviews),
        "override": dict(evidence.override) if evidence.override else None,
    }


def approvals(review: ReviewResult | None, reviews: Sequence[Review]) -> list[dict]:
    """The approvals that counted, each with the commit it approved."""
    if review is None:
        return []
    latest = latest_reviews(reviews)
    found = []
    for reviewer in review.reviewers:
        given = latest.get(reviewer.login.lower())
        if reviewer.counted and given is not None:
            found.append({"by": reviewer.login, "commit": given.commit_id,
                          "at": given.submitted_at, "sensitive": reviewer.counts_for_sensitive})
    return found


def acknowledgements(review: ReviewResult | None, reviews: Sequence[Review]) -> list[dict]:
    """Which waived findings each counted approver said they looked at."""
    latest = latest_reviews(reviews)
    found = []
    for reviewer in (review.reviewers if review else ()):
        given = latest.get(reviewer.login.lower())
        rules = sorted({m.lower() for m in ACK_RE.findall(given.body)}) if given else []
        if reviewer.counted and rules:
            found.append({"by": reviewer.login, "rules": rules})
    return found


def statement(repo: str, sha: str, body: dict, tree: str | None = None) -> dict:
    found = {"gitCommit": sha, **({"gitTree": tree} if tree else {})}
    return {"_type": STATEMENT_TYPE, "subject": [{"name": repo, "digest": found}],
            "predicateType": PREDICATE_TYPE, "predicate": body}


def envelope(payload: bytes, signatures: list[dict]) -> dict:
    return {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
            "signatures": signatures}


def opened(data: Any) -> tuple[str, bytes, list[dict]]:
    """An envelope's payload type, payload bytes and signatures; Malformed otherwise."""
    if not isinstance(data, dict) or not isinstance(data.get("payloadType"), str) or \
            not isinstance(data.get("payload"), str) or not isinstance(data.get("signatures"), list):
        raise Malformed("not a DSSE envelope (payloadType, payload, signatures)")
    try:
        payload = base64.b64decode(data["payload"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Malformed("the envelope's payload is not base64") from exc
    signatures = [s for s in data["signatures"] if isinstance(s, dict)
                  and isinstance(s.get("sig"), str) and isinstance(s.get("keyid", ""), str)]
    if not signatures:
        raise Malformed("the envelope has no signature")
    return data["payloadType"], payload, signatures


@dataclass(frozen=True)
class Reading:
    """What a verified record says about its commit."""

    conclusion: str
    title: str
    time: str
    approvals: tuple[dict, ...]
    override: dict | None

    @property
    def passed(self) -> bool:
        return self.conclusion in PASSING


def read(payload: bytes, repo: str, sha: str) -> Reading:
    """The verdict on exactly `repo`@`sha` the (already verified) payload states; Malformed
    when it is not our statement, or is about anything else."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed("the payload is not JSON") from exc
    if not isinstance(data, dict) or data.get("_type") != STATEMENT_TYPE or \
            data.get("predicateType") != PREDICATE_TYPE:
        raise Malformed(f"not an in-toto statement of type {PREDICATE_TYPE}")
    subjects = data.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise Malformed("a verdict record names exactly one subject")
    name, found = subjects[0].get("name"), subjects[0].get("digest")
    commit = found.get("gitCommit") if isinstance(found, dict) else None
    if name != repo or not isinstance(commit, str) or commit.lower() != sha.lower():
        raise Malformed(f"the record is about {name}@{commit}, not {repo}@{sha}")
    body = data.get("predicate")
    if not isinstance(body, dict) or not isinstance(body.get("conclusion"), str):
        raise Malformed("the record has no conclusion")
    given = body.get("approvals") or []
    override = body.get("override")
    return Reading(body["conclusion"], str(body.get("title", "")), str(body.get("time", "")),
                   tuple(a for a in given if isinstance(a, dict)) if isinstance(given, list)
                   else (), override if isinstance(override, dict) else None)
