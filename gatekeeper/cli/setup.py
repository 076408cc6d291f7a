"""`gatekeeper setup`: register the GitHub App from its manifest, with a browser.

A page on this machine posts the manifest to GitHub; GitHub sends the browser back with a
one-time code; the code is exchanged (`POST /app-manifests/{code}/conversions`) for the App's
id, private key, webhook secret and OAuth client, written to a folder only the owner can read
and named in an env file through the `*_FILE` variables."""

from __future__ import annotations

import html
import json
import os
import secrets
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import requests
from werkzeug.wrappers import Request, Response

from gatekeeper.cli.httpserver import BackgroundServer
from gatekeeper.github.manifest import manifest

FILES = {"pem": "github-private-key.pem", "webhook_secret": "github-webhook-secret",
         "client_secret": "github-client-secret"}
VARIABLES = {"pem": "GITHUB_PRIVATE_KEY_FILE", "webhook_secret": "GITHUB_WEBHOOK_SECRET_FILE",
             "client_secret": "GITHUB_CLIENT_SECRET_FILE"}
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class SetupError(Exception):
    """What stops the registration, said with its fix."""


def web_url(api_url: str) -> str:
    """github.com for api.github.com; a GitHub Enterprise Server's own host otherwise."""
    if "api.github.com" in api_url:
        return "https://github.com"
    return api_url.removesuffix("/").removesuffix("/api/v3")


def check_public_url(url: str | None) -> str:
    if not url:
        raise SetupError("no public URL: GitHub must reach the App's webhook. Give "
                         "--public-url https://gatekeeper.your-domain (or set "
                         "GATEKEEPER_PUBLIC_URL)")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SetupError(f"--public-url {url!r} is not a URL (https://host)")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise SetupError(f"--public-url {url!r} is plain http: webhook secrets and sign-in "
                         "cross it, use https")
    if parts.hostname.endswith("example.com"):
        raise SetupError(f"--public-url {url!r} is a placeholder: give the App's real address")
    return url.rstrip("/")


def write_secrets(folder: Path, app: dict, public_url: str, api_url: str) -> Path:
    """The App's credentials as owner-only files, and an env file that names them."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    existing = [name for name in [*FILES.values(), "gatekeeper.env"] if (folder / name).exists()]
    if existing:
        raise SetupError(f"{folder} already holds {', '.join(existing)}: move them away or "
                         "give another --secrets folder (nothing was overwritten)")
    lines = [f"GITHUB_APP_ID={int(app['id'])}", f"GITHUB_CLIENT_ID={app.get('client_id', '')}",
             f"GITHUB_API_URL={api_url}", f"GATEKEEPER_PUBLIC_URL={public_url}"]
    for key, name in FILES.items():
        path = folder / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(str(app[key]))
        lines.append(f"{VARIABLES[key]}={path.resolve()}")
    env = folder / "gatekeeper.env"
    descriptor = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return env


class Registration:
    """The local page and its callback; `done` is set once the secrets are written."""

    def __init__(self, public_url: str, api_url: str, folder: Path, org: str | None,
                 with_admin: bool, name: str):
        self.public_url, self.api_url, self.folder = public_url, api_url, folder
        self.org, self.with_admin, self.name = org, with_admin, name
        self.state = secrets.token_urlsafe(16)
        self.local = ""
        self.done = threading.Event()
        self.result: dict | None = None
        self.error: str | None = None

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path == "/":
            response = self._form()
        elif request.path == "/callback":
            response = self._callback(request)
        else:
            response = Response("not found", status=404)
        response.headers["Content-Security-Policy"] = \
            "default-src 'none'; script-src 'unsafe-inline'; form-action *"
        return response(environ, start_response)

    def _form(self) -> Response:
        body = manifest(self.public_url, self.name, f"{self.local}/callback", self.with_admin)
        where = f"/organizations/{self.org}/settings/apps/new" if self.org else \
            "/settings/apps/new"
        action = f"{web_url(self.api_url)}{where}?state={self.state}"
        page = (f"<!doctype html><title>Register {html.escape(self.name)}</title>"
                f"<form method=post action=\"{html.escape(action)}\">"
                f"<input type=hidden name=manifest value=\"{html.escape(json.dumps(body))}\">"
                "<p>Registers the Gatekeeper GitHub App"
                f"{' for ' + html.escape(self.org) if self.org else ''} from its manifest."
                "<p><button>Create the GitHub App</button></form>"
                "<script>document.forms[0].submit()</script>")
        return Response(page, mimetype="text/html")

    def _callback(self, request: Request) -> Response:
        if request.args.get("state") != self.state:
            return Response("this registration was not started here (state differs)", 400)
        if self.done.is_set():
            return Response("already registered; see the terminal", mimetype="text/plain")
        code = request.args.get("code", "")
        try:
            answer = requests.post(f"{self.api_url.rstrip('/')}/app-manifests/{code}/"
                                   "conversions", headers={"Accept": "application/vnd.github+json"},
                                   timeout=30)
            answer.raise_for_status()
            app = answer.json()
            env = write_secrets(self.folder, app, self.public_url, self.api_url)
            self.result = {**{k: app.get(k) for k in ("id", "slug", "html_url")}, "env": str(env)}
        except (requests.RequestException, ValueError, KeyError, SetupError, OSError) as exc:
            self.error = f"{exc.__class__.__name__}: {exc}"
            self.done.set()
            return Response(f"registration failed: {self.error}", 502, mimetype="text/plain")
        self.done.set()
        return Response(f"Registered {app.get('slug')} (app {app.get('id')}). Secrets are in "
                        f"{self.folder}; go back to the terminal.", mimetype="text/plain")


def setup(public_url: str | None, org: str | None, folder: str, port: int, with_admin: bool,
          name: str = "Gatekeeper", api_url: str | None = None, timeout: float = 900,
          out=None) -> int:
    out = out or sys.stdout
    api_url = api_url or os.environ.get("GITHUB_API_URL", "https://api.github.com")
    try:
        public = check_public_url(public_url or os.environ.get("GATEKEEPER_PUBLIC_URL"))
    except SetupError as exc:
        print(f"gatekeeper setup: {exc}", file=sys.stderr)
        return 2
    flow = Registration(public, api_url, Path(folder), org, with_admin, name)
    server = BackgroundServer(flow)
    flow.local = server.start(port=port)
    print(f"Open {flow.local}/ in a browser on this machine, signed in to GitHub "
          f"{'as an owner of ' + org if org else ''}: it posts the App's manifest to "
          f"{web_url(api_url)} and comes back here.", file=out, flush=True)
    try:
        if not flow.done.wait(timeout):
            print(f"gatekeeper setup: no answer from GitHub in {timeout:.0f} s; run it again",
                  file=sys.stderr)
            return 1
    finally:
        server.stop()
    if flow.error:
        print(f"gatekeeper setup: {flow.error}", file=sys.stderr)
        return 1
    result = flow.result or {}
    print(f"Registered {result.get('slug')} (app {result.get('id')}).\n"
          f"Its settings are in {result['env']} (the secrets beside it, owner-only): load them "
          "with `set -a; . " + result["env"] + "; set +a`, then `gatekeeper doctor`.\n"
          f"Install it on repositories: {result.get('html_url') or ''}/installations/new",
          file=out)
    return 0
