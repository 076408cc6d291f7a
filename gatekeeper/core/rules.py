"""The data in rules/: the org's default policy and the agent identities, read once."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

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
