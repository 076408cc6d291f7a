"""Signed verdict records: every verdict the gate publishes (and every start of a gate run,
as in progress) becomes an in-toto statement in a DSSE envelope, signed with the App's own
Ed25519 key and kept in the audit store under its repository and commit. A check run can be
hidden by removing a rule; the record stays, and `gatekeeper verify` checks it offline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from gatekeeper import __version__
from gatekeeper.core.attestation import (
    PAYLOAD_TYPE,
    Evidence,
    canonical_json,
    envelope,
    predicate,
    statement,
)
from gatekeeper.core.signing import key_id, private_key, sign
from gatekeeper.core.verdict import CheckVerdict
from gatekeeper.service.audit import AuditTrail
from gatekeeper.service.queue import Backend
from gatekeeper.service.settings import Settings

KEPT_PER_COMMIT = 20  # records of one commit (each verdict, each start); the last one counts
NOT_SIGNED = ("Not signed: no signing key is configured (`GATEKEEPER_SIGNING_KEY`), so this "
              "verdict has no signed record.")


def stream_of(repo: str, sha: str) -> str:
    return f"attestation:{repo}@{sha.lower()}"


def record(settings: Settings, store: Backend, repo: str, sha: str,
           verdicts: Sequence[CheckVerdict], evidence: Evidence, pending: str = "") -> str | None:
    """Sign and keep the record of this verdict; its key id, or None without a key. A store
    that fails raises: an older record must not be left standing as the commit's last word."""
    if not settings.signing_key_pem:
        return None
    key = private_key(settings.signing_key_pem)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    body = predicate(verdicts, evidence, at, __version__, pending)
    payload = canonical_json(statement(repo, sha, body))
    signed = envelope(payload, [sign(key, PAYLOAD_TYPE, payload)])
    store.append_record(stream_of(repo, sha), {"at": at, "envelope": signed}, KEPT_PER_COMMIT)
    kid = key_id(key.public_key())
    AuditTrail(store).record("signed", repo, evidence.number or None, sha=sha, keyid=kid,
                             conclusion=body["conclusion"])
    return kid


def latest(store: Backend, repo: str, sha: str) -> dict | None:
    """The commit's last signed record (its current verdict), or None."""
    found = store.read_records(stream_of(repo, sha))
    return found[-1]["envelope"] if found else None


def url_of(settings: Settings, repo: str, sha: str) -> str | None:
    return f"{settings.public_url}/attestations/{repo}/{sha}" if settings.public_url else None


def line(settings: Settings, repo: str, sha: str, kid: str | None) -> str:
    """What the gate's check run says about the record."""
    if kid is None:
        return NOT_SIGNED
    where = url_of(settings, repo, sha)
    return (f"Signed record of this verdict (key `{kid}`): "
            + (f"[{where}]({where})" if where else "in Gatekeeper's audit trail")
            + "; a deploy can check it with `gatekeeper verify`.")
