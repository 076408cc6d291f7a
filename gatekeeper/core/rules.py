"""The data in rules/: the org's default policy and the agent identities, read once."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml

from gatekeeper.core.policy import AgentRules, parse_agents, parse_policy


def rules_dir() -> Path:
    configured = os.environ.get("GATEKEEPER_RULES_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "rules"


@lru_cache(maxsize=1)
def default_policy_text() -> str:
    text = (rules_dir() / "policy.yml").read_text()
    parse_policy(None, text)  # the org default must itself be valid: fail at start, not per PR
    return text


@lru_cache(maxsize=1)
def agent_rules() -> AgentRules:
    return parse_agents((rules_dir() / "agents.yml").read_text())


@lru_cache(maxsize=1)
def popular_packages() -> frozenset[str]:
    lines = (rules_dir() / "popular-packages.txt").read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=1)
def cwe_names() -> dict[str, str]:
    return {str(k): str(v) for k, v in
            (yaml.safe_load((rules_dir() / "cwe-names.yml").read_text()) or {}).items()}


def with_cwe_name(cwe: str) -> str:
    """"CWE-89 SQL injection", or the id alone when the list does not name it."""
    name = cwe_names().get(cwe)
    return f"{cwe} {name}" if name else cwe
