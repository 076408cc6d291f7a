import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gatekeeper.service.settings import MIN_DELIVERY_TTL, SettingsError, load_settings


def test_valid_environment_loads(env, app_key):
    settings = load_settings({**env, "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert settings.github_app_id == 4242
    assert settings.webhook_secret == b"test-webhook-secret"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.max_body_bytes == 25 * 1024 * 1024
    assert settings.delivery_ttl_seconds >= MIN_DELIVERY_TTL
    shown = repr(settings)
    assert "PRIVATE KEY" not in shown and "test-webhook-secret" not in shown


def test_empty_environment_names_every_missing_variable():
    with pytest.raises(SettingsError) as err:
        load_settings({})
    text = str(err.value)
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET"):
        assert name in text
    assert len(err.value.problems) == 3


def test_every_malformed_value_is_reported_at_once(env):
    bad = {**env, "GITHUB_APP_ID": "abc", "GITHUB_API_URL": "ftp://x", "REDIS_URL": "http://r",
           "GATEKEEPER_DELIVERY_TTL": "60", "GATEKEEPER_MAX_BODY_BYTES": "-1",
           "GATEKEEPER_ORG_POLICY_TTL": "5m", "GATEKEEPER_AUDIT_RETENTION_DAYS": "0",
           "SLACK_WEBHOOK_URL": "http://hooks.slack.invalid/T000/SECRETPART"}
    with pytest.raises(SettingsError) as err:
        load_settings(bad)
    text = str(err.value)
    assert len(err.value.problems) == 8, text
    assert "GITHUB_APP_ID must be a positive integer" in text
    assert "GATEKEEPER_ORG_POLICY_TTL must be a positive integer, got '5m'" in text
    assert "GATEKEEPER_AUDIT_RETENTION_DAYS must be a positive integer, got '0'" in text
    assert "GITHUB_API_URL" in text and "REDIS_URL" in text and "3 days" in text
    assert "SECRETPART" not in text  # a Slack webhook URL is a credential


def test_private_key_that_is_not_pem_is_rejected_without_echoing_it(env):
    with pytest.raises(SettingsError) as err:
        load_settings({**env, "GITHUB_PRIVATE_KEY": "not-a-key-but-maybe-a-secret"})
    assert "not a PEM private key" in str(err.value)
    assert "maybe-a-secret" not in str(err.value)


def test_private_key_that_is_not_rsa_is_rejected(env):
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    with pytest.raises(SettingsError, match="not RSA"):
        load_settings({**env, "GITHUB_PRIVATE_KEY": pem})


def test_private_key_from_path_and_one_line_form(env, app_key, tmp_path):
    path = tmp_path / "app.pem"
    path.write_text(app_key[0])
    without = {k: v for k, v in env.items() if k != "GITHUB_PRIVATE_KEY"}
    assert load_settings({**without, "GITHUB_PRIVATE_KEY_PATH": str(path)}).private_key_pem
    one_line = app_key[0].replace("\n", "\\n")
    assert load_settings({**env, "GITHUB_PRIVATE_KEY": one_line}).private_key_pem == app_key[0]
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings({**without, "GITHUB_PRIVATE_KEY_PATH": str(tmp_path / "missing.pem")})
    with pytest.raises(SettingsError, match="only one"):
        load_settings({**env, "GITHUB_PRIVATE_KEY_PATH": str(path)})
