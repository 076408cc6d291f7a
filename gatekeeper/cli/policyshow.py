"""`gatekeeper policy show OWNER/NAME`: the effective policy of a repository's default branch,
each value with where it came from (built-in default, organisation, repository, level)."""

from __future__ import annotations

import json
import sys

import requests

from gatekeeper.core.policy import PolicyError
from gatekeeper.github.client import GitHubApp
from gatekeeper.service.policies import OrgPolicyUnavailable, effective_policy, shown
from gatekeeper.service.queue import MemoryBackend
from gatekeeper.service.settings import load_settings


def show(repo: str, fmt: str = "text", out=sys.stdout, settings=None) -> int:
    if repo.count("/") != 1 or not all(repo.split("/")):
        print(f"gatekeeper policy show: expected OWNER/NAME, got {repo!r}", file=sys.stderr)
        return 2
    settings = settings or load_settings()
    try:
        github = GitHubApp(settings).repo_installation(repo)
    except requests.HTTPError as exc:
        print(f"gatekeeper policy show: the App is not installed on {repo} "
              f"({exc.response.status_code if exc.response is not None else exc})",
              file=sys.stderr)
        return 2
    branch = github.default_branch(repo)
    store = MemoryBackend(settings.delivery_ttl_seconds, workers=1)  # read now, not a cache
    try:
        effective, source = effective_policy(store, github, repo, branch, 1)
    except PolicyError as err:
        print(f"{repo}@{branch}: the policy is invalid:", file=out)
        for problem in err.problems:
            print(f"  {problem}", file=out)
        return 1
    except OrgPolicyUnavailable as err:
        print(f"{repo}@{branch}: {err} (gates fail closed until it can be read)", file=out)
        return 1
    view = shown(effective)
    if fmt == "json":
        print(json.dumps({"repository": repo, "branch": branch, **source, **view}, indent=2),
              file=out)
        return 0
    print(f"Effective policy of {repo}@{branch}", file=out)
    print(f"  organisation policy: {source['organisation'] or 'none'}", file=out)
    print(f"  repository policy:   {source['source']}", file=out)
    level = view["level"] or "none"
    print(f"  level:               {level}"
          + (f" ({view['level_reason']})" if view["level_reason"] else ""), file=out)
    for refusal in view["refused"]:
        print(f"  refused: {refusal}", file=out)
    print("", file=out)
    width = max(len(key) for key, _, _ in view["values"])
    for key, value, origin in view["values"]:
        print(f"{key:<{width}}  {json.dumps(value):<30}  {origin}", file=out)
    return 0
