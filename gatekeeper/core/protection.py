"""The organisation ruleset that makes the gate required, and how to tell it is in force. Pure.

The `gatekeeper` check is required on every repository's default branch, pinned to this App
(`integration_id`), so a check of the same name from another App or a token cannot satisfy it.
"""

from __future__ import annotations

import json

from gatekeeper.core.verdict import GATE

RULESET_NAME = "Gatekeeper"


def desired_ruleset(app_id: int, existing: dict | None = None) -> dict:
    """The ruleset Gatekeeper wants: its check required from this App on default branches.
    An existing ruleset of that name never loses anything: its other rules and checks, a
    stricter up-to-date policy, its branch and repository conditions (the default branch is
    added to what it already covers) and its bypass list are kept."""
    existing = existing or {}
    check = {"context": GATE, "integration_id": app_id}
    rules = [r for r in existing.get("rules", []) if r.get("type") != "required_status_checks"]
    old = [r for r in existing.get("rules", []) if r.get("type") == "required_status_checks"]
    others = [c for r in old for c in r.get("parameters", {}).get("required_status_checks", [])
              if c.get("context") != GATE]
    strict = any(r.get("parameters", {}).get("strict_required_status_checks_policy")
                 for r in old)
    parameters = {k: v for r in old for k, v in r.get("parameters", {}).items()}
    parameters.update({"strict_required_status_checks_policy": strict,
                       "required_status_checks": [*others, check]})
    rules.append({"type": "required_status_checks", "parameters": parameters})
    wanted = {
        "name": RULESET_NAME,
        "target": "branch",
        "enforcement": "active",
        "conditions": _widened(existing.get("conditions") or {}),
        "rules": rules,
    }
    if "bypass_actors" in existing:
        wanted["bypass_actors"] = existing["bypass_actors"]
    return wanted


def _widened(conditions: dict) -> dict:
    """The existing conditions with the default branch and every repository included; their
    exclusions are kept (narrowing them is the organisation's call, not this command's)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in conditions.items()}
    refs = out.setdefault("ref_name", {"include": [], "exclude": []})
    refs["include"] = list(dict.fromkeys([*refs.get("include", []), "~DEFAULT_BRANCH"]))
    refs.setdefault("exclude", [])
    if "repository_id" not in out and "repository_property" not in out:
        repos = out.setdefault("repository_name", {"include": [], "exclude": []})
        repos["include"] = list(dict.fromkeys([*repos.get("include", []), "~ALL"]))
        repos.setdefault("exclude", [])
    return out


def comparable(ruleset: dict | None) -> dict:
    """The fields Gatekeeper sets, from a ruleset as GitHub returns it."""
    if not ruleset:
        return {}
    return {k: ruleset.get(k) for k in ("name", "target", "enforcement", "conditions", "rules",
                                        "bypass_actors") if k in ruleset}


def diff(current: dict | None, desired: dict) -> list[str]:
    """Lines to show before changing anything: what is added (+), removed (-) or kept."""
    before = _flatten(comparable(current))
    after = _flatten(desired)
    lines = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) == after.get(key):
            continue
        if key in before:
            lines.append(f"- {key}: {before[key]}")
        if key in after:
            lines.append(f"+ {key}: {after[key]}")
    return lines


def _flatten(value, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else k))
        return out
    return {prefix: json.dumps(value, sort_keys=True)} if prefix else {}


def requires_gate(branch_rules: list[dict], app_id: int) -> bool:
    """Do the rules in force on a branch (GitHub's /rules/branches answer) require the gate's
    check from this App?"""
    for rule in branch_rules:
        if rule.get("type") != "required_status_checks":
            continue
        for check in rule.get("parameters", {}).get("required_status_checks", []):
            if check.get("context") == GATE and check.get("integration_id") == app_id:
                return True
    return False
