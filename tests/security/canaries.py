"""Canary secrets set in every way the app accepts them, and a search for them in any encoding."""

from __future__ import annotations

import base64
import codecs
from dataclasses import dataclass
from pathlib import Path

from conftest import free_port

from gatekeeper.core.signing import new_pair

HOOK = "CANARY-hook-7f3a9c21"
OAUTH = "CANARY-oauth-51be90d4"
SLACK_PATH = "/services/T0/B0/CANARY-slack-c0ffee"
REDIS_PASSWORD = "CANARY-redis-8d2e77"
OTHER = "CANARY-unlisted-4410aa"  # a variable Gatekeeper does not know: still never inside


@dataclass
class Canaries:
    env: dict[str, str]
    values: dict[str, bytes]  # name -> the bytes that must never be seen

    def found_in(self, blob: bytes | str) -> list[str]:
        """The canaries that appear in `blob`, raw or in one of the encodings a thief might use."""
        if isinstance(blob, str):
            blob = blob.encode("utf-8", "replace")
        return sorted({name for name, value in self.values.items()
                       for form in encodings(value) if form in blob})


def encodings(value: bytes) -> list[bytes]:
    forms = [value, value[::-1], value.hex().encode(), value.hex().upper().encode(),
             codecs.encode(value.decode(), "rot13").encode(),
             value.decode().encode("utf-16-le")]
    for shift in range(3):  # base64 of a value at any offset in a longer text
        for encode in (base64.b64encode, base64.urlsafe_b64encode, base64.b32encode):
            encoded = encode(value[shift:])
            forms.append(encoded[4:-8])
    return [f for f in forms if len(f) >= 8]


def canaries(folder: Path, pem: str, redis_port: int, as_files: bool,
             slack_base: str | None = None) -> Canaries:
    """Secrets for a worker, as NAME=value or as NAME_FILE=path."""
    slack_base = slack_base or f"http://127.0.0.1:{free_port()}"
    values = {"GITHUB_PRIVATE_KEY": pem, "GITHUB_WEBHOOK_SECRET": HOOK,
              "GITHUB_CLIENT_SECRET": OAUTH, "SLACK_WEBHOOK_URL": slack_base + SLACK_PATH,
              "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0",
              "GATEKEEPER_SIGNING_KEY": new_pair()[0]}
    env = {"GITHUB_APP_ID": "4242", "GITHUB_CLIENT_ID": "Iv1.canaryclient", "LEAK_SECRET": OTHER}
    for name, value in values.items():
        if as_files:
            path = folder / name.lower()
            path.write_text(value + "\n")
            path.chmod(0o600)
            env[f"{name}_FILE"] = str(path)
        else:
            env[name] = value
    body = [line for line in pem.splitlines() if "-----" not in line]
    secret_bytes = {f"private key line {i}": line.encode() for i, line in enumerate(body[:4])}
    # the signing key's line past its fixed Ed25519 header: 30 of its 32 secret bytes
    secret_bytes["signing key"] = values["GATEKEEPER_SIGNING_KEY"].splitlines()[1][24:].encode()
    secret_bytes |= {"webhook secret": HOOK.encode(), "oauth secret": OAUTH.encode(),
                     "slack path": SLACK_PATH.split("/")[-1].encode(),
                     "redis password": REDIS_PASSWORD.encode(), "unlisted": OTHER.encode()}
    return Canaries(env, secret_bytes)
