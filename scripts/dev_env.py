"""Write a throwaway local configuration for `make run` into DIR/env, once.

A fresh RSA key and webhook secret let the server start with no GitHub App registered.
Variables already set in the environment win over these defaults.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def main(folder: str) -> None:
    root = Path(folder)
    env = root / "env"
    if env.exists():
        return
    root.mkdir(mode=0o700, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = root / "app.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
    pem.chmod(0o600)
    lines = [
        'GITHUB_APP_ID="${GITHUB_APP_ID:-1}"',
        # only when no key is given as text: the two variables exclude each other
        f'[ -n "${{GITHUB_PRIVATE_KEY:-}}" ] || GITHUB_PRIVATE_KEY_PATH='
        f'"${{GITHUB_PRIVATE_KEY_PATH:-{pem.resolve()}}}"',
        f'GITHUB_WEBHOOK_SECRET="${{GITHUB_WEBHOOK_SECRET:-{secrets.token_hex(20)}}}"',
    ]
    env.write_text("\n".join(lines) + "\n")
    env.chmod(0o600)
    print(f"made a throwaway local configuration in {env} (edit it or set the variables "
          "of a real GitHub App to receive real deliveries)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".dev")
