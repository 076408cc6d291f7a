"""A stateful fake of the GitHub REST API on loopback, strict where GitHub is strict.

Every request is checked against GitHub's OpenAPI description and the app's credentials;
anything the real API would reject is answered as GitHub would and kept in `violations`,
which the test fixture turns into a failure.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import secrets
import tarfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from werkzeug.wrappers import Request, Response

from gatekeeper.cli.httpserver import BackgroundServer

from .openapi import OpenAPIValidator

APP_ROUTES = {"/app", "/app/installations", "/app/installations/{installation_id}/access_tokens",
              "/app/hook/deliveries", "/app/hook/deliveries/{delivery_id}/attempts",
              "/repos/{owner}/{repo}/installation", "/orgs/{org}/installation"}
MAX_ANNOTATIONS = 50  # per request, GitHub's documented limit


class Reject(Exception):
    def __init__(self, status: int, message: str, violation: bool = True):
        self.status, self.message, self.violation = status, message, violation


@dataclass
class FakeRepo:
    id: int
    full_name: str
    pulls: dict[int, dict] = field(default_factory=dict)
    files: dict[int, list[dict]] = field(default_factory=dict)
    reviews: dict[int, list[dict]] = field(default_factory=dict)
    commits: dict[int, list[dict]] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    contents: dict[tuple[str, str], bytes] = field(default_factory=dict)
    readers: set[str] = field(default_factory=set)  # people who may read it (OAuth sign-in)
    tarballs: dict[str, bytes] = field(default_factory=dict)
    # a commit's true files, when its tarball leaves some out (export-ignore); else the
    # tarball's members are the tree
    trees: dict[str, dict[str, bytes]] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=dict)  # posted by the app
    issues: list[dict] = field(default_factory=list)  # opened by the app
    labels: dict[int, list[str]] = field(default_factory=dict)  # added by the app
    compares: dict[str, dict] = field(default_factory=dict)  # "base...head" -> commits, files
    topics: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)  # custom property values

    def add_pull(self, number: int, head_sha: str, *, author: str = "Codertocat",
                 author_type: str = "User", head_ref: str = "feature", base_ref: str = "main",
                 base_sha: str = "0" * 40, title: str = "A change", body: str = "",
                 labels: tuple[str, ...] = (), assignees: tuple[str, ...] = ()) -> dict:
        owner = self.full_name.split("/")[0]
        self.pulls[number] = {
            "number": number, "state": "open", "title": title, "body": body, "draft": False,
            "user": {"login": author, "type": author_type, "id": abs(hash(author)) % 10**8},
            "head": {"sha": head_sha, "ref": head_ref, "label": f"{owner}:{head_ref}"},
            "base": {"sha": base_sha, "ref": base_ref, "label": f"{owner}:{base_ref}"},
            "labels": [{"name": name} for name in labels],
            "assignees": [{"login": a, "type": "User"} for a in assignees],
        }
        return self.pulls[number]

    def push(self, number: int, sha: str, message: str = "change", author: str | None = None,
             author_type: str = "User") -> None:
        """A new commit on the pull request, which becomes its head."""
        who = {"login": author, "type": author_type} if author else None
        self.commits.setdefault(number, []).append({
            "sha": sha, "author": who, "committer": who,
            "commit": {"message": message, "author": {"name": author or "someone",
                                                      "email": f"{author}@example.invalid"}},
        })
        self.pulls[number]["head"]["sha"] = sha

    def review(self, number: int, login: str, state: str, commit_id: str | None = None,
               user_type: str = "User", submitted_at: str | None = None, body: str = "") -> None:
        """A review submitted now (as GitHub stamps it), unless a time is given."""
        reviews = self.reviews.setdefault(number, [])
        reviews.append({
            "id": 5000 + len(reviews), "user": {"login": login, "type": user_type},
            "state": state, "commit_id": commit_id or self.pulls[number]["head"]["sha"],
            "submitted_at": submitted_at or datetime.now(UTC).isoformat(timespec="seconds"),
            "body": body,
        })


class FakeGitHub:
    def __init__(self, token_lifetime: int = 3600):
        self.validator = OpenAPIValidator()
        self.token_lifetime = token_lifetime
        self.apps: dict[int, Any] = {}  # app id -> public key
        self.manifests: dict[str, dict] = {}  # one-time code -> posted manifest
        self.registered: dict[int, dict] = {}  # apps made from a manifest
        self.installations: dict[int, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.repos: dict[str, FakeRepo] = {}
        self.check_runs: dict[int, dict] = {}
        self.check_run_states: list[dict] = []  # every state a check run was put in, in order
        self.requests: list[tuple[str, str, int]] = []
        self.violations: list[str] = []
        self.injected: list[tuple[str, str, int, dict]] = []
        self.teams: dict[str, set[str]] = {}  # "org/slug" -> logins
        self.org_members: dict[str, set[str]] = {}  # org (lower) -> logins
        self.rulesets: dict[str, dict[int, dict]] = {}  # org (lower) -> id -> ruleset
        self.hook_deliveries: list[dict] = []  # the app's webhook delivery log, newest first
        self.redelivered: list[int] = []
        self.browser_user: str | None = None  # who signs in through /login/oauth/authorize
        self.oauth_codes: dict[str, str] = {}
        self.user_tokens: dict[str, str] = {}
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._server = None
        self.url = ""

    # --- set-up -------------------------------------------------------------------------
    def add_app(self, app_id: int, public_key) -> None:
        self.apps[app_id] = public_key

    def add_repo(self, full_name: str, repo_id: int | None = None) -> FakeRepo:
        repo = FakeRepo(repo_id or next(self._ids), full_name)
        self.repos[full_name] = repo
        return repo

    def add_installation(self, installation_id: int, app_id: int, repos: list[str]) -> None:
        self.installations[installation_id] = {"app_id": app_id, "repos": set(repos),
                                               "suspended": False}

    def inject(self, method: str, path: str, status: int, headers: dict | None = None) -> None:
        """Answer the next matching request with this status instead (fault injection)."""
        self.injected.append((method.upper(), path, status, headers or {}))

    def runs_for(self, repo: str, head_sha: str, name: str | None = None) -> list[dict]:
        return [r for r in self.check_runs.values() if r["repo"] == repo
                and r["head_sha"] == head_sha and (name is None or r["name"] == name)]

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and p == path)

    # --- server -------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        self._server = BackgroundServer(self._wsgi)
        self.url = self._server.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.stop()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            response = self._handle(request)
            self.requests.append((request.method, request.path, response.status_code))
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if request.path.startswith("/_codeload/"):
            return self._codeload(request.path)
        if request.path.startswith("/login/oauth/"):
            return self._oauth(request)
        if request.path.endswith("/settings/apps/new"):
            return self._new_app(request)
        for i, (method, path, status, headers) in enumerate(self.injected):
            if method == request.method and path == request.path:
                del self.injected[i]
                return _json({"message": "injected failure"}, status, headers)
        op = self.validator.match(request.method, request.path)
        if op is None:
            return self._reject(request, Reject(404, "no such endpoint in GitHub's REST API"))
        query = {k: v for k, v in request.args.items()}
        body = request.get_data()
        problems = self.validator.problems(op, query, body)
        if problems:
            return self._reject(request, Reject(422, "; ".join(problems)))
        try:
            data = json.loads(body) if body else {}
            user = self.user_tokens.get(request.headers.get("Authorization", "").partition(" ")[2])
            if user is not None:
                return self._as_user(op, user)
            if op.template == "/app-manifests/{code}/conversions":
                return self._convert(op.params["code"])
            if op.template in APP_ROUTES:
                app_id = self._app_from_jwt(request)
                return self._app_route(op, app_id, data)
            installation = self._installation_from_token(request)
            return self._repo_route(op, installation, query, data)
        except Reject as exc:
            return self._reject(request, exc)

    def _reject(self, request: Request, exc: Reject) -> Response:
        if exc.violation:
            self.violations.append(f"{request.method} {request.full_path}: {exc.message}")
        return _json({"message": exc.message}, exc.status)

    # --- sign-in with GitHub (the web flow, outside the REST API) ---------------------
    def _oauth(self, request: Request) -> Response:
        if request.path == "/login/oauth/authorize":
            if not self.browser_user:
                return Response("nobody signed in", status=401)
            code = secrets.token_hex(10)
            self.oauth_codes[code] = self.browser_user
            target = request.args["redirect_uri"]
            joiner = "&" if "?" in target else "?"
            return Response(status=302, headers={
                "Location": f"{target}{joiner}code={code}&state={request.args.get('state', '')}"})
        if request.path == "/login/oauth/access_token" and request.method == "POST":
            login = self.oauth_codes.pop(request.form.get("code", ""), None)
            if login is None or not request.form.get("client_secret"):
                return _json({"error": "bad_verification_code"})
            token = "ghu_" + secrets.token_hex(18)
            self.user_tokens[token] = login
            return _json({"access_token": token, "token_type": "bearer"})
        return Response(status=404)

    # --- registering an App from a manifest (the web flow, then one REST call) ------------
    def _new_app(self, request: Request) -> Response:
        """The form GitHub shows for a posted manifest, accepted at once by the signed-in
        user: the browser goes back to the manifest's redirect_url with a one-time code."""
        if request.method != "POST" or not self.browser_user:
            return Response("sign in and post a manifest", status=401)
        wanted = json.loads(request.form["manifest"])
        code = secrets.token_hex(10)
        self.manifests[code] = wanted
        target = wanted["redirect_url"]
        return Response(status=302, headers={
            "Location": f"{target}?code={code}&state={request.args.get('state', '')}"})

    def _convert(self, code: str) -> Response:
        """POST /app-manifests/{code}/conversions: the App's credentials, once per code."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        wanted = self.manifests.pop(code, None)
        if wanted is None:
            raise Reject(404, "Not Found", violation=False)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        app_id = 900000 + len(self.registered)
        self.add_app(app_id, key.public_key())
        app = {"id": app_id, "slug": wanted["name"].lower().replace(" ", "-"),
               "name": wanted["name"], "html_url": f"{self.url}/apps/{app_id}",
               "client_id": f"Iv1.{secrets.token_hex(8)}", "client_secret": secrets.token_hex(20),
               "webhook_secret": secrets.token_hex(20), "pem": key.private_bytes(
                   serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                   serialization.NoEncryption()).decode(),
               "permissions": wanted.get("default_permissions", {}),
               "events": wanted.get("default_events", [])}
        self.registered[app_id] = {**app, "manifest": wanted}
        return _json(app, 201)

    def _as_user(self, op, login: str) -> Response:
        if op.template == "/user":
            return _json({"login": login, "type": "User"})
        if op.template == "/user/memberships/orgs/{org}":
            if login not in self.org_members.get(op.params["org"].lower(), set()):
                raise Reject(404, "Not Found", violation=False)
            return _json({"state": "active", "role": "member", "url": "",
                          "organization_url": "", "organization": {"login": op.params["org"]},
                          "user": {"login": login}})
        if op.template == "/repos/{owner}/{repo}":
            repo = self.repos.get(f"{op.params['owner']}/{op.params['repo']}")
            if repo is not None and login in repo.readers:
                return _json({"id": repo.id, "full_name": repo.full_name, "private": True})
        raise Reject(404, "Not Found", violation=False)

    # --- credentials --------------------------------------------------------------------
    def _bearer(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not value:
            raise Reject(401, "Requires authentication")
        return value.strip()

    def _app_from_jwt(self, request: Request) -> int:
        token = self._bearer(request)
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            app_id = int(claims["iss"])
            key = self.apps[app_id]
            claims = jwt.decode(token, key, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "iss"]}, leeway=60)
        except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
            raise Reject(401, f"A JSON web token could not be decoded: {exc}") from None
        now = time.time()
        if claims["exp"] - now > 600 or claims["exp"] - claims["iat"] > 660:
            raise Reject(401, "'Expiration time' claim ('exp') is too far in the future")
        if claims["iat"] > now + 60:
            raise Reject(401, "'Issued at' claim ('iat') must be an Integer representing the "
                              "time that the assertion was issued")
        return app_id

    def _installation_from_token(self, request: Request) -> int:
        grant = self.tokens.get(self._bearer(request))
        if grant is None or grant["expires_at"] < time.time():
            raise Reject(401, "Bad credentials")
        return grant["installation_id"]

    # --- routes -------------------------------------------------------------------------
    def _app_route(self, op, app_id: int, data: dict) -> Response:
        if op.template == "/app":
            return _json({"id": app_id, "slug": f"gatekeeper-{app_id}", "name": "Gatekeeper"})
        if op.template == "/app/hook/deliveries":
            return _json(self.hook_deliveries)
        if op.template == "/app/hook/deliveries/{delivery_id}/attempts":
            self.redelivered.append(int(op.params["delivery_id"]))
            return _json({}, 202)
        if op.template == "/app/installations":
            return _json([{"id": i, "app_id": app_id} for i, inst in self.installations.items()
                          if inst["app_id"] == app_id])
        if op.template == "/orgs/{org}/installation":
            for inst_id, inst in self.installations.items():
                if inst["app_id"] == app_id and any(
                        r.split("/")[0].lower() == op.params["org"].lower() for r in inst["repos"]):
                    return _json({"id": inst_id, "app_id": app_id})
            raise Reject(404, "Not Found", violation=False)
        if op.template == "/repos/{owner}/{repo}/installation":
            name = f"{op.params['owner']}/{op.params['repo']}"
            for inst_id, inst in self.installations.items():
                if inst["app_id"] == app_id and name in inst["repos"]:
                    return _json({"id": inst_id, "app_id": app_id})
            raise Reject(404, "Not Found", violation=False)
        inst_id = int(op.params["installation_id"])
        inst = self.installations.get(inst_id)
        if inst is None or inst["app_id"] != app_id:
            raise Reject(404, "Not Found", violation=False)
        if inst["suspended"]:
            raise Reject(403, "This installation has been suspended", violation=False)
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + self.token_lifetime
        self.tokens[token] = {"installation_id": inst_id, "expires_at": expires}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
        return _json({"token": token, "expires_at": stamp, "permissions": {},
                      "repository_selection": "selected"}, 201)

    def _repo_route(self, op, inst_id: int, query: dict, data: dict) -> Response:
        inst = self.installations[inst_id]
        if op.template == "/installation/repositories":
            names = sorted(inst["repos"])
            page = _page([{"id": self.repos[n].id, "full_name": n, "name": n.split("/")[1],
                           "owner": {"login": n.split("/")[0]}} for n in names if n in self.repos],
                         query)
            return _json({"total_count": len(names), "repositories": page})
        if op.template.startswith("/orgs/{org}/rulesets"):
            return self._org_rulesets(op, data)
        if op.template.startswith("/orgs/"):
            team = f"{op.params['org']}/{op.params['team_slug']}".lower()
            if op.params["username"].lower() not in self.teams.get(team, set()):
                raise Reject(404, "Not Found", violation=False)
            return _json({"state": "active", "role": "member", "url": ""})
        name = f"{op.params['owner']}/{op.params['repo']}"
        repo = self.repos.get(name)
        if repo is None or name not in inst["repos"]:
            raise Reject(404, "Not Found", violation=False)
        handler = getattr(self, "_r_" + op.template.split("{repo}", 1)[1].strip("/")
                          .replace("/", "_").replace("-", "_").replace("{", "").replace("}", ""),
                          None)
        if handler is None:
            return _json({"id": repo.id, "full_name": repo.full_name, "name": name.split("/")[1],
                          "default_branch": "main", "topics": repo.topics,
                          "custom_properties": repo.properties})
        return handler(repo, op.params, query, data)

    def _pull(self, repo: FakeRepo, params: dict) -> dict:
        pull = repo.pulls.get(int(params["pull_number"]))
        if pull is None:
            raise Reject(404, "Not Found", violation=False)
        return pull

    def _r_pulls(self, repo, params, query, data):
        state = query.get("state", "open")
        pulls = [p for _, p in sorted(repo.pulls.items())
                 if (state == "all" or p["state"] == state)
                 and query.get("base", p["base"]["ref"]) == p["base"]["ref"]]
        return _json(_page(pulls, query))

    def _r_pulls_pull_number(self, repo, params, query, data):
        return _json(self._pull(repo, params))

    def _r_pulls_pull_number_files(self, repo, params, query, data):
        return _json(_page(repo.files.get(self._pull(repo, params)["number"], []), query))

    def _r_pulls_pull_number_reviews(self, repo, params, query, data):
        return _json(_page(repo.reviews.get(self._pull(repo, params)["number"], []), query))

    def _r_pulls_pull_number_commits(self, repo, params, query, data):
        return _json(_page(repo.commits.get(self._pull(repo, params)["number"], []), query))

    def _r_collaborators_username_permission(self, repo, params, query, data):
        login = params["username"]
        permission = repo.permissions.get(login, "none")
        return _json({"permission": permission, "role_name": permission,
                      "user": {"login": login, "type": "User"}})

    def _r_contents_path(self, repo, params, query, data):
        ref = query.get("ref", "main")
        content = repo.contents.get((ref, params["path"]))
        if content is None:
            raise Reject(404, "Not Found", violation=False)
        return _json({"type": "file", "encoding": "base64", "path": params["path"],
                      "name": params["path"].rsplit("/", 1)[-1], "size": len(content),
                      "sha": secrets.token_hex(20), "content": base64.b64encode(content).decode()})

    def _r_tarball_ref(self, repo, params, query, data):
        if params["ref"] not in repo.tarballs:
            raise Reject(404, "Not Found", violation=False)
        location = f"{self.url}/_codeload/{repo.full_name}/legacy.tar.gz/{params['ref']}"
        return Response(status=302, headers={"Location": location})

    def _r_git_trees_tree_sha(self, repo, params, query, data):
        sha = params["tree_sha"]
        files = repo.trees.get(sha)
        if files is None and sha in repo.tarballs:
            files = _tar_members(repo.tarballs[sha])
        if files is None:
            raise Reject(404, "Not Found", violation=False)
        entries = [{"path": path, "mode": "100644", "type": "blob", "size": len(content),
                    "sha": hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest(),
                    "url": f"{self.url}/repos/{repo.full_name}/git/blobs/x"}
                   for path, content in sorted(files.items())]
        return _json({"sha": sha, "url": f"{self.url}/repos/{repo.full_name}/git/trees/{sha}",
                      "tree": entries, "truncated": False})

    def _codeload(self, path: str) -> Response:
        _, _, owner, name, _, ref = path.split("/", 5)
        repo = self.repos.get(f"{owner}/{name}")
        if repo is None or ref not in repo.tarballs:
            return Response(status=404)
        return Response(repo.tarballs[ref], mimetype="application/x-gzip")

    def _org_rulesets(self, op, data: dict) -> Response:
        org = op.params["org"].lower()
        mine = self.rulesets.setdefault(org, {})
        if "ruleset_id" in op.params:
            ruleset_id = int(op.params["ruleset_id"])
            if ruleset_id not in mine:
                raise Reject(404, "Not Found", violation=False)
            if op.method == "put":
                mine[ruleset_id] = {**mine[ruleset_id], **data}
            return _json(mine[ruleset_id])
        if op.method == "post":
            ruleset_id = next(self._ids)
            mine[ruleset_id] = {"id": ruleset_id, "source_type": "Organization",
                                "source": op.params["org"], **data}
            return _json(mine[ruleset_id], 201)
        return _json([{"id": r["id"], "name": r["name"], "enforcement": r["enforcement"]}
                      for r in mine.values()])

    def _r_rules_branches_branch(self, repo, params, query, data):
        """The org rulesets that apply: every repository, the default branch (main)."""
        org = repo.full_name.split("/")[0].lower()
        rules = []
        for ruleset in self.rulesets.get(org, {}).values():
            refs = ruleset.get("conditions", {}).get("ref_name", {}).get("include", [])
            repos = ruleset.get("conditions", {}).get("repository_name", {}).get("include", [])
            if ruleset.get("enforcement") == "active" and "~ALL" in repos and (
                    "~DEFAULT_BRANCH" in refs and params["branch"] == "main"):
                rules += [{**rule, "ruleset_source_type": "Organization",
                           "ruleset_source": org, "ruleset_id": ruleset["id"]}
                          for rule in ruleset.get("rules", [])]
        return _json(rules)

    def _r_commits_commit_sha_pulls(self, repo, params, query, data):
        """Pull requests that carry the commit: as their head, among their commits, or as
        the commit their merge made."""
        sha = params["commit_sha"]
        found = [p for _, p in sorted(repo.pulls.items())
                 if p["head"]["sha"] == sha or p.get("merge_commit_sha") == sha
                 or any(c.get("sha") == sha for c in repo.commits.get(p["number"], []))]
        return _json(_page(found, query))

    def _r_compare_basehead(self, repo, params, query, data):
        found = repo.compares.get(params["basehead"])
        if found is None:
            raise Reject(404, "Not Found", violation=False)
        # a message alone, or {"message", "email"}: a rebased copy keeps message and author
        commits = [{"sha": f"{i:040x}", "author": None, "committer": None, "commit": {
            "message": m if isinstance(m, str) else m["message"],
            "author": {"name": "someone", "email": "" if isinstance(m, str) else m["email"]}}}
            for i, m in enumerate(found["messages"])]
        files = [{"filename": f, "status": "modified"} for f in found["files"]]
        return _json({"status": "ahead", "commits": commits, "files": files,
                      "total_commits": len(commits)})

    def _r_issues_issue_number_comments(self, repo, params, query, data):
        number = int(params["issue_number"])
        repo.comments.setdefault(number, []).append(data["body"])
        return _json({"id": next(self._ids), "body": data["body"]}, 201)

    def _r_issues(self, repo, params, query, data):
        issue = {"number": 100 + len(repo.issues), "title": data["title"],
                 "body": data.get("body", ""), "labels": data.get("labels", [])}
        repo.issues.append(issue)
        return _json({**issue, "labels": [{"name": n} for n in issue["labels"]]}, 201)

    def _r_issues_issue_number_labels(self, repo, params, query, data):
        number = int(params["issue_number"])
        repo.labels.setdefault(number, []).extend(data["labels"])
        return _json([{"name": n} for n in repo.labels[number]])

    def _r_check_runs(self, repo, params, query, data):
        if len(data.get("output", {}).get("annotations", [])) > MAX_ANNOTATIONS:
            raise Reject(422, f"more than {MAX_ANNOTATIONS} annotations in one request")
        run_id = next(self._ids)
        app_id = self.installations_app(repo)
        run = {"id": run_id, "repo": repo.full_name, "name": data["name"], "started_at": None,
               "head_sha": data["head_sha"], "status": data.get("status", "queued"),
               "conclusion": data.get("conclusion"), "app": {"id": app_id},
               "output": {"annotations": []}, "updates": 0}
        self.check_runs[run_id] = run
        self._apply(run, data)
        return _json(_public(run), 201)

    def _r_check_runs_check_run_id(self, repo, params, query, data):
        run = self.check_runs.get(int(params["check_run_id"]))
        if run is None or run["repo"] != repo.full_name:
            raise Reject(404, "Not Found", violation=False)
        if data:  # PATCH
            self._apply(run, data)
        return _json(_public(run))

    def _r_commits_ref_check_runs(self, repo, params, query, data):
        runs = [r for r in self.check_runs.values()
                if r["repo"] == repo.full_name and r["head_sha"] == params["ref"]
                and query.get("check_name", r["name"]) == r["name"]
                and str(query.get("app_id", r["app"]["id"])) == str(r["app"]["id"])]
        runs.sort(key=lambda r: -r["id"])
        return _json({"total_count": len(runs), "check_runs": [_public(r) for r in runs]})

    def installations_app(self, repo: FakeRepo) -> int:
        for inst in self.installations.values():
            if repo.full_name in inst["repos"]:
                return inst["app_id"]
        raise Reject(404, "Not Found", violation=False)

    def _apply(self, run: dict, data: dict) -> None:
        annotations = data.get("output", {}).get("annotations", [])
        if len(annotations) > MAX_ANNOTATIONS:
            raise Reject(422, f"more than {MAX_ANNOTATIONS} annotations in one request")
        if data.get("status") == "completed" and not data.get("conclusion") \
                and not run.get("conclusion"):
            raise Reject(422, "conclusion is required when status is completed")
        for key in ("status", "conclusion", "details_url", "external_id", "actions",
                    "started_at", "completed_at"):
            if key in data:
                run[key] = data[key]
        if data.get("conclusion"):
            run["status"] = "completed"
        self.check_run_states.append({"id": run["id"], "name": run["name"],
                                      "status": run["status"], "output": data.get("output")})
        if "output" in data:
            kept = run["output"]["annotations"] + annotations
            run["output"] = {**data["output"], "annotations": kept}
        run["updates"] += 1


def _public(run: dict) -> dict:
    shown = {k: v for k, v in run.items() if k not in ("repo", "updates")}
    shown["output"] = {k: v for k, v in run["output"].items() if k != "annotations"}
    shown["output"]["annotations_count"] = len(run["output"]["annotations"])
    return shown


def _page(items: list, query: dict) -> list:
    per_page = min(int(query.get("per_page", 30)), 100)
    page = max(int(query.get("page", 1)), 1)
    return items[(page - 1) * per_page: page * per_page]


def _json(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data), status=status, headers=headers or {},
                    mimetype="application/json")


def _tar_members(archive: bytes) -> dict[str, bytes]:
    """A tarball's regular files by path, its one top-level folder stripped."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read()
                for m in tar if m.isfile() and "/" in m.name}
