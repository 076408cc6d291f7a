"""The details page of a pull request's gate, behind sign-in with GitHub.

Findings of private repositories must not be public: a page is shown only to a person
signed in with GitHub whom GitHub lets read that repository, checked on every view.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markdown_it import MarkdownIt
from markupsafe import Markup

from gatekeeper.core.escape import md_unescape
from gatekeeper.core.verdict import GATE, REVIEW, STAGES
from gatekeeper.github.client import OAuthUser, web_url
from gatekeeper.service import attest
from gatekeeper.service.audit import AuditTrail

bp = Blueprint("details", __name__)
bp.add_app_template_filter(md_unescape, "md_unescape")  # the page escapes HTML itself
# the check summaries as GitHub shows them: CommonMark and tables, raw HTML never passed
# through (it is text from the pull request), unsafe link schemes refused by markdown-it
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


@bp.app_template_filter("markdown")
def markdown(text: str) -> Markup:
    return Markup(MARKDOWN.render(text or ""))


def report_key(repo: str, number: int, sha: str) -> str:
    return f"report-{repo}-{number}-{sha}"


def session_secret(webhook_secret: bytes) -> bytes:
    """A key for signed session cookies, derived so there is no other secret to manage."""
    return hmac.new(webhook_secret, b"gatekeeper details sessions", hashlib.sha256).digest()


def _state():
    return current_app.extensions["gatekeeper"]


@bp.get("/pulls/<owner>/<name>/<int:number>/<sha>")
def page(owner: str, name: str, number: int, sha: str):
    settings, store = _state()["settings"], _state()["backend"]
    if not settings.oauth_client_id:
        abort(503, "sign-in with GitHub is not configured (GITHUB_CLIENT_ID, "
                   "GITHUB_CLIENT_SECRET), so details pages are not served")
    token = session.get("token")
    if not token:
        return redirect(url_for("details.login", next=request.path))
    repo = f"{owner}/{name}"
    user = OAuthUser(settings.github_api_url, token)
    if not user.can_read(repo):
        abort(403, f"{session.get('login')} cannot read {repo}")
    report = store.load(report_key(repo, number, sha)) or {"checks": {}}
    order = [GATE, *(f"{GATE}/{stage}" for stage in STAGES), REVIEW]  # as the gate runs them
    checks = sorted(report["checks"].values(),
                    key=lambda c: (order.index(c["name"]) if c["name"] in order else 99,
                                   c["name"]))
    audit = [{"at": r.get("at"), "kind": r.get("kind"),
              "details": json.dumps({k: v for k, v in r.items()
                                     if k not in ("at", "kind", "repo", "pr")}, default=str)[:400]}
             for r in AuditTrail(store).records(repo, number) if r.get("sha") in (None, sha)]
    return render_template("details.html", repo=repo, number=number, sha=sha,
                           gate=report["checks"].get(GATE), checks=checks, audit=audit,
                           login=session.get("login"), protection=report.get("protection"),
                           policy=report.get("policy"),
                           signed=attest.latest(store, repo, sha) is not None)


@bp.get("/attestations/<owner>/<name>/<sha>")
def attestation(owner: str, name: str, sha: str):
    """The commit's last signed verdict record (DSSE envelope JSON), for a reader of the
    repository: signed in like the page, or holding a GitHub token that can read it
    (`Authorization: Bearer TOKEN`: a deploy pipeline)."""
    settings, store = _state()["settings"], _state()["backend"]
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    token = bearer.strip() if scheme.lower() in ("bearer", "token") else session.get("token")
    if not token:
        if not settings.oauth_client_id:
            abort(401, "send a GitHub token that can read the repository (Authorization: Bearer)")
        return redirect(url_for("details.login", next=request.path))
    repo = f"{owner}/{name}"
    if not OAuthUser(settings.github_api_url, token).can_read(repo):
        abort(403, f"this GitHub account cannot read {repo}")
    found = attest.latest(store, repo, sha)
    if found is None:
        abort(404, f"no signed record of a verdict on {repo}@{sha}")
    return jsonify(found)


@bp.get("/login")
def login():
    settings = _state()["settings"]
    if not settings.oauth_client_id:
        abort(503, "sign-in with GitHub is not configured")
    session["oauth_state"] = secrets.token_urlsafe(24)
    session["next"] = _local(request.args.get("next", "/"))
    query = urlencode({"client_id": settings.oauth_client_id, "state": session["oauth_state"],
                       "redirect_uri": url_for("details.callback", _external=True)})
    return redirect(f"{web_url(settings.github_api_url)}/login/oauth/authorize?{query}")


@bp.get("/oauth/callback")
def callback():
    settings = _state()["settings"]
    expected = session.pop("oauth_state", None)
    if not expected or not hmac.compare_digest(expected, request.args.get("state", "")):
        abort(400, "sign-in state does not match; start again")
    try:
        user = OAuthUser.from_code(settings.github_api_url, settings.oauth_client_id,
                                   settings.oauth_client_secret, request.args.get("code", ""))
        session["login"] = user.login()
    except Exception:  # noqa: BLE001 - any failure is a refused sign-in
        abort(403, "GitHub did not confirm this sign-in")
    session["token"] = user.token
    return redirect(_local(session.pop("next", "/")))


@bp.get("/logout")
def logout():
    session.clear()
    return "signed out", 200


def _local(target: str) -> str:
    """Only paths on this site: never an open redirect."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
