"""The organisation's policy over its repositories: a repository's file may only tighten it,
sensitivity levels assigned by name, topic or custom property, and what a level demands.

Pure: callers hand in the texts and the repository's facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import Field, model_validator

from gatekeeper.core.bounded import load_yaml
from gatekeeper.core.model import ChangedFile
from gatekeeper.core.policy import (
    ADDITIVE,
    PERMISSION_RANK,
    POLICY_PATH,
    Policy,
    Strict,
    load_mapping,
    merge,
    path_matches,
    short_forms,
)

ORG_REPO = ".github"  # the organisation's policy: ORG/.github, POLICY_PATH, default branch
# where agents read their instructions (Codex & co., Claude Code, Gemini, Copilot, Cursor,
# Windsurf, aider, OpenHands)
INSTRUCTION_FILES = ["AGENTS.md", "CLAUDE.md", "GEMINI.md", ".github/copilot-instructions.md",
                     ".cursorrules", ".windsurfrules", "CONVENTIONS.md",
                     ".openhands/microagents/repo.md"]
BUILT_IN = "built-in default"
REPOSITORY = f"repository ({POLICY_PATH})"


class Instructions(Strict):
    files: list[str] = Field(default_factory=lambda: list(INSTRUCTION_FILES))
    references: list[str] = []  # texts one of the files must contain, e.g. a standard's URL
    blocking: bool = False  # False: a warning for the reviewer


class Level(Strict):
    agents: Literal["allowed", "forbidden"] = "allowed"
    off_limits: list[str] = []  # path globs agents' pull requests may not change
    approvals: int | None = Field(None, ge=1, le=10)
    teams: list[str] = []  # approvals count only from members of these teams
    stages: list[Literal["tests", "sast", "dependencies"]] = []  # cannot be turned off
    instructions: Instructions | None = None


class Assign(Strict):
    level: str
    repos: list[str] = []  # globs on "name" or "owner/name"
    topics: list[str] = []
    properties: dict[str, str | list[str]] = {}  # custom property -> value(s)


class OrgPolicy(Policy):
    overridable: list[str] = []  # dotted keys a repository may set freely, e.g. "approvals"
    # listed from least to most sensitive: a repository several rules match takes the last
    levels: dict[str, Level] = {}
    assign: list[Assign] = []
    default_level: str | None = None

    @model_validator(mode="after")
    def _levels_exist(self) -> OrgPolicy:
        named = [a.level for a in self.assign] + ([self.default_level] if self.default_level else [])
        unknown = sorted({name for name in named if name not in self.levels})
        if unknown:
            raise ValueError(f"unknown level {', '.join(unknown)}; levels are "
                             f"{', '.join(self.levels) or 'not defined'}")
        return self


ORG_ONLY = ("overridable", "levels", "assign", "default_level")


@dataclass(frozen=True)
class RepoFacts:
    name: str  # owner/name
    topics: tuple[str, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    key: str
    asked: Any
    kept: Any
    why: str

    def __str__(self) -> str:
        return (f"{self.key}: the repository's {self.asked!r} is refused ({self.why}); "
                f"the organisation's {self.kept!r} applies")


@dataclass(frozen=True)
class Effective:
    policy: Policy
    sources: dict[str, str]  # dotted key -> where its value came from
    refused: tuple[Refusal, ...] = ()
    level: str | None = None
    level_reason: str = ""
    rules: Level | None = None  # the level's demands


def _ordered(*values: Any) -> Callable[[Any, Any], bool]:
    return lambda asked, kept: values.index(asked) >= values.index(kept)


def _at_least(asked: Any, kept: Any) -> bool:
    return asked >= kept


def _rank(asked: str, kept: str) -> bool:
    return PERMISSION_RANK[asked] >= PERMISSION_RANK[kept]


# key -> is the repository's value at least as strict as the organisation's?
STRICTER: dict[tuple, Callable[[Any, Any], bool]] = {
    ("gate",): _ordered("agents", "agents+automation", "all"),
    ("approvals", "required"): _at_least,
    ("approvals", "after_verdict"): _at_least,
    ("approvers", "min_permission"): _rank,
    ("approvers", "teams_only"): _at_least,
    ("sensitive", "approvals"): _at_least,
    ("sensitive", "approvers", "min_permission"): _rank,
    ("sensitive", "approvers", "teams_only"): _at_least,
    ("stages", "tests"): _at_least,
    ("stages", "sast"): _at_least,
    ("stages", "dependencies"): _at_least,
    ("tests", "preexisting"): _ordered("warn", "block"),
    ("tests", "base_tests"): _ordered("off", "warn", "block"),
    ("tests", "attempts"): _ordered("off", "ack", "block"),
    ("tests", "rerun"): lambda asked, kept: asked <= kept,  # off is the stricter
    ("coverage", "enabled"): _at_least,
    ("coverage", "changed_lines"): _at_least,
    ("coverage", "blocking"): _at_least,
    ("scanners", "block_on"): _ordered("high", "medium", "low"),
    ("scanners", "whole_tree"): _at_least,
    ("scanners", "unparsed"): _ordered("neutral", "fail"),
}
# lists whose every entry lets more through: a repository may only drop entries
WIDENING = {("approvers", "users"), ("approvers", "teams"), ("sensitive", "approvers", "users"),
            ("sensitive", "approvers", "teams"), ("break_glass", "teams"),
            ("triage", "users"), ("triage", "teams"),
            ("agents", "automation_logins"), ("agents", "automation_emails")}
LEAF_MAPPINGS = {("tests", "env"), ("agents", "names")}


def parse_org(text: str, file: str) -> dict:
    """The organisation policy's mapping, validated; PolicyError naming the org's file."""
    return load_mapping(text, OrgPolicy, file)


def combine(default_text: str, org: dict | None, org_label: str, repo_text: str | None,
            facts: RepoFacts) -> Effective:
    """Built-in default < organisation policy < repository file (tighten-only, except keys the
    organisation marks overridable) < the repository's level (tightens again)."""
    # every key, so a repository's value always has the organisation's to be compared with
    default = merge(Policy().model_dump(),
                    short_forms(load_yaml(default_text, "rules/policy.yml") or {}))
    repo = load_mapping(repo_text, Policy) if repo_text is not None else {}
    sources = {_dotted(k): BUILT_IN for k, _ in leaves(default)}
    if org is None:  # no organisation policy: the repository's file overrides, as always
        sources.update({_dotted(k): REPOSITORY for k, _ in leaves(repo)})
        return Effective(Policy.model_validate(merge(default, repo)), sources)
    with_org = merge(default, org)
    org_policy = OrgPolicy.model_validate(with_org)
    base = {k: v for k, v in with_org.items() if k not in ORG_ONLY}
    sources.update({_dotted(k): org_label for k, _ in leaves(org) if k[0] not in ORG_ONLY})
    if "approvers" in _sub(repo, ("sensitive",)) and base["sensitive"].get("approvers") is None:
        base["sensitive"] = {**base["sensitive"], "approvers": base.get("approvers", {})}
    merged, refused = _tighten(base, repo, org, org_policy.overridable, sources)
    level, reason = _level_of(org_policy, facts)
    rules = org_policy.levels[level] if level else None
    if rules:
        merged = _apply_level(merged, rules, level, sources)
    return Effective(Policy.model_validate(merged), sources, tuple(refused), level, reason,
                     rules)


def _tighten(base: dict, repo: dict, org: dict, overridable: list[str],
             sources: dict[str, str]) -> tuple[dict, list[Refusal]]:
    merged, refused = base, []
    org_keys = {k for k, _ in leaves(org)}
    for key, asked in leaves(repo):
        kept = _get(base, key)
        dotted = _dotted(key)
        why = None
        if key in ADDITIVE and key not in WIDENING:  # adds, overridable or not: never drops
            value = list(kept or []) + [v for v in asked if v not in (kept or [])]
        elif any(dotted == o or dotted.startswith(o + ".") for o in overridable):
            value = asked
        elif key in STRICTER:
            value = asked
            if kept is not None and not STRICTER[key](asked, kept):
                why = "looser than the organisation's"
        elif key in WIDENING:
            value = asked
            extra = [v for v in asked if v not in (kept or [])]
            if extra:
                why = f"adds {', '.join(map(str, extra))}, which lets more through"
        else:
            value = asked
            if key in org_keys and asked != kept:
                why = "set by the organisation and not marked overridable"
        if why:
            refused.append(Refusal(dotted, asked, kept, why))
            continue
        if value != kept:
            merged = _set(merged, key, value)
            sources[dotted] = REPOSITORY
    return merged, refused


def _level_of(org: OrgPolicy, facts: RepoFacts) -> tuple[str | None, str]:
    """The most sensitive level whose rules match the repository, and why."""
    order = list(org.levels)
    found: list[tuple[int, str, str]] = []
    for rule in org.assign:
        why = _matches(rule, facts)
        if why:
            found.append((order.index(rule.level), rule.level, why))
    if found:
        _, level, why = max(found, key=lambda f: f[0])
        return level, why
    if org.default_level:
        return org.default_level, "the organisation's default level"
    return None, ""


def _matches(rule: Assign, facts: RepoFacts) -> str | None:
    short = facts.name.split("/")[-1]
    for glob in rule.repos:
        if fnmatchcase(facts.name.lower(), glob.lower()) or fnmatchcase(short.lower(),
                                                                        glob.lower()):
            return f"name matches {glob}"
    topics = {t.lower() for t in facts.topics}
    for topic in rule.topics:
        if topic.lower() in topics:
            return f"topic {topic}"
    for name, wanted in rule.properties.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        have = facts.properties.get(name)
        have = have if isinstance(have, list) else [have]
        if any(str(h).lower() == str(v).lower() for h in have if h is not None for v in values):
            return f"custom property {name} = {', '.join(map(str, values))}"
    return None


def _apply_level(merged: dict, rules: Level, level: str, sources: dict[str, str]) -> dict:
    label = f"level {level}"
    if rules.approvals and rules.approvals > merged["approvals"]["required"]:
        merged = _set(merged, ("approvals", "required"), rules.approvals)
        sources["approvals.required"] = label
    if rules.teams:
        merged = _set(merged, ("approvers", "teams"), list(rules.teams))
        merged = _set(merged, ("approvers", "teams_only"), True)
        merged = _set(merged, ("approvers", "users"), [])
        for key in ("approvers.teams", "approvers.teams_only", "approvers.users"):
            sources[key] = label
    if rules.instructions:  # what agents are told stays a sensitive change
        paths = merged["sensitive"]["paths"]
        extra = [f for f in rules.instructions.files if f not in paths]
        if extra:
            merged = _set(merged, ("sensitive", "paths"), paths + extra)
    for stage in rules.stages:
        if not merged["stages"].get(stage, True):
            merged = _set(merged, ("stages", stage), True)
            sources[f"stages.{stage}"] = label
    return merged


def needs_facts(org: dict) -> bool:
    """Whether the organisation's levels are chosen by topics or custom properties, which
    only GitHub knows (names are known already)."""
    return any(rule.get("topics") or rule.get("properties") for rule in org.get("assign", []))


def changed_paths(files: Sequence[ChangedFile]) -> list[str]:
    """Every path a change touches: new names and the old names of renamed files."""
    return [p for f in files for p in (f.path, f.previous_path) if p]


def eligibility(rules: Level | None, level: str | None, files: list[str]) -> list[str]:
    """Why an agent's pull request may not change this repository, or these paths."""
    if rules is None:
        return []
    if rules.agents == "forbidden":
        return [f"levels.{level}.agents: forbidden — agent pull requests are not allowed in "
                f"repositories of level {level}"]
    hits = [(p, g) for p in files for g in rules.off_limits if path_matches(g, p)]
    return [f"levels.{level}.off_limits: {g} — agents may not change {p}" for p, g in hits]


def instructions_problem(rules: Level | None, level: str | None,
                         texts: dict[str, str | None]) -> str | None:
    """What is wrong with the agent instruction files the level requires; None when fine.
    `texts`: each of the level's instruction files -> its text on the base branch, or None."""
    if rules is None or rules.instructions is None:
        return None
    wanted = rules.instructions
    present = {path: text for path, text in texts.items() if text is not None}
    if not present:
        return (f"level {level} requires agent instructions ({', '.join(wanted.files)}); "
                "the base branch has none")
    missing = [ref for ref in wanted.references
               if not any(ref.lower() in text.lower() for text in present.values())]
    if missing:
        return (f"level {level} requires the agent instructions ({', '.join(present)}) to "
                f"reference {', '.join(missing)}")
    return None


def leaves(data: dict, prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(key path, value) of every setting, mappings like tests.env kept whole."""
    for key, value in data.items():
        path = prefix + (key,)
        if isinstance(value, dict) and path not in LEAF_MAPPINGS:
            yield from leaves(value, path)
        else:
            yield path, value


def _get(data: dict, key: tuple) -> Any:
    for part in key:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _sub(data: dict, key: tuple) -> dict:
    value = _get(data, key)
    return value if isinstance(value, dict) else {}


def _set(data: dict, key: tuple, value: Any) -> dict:
    """A copy of `data` with `key` set (parents made as needed)."""
    head, *rest = key
    inner = data.get(head)
    new = _set(inner if isinstance(inner, dict) else {}, tuple(rest), value) if rest else value
    return {**data, head: new}


def _dotted(key: tuple) -> str:
    return ".".join(str(k) for k in key)

