"""`gatekeeper verify REPO SHA --envelope FILE --public-key PEM`: whether that exact commit
passed the gate, from its signed verdict record, offline. `gatekeeper signing-key new`.

Exit 0: the record is signed by a trusted key, is about exactly REPO@SHA, and says passed;
1: it is genuine and says not passed (blocked, in progress, cancelled); 2: there is no
record, or it is malformed, forged, signed by an unknown key or about another commit."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from gatekeeper.core.attestation import (
    MAX_ENVELOPE_BYTES,
    PAYLOAD_TYPE,
    Malformed,
    opened,
    read,
)
from gatekeeper.core.escape import one_line
from gatekeeper.core.signing import KeyProblem, key_id, new_pair, public_key, verified_by

PASSED, NOT_PASSED, UNVERIFIED = 0, 1, 2
FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def verify(repo: str, sha: str, envelope: Path, keys: list[Path]) -> int:
    def refuse(why: str) -> int:
        print(f"NOT VERIFIED: {repo}@{sha}: {why}", file=sys.stderr)
        return UNVERIFIED

    if not FULL_SHA.fullmatch(sha.lower()):
        return refuse("give the full commit SHA (a branch or a short SHA may name another commit)")
    trusted = []
    for path in keys:
        try:
            trusted.append(public_key(path.read_text()))
        except (OSError, UnicodeDecodeError, KeyProblem) as exc:
            return refuse(f"public key {path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        raw = envelope.read_bytes()[:MAX_ENVELOPE_BYTES + 1]
    except FileNotFoundError:
        return refuse(f"no signed record ({envelope} does not exist): the gate never judged "
                      "this commit, or the record was not downloaded")
    except OSError as exc:
        return refuse(f"{envelope} cannot be read: {exc.strerror or exc}")
    if not raw.strip():
        return refuse(f"no signed record ({envelope} is empty)")
    if len(raw) > MAX_ENVELOPE_BYTES:
        return refuse(f"{envelope} is over {MAX_ENVELOPE_BYTES} bytes: not a verdict record")
    try:
        kind, payload, signatures = opened(json.loads(raw))
        if kind != PAYLOAD_TYPE:
            raise Malformed(f"payloadType is {one_line(kind)[:80]!r}, not {PAYLOAD_TYPE}")
    except (ValueError, UnicodeDecodeError) as exc:  # Malformed is a ValueError
        return refuse(f"not a verdict record: {one_line(str(exc))[:200]}")
    kid = verified_by(kind, payload, signatures, trusted)
    if kid is None:
        named = ", ".join(sorted({one_line(str(s.get("keyid", "")))[:32] for s in signatures}))
        return refuse(f"no valid signature by a trusted key (trusted: "
                      f"{', '.join(key_id(k) for k in trusted)}; the record names: {named or '-'})")
    try:
        reading = read(payload, repo, sha)
    except Malformed as exc:
        return refuse(one_line(str(exc))[:300])
    said = one_line(reading.title)[:200]
    print(f"{'PASSED' if reading.passed else 'NOT PASSED'}: {repo}@{sha}: "
          f"{one_line(reading.conclusion)[:40]} ({said}) at {one_line(reading.time)[:40]}, "
          f"signed by key {kid}")
    for approval in reading.approvals:
        print(f"  approved by {one_line(str(approval.get('by', '')))[:60]} "
              f"(commit {one_line(str(approval.get('commit', '')))[:64]}"
              f"{', at ' + one_line(str(approval['at']))[:40] if approval.get('at') else ''})")
    if reading.override:
        print(f"  break-glass by {one_line(str(reading.override.get('by', '')))[:60]}: "
              f"{one_line(str(reading.override.get('reason', '')))[:200]}")
    if not reading.approvals and not reading.override:
        print("  no approval recorded")
    return PASSED if reading.passed else NOT_PASSED


def new_signing_key(private_out: Path) -> int:
    """A new Ed25519 pair: the private key to `private_out` (mode 0600, never overwritten),
    the public key on stdout (give it to whoever verifies)."""
    private, public = new_pair()
    try:
        descriptor = os.open(private_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        print(f"gatekeeper signing-key new: {private_out}: {exc.strerror or exc} (an existing "
              "key is never overwritten)", file=sys.stderr)
        return 2
    with os.fdopen(descriptor, "w") as out:
        out.write(private)
    print(public, end="")
    print(f"key id {key_id(public_key(public))}; private key in {private_out} (set "
          "GATEKEEPER_SIGNING_KEY_FILE to it)", file=sys.stderr)
    return 0
