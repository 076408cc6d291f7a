"""`gatekeeper setup`: a new App registered from its manifest on the fake GitHub, with a real
browser following the form and the redirects as a person would."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from test_details import browse

from gatekeeper.cli.setup import SetupError, check_public_url, write_secrets
from gatekeeper.service.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_an_app_is_registered_with_one_command_and_a_browser(fake_github, tmp_path):
    fake_github.browser_user = "alice"
    secrets = tmp_path / "secrets"
    env = {**os.environ, "GITHUB_API_URL": fake_github.url}
    env.pop("GATEKEEPER_PUBLIC_URL", None)
    command = subprocess.Popen(
        [sys.executable, "-m", "gatekeeper", "setup", "--public-url", "https://gk.acme.test",
         "--secrets", str(secrets), "--port", "0", "--org", "acme", "--with-admin"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = command.stdout.readline()
    assert first.startswith("Open http://127.0.0.1:"), first + command.stderr.read()
    page = first.split()[1]
    shown = browse(tmp_path, page, "--dump-dom", "--virtual-time-budget=15000")
    out, err = command.communicate()
    assert command.returncode == 0, out + err
    assert "Registered gatekeeper (app 900000)" in out and "Registered gatekeeper" in shown
    [app] = fake_github.registered.values()
    wanted = app["manifest"]
    assert wanted["hook_attributes"]["url"] == "https://gk.acme.test/webhook"
    assert wanted["callback_urls"] == ["https://gk.acme.test/oauth/callback"]
    assert wanted["default_permissions"]["organization_administration"] == "write"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in secrets.iterdir()} == {
        "github-private-key.pem": 0o600, "github-webhook-secret": 0o600,
        "github-client-secret": 0o600, "gatekeeper.env": 0o600}
    # the env file is all the settings need: the key signs for the new App
    settings_env = dict(line.split("=", 1) for line in
                        (secrets / "gatekeeper.env").read_text().splitlines())
    settings = load_settings(settings_env)
    assert settings.github_app_id == 900000 and settings.webhook_secret == app["webhook_secret"].encode()
    from gatekeeper.github.client import GitHubApp

    assert GitHubApp(settings).installation_ids() == []  # authenticated as the new App


def test_setup_refuses_without_a_real_public_url_and_never_overwrites(tmp_path):
    for url, why in ((None, "no public URL"), ("http://gk.acme.test", "plain http"),
                     ("https://gatekeeper.example.com", "placeholder")):
        try:
            check_public_url(url)
        except SetupError as exc:
            assert why in str(exc)
        else:
            raise AssertionError(f"{url} accepted")
    assert check_public_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    done = subprocess.run([sys.executable, "-m", "gatekeeper", "setup"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items()
                               if k != "GATEKEEPER_PUBLIC_URL"})
    assert done.returncode == 2 and "--public-url" in done.stderr
    app = {"id": 7, "pem": "KEY", "webhook_secret": "w", "client_secret": "c", "client_id": "i"}
    write_secrets(tmp_path / "s", app, "https://gk.acme.test", "https://api.github.com")
    try:
        write_secrets(tmp_path / "s", {**app, "pem": "OTHER"}, "https://x.test", "https://a")
    except SetupError as exc:
        assert "nothing was overwritten" in str(exc)
    assert (tmp_path / "s" / "github-private-key.pem").read_text() == "KEY"

