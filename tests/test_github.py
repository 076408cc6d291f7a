"""GitHub App authentication and check runs against the fake GitHub over real HTTP."""

import time

import jwt
import pytest
from conftest import APP_ID, INSTALLATION_ID, installed_repo
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import GithubException

from gatekeeper.core.model import CheckOutput
from gatekeeper.github.client import GitHubApp, JwtSigner
from gatekeeper.service.settings import load_settings

REPO = "octo/widgets"
HEAD = "b" * 40
TOKENS = f"/app/installations/{INSTALLATION_ID}/access_tokens"


@pytest.fixture
def installed(fake_github):
    repo = installed_repo(fake_github, REPO)
    repo.add_pull(7, HEAD, author="copilot-swe-agent[bot]", author_type="Bot",
                  head_ref="copilot/fix-login", labels=("agent",))
    return repo


def test_jwt_has_the_claims_github_checks(app_key):
    token = JwtSigner(app_key[0])({"iss": "42", "iat": 1, "exp": 2})
    claims = jwt.decode(token, app_key[1], algorithms=["RS256"],
                        options={"verify_exp": False, "verify_iat": False})
    assert claims == {"iss": "42", "iat": 1, "exp": 2}
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_installation_token_is_fetched_once_and_reused(settings, fake_github, installed):
    app = GitHubApp(settings)
    github = app.installation(INSTALLATION_ID)
    first = github.pull_request(REPO, 7)
    second = github.pull_request(REPO, 7)
    assert first == second
    assert first.author.login == "copilot-swe-agent[bot]" and first.author.is_bot
    assert first.head_ref == "copilot/fix-login" and first.labels == ("agent",)
    assert fake_github.count("POST", TOKENS) == 1
    assert fake_github.count("GET", f"/repos/{REPO}/pulls/7") == 2


def test_token_near_expiry_is_renewed(settings, fake_github, installed):
    fake_github.token_lifetime = 200  # inside the renewal margin
    app = GitHubApp(settings)
    app.installation_token(INSTALLATION_ID)
    app.installation_token(INSTALLATION_ID)
    assert fake_github.count("POST", TOKENS) == 2


def test_token_cache_follows_the_clock(settings, fake_github, installed):
    now = [time.time()]
    app = GitHubApp(settings, clock=lambda: now[0])
    app.installation_token(INSTALLATION_ID)
    now[0] += 3000  # 50 minutes later, 10 left: outside the 5-minute margin, reused
    app.installation_token(INSTALLATION_ID)
    assert fake_github.count("POST", TOKENS) == 1
    now[0] += 400  # under 5 minutes left: renewed
    app.installation_token(INSTALLATION_ID)
    assert fake_github.count("POST", TOKENS) == 2


def test_processes_share_one_token_through_redis_until_it_nears_expiry(settings, fake_github,
                                                                         installed, redis_url):
    from gatekeeper.service.queue import RedisBackend

    now = [time.time()]
    store = RedisBackend(redis_url, settings.delivery_ttl_seconds)
    first = GitHubApp(settings, clock=lambda: now[0], shared=store)
    token = first.installation_token(INSTALLATION_ID)
    # another process (a new work horse, another worker machine) with its own memory
    second = GitHubApp(settings, clock=lambda: now[0], shared=store)
    assert second.installation_token(INSTALLATION_ID) == token
    assert fake_github.count("POST", TOKENS) == 1
    now[0] += 3400  # under 5 minutes left: a third process renews it, for everyone
    fake_github.token_lifetime = 3400 + 3600  # an hour from the moved clock
    third = GitHubApp(settings, clock=lambda: now[0], shared=store)
    renewed = third.installation_token(INSTALLATION_ID)
    assert renewed != token and fake_github.count("POST", TOKENS) == 2
    assert GitHubApp(settings, clock=lambda: now[0], shared=store) \
        .installation_token(INSTALLATION_ID) == renewed
    assert fake_github.count("POST", TOKENS) == 2


def test_a_key_that_is_not_the_apps_is_refused(env, fake_github, installed):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode()
    app = GitHubApp(load_settings({**env, "GITHUB_PRIVATE_KEY": other}))
    with pytest.raises(GithubException) as err:
        app.installation_token(INSTALLATION_ID)
    assert err.value.status == 401
    fake_github.violations.clear()  # the refusal was the point


@pytest.mark.parametrize("claims,why", [
    ({"iat": -60, "exp": 3600}, "exp too far"),
    ({"iat": -700, "exp": -10}, "expired"),
    ({"iat": 300, "exp": 500}, "issued in the future"),
])
def test_fake_github_checks_jwt_claims_as_github_does(app_key, fake_github, installed,
                                                      claims, why):
    import requests

    now = int(time.time())
    token = JwtSigner(app_key[0])({"iss": str(APP_ID), "iat": now + claims["iat"],
                                   "exp": now + claims["exp"]})
    response = requests.post(fake_github.url + TOKENS, json={},
                             headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.status_code == 401, why
    fake_github.violations.clear()


def test_check_run_is_created_once_and_updated_on_retry(settings, fake_github, installed):
    github = GitHubApp(settings).installation(INSTALLATION_ID)
    run_id = github.start_check_run(REPO, HEAD, "gatekeeper")
    assert github.start_check_run(REPO, HEAD, "gatekeeper") == run_id
    github.complete_check_run(REPO, run_id, "failure", CheckOutput("Blocked", "why"),
                              [{"label": "Re-run", "description": "again", "identifier": "rerun"}])
    [run] = fake_github.runs_for(REPO, HEAD, "gatekeeper")
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    assert run["output"]["title"] == "Blocked"
    assert run["app"]["id"] == APP_ID


def test_invalid_check_run_request_is_caught_by_the_openapi_check(settings, fake_github,
                                                                  installed):
    github = GitHubApp(settings).installation(INSTALLATION_ID)
    run_id = github.start_check_run(REPO, HEAD, "gatekeeper")
    with pytest.raises(GithubException) as err:
        github.complete_check_run(REPO, run_id, "green", CheckOutput("x", "y"))
    assert err.value.status == 422
    assert any("'green' is not one of" in v for v in fake_github.violations)
    fake_github.violations.clear()


def test_api_url_is_honoured_for_enterprise_server(env, fake_github, installed):
    app = GitHubApp(load_settings({**env, "GITHUB_API_URL": fake_github.url + "/"}))
    assert app.installation(INSTALLATION_ID).repositories() == [REPO]
    assert all(path.startswith(("/app/", "/installation/")) for _, path, _ in fake_github.requests)


def test_other_installations_repositories_are_not_found(settings, fake_github, installed):
    fake_github.add_repo("someone/else").add_pull(1, HEAD)
    with pytest.raises(GithubException) as err:
        GitHubApp(settings).installation(INSTALLATION_ID).pull_request("someone/else", 1)
    assert err.value.status == 404


def test_120_annotations_go_in_three_batches_and_the_summary_stays_within_limits(
        settings, fake_github, installed):
    from gatekeeper.core.model import Finding
    from gatekeeper.core.report import MAX_TEXT, check_output
    from gatekeeper.core.verdict import CheckVerdict

    findings = tuple(Finding("semgrep", "shell-injection", "message " * 2000, path="app.py",
                             start_line=i + 1) for i in range(120))
    output = check_output(CheckVerdict("gatekeeper/sast", "failure", "x" * 300, "s" * 70000,
                                       findings))
    assert len(output.summary) <= MAX_TEXT and output.summary.endswith("65,535-character limit)")
    assert len(output.title) == 255
    github = GitHubApp(settings).installation(INSTALLATION_ID)
    run_id = github.start_check_run(REPO, HEAD, "gatekeeper/sast")
    before = fake_github.count("PATCH", f"/repos/{REPO}/check-runs/{run_id}")
    assert github.complete_check_run(REPO, run_id, "failure", output) == 3
    assert fake_github.count("PATCH", f"/repos/{REPO}/check-runs/{run_id}") - before == 3
    run = fake_github.check_runs[run_id]
    assert [a["start_line"] for a in run["output"]["annotations"]] == list(range(1, 121))
    assert run["conclusion"] == "failure"
