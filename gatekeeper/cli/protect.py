"""`gatekeeper protect`: the organisation ruleset that requires the gate, shown then applied;
and which installed repositories' default branches do not require it (for `doctor`)."""

from __future__ import annotations

import sys

import requests

from gatekeeper.core.escape import one_line
from gatekeeper.core.protection import RULESET_NAME, desired_ruleset, diff, requires_gate
from gatekeeper.github.client import GitHubApp, web_url
from gatekeeper.service.settings import load_settings


def protect(org: str, dry_run: bool, out=sys.stdout, settings=None) -> int:
    settings = settings or load_settings()
    app = GitHubApp(settings)
    try:
        github = app.org_installation(org)
    except requests.HTTPError as exc:
        if exc.response is None or exc.response.status_code != 404:
            raise  # said by the command line's own handler, by status
        print(f"gatekeeper protect: the App (id {settings.github_app_id}) is not installed on "
              f"the organisation {one_line(org)!r}: install it there "
              f"({web_url(settings.github_api_url)}/organizations/{one_line(org)}/settings/"
              "installations lists what is installed), or check the name", file=sys.stderr)
        return 2
    ours = next((r for r in github.org_rulesets(org) if r.get("name") == RULESET_NAME), None)
    current = github.org_ruleset(org, ours["id"]) if ours else None
    wanted = desired_ruleset(settings.github_app_id, current)
    changes = diff(current, wanted)
    where = f"ruleset {RULESET_NAME!r} of {org}"
    if not changes:
        print(f"{where} already requires the gatekeeper check from app "
              f"{settings.github_app_id} on every default branch", file=out)
        return 0
    print(f"{where}: {'would create' if not current else 'would change'}", file=out)
    for line in changes:
        print(f"  {line}", file=out)
    if dry_run:
        print("dry run: nothing changed", file=out)
        return 0
    saved = github.save_org_ruleset(org, wanted, current["id"] if current else None)
    print(f"{where} {'updated' if current else 'created'} (id {saved['id']})", file=out)
    return 0


def unprotected(settings) -> list[str]:
    """Installed repositories whose default branch does not require the gate from this App."""
    app = GitHubApp(settings)
    missing = []
    for installation_id in app.installation_ids():
        github = app.installation(installation_id)
        for repo in github.repositories():
            branch = github.default_branch(repo)
            if not requires_gate(github.branch_rules(repo, branch), settings.github_app_id):
                missing.append(f"{repo}@{branch}")
    return sorted(missing)


def bypassers(settings) -> list[str]:
    """Organisation rulesets that require the gate on an installed repository's default branch
    and let someone bypass them: each names its actors (they can merge past the gate)."""
    app = GitHubApp(settings)
    found: dict[tuple[str, int], str] = {}
    for installation_id in app.installation_ids():
        github = app.installation(installation_id)
        for repo in github.repositories():
            rules = github.branch_rules(repo, github.default_branch(repo))
            for rule in rules:
                key = (str(rule.get("ruleset_source", "")), int(rule.get("ruleset_id") or 0))
                if rule.get("ruleset_source_type") != "Organization" or key in found or \
                        not requires_gate([rule], settings.github_app_id):
                    continue
                ruleset = github.org_ruleset(*key)
                actors = ruleset.get("bypass_actors") or []
                found[key] = (f"{key[0]} ruleset {ruleset.get('name')!r}: " + ", ".join(
                    f"{a.get('actor_type')} {a.get('actor_id')} ({a.get('bypass_mode')})"
                    for a in actors)) if actors else ""
    return sorted(v for v in found.values() if v)
