"""`gatekeeper protect`: the organisation ruleset that requires the gate, shown then applied;
and which installed repositories' default branches do not require it (for `doctor`)."""

from __future__ import annotations

import sys

from gatekeeper.core.protection import RULESET_NAME, desired_ruleset, diff, requires_gate
from gatekeeper.github.client import GitHubApp
from gatekeeper.service.settings import load_settings


def protect(org: str, dry_run: bool, out=sys.stdout, settings=None) -> int:
    settings = settings or load_settings()
    app = GitHubApp(settings)
    github = app.org_installation(org)
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
