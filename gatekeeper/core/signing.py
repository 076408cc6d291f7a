"""Ed25519 keys for the verdict records: load, name (key id), sign, verify. Pure computation
over bytes; reading key files is the caller's."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gatekeeper.core.attestation import pae


class KeyProblem(ValueError):
    """A PEM that is not the kind of key asked for."""


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def private_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyProblem("not an unencrypted PEM private key (PKCS8)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem("a PEM private key, but not Ed25519")
    return key


def public_key(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise KeyProblem("not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem("a PEM public key, but not Ed25519")
    return key


def new_pair() -> tuple[str, str]:
    """A fresh key: (private PEM, PKCS8, unencrypted; public PEM, SubjectPublicKeyInfo)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def sign(key: Ed25519PrivateKey, payload_type: str, payload: bytes) -> dict:
    """One DSSE signature over PAE(payload_type, payload)."""
    signature = key.sign(pae(payload_type, payload))
    return {"keyid": key_id(key.public_key()), "sig": base64.b64encode(signature).decode()}


def verified_by(payload_type: str, payload: bytes, signatures: Sequence[dict],
                keys: Sequence[Ed25519PublicKey]) -> str | None:
    """The key id of a trusted key whose signature over PAE(payload_type, payload) holds, or
    None. A signature naming a key id is tried with that key only."""
    message = pae(payload_type, payload)
    trusted = {key_id(k): k for k in keys}
    for signature in signatures:
        try:
            raw = base64.b64decode(signature.get("sig", ""), validate=True)
        except (binascii.Error, ValueError):
            continue
        named = signature.get("keyid") or ""
        for kid, key in ([(named, trusted[named])] if named in trusted else
                         [] if named else trusted.items()):
            try:
                key.verify(raw, message)
            except InvalidSignature:
                continue
            return kid
    return None
