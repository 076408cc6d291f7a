"""The details page: shown to a signed-in reader of the repository, refused to an outsider."""

import re

import pytest
from conftest import STAGES_OFF, delivery, installed_repo, payload

from gatekeeper.service import jobs
from gatekeeper.service.queue import MemoryBackend
from gatekeeper.service.settings import load_settings
from gatekeeper.service.web import create_app

REPO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
PAGE = f"/pulls/{REPO}/2/{HEAD}"


@pytest.fixture
def site(env, fake_github):
    return gated_site(env, fake_github, "copilot/fix")


def gated_site(env, fake_github, head_ref: str):
    """The app after gating one agent pull request from `head_ref`, with sign-in set up."""
    repo = installed_repo(fake_github, REPO, 186853002)
    repo.add_pull(2, HEAD, author="copilot-swe-agent[bot]", author_type="Bot",
                  head_ref=head_ref)
    repo.contents[("main", ".github/gatekeeper.yml")] = STAGES_OFF
    repo.readers.add("alice")
    settings = load_settings({**env, "GITHUB_CLIENT_ID": "Iv1.test", "GITHUB_CLIENT_SECRET": "cs",
                              "GATEKEEPER_PUBLIC_URL": "http://localhost"})
    backend = MemoryBackend(settings.delivery_ttl_seconds)
    jobs.configure(settings, backend)
    app = create_app(settings, backend)
    body, headers = delivery("pull_request", payload("pull_request", "opened"))
    assert app.test_client().post("/webhook", data=body, headers=headers).status_code == 202
    assert backend.wait_idle(60)
    return app


def sign_in(client, fake_github, who):
    """Follow the real redirects: page → /login → GitHub authorize → /oauth/callback → page."""
    fake_github.browser_user = who
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response.location
    response = client.get(response.location)
    authorize = response.location
    assert authorize.startswith(fake_github.url + "/login/oauth/authorize?")
    import requests

    to_callback = requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"]
    response = client.get(to_callback.replace("http://localhost", ""))
    assert response.status_code == 302, response.get_data(as_text=True)
    return client.get(response.location)


def test_check_runs_link_to_the_details_page(site, fake_github):
    [run] = fake_github.runs_for(REPO, HEAD, "gatekeeper")
    assert run["details_url"] == f"http://localhost{PAGE}"


def test_a_reader_sees_verdict_evidence_review_and_audit_trail(site, fake_github):
    page = sign_in(site.test_client(), fake_github, "alice")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "gatekeeper: failure" in html and "signed in as alice" in html
    assert "opened by @copilot-swe-agent[bot] (GitHub Copilot coding agent)" in html
    assert "gatekeeper/review: failure" in html and "Still needed" in html
    assert re.search(r"<td>classification</td>", html) and "<td>verdict</td>" in html


def test_an_outsider_is_refused(site, fake_github):
    page = sign_in(site.test_client(), fake_github, "mallory")
    assert page.status_code == 403
    assert "copilot-swe-agent" not in page.get_data(as_text=True)


def test_nobody_signed_in_is_sent_to_sign_in_and_no_open_redirect(site):
    client = site.test_client()
    assert client.get(PAGE).status_code == 302
    response = client.get("/login?next=//evil.example/x")
    with client.session_transaction() as session:
        assert session["next"] == "/"
    assert response.status_code == 302


def test_forged_callback_state_is_refused(site):
    client = site.test_client()
    client.get("/login")
    assert client.get("/oauth/callback?code=x&state=forged").status_code == 400


def test_without_oauth_settings_pages_are_not_served(env, fake_github):
    app = create_app(load_settings(env))
    assert app.test_client().get(PAGE).status_code == 503


CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"]


def browse(tmp_path, url, *flags):
    """A real headless Chromium, signing in by following the redirects as a person would."""
    import shutil
    import subprocess

    assert shutil.which("chromium"), "chromium is not installed: run `make test`"
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    done = subprocess.run([*CHROMIUM, f"--user-data-dir={profile}", *flags, url],
                          capture_output=True, text=True, timeout=60)
    return done.stdout


@pytest.fixture
def served(site):
    """The gated site on a real loopback port, for the browser."""
    from gatekeeper.cli.httpserver import BackgroundServer

    server = BackgroundServer(site)
    yield server.start()
    server.stop()


def test_details_page_in_chromium_for_a_reader_and_an_outsider(served, fake_github, tmp_path):
    base = served
    fake_github.browser_user = "alice"
    dom = browse(tmp_path, base + PAGE, "--dump-dom")
    assert "signed in as alice" in dom and "gatekeeper: failure" in dom
    names = re.findall(r"<h2>([\w/]+): ", dom)  # in the order the gate runs them
    assert names == ["gatekeeper", "gatekeeper/tests", "gatekeeper/sast",
                     "gatekeeper/dependencies", "gatekeeper/review"], names
    gate = dom.split("<h2>gatekeeper: ")[1].split("<h2>")[0]
    assert "<li>" in gate and "<code>gatekeeper/tests</code>" in gate  # markdown, rendered
    assert "<strong>Approvals of the head commit:</strong>" in gate
    assert "opened by @copilot-swe-agent[bot] (GitHub Copilot coding agent)" in dom
    shot = tmp_path / "details.png"
    browse(tmp_path, base + PAGE, f"--screenshot={shot}", "--window-size=1200,1400")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000  # a rendered page, not blank
    fake_github.browser_user = "mallory"
    refused = browse(tmp_path, base + PAGE, "--dump-dom")
    assert "mallory cannot read" in refused and "copilot-swe-agent" not in refused


def test_the_page_says_when_the_base_branch_does_not_require_the_gate(site, fake_github):
    html = sign_in(site.test_client(), fake_github, "alice").get_data(as_text=True)
    assert "main does not require the <code>gatekeeper</code> check" in html
    assert "gatekeeper protect --org Codertocat" in html


def test_no_warning_once_an_organisation_ruleset_requires_the_gate(env, fake_github):
    from conftest import APP_ID

    from gatekeeper.core.protection import desired_ruleset

    fake_github.rulesets["codertocat"] = {1: {"id": 1, **desired_ruleset(APP_ID)}}
    app = gated_site(env, fake_github, "copilot/fix")
    html = sign_in(app.test_client(), fake_github, "alice").get_data(as_text=True)
    assert "does not require" not in html and "gatekeeper: failure" in html


def test_the_page_shows_the_effective_policy_and_where_each_value_came_from(site, fake_github):
    html = sign_in(site.test_client(), fake_github, "alice").get_data(as_text=True)
    assert "<h2>Effective policy</h2>" in html and "Level: none" in html
    assert 'href="/orgs/Codertocat/activity"' in html
    rows = dict(re.findall(r"<tr><td><code>([\w.]+)</code></td><td><code>[^<]*</code></td>"
                           r"<td>([^<]+)</td></tr>", html))
    assert rows["stages.tests"] == "repository (.github/gatekeeper.yml)"
    assert rows["approvals.required"] == "built-in default"


ACTIVITY = "/orgs/acme/activity?since=2026-11-01&until=2026-11-08"


def test_activity_page_in_chromium_for_a_member_and_an_outsider(served, fake_github, tmp_path):
    import os
    import shutil

    from support.activity_seed import seed

    seed(jobs.context().store)
    fake_github.org_members["acme"] = {"alice"}
    base = served
    fake_github.browser_user = "alice"
    dom = browse(tmp_path, base + ACTIVITY, "--dump-dom")
    assert "Agent activity in acme" in dom and "signed in as alice" in dom
    totals = re.findall(r"<div><b>([^<]+)</b>([^<]+)</div>", dom)
    assert totals == [("4", "agent pull requests gated"), ("3", "blocked"),
                      ("2", "approved by a qualified human"),
                      ("1.75", "median hours, verdict to approval"),
                      ("1", "break-glass overrides"), ("2", "past the gate"),
                      ("2", "whose tests tried something new"),
                      ("64.3", "% of changed lines run by tests")]
    assert re.search(r'id="attempts">network: 1 pull request · shell: 1 pull request', dom)
    assert "merged on a break-glass override" in dom and "@erin" in dom
    assert re.search(r'id="multi-agent">1 pull request had more than one agent', dom)
    assert dom.count("<svg") >= 4 and "Findings by CWE" in dom and "CWE-89 SQL injection" in dom
    assert "payments are down" in dom and "<script" not in dom.split("<body")[1]
    assert "sql-string at db.py:12</td><td>@ivy</td><td>the table name is a constant" in dom
    shot = tmp_path / "activity.png"
    browse(tmp_path, base + ACTIVITY, f"--screenshot={shot}", "--window-size=1200,1500")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 30_000
    if os.environ.get("GATEKEEPER_SCREENSHOTS"):  # docs/reports.md's picture, on request
        shutil.copy(shot, os.environ["GATEKEEPER_SCREENSHOTS"])
    fake_github.browser_user = "mallory"
    refused = browse(tmp_path, base + ACTIVITY, "--dump-dom")
    assert "mallory is not a member of acme" in refused and "CWE-89" not in refused


def test_summaries_render_as_markdown_without_passing_html_or_script_links():
    from gatekeeper.service.details import markdown

    shown = str(markdown("**bold** `code`\n\n<script>alert(1)</script>\n\n"
                         "[click](javascript:alert(1)) <img src=x onerror=alert(1)>"))
    assert "<strong>bold</strong>" in shown and "<code>code</code>" in shown
    assert "<script" not in shown and "<img" not in shown and 'href="javascript' not in shown
    assert "&lt;script&gt;" in shown  # shown as text, as GitHub does
