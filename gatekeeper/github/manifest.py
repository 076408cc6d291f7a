"""The GitHub App manifest, for GitHub's manifest registration flow."""

from __future__ import annotations

PERMISSIONS = {
    "checks": "write",  # the gatekeeper check runs
    "pull_requests": "write",
    "contents": "read",  # policy file and tarball of the head commit
    "metadata": "read",
    "members": "read",  # team rules in the policy
    "issues": "write",  # break-glass: the reply, the follow-up issue or label
    "statuses": "read",  # commit statuses named like the gate's checks are impersonation
    "repository_custom_properties": "read",  # custom properties choose a sensitivity level
}
EVENTS = ["pull_request", "pull_request_review", "check_run", "check_suite", "issue_comment",
          "merge_group", "status", "push"]  # push: the org policy; agents pushing past the gate


def manifest(public_url: str | None, name: str = "Gatekeeper", redirect_url: str | None = None,
             with_admin: bool = False) -> dict:
    """The App's manifest. `redirect_url`: where GitHub sends the registration's code (the
    local `gatekeeper setup` page); `with_admin`: organisation Administration (write), which
    `gatekeeper protect` needs to create the organisation ruleset."""
    base = (public_url or "https://gatekeeper.example.com").rstrip("/")
    permissions = {**PERMISSIONS, **({"organization_administration": "write"}
                                     if with_admin else {})}
    return {
        "name": name,
        "url": base,
        "description": "Keeps agent-authored pull requests from merging until tests, scans and "
                       "a qualified human's approval of the exact commit are in.",
        "hook_attributes": {"url": f"{base}/webhook", "active": True},
        "redirect_url": redirect_url or f"{base}/",
        "callback_urls": [f"{base}/oauth/callback"],  # sign-in for the details pages
        "public": False,
        "default_permissions": permissions,
        "default_events": EVENTS,
    }
