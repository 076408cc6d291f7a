"""`gatekeeper doctor`: what is wrong with this installation, and how to fix it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import requests

from gatekeeper.service.settings import SettingsError, StageConfig, load_settings, load_stage_config


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # said, but the installation works (a feature left off)


def run_checks() -> Iterator[Check]:
    try:
        config = load_stage_config()
    except SettingsError as exc:
        yield Check("stage settings", False, str(exc), "fix the variables named above")
        return
    yield from _safely("sandbox (bubblewrap)", _sandbox)
    yield from _safely("cgroups for process and memory caps", _cgroups)
    yield from _safely("scanners", _tools)
    yield from _safely("set-up (package cache and installer)", lambda: _setup(config))
    yield from _safely("vulnerability service", lambda: _osv(config))
    try:
        settings = load_settings()
    except SettingsError as exc:
        yield Check("app settings", False, str(exc), "set the variables named above (docs/install.md: "
                                                     "Settings)")
        return
    yield Check("app settings", True, f"app {settings.github_app_id} at {settings.github_api_url}")
    yield _signing(settings)
    yield from _safely("redis", lambda: _redis(settings))
    unreachable = _unreachable(settings.github_api_url)
    if unreachable:  # one plain line, not each check's retries against a host that is not there
        yield Check("GitHub API", False, f"{settings.github_api_url} cannot be reached "
                    f"({unreachable}); the checks that ask GitHub were not run",
                    "allow the worker to reach GITHUB_API_URL (proxy: HTTPS_PROXY), or fix it")
        return
    yield from _safely("GitHub app key", lambda: _github(settings))
    yield from _safely("gate required on default branches", lambda: _protected(settings))
    yield from _safely("nobody may bypass the gate", lambda: _bypass(settings))
    yield from _safely("organisation policies", lambda: _org_policies(settings))
    yield from _safely("unknown bots gated as agents", lambda: _unknown_bots(settings))


def _safely(name: str, probe: Callable[[], Check | str]) -> Iterator[Check]:
    try:
        result = probe()
    except Exception as exc:  # noqa: BLE001 - every failure is a line of the report
        yield Check(name, False, f"{exc.__class__.__name__}: {exc}")
        return
    yield result if isinstance(result, Check) else Check(name, True, result)


def _setup(config: StageConfig) -> Check | str:
    """The set-up phase needs uv and devpi-server beside the worker, and the cache started."""
    from gatekeeper.runner.indexcache import IndexUnavailable, ensure_cache
    from gatekeeper.runner.projectsetup import SetupError, _uv

    try:
        uv = _uv()
        cache = ensure_cache(config.cache_dir)
    except (SetupError, IndexUnavailable) as exc:
        return Check("set-up (package cache and installer)", False, str(exc),
                     "pip install -e . (uv and devpi-server are dependencies of gatekeeper)")
    return f"uv at {uv}; package cache (devpi-server) answering at {cache.url}"


def _sandbox() -> Check | str:
    from gatekeeper.runner.sandbox import SandboxUnavailable, check_available

    try:
        check_available()
    except SandboxUnavailable as exc:
        return Check("sandbox (bubblewrap)", False, str(exc),
                     "apt-get install bubblewrap; allow user namespaces")
    return "bwrap creates its namespaces"


def _cgroups() -> Check | str:
    import os

    from gatekeeper.runner.cgroups import cgroup_limits

    group = cgroup_limits(16, 64 * 1024**2)
    if group is None:
        if os.geteuid() != 0:
            return "not available; RLIMIT_NPROC caps processes for an unprivileged worker"
        return Check("cgroups for process and memory caps", False,
                     "no writable cgroup: as root, sandboxed commands cannot be capped",
                     "run the worker as an unprivileged user, or give it a delegated cgroup")
    group.remove()
    return f"cgroup v{group.version} pids and memory"


def _tools() -> str:
    from gatekeeper.runner import toolargv
    from gatekeeper.scanners import bandit, semgrep

    audit = subprocess.run(toolargv.module(sys.executable, "pip_audit", "--version"),
                           capture_output=True, text=True, timeout=60).stdout.strip()
    return f"{semgrep.version()}, {bandit.version()}, {audit}"


def _osv(config: StageConfig) -> Check | str:
    query = {"package": {"name": "pip", "ecosystem": "PyPI"}, "version": "0"}
    try:
        response = requests.post(config.osv_url, data=json.dumps(query), timeout=10)
        response.raise_for_status()
        response.json()
    except (requests.RequestException, ValueError) as exc:
        return Check("vulnerability service", False, f"{config.osv_url}: {exc}",
                     "set GATEKEEPER_OSV_URL to a reachable OSV service or a mirror "
                     "(gatekeeper osv-mirror)")
    return f"{config.osv_url} answers"


def _unreachable(url: str) -> str:
    """Why the API's host takes no connection ("" when it does): no request is sent."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if requests.utils.get_environ_proxies(url):
        return ""  # through a proxy: the checks themselves say whether it answers
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=5).close()
    except OSError as exc:
        return exc.strerror or exc.__class__.__name__
    return ""


def _signing(settings) -> Check:
    name = "signed verdict records"
    if not settings.signing_key_pem:
        return Check(name, False, "no signing key: verdicts are published but not signed, so "
                     "a deploy cannot check them with `gatekeeper verify`",
                     "gatekeeper signing-key new --private-out FILE, then set "
                     "GATEKEEPER_SIGNING_KEY_FILE=FILE (docs/verify.md)", warning=True)
    from gatekeeper.core.signing import key_id, private_key

    return Check(name, True, f"signed with key {key_id(private_key(settings.signing_key_pem).public_key())}")


def _redis(settings) -> Check | str:
    if not settings.redis_url:
        return "not set: `gatekeeper serve` runs jobs in-process (set REDIS_URL for production)"
    from gatekeeper.service.queue import redis_of

    if redis_of(settings).healthy():
        return "reachable"
    return Check("redis", False, "REDIS_URL is not reachable", "start Redis or fix REDIS_URL")


def _github(settings) -> Check | str:
    from github import GithubIntegration

    from gatekeeper.github.client import GitHubApp

    app = GitHubApp(settings)
    info = GithubIntegration(auth=app.auth, base_url=settings.github_api_url, timeout=15).get_app()
    return f"the key signs for app {info.slug!r}"


def _protected(settings) -> Check | str:
    from gatekeeper.cli.protect import unprotected

    missing = unprotected(settings)
    if missing:
        return Check("gate required on default branches", False,
                     f"{len(missing)} installed repositories do not require the gatekeeper "
                     f"check from this App: {', '.join(missing[:20])}",
                     "gatekeeper protect --org ORG (an organisation ruleset)")
    return "every installed repository's default branch requires it"


def _bypass(settings) -> Check | str:
    from gatekeeper.cli.protect import bypassers

    found = bypassers(settings)
    if found:
        return Check("nobody may bypass the gate", False, "rulesets requiring the gate list "
                     "bypass actors, who can merge past it: " + "; ".join(found[:10]),
                     "remove them from the ruleset's bypass list, or accept it: their merges "
                     "and pushes are alerted and listed as past the gate in the activity report")
    return "no ruleset requiring the gate has bypass actors"


def _org_policies(settings) -> Check | str:
    """Each installed owner's policy in OWNER/.github: read, valid, or absent (said so: the
    App may simply not be installed on that repository)."""
    from gatekeeper.core.governance import ORG_REPO, parse_org
    from gatekeeper.core.policy import POLICY_PATH, PolicyError
    from gatekeeper.github.client import GitHubApp

    app = GitHubApp(settings)
    found, problems = [], []
    for installation_id in app.installation_ids():
        github = app.installation(installation_id)
        for owner in sorted({repo.split("/")[0] for repo in github.repositories()}):
            where = f"{owner}/{ORG_REPO}:{POLICY_PATH}"
            try:
                text = github.file_text(f"{owner}/{ORG_REPO}", POLICY_PATH, None)
                if text is not None:
                    parse_org(text, where)
            except PolicyError as err:
                problems.append(str(err))
                continue
            except Exception as exc:  # noqa: BLE001 - unreadable: every gate there fails
                problems.append(f"{where} could not be read ({exc.__class__.__name__})")
                continue
            found.append(f"{owner}: {'read' if text is not None else 'none'}")
    if problems:
        return Check("organisation policies", False, "; ".join(problems),
                     "fix the file, or give the App read access to the .github repository: "
                     "until then the gates there fail closed")
    return (", ".join(found) or "no installation") + " (none: no policy found, or the App is "
    "not installed on the owner's .github repository)"


def _unknown_bots(settings, days: int = 30) -> Check | str:
    """Bots neither list knows, gated as agents in the last `days` days, per installed owner
    (from the audit trail in Redis): each is one edit away from being classified."""
    from datetime import UTC, datetime, timedelta

    from gatekeeper.github.client import GitHubApp
    from gatekeeper.service.activity import organisation_report
    from gatekeeper.service.queue import redis_of

    if not settings.redis_url:
        return "not known: the audit trail is in Redis, and REDIS_URL is not set"
    store, app = redis_of(settings), GitHubApp(settings)
    until = datetime.now(UTC)
    seen = []
    for installation_id in app.installation_ids():
        owners = {repo.split("/")[0] for repo in app.installation(installation_id).repositories()}
        for owner in sorted(owners):
            bots = organisation_report(store, owner, until - timedelta(days=days),
                                       until)["unknown_bots"]
            seen += [f"{owner}: {bot} ({n} pull request{'s' if n != 1 else ''})"
                     for bot, n in bots.items()]
    if seen:
        return Check("unknown bots gated as agents", False,
                     f"{len(seen)} in the last {days} days: " + "; ".join(seen[:20]),
                     "classify each in OWNER/.github/.github/gatekeeper.yml: "
                     "`agents.automation_logins` (or `automation_emails` for an address: a "
                     "release or dependency bot, not gated) or `agents.bot_logins` (an AI agent)")
    return f"none in the last {days} days"


def report() -> int:
    failures = 0
    for check in run_checks():
        print(f"[{'ok' if check.ok else 'warn' if check.warning else 'FAIL'}] {check.name}: "
              f"{check.detail}")
        if not check.ok:
            failures += 0 if check.warning else 1
            if check.fix:
                print(f"       fix: {check.fix}")
    print("all checks passed" if not failures else f"{failures} problem(s) found")
    return 0 if not failures else 1
