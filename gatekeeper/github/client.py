"""All GitHub I/O: app JWT, installation tokens, pull requests and check runs."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Protocol

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github import Auth, Github, GithubException, GithubIntegration, GithubRetry
from requests.adapters import HTTPAdapter

from gatekeeper.core import redact
from gatekeeper.core.model import ChangedFile, CheckOutput, Commit, PullRequest, Review, User

log = logging.getLogger(__name__)

PERMANENT = {401, 404, 410}  # repository gone, installation removed: retrying cannot help
TOKEN_MARGIN = 300  # renew an installation token this many seconds before it expires
JWT_LIFETIME = 540  # GitHub accepts at most 10 minutes; leave room for clock skew
HTTP_TIMEOUT = 30
ANNOTATION_BATCH = 50  # GitHub's limit per request
MAX_PAGES = 30  # GitHub itself stops listing a pull request's files at 3,000


def retry_policy() -> GithubRetry:
    """Transient errors (5xx, connection resets) and rate limits are retried with backoff;
    Retry-After and X-RateLimit-Reset are honoured, up to 15 minutes."""
    return GithubRetry(total=6, backoff_factor=0.5, max_rate_limit_wait=900)


def is_permanent(exc: Exception) -> bool:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status, data = exc.response.status_code, exc.response.text[:2000]
    elif isinstance(exc, GithubException):
        status, data = exc.status, exc.data
    else:
        return False
    suspended = status == 403 and "suspended" in str(data).lower()
    return status in PERMANENT or suspended


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TreeTooLarge(Exception):
    pass


class UnexpectedAnswer(Exception):
    """GitHub (or what GITHUB_API_URL points at) answered 2xx with something else than the
    API's documented shape."""


def _listing(response: requests.Response, what: str, keys: tuple[str, ...]) -> list[dict]:
    """A page of a list endpoint: a list of objects, each with `keys`; anything else is said."""
    try:
        page = response.json()
    except ValueError:
        page = None
    if not isinstance(page, list) or not all(
            isinstance(item, dict) and all(item.get(k) is not None for k in keys) for item in page):
        shape = type(page).__name__ if not isinstance(page, list) else "a list of other things"
        raise UnexpectedAnswer(f"GitHub's answer to {what} is not a list of objects with "
                               f"{', '.join(keys)} (got {shape}): check that GITHUB_API_URL is "
                               "GitHub's API (for Enterprise Server: https://HOST/api/v3)")
    return page


class JwtSigner:
    """Signs the app's JWTs with RS256, using `cryptography` directly."""

    def __init__(self, private_key_pem: str):
        key = load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("GitHub App keys are RSA keys")
        self._key = key

    def __call__(self, claims: dict) -> str:
        header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64url(signature)}"


class AppCredentials(Protocol):
    """What the app needs to authenticate (the service's Settings has these)."""

    github_api_url: str
    github_app_id: int
    private_key_pem: str


class TokenStore(Protocol):
    """Where processes share installation tokens (the queue's backend: Redis, or memory)."""

    def save(self, key: str, value: dict, ttl: int) -> None: ...

    def load(self, key: str) -> dict | None: ...


class GitHubApp:
    """The app's identity: makes JWTs and keeps installation tokens until shortly before expiry.

    With `shared`, every process of the app (each RQ work horse is a new one) uses one token
    per installation until it nears expiry, instead of asking GitHub for one per job.
    """

    def __init__(self, settings: AppCredentials, clock: Callable[[], float] = time.time,
                 shared: TokenStore | None = None):
        self.api_url = settings.github_api_url
        self.auth = Auth.AppAuth(
            settings.github_app_id,
            sign_func=JwtSigner(settings.private_key_pem),
            jwt_expiry=JWT_LIFETIME,
        )
        self._clock = clock
        self._shared = shared
        self._tokens: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def installation_token(self, installation_id: int) -> str:
        with self._lock:
            cached = self._tokens.get(installation_id) or self._from_shared(installation_id)
            if cached and cached[1] - self._clock() > TOKEN_MARGIN:
                self._tokens[installation_id] = cached
                return cached[0]
            integration = GithubIntegration(auth=self.auth, base_url=self.api_url,
                                            timeout=HTTP_TIMEOUT, retry=retry_policy())
            try:
                grant = integration.get_access_token(installation_id)
            except GithubException as exc:
                exc.asked = f"/app/installations/{installation_id}/access_tokens"
                raise
            expires = grant.expires_at
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            self._tokens[installation_id] = (grant.token, expires.timestamp())
            redact.add(grant.token)
            self._to_shared(installation_id, grant.token, expires.timestamp())
            log.info("installation %s: new token, expires %s", installation_id,
                     expires.isoformat())
            return grant.token

    def _shared_key(self, installation_id: int) -> str:
        host = hashlib.sha256(self.api_url.encode()).hexdigest()[:12]  # one Redis, many GHES
        return f"token:{host}:{installation_id}"

    def _from_shared(self, installation_id: int) -> tuple[str, float] | None:
        if self._shared is None:
            return None
        try:
            held = self._shared.load(self._shared_key(installation_id))
        except Exception:  # noqa: BLE001 - the store is down: ask GitHub instead
            log.warning("shared token store unavailable")
            return None
        if not held:
            return None
        redact.add(held["token"])
        return held["token"], float(held["expires"])

    def _to_shared(self, installation_id: int, token: str, expires: float) -> None:
        ttl = int(expires - self._clock() - TOKEN_MARGIN)
        if self._shared is None or ttl <= 0:
            return
        try:
            self._shared.save(self._shared_key(installation_id),
                              {"token": token, "expires": expires}, ttl)
        except Exception:  # noqa: BLE001 - each process keeps its own copy still
            log.warning("shared token store unavailable")

    def installation(self, installation_id: int) -> Installation:
        return Installation(self, installation_id)

    def org_installation(self, org: str) -> Installation:
        """The App's installation on an organisation (404 when it is not installed there)."""
        return Installation(self, int(self._as_app("GET", f"/orgs/{org}/installation").json()["id"]))

    def repo_installation(self, repo: str) -> Installation:
        """The App's installation on a repository (404 when it is not installed there)."""
        return Installation(self, int(self._as_app("GET", f"/repos/{repo}/installation")
                                      .json()["id"]))

    def _as_app(self, verb: str, path: str, **kwargs) -> requests.Response:
        session = requests.Session()
        session.mount(self.api_url, HTTPAdapter(max_retries=retry_policy()))
        try:
            response = session.request(verb, f"{self.api_url}{path}", timeout=HTTP_TIMEOUT,
                                       headers={"Authorization": f"Bearer {self.auth.token}",
                                                "Accept": "application/vnd.github+json"}, **kwargs)
        except GithubException as exc:  # the retry policy raises it for a refusal (403)
            exc.asked = path.split("?")[0]  # for the operator: what was refused
            raise
        response.raise_for_status()
        return response

    def redeliver_failed(self, since: datetime) -> list[str]:
        """Ask GitHub to redeliver each delivery (by GUID) that never succeeded since `since`."""
        attempts: dict[str, list[dict]] = {}
        url, params = "/app/hook/deliveries", {"per_page": 100}
        for _ in range(MAX_PAGES):
            response = self._as_app("GET", url, params=params)
            page = _listing(response, "/app/hook/deliveries", ("id", "guid", "delivered_at"))
            for delivery in page:
                attempts.setdefault(delivery["guid"], []).append(delivery)
            cursor = response.links.get("next", {}).get("url")
            oldest = min((_when(d["delivered_at"]) for d in page), default=since)
            if not cursor or oldest < since:
                break
            url, params = cursor.removeprefix(self.api_url), None
        asked = []
        for guid, tries in attempts.items():
            latest = max(tries, key=lambda d: _when(d["delivered_at"]))
            if _when(latest["delivered_at"]) < since or any(
                    200 <= (t.get("status_code") or 0) < 300 for t in tries):
                continue
            self._as_app("POST", f"/app/hook/deliveries/{latest['id']}/attempts")
            asked.append(guid)
        return asked

    def installation_ids(self) -> list[int]:
        ids: list[int] = []
        url, params = "/app/installations", {"per_page": 100}
        for _ in range(MAX_PAGES):
            response = self._as_app("GET", url, params=params)
            ids += [int(i["id"]) for i in _listing(response, "/app/installations", ("id",))]
            cursor = response.links.get("next", {}).get("url")
            if not cursor:
                break
            url, params = cursor.removeprefix(self.api_url), None
        return ids


class Installation:
    """GitHub as one installation sees it. Each call gets a fresh token from the cache."""

    def __init__(self, app: GitHubApp, installation_id: int):
        self.app = app
        self.installation_id = installation_id

    def _client(self) -> Github:
        token = self.app.installation_token(self.installation_id)
        return Github(auth=Auth.Token(token), base_url=self.app.api_url, timeout=HTTP_TIMEOUT,
                      lazy=True, retry=retry_policy())

    def _request(self, verb: str, url: str, **kwargs) -> dict | list:
        try:
            _, data = self._client().requester.requestJsonAndCheck(verb, url, **kwargs)
        except GithubException as exc:
            exc.asked = url  # for the operator: what was refused or not found
            raise
        return data

    def _pages(self, url: str, key: str | None = None, params: dict | None = None) -> list:
        """Every item of a paginated list (or of the list under `key`)."""
        items: list = []
        for page in range(1, MAX_PAGES + 1):
            data = self._request("GET", url,
                                 parameters={**(params or {}), "per_page": 100, "page": page})
            batch = data.get(key, []) if key else data
            items.extend(batch)
            if len(batch) < 100:
                break
        return items

    def repositories(self) -> list[str]:
        return list(self.repository_ids())

    def repository_ids(self) -> dict[str, int]:
        return {r["full_name"]: r["id"]
                for r in self._pages("/installation/repositories", "repositories")}

    def file_text(self, repo: str, path: str, ref: str | None) -> str | None:
        """A file's text at a ref (None: the default branch), or None when it or the
        repository does not exist there."""
        try:
            data = self._request("GET", f"/repos/{repo}/contents/{path}",
                                 parameters={"ref": ref} if ref else None)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(data, dict) or data.get("type") != "file":
            return None
        return base64.b64decode(data["content"]).decode("utf-8")

    def tree(self, repo: str, sha: str) -> dict[str, str]:
        """The commit's files as path -> blob id (links and submodules left out), from the
        trees API: the tree itself, which no attribute of the commit can rewrite."""
        data = self._request("GET", f"/repos/{repo}/git/trees/{sha}",
                             parameters={"recursive": "1"})
        if data.get("truncated"):
            raise TreeTooLarge(f"the commit's tree of {repo} is too large for GitHub to list "
                               "(over 100,000 entries or 7 MB); it cannot be verified")
        return {e["path"]: e["sha"] for e in data.get("tree", [])
                if e.get("type") == "blob" and e.get("mode") != "120000"}

    def tarball(self, repo: str, ref: str) -> Iterator[bytes]:
        """The tree at `ref` as .tar.gz chunks. The token stays here, in the worker."""
        token = self.app.installation_token(self.installation_id)
        session = requests.Session()
        session.mount(self.app.api_url, HTTPAdapter(max_retries=retry_policy()))
        response = session.get(f"{self.app.api_url}/repos/{repo}/tarball/{ref}", stream=True,
                               timeout=HTTP_TIMEOUT,
                               headers={"Authorization": f"token {token}",
                                        "Accept": "application/vnd.github+json"})
        response.raise_for_status()  # here, not on the first chunk: a missing tree is an error
        return _chunks(response)

    def commits(self, repo: str, number: int) -> list[Commit]:
        return [_commit(c) for c in self._pages(f"/repos/{repo}/pulls/{number}/commits")]

    def changed_files(self, repo: str, number: int) -> list[ChangedFile]:
        return [ChangedFile(f["filename"], f.get("status", "modified"), f.get("previous_filename"),
                            f.get("patch") or "", f.get("sha") or "")
                for f in self._pages(f"/repos/{repo}/pulls/{number}/files")]

    def reviews(self, repo: str, number: int) -> list[Review]:
        return [
            Review(r["id"], _user(r["user"]) or User("ghost"), r["state"], r.get("commit_id") or "",
                   r.get("submitted_at") or "", r.get("body") or "")
            for r in self._pages(f"/repos/{repo}/pulls/{number}/reviews")
            if r.get("user")
        ]

    def permission(self, repo: str, login: str) -> str:
        data = self._request("GET", f"/repos/{repo}/collaborators/{login}/permission")
        return data.get("permission") or "none"

    def team_member(self, team: str, login: str) -> bool:
        """Is `login` an active member of team "org/slug"?"""
        org, slug = team.split("/", 1)
        try:
            data = self._request("GET", f"/orgs/{org}/teams/{slug}/memberships/{login}")
        except GithubException as exc:
            if exc.status == 404:
                return False
            raise
        return data.get("state") == "active"

    def org_rulesets(self, org: str) -> list[dict]:
        return self._pages(f"/orgs/{org}/rulesets")

    def org_ruleset(self, org: str, ruleset_id: int) -> dict:
        return self._request("GET", f"/orgs/{org}/rulesets/{ruleset_id}")

    def save_org_ruleset(self, org: str, body: dict, ruleset_id: int | None = None) -> dict:
        if ruleset_id is None:
            return self._request("POST", f"/orgs/{org}/rulesets", input=body)
        return self._request("PUT", f"/orgs/{org}/rulesets/{ruleset_id}", input=body)

    def compare(self, repo: str, base: str, head: str) -> tuple[list[Commit], list[ChangedFile]]:
        """Commits and changed files between two commits (a merge group's)."""
        data = self._request("GET", f"/repos/{repo}/compare/{base}...{head}")
        commits = [_commit(c) for c in data.get("commits", [])]
        files = [ChangedFile(f["filename"], f.get("status", "modified"),
                             f.get("previous_filename"), f.get("patch", ""))
                 for f in data.get("files", [])]
        return commits, files

    def default_branch(self, repo: str) -> str:
        return self._request("GET", f"/repos/{repo}")["default_branch"]

    def repository_facts(self, repo: str) -> tuple[list[str], dict]:
        """A repository's topics and custom property values (which choose its level)."""
        data = self._request("GET", f"/repos/{repo}")
        return list(data.get("topics") or []), dict(data.get("custom_properties") or {})

    def branch_rules(self, repo: str, branch: str) -> list[dict]:
        """The rules in force on a branch, from every ruleset that applies to it."""
        return self._pages(f"/repos/{repo}/rules/branches/{branch}")

    def commit_pulls(self, repo: str, sha: str) -> list[int]:
        """The numbers of the pull requests GitHub associates with a commit."""
        return [int(p["number"]) for p in self._pages(f"/repos/{repo}/commits/{sha}/pulls")]

    def comment(self, repo: str, number: int, body: str) -> None:
        self._request("POST", f"/repos/{repo}/issues/{number}/comments", input={"body": body})

    def create_issue(self, repo: str, title: str, body: str, labels: list[str]) -> int:
        data = self._request("POST", f"/repos/{repo}/issues",
                             input={"title": title, "body": body, "labels": labels})
        return int(data["number"])

    def add_labels(self, repo: str, number: int, labels: list[str]) -> None:
        self._request("POST", f"/repos/{repo}/issues/{number}/labels", input={"labels": labels})

    def pull_request(self, repo: str, number: int) -> PullRequest:
        try:
            return self._pull_request(repo, number)
        except GithubException as exc:  # the client is lazy: any attribute may ask GitHub
            exc.asked = f"/repos/{repo}/pulls/{number}"
            raise

    def _pull_request(self, repo: str, number: int) -> PullRequest:
        pr = self._client().get_repo(repo).get_pull(number)
        return PullRequest(
            repo=repo,
            number=pr.number,
            head_sha=pr.head.sha,
            head_ref=pr.head.ref,
            base_ref=pr.base.ref,
            base_sha=pr.base.sha,
            author=User(pr.user.login, pr.user.type),
            title=pr.title or "",
            body=pr.body or "",
            draft=bool(pr.draft),
            state=pr.state,
            labels=tuple(label.name for label in pr.labels),
            assignees=tuple(User(a.login, a.type) for a in pr.assignees),
        )

    def find_check_run(self, repo: str, head_sha: str, name: str) -> int | None:
        """Our latest check run of this name on this commit, so a retry updates it."""
        data = self._request(
            "GET", f"/repos/{repo}/commits/{head_sha}/check-runs",
            parameters={"check_name": name, "filter": "latest"},
        )
        for run in data.get("check_runs", []):
            app = run.get("app") or {}
            if run.get("name") == name and str(app.get("id")) == str(self.app.auth.app_id):
                return int(run["id"])
        return None

    def check_run_conclusion(self, repo: str, head_sha: str, name: str) -> str | None:
        """Conclusion of our latest check run of this name ("" while running), None if none."""
        run = self.check_run(repo, head_sha, name)
        return None if run is None else run.get("conclusion") or ""

    def check_run(self, repo: str, head_sha: str, name: str) -> dict | None:
        """Our latest check run of this name on this commit, as GitHub describes it."""
        data = self._request("GET", f"/repos/{repo}/commits/{head_sha}/check-runs",
                             parameters={"check_name": name, "filter": "latest"})
        for run in data.get("check_runs", []):
            if str((run.get("app") or {}).get("id")) == str(self.app.auth.app_id):
                return run
        return None

    def open_pulls(self, repo: str, base: str | None = None) -> list[dict]:
        """Number and head SHA of every open pull request (into `base` only, if given)."""
        params = {"state": "open", **({"base": base} if base else {})}
        return [{"number": p["number"], "head_sha": p["head"]["sha"]}
                for p in self._pages(f"/repos/{repo}/pulls", params=params)]

    def start_check_run(self, repo: str, head_sha: str, name: str) -> int:
        """Create the check run in progress, or put our existing one back in progress."""
        existing = self.find_check_run(repo, head_sha, name)
        fields = {"status": "in_progress", "started_at": _now()}
        if existing is not None:
            self._request("PATCH", f"/repos/{repo}/check-runs/{existing}", input=fields)
            return existing
        return self._create_check_run(repo, head_sha, name, fields)

    def note_check_run(self, repo: str, run_id: int, output: CheckOutput) -> None:
        """Say why a run is still in progress (it stays in progress)."""
        self._request("PATCH", f"/repos/{repo}/check-runs/{run_id}", input={
            "status": "in_progress", "output": {"title": output.title,
                                                "summary": output.summary}})

    def ensure_check_run(self, repo: str, head_sha: str, name: str) -> int:
        """Our check run of this name on this commit, created if there is none yet."""
        existing = self.find_check_run(repo, head_sha, name)
        if existing is not None:
            return existing
        return self._create_check_run(repo, head_sha, name, {"status": "in_progress",
                                                             "started_at": _now()})

    def _create_check_run(self, repo: str, head_sha: str, name: str, fields: dict) -> int:
        data = self._request("POST", f"/repos/{repo}/check-runs",
                             input={"name": name, "head_sha": head_sha, **fields})
        return int(data["id"])

    def complete_check_run(self, repo: str, run_id: int, conclusion: str, output: CheckOutput,
                           actions: list[dict] | None = None,
                           details_url: str | None = None) -> int:
        """Complete the run; annotations go 50 to a request, GitHub's limit. Returns requests."""
        batches = [output.annotations[i:i + ANNOTATION_BATCH]
                   for i in range(0, len(output.annotations), ANNOTATION_BATCH)] or [[]]
        text = {"title": output.title, "summary": output.summary}
        if output.text:
            text["text"] = output.text
        body: dict = {"status": "completed", "conclusion": conclusion, "completed_at": _now(),
                      "output": {**text, **({"annotations": batches[0]} if batches[0] else {})}}
        if actions:
            body["actions"] = actions
        if details_url:
            body["details_url"] = details_url
        self._request("PATCH", f"/repos/{repo}/check-runs/{run_id}", input=body)
        for batch in batches[1:]:  # GitHub appends each batch to the run's annotations
            self._request("PATCH", f"/repos/{repo}/check-runs/{run_id}",
                          input={"output": {**text, "annotations": batch}})
        return len(batches)


def _when(stamp: str) -> datetime:
    return datetime.strptime(stamp.replace("Z", "+0000")[:24], "%Y-%m-%dT%H:%M:%S%z")


def _chunks(response: requests.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_content(65536)
    finally:
        response.close()


def _user(data: dict | None) -> User | None:
    return User(data["login"], data.get("type", "User")) if data else None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def web_url(api_url: str) -> str:
    """The GitHub web host for an API URL: github.com, or the Enterprise Server's own host."""
    if "api.github.com" in api_url:
        return "https://github.com"
    return api_url.removesuffix("/api/v3").rstrip("/")


def _commit(c: dict) -> Commit:
    author, committer = c["commit"].get("author") or {}, c["commit"].get("committer") or {}
    return Commit(sha=c["sha"], message=c["commit"]["message"],
                  author_email=author.get("email", ""), author=_user(c.get("author")),
                  committer=_user(c.get("committer")), author_name=author.get("name", ""),
                  committer_name=committer.get("name", ""))


class OAuthUser:
    """A person signed in with GitHub (the app's OAuth client), for the details pages."""

    def __init__(self, api_url: str, token: str):
        self.api_url, self.token = api_url, token

    @classmethod
    def from_code(cls, api_url: str, client_id: str, client_secret: str, code: str) -> OAuthUser:
        response = requests.post(f"{web_url(api_url)}/login/oauth/access_token", timeout=HTTP_TIMEOUT,
                                 data={"client_id": client_id, "client_secret": client_secret,
                                       "code": code}, headers={"Accept": "application/json"})
        response.raise_for_status()
        token = response.json().get("access_token")
        if not token:
            raise PermissionError("GitHub did not grant a token for this sign-in")
        redact.add(token)
        return cls(api_url, token)

    def _get(self, path: str) -> requests.Response:
        return requests.get(f"{self.api_url}{path}", timeout=HTTP_TIMEOUT,
                            headers={"Authorization": f"token {self.token}",
                                     "Accept": "application/vnd.github+json"})

    def login(self) -> str:
        response = self._get("/user")
        response.raise_for_status()
        return response.json()["login"]

    def is_member(self, org: str) -> bool:
        """An active member of the organisation (GitHub answers 404 or 403 otherwise)."""
        response = self._get(f"/user/memberships/orgs/{org}")
        return response.status_code == 200 and response.json().get("state") == "active"

    def can_read(self, repo: str) -> bool:
        """GitHub answers 404 for a repository this person cannot see."""
        return self._get(f"/repos/{repo}").status_code == 200
