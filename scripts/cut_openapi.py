"""Cut the parts of GitHub's OpenAPI description that Gatekeeper calls into tests/fixtures.

Usage: python scripts/cut_openapi.py ../shared/fixtures/github-openapi/api.github.com.json
Keeps each used operation's parameters and request body (what a request is validated
against) and every component they reference; responses are left out to keep it small.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OPERATIONS = [
    ("get", "/app"),
    ("get", "/app/installations"),
    ("post", "/app-manifests/{code}/conversions"),  # gatekeeper setup
    ("get", "/app/hook/deliveries"),
    ("post", "/app/hook/deliveries/{delivery_id}/attempts"),
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/installation/repositories"),
    ("get", "/user"),
    ("get", "/user/memberships/orgs/{org}"),  # the activity page: organisation members only
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/installation"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/orgs/{org}/teams/{team_slug}/memberships/{username}"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("get", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/repos/{owner}/{repo}/tarball/{ref}"),
    ("get", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),  # the tarball held against it
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),  # break-glass replies
    ("post", "/repos/{owner}/{repo}/issues"),  # break-glass follow-up issue
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),  # or label
    ("get", "/orgs/{org}/installation"),  # gatekeeper protect
    ("get", "/orgs/{org}/rulesets"),
    ("post", "/orgs/{org}/rulesets"),
    ("get", "/orgs/{org}/rulesets/{ruleset_id}"),
    ("put", "/orgs/{org}/rulesets/{ruleset_id}"),
    ("get", "/repos/{owner}/{repo}/rules/branches/{branch}"),  # doctor: is the gate required?
    ("get", "/repos/{owner}/{repo}/compare/{basehead}"),  # a merge group's commits and files
    ("get", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),  # a push past the gate?
]
KEPT = ("parameters", "requestBody", "operationId", "summary")


def refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def cut(spec: dict) -> dict:
    paths: dict = {}
    for method, path in OPERATIONS:
        op = spec["paths"][path][method]
        paths.setdefault(path, {})[method] = {k: op[k] for k in KEPT if k in op}
    components: dict = {}
    todo = list(refs(paths))
    while todo:
        ref = todo.pop()
        _, section, name = ref.split("/")[1:]
        if name in components.get(section, {}):
            continue
        node = spec["components"][section][name]
        components.setdefault(section, {})[name] = node
        todo.extend(refs(node))
    return {"openapi": spec["openapi"], "info": spec["info"], "paths": paths,
            "components": components}


def main() -> None:
    source = Path(sys.argv[1])
    out = Path(__file__).resolve().parent.parent / "tests/fixtures/github-openapi/api.github.com.subset.json"
    out.write_text(json.dumps(cut(json.loads(source.read_text())), indent=1, sort_keys=True) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
