"""Process settings read from the environment once, at start-up (12-factor)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gatekeeper.core.signing import KeyProblem, private_key

GITHUB_MAX_PAYLOAD = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MiB
MIN_DELIVERY_TTL = 3 * 24 * 3600  # GitHub lets users redeliver for 3 days


# values that open something: read once, then removed from the process's environment so no
# child (git, pip, bwrap, a sandboxed test) inherits them. Each may also be given as a file
# named by NAME_FILE, the usual container-secrets convention.
SECRET_VARIABLES = ("GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "GITHUB_CLIENT_SECRET",
                    "SLACK_WEBHOOK_URL", "REDIS_URL", "GATEKEEPER_SIGNING_KEY")
_taken: dict[str, str] = {}
_take_problems: list[str] = []


def resolve_secrets(env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Each secret variable's value, from NAME or the file NAME_FILE names; and what is wrong."""
    values, problems = {}, []
    for name in SECRET_VARIABLES:
        value, path = env.get(name), env.get(f"{name}_FILE", "").strip()
        if value and path:
            problems.append(f"set only one of {name} and {name}_FILE")
        elif path:
            try:
                text = Path(path).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{name}_FILE ({path}) cannot be read: "
                                f"{exc.__class__.__name__}: {getattr(exc, 'strerror', None) or exc}")
                continue
            values[name] = text if name.endswith("_KEY") else text.strip()  # PEM keys kept whole
        elif value is not None:
            values[name] = value
    return values, problems


def take_secrets() -> None:
    """Move the secret variables out of os.environ into this process's memory. Idempotent.

    The original environment block is overwritten too: /proc/<pid>/environ shows it, not
    os.environ, and any process of the same user could read it there.
    """
    values, problems = resolve_secrets(os.environ)
    _taken.update(values)
    _take_problems.extend(problems)
    for name in SECRET_VARIABLES:
        for variable in (name, f"{name}_FILE"):
            if variable in os.environ:
                _wipe_original(variable)
                del os.environ[variable]


def _wipe_original(name: str) -> None:
    try:
        libc = ctypes.CDLL(None)
        libc.getenv.restype = ctypes.c_void_p
        libc.strlen.restype = ctypes.c_size_t
        libc.strlen.argtypes = [ctypes.c_void_p]
        pointer = libc.getenv(name.encode())
        if pointer:
            ctypes.memset(pointer, 0, libc.strlen(pointer))
    except (OSError, AttributeError):  # no C library to reach: os.environ is still cleaned
        pass


class SettingsError(Exception):
    """Every missing or malformed setting, reported together."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "gatekeeper is not configured correctly:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True)
class StageConfig:
    """What the stages need from the environment; the local `check` needs nothing more."""

    cache_dir: Path
    osv_url: str
    audit_cache_ttl: int


def load_stage_config(environ: Mapping[str, str] | None = None) -> StageConfig:
    env = os.environ if environ is None else environ
    problems: list[str] = []
    config = _stage_config(env, problems)
    if problems:
        raise SettingsError(problems)
    return config


def _stage_config(env: Mapping[str, str], problems: list[str]) -> StageConfig:
    cache = env.get("GATEKEEPER_CACHE_DIR", "").strip()
    return StageConfig(
        cache_dir=Path(cache) if cache else Path.home() / ".cache" / "gatekeeper",
        osv_url=_url(env, "GATEKEEPER_OSV_URL", problems, default="https://api.osv.dev/v1/query"),
        audit_cache_ttl=_positive_int(env, "GATEKEEPER_AUDIT_CACHE_TTL", 6 * 3600, problems,
                                      zero=True),  # 0: no cache, every audit asks
    )


@dataclass(frozen=True)
class Settings:
    github_app_id: int
    private_key_pem: str = field(repr=False)
    webhook_secret: bytes = field(repr=False)
    github_api_url: str = "https://api.github.com"
    redis_url: str | None = field(default=None, repr=False)
    slack_webhook_url: str | None = field(default=None, repr=False)
    public_url: str | None = None
    installation_cap: int = 4
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = field(default=None, repr=False)
    max_body_bytes: int = GITHUB_MAX_PAYLOAD
    delivery_ttl_seconds: int = 7 * 24 * 3600
    org_policy_ttl_seconds: int = 300  # the organisation policy is re-read after this, or on push
    audit_retention_days: int = 400  # audit records older than this are dropped
    stages: StageConfig = field(default_factory=lambda: load_stage_config({}))
    signing_key_pem: str | None = field(default=None, repr=False)  # Ed25519: verdict records

    def secrets(self) -> list[str]:
        """Values that must never appear in logs, audit records or check runs."""
        values = [self.private_key_pem, self.webhook_secret.decode(), self.slack_webhook_url,
                  self.oauth_client_secret, urlparse(self.redis_url or "").password,
                  self.signing_key_pem]
        return [v for v in values if v]


def taken(name: str) -> str | None:
    """A variable as this process had it, secrets included (they left os.environ)."""
    take_secrets()
    return _taken.get(name) or os.environ.get(name)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; raise SettingsError naming every problem."""
    if environ is None:
        take_secrets()
        env: Mapping[str, str] = {**os.environ, **_taken}
        problems: list[str] = list(_take_problems)
    else:
        values, problems = resolve_secrets(environ)
        env = {**environ, **values}

    app_id = _app_id(env.get("GITHUB_APP_ID", "").strip(), problems)
    key = _private_key(env, problems)
    secret = env.get("GITHUB_WEBHOOK_SECRET", "")
    if not secret:
        problems.append("GITHUB_WEBHOOK_SECRET is not set (the secret configured on the GitHub App)")
    api_url = _url(env, "GITHUB_API_URL", problems, default="https://api.github.com")
    redis_url = env.get("REDIS_URL", "").strip() or None
    if redis_url and urlparse(redis_url).scheme not in ("redis", "rediss", "unix"):
        problems.append("REDIS_URL must start with redis://, rediss:// or unix://")
    slack = _url(env, "SLACK_WEBHOOK_URL", problems, https_only=True)
    public = _url(env, "GATEKEEPER_PUBLIC_URL", problems)
    max_body = _positive_int(env, "GATEKEEPER_MAX_BODY_BYTES", GITHUB_MAX_PAYLOAD, problems)
    ttl = _positive_int(env, "GATEKEEPER_DELIVERY_TTL", 7 * 24 * 3600, problems)
    if ttl is not None and ttl < MIN_DELIVERY_TTL:
        problems.append(
            f"GATEKEEPER_DELIVERY_TTL must be at least {MIN_DELIVERY_TTL} seconds (3 days), "
            "the window in which GitHub lets a delivery be redelivered"
        )

    stages = _stage_config(env, problems)
    cap = _positive_int(env, "GATEKEEPER_INSTALLATION_CAP", 4, problems)
    org_ttl = _positive_int(env, "GATEKEEPER_ORG_POLICY_TTL", 300, problems)
    retention = _positive_int(env, "GATEKEEPER_AUDIT_RETENTION_DAYS", 400, problems)
    client_id = env.get("GITHUB_CLIENT_ID", "").strip() or None
    client_secret = env.get("GITHUB_CLIENT_SECRET", "").strip() or None
    if bool(client_id) != bool(client_secret):
        problems.append("set both GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (the app's OAuth "
                        "credentials, for sign-in to the details pages), or neither")
    signing_key = _signing_key(env, problems)
    if problems:
        raise SettingsError(problems)
    return Settings(
        github_app_id=app_id,
        private_key_pem=key,
        webhook_secret=secret.encode(),
        github_api_url=api_url,
        redis_url=redis_url,
        slack_webhook_url=slack,
        public_url=public,
        max_body_bytes=max_body,
        delivery_ttl_seconds=ttl,
        stages=stages,
        installation_cap=cap,
        org_policy_ttl_seconds=org_ttl,
        audit_retention_days=retention,
        oauth_client_id=client_id,
        oauth_client_secret=client_secret,
        signing_key_pem=signing_key,
    )


def _signing_key(env: Mapping[str, str], problems: list[str]) -> str | None:
    """The Ed25519 key that signs verdict records (PEM, PKCS8); unset: records are not signed."""
    text = env.get("GATEKEEPER_SIGNING_KEY", "").strip()
    if not text:
        return None
    if "\n" not in text and "\\n" in text:
        text = text.replace("\\n", "\n")  # keys pasted into one-line env files
    try:
        private_key(text)
    except KeyProblem as exc:  # never echo the value: it may be a real key of another kind
        problems.append(f"GATEKEEPER_SIGNING_KEY is {exc} (make one with `gatekeeper "
                        "signing-key new`)")
        return None
    return text


def _app_id(raw: str, problems: list[str]) -> int:
    if not raw:
        problems.append("GITHUB_APP_ID is not set (the numeric App ID from the app's settings page)")
        return 0
    if not raw.isdigit() or int(raw) <= 0:
        problems.append(f"GITHUB_APP_ID must be a positive integer, got {raw!r}")
        return 0
    return int(raw)


def _private_key(env: Mapping[str, str], problems: list[str]) -> str:
    text = env.get("GITHUB_PRIVATE_KEY", "")
    path = env.get("GITHUB_PRIVATE_KEY_PATH", "")
    if text and path:
        problems.append("set only one of GITHUB_PRIVATE_KEY and GITHUB_PRIVATE_KEY_PATH")
        return ""
    source = "GITHUB_PRIVATE_KEY"
    if path:
        source = f"GITHUB_PRIVATE_KEY_PATH ({path})"
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{source} cannot be read: {exc.__class__.__name__}: {exc.strerror or exc}")
            return ""
    if not text:
        problems.append("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH must be set (the app's PEM key)")
        return ""
    if "\n" not in text and "\\n" in text:
        text = text.replace("\\n", "\n")  # keys pasted into one-line env files
    try:
        key = load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        # never echo the value: it may be a real key in the wrong format
        problems.append(f"{source} is not a PEM private key (expected '-----BEGIN RSA PRIVATE KEY-----')")
        return ""
    if not isinstance(key, RSAPrivateKey):
        problems.append(f"{source} is a PEM key but not RSA; GitHub App keys are RSA")
        return ""
    return text


def _url(
    env: Mapping[str, str],
    name: str,
    problems: list[str],
    default: str | None = None,
    https_only: bool = False,
) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    parsed = urlparse(raw)
    schemes = ("https",) if https_only else ("http", "https")
    if https_only and parsed.hostname in ("127.0.0.1", "localhost"):
        schemes = ("http", "https")  # a local relay or test receiver
    if parsed.scheme not in schemes or not parsed.netloc:
        shown = parsed.netloc if name == "SLACK_WEBHOOK_URL" else raw  # Slack URLs are secrets
        problems.append(f"{name} must be an {' or '.join(schemes)} URL, got {shown!r}")
        return default
    return raw.rstrip("/")


def _positive_int(env: Mapping[str, str], name: str, default: int, problems: list[str],
                  zero: bool = False) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < (0 if zero else 1):
        kind = "a whole number of 0 or more" if zero else "a positive integer"
        problems.append(f"{name} must be {kind}, got {raw!r}")
        return default
    return int(raw)
