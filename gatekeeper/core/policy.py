"""Repository policy (.github/gatekeeper.yml): schema, org defaults, errors with their lines.

Pure: callers hand in the texts; the policy file is always the base branch's.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from gatekeeper.core.bounded import ParseError, load_yaml, load_yaml_node

POLICY_PATH = ".github/gatekeeper.yml"
PERMISSION_RANK = {"none": 0, "read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}
# lists that a repository adds to rather than replaces: it cannot drop the org's protections
ADDITIVE = {("sensitive", "paths"), ("agents", "bot_logins"), ("agents", "branch_prefixes"),
            ("agents", "coauthor_emails"), ("agents", "markers"), ("agents", "labels"),
            ("agents", "author_emails"), ("agents", "author_names"),
            ("agents", "message_prefixes"), ("agents", "automation_logins"),
            ("agents", "automation_emails"), ("agents", "session_links"),
            ("agents", "trailer_keys")}

Permission = Literal["read", "triage", "write", "maintain", "admin"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Approvers(Strict):
    min_permission: Permission = "write"
    users: list[str] = []
    teams: list[str] = []
    # only members of `teams` (or listed users) count, whatever their permission
    teams_only: bool = False


class Sensitive(Strict):
    approvals: int = Field(2, ge=1, le=10)
    paths: list[str] = []
    approvers: Approvers | None = None  # None: the general approvers


class Stages(Strict):
    tests: bool = True
    sast: bool = True
    dependencies: bool = True


class TestLimits(Strict):
    """The suite's sandbox limits; the worker's GATEKEEPER_MAX_TEST_* settings cap them."""
    wall_minutes: int = Field(20, ge=1, le=480)
    memory_mib: int = Field(2048, ge=256, le=262144)
    processes: int = Field(256, ge=16, le=8192)
    output_kib: int = Field(1024, ge=64, le=65536)
    # what set-up may download through the package cache in one run (unpinned dependencies
    # can pull very large wheels: a CUDA build of torch); capped by GATEKEEPER_MAX_DOWNLOAD_MIB
    download_mib: int = Field(4096, ge=64, le=262144)


class Tests(Strict):
    command: str | None = None
    # sandbox: the project's own installers run in the sandbox, the package index the only
    # host reachable; wheels: requirements read as data and fetched as wheels outside
    setup: Literal["sandbox", "wheels"] = "sandbox"
    limits: TestLimits = TestLimits()
    # a test that fails on the base commit too: a warning for the reviewer, or blocking
    preexisting: Literal["warn", "block"] = "warn"
    # the base commit's versions of test files the change edits, run on the change's code
    base_tests: Literal["block", "warn", "off"] = "warn"
    # what the change's tests tried (network, shells, credentials): each new kind needs an
    # acknowledgement (credential reads block), or every one blocks, or none is recorded
    attempts: Literal["ack", "block", "off"] = "ack"
    # a base test failing on the change and not on the base is run again alone (up to 20):
    # one that passes then needs acknowledgement as flaky instead of blocking; false: blocks
    rerun: bool = True
    python: str | None = Field(None, pattern=r"^3\.\d{1,2}$")  # "3.12": this interpreter only
    install: list[str] = []  # more requirements for the suite (plain specifiers, as wheels)
    workdir: str | None = Field(None, pattern=r"^[\w./-]+$")  # inside the repository
    # variables for the suite; never secrets (everything in the sandbox is the change's to read)
    env: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = {}

    @field_validator("workdir")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/")):
            raise ValueError("must be a folder inside the repository (relative, no '..')")
        return value


class Coverage(Strict):
    """Which of the change's lines the tests ran (the gate's own coverage.py, line level)."""
    enabled: bool = True
    changed_lines: float = Field(0.8, ge=0, le=1)  # the share of changed lines a test runs
    blocking: bool = False  # below `changed_lines`: a warning (false) or blocking (true)


class Scanners(Strict):
    block_on: Literal["low", "medium", "high"] = "medium"
    whole_tree: bool = False  # scan every file, not only those the pull request changed
    # a file a scanner could not parse: the sast check fails (default) or is neutral
    unparsed: Literal["fail", "neutral"] = "fail"


class Slack(Strict):
    channel: str | None = None


class AgentRules(Strict):
    bot_logins: list[str] = []
    branch_prefixes: list[str] = []
    coauthor_emails: list[str] = []
    author_emails: list[str] = []  # a commit author address only an agent uses
    author_names: list[str] = []  # globs on a commit author's name, e.g. "* (aider)"
    markers: list[str] = []
    # an agent's task or session page ("app.devin.ai/sessions/"): a link to it is evidence
    session_links: list[str] = []
    # trailer keys ("Assisted-by") whose value naming an agent is evidence; any spelling
    trailer_keys: list[str] = []
    message_prefixes: list[str] = []
    labels: list[str] = []
    # automation bots (dependabot, pre-commit-ci, ...): their own class, not agents
    automation_logins: list[str] = []  # "*" globs allowed: "*-releaser[bot]"
    automation_emails: list[str] = []
    automation_names: list[str] = []  # globs on a commit author's name, e.g. "* bot"
    # which agent or automation a login or address belongs to, for the evidence shown
    names: dict[str, str] = {}


AGENT_FIELDS = ("bot_logins", "branch_prefixes", "coauthor_emails", "author_emails",
                "author_names", "markers", "message_prefixes", "session_links")


class BreakGlass(Strict):
    # members of these teams ("org/slug", or a slug of the repository's owner) may turn the
    # gate green for one head commit with `/gatekeeper override REASON`
    teams: list[str] = []
    follow_up: Literal["issue", "label"] = "issue"  # how the after-the-fact review is tracked
    label: str = Field("gatekeeper-override", min_length=1, max_length=50)


class Triage(Strict):
    # security reviewers: they may dismiss a blocking finding with `/gatekeeper dismiss RULE
    # [path:line] REASON`; nobody is one until named here
    users: list[str] = []
    teams: list[str] = []  # "org/slug", or a slug of the repository's owner


class Approvals(Strict):
    required: int = Field(1, ge=1, le=10)
    # an approval counts only if given after the gate posted its verdict for that commit
    after_verdict: bool = True


class Policy(Strict):
    # agents: AI agents' pull requests; agents+automation: dependabot & co. too; all: everyone's
    gate: Literal["agents", "agents+automation", "all"] = "agents"
    approvals: Approvals = Approvals()  # `approvals: 2` is short for `approvals: {required: 2}`
    approvers: Approvers = Approvers()
    sensitive: Sensitive = Sensitive()
    stages: Stages = Stages()
    tests: Tests = Tests()
    coverage: Coverage = Coverage()
    scanners: Scanners = Scanners()
    slack: Slack = Slack()
    agents: AgentRules = AgentRules()
    break_glass: BreakGlass = BreakGlass()
    triage: Triage = Triage()


@dataclass(frozen=True)
class Problem:
    line: int | None
    message: str
    file: str = POLICY_PATH  # the organisation's file is named "ORG/.github:<path>"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class PolicyError(Exception):
    """The base branch's policy file is invalid; every problem, with its line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def parse_policy(repo_text: str | None, default_text: str) -> Policy:
    """The effective policy: the org default, overridden by the repository's file if any."""
    default = short_forms(load_yaml(default_text, "rules/policy.yml") or {})
    if repo_text is None:
        return Policy.model_validate(default)
    data = load_mapping(repo_text, Policy)
    return Policy.model_validate(merge(default, data, ()))


def load_mapping(text: str, model: type[BaseModel], file: str = POLICY_PATH) -> dict:
    """A policy file's mapping, short forms expanded, valid for `model` on its own (so error
    locations are the file's own lines); PolicyError otherwise."""
    try:
        data, node = load_yaml_node(text, file)
    except ParseError as exc:  # not YAML, a repeated key, or past a bound (an alias bomb)
        raise PolicyError([Problem(exc.line, exc.reason, file)]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError([Problem(1, "must be a mapping of keys to values", file)])
    data = short_forms(data)
    try:
        model.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(line_of(node, err["loc"]), _friendly(err, model), file)
                    for err in exc.errors()]
        raise PolicyError(sorted(problems, key=lambda p: (p.line or 0, p.message))) from None
    return data


SHAPES = {"dict_type": "a mapping of keys to values", "model_type": "a mapping of keys to values",
          "int_type": "a whole number", "int_parsing": "a whole number",
          "float_type": "a number", "float_parsing": "a number",
          "bool_type": "true or false", "bool_parsing": "true or false",
          "string_type": "text", "list_type": "a list", "literal_error": None}


def _friendly(err: dict, model: type[BaseModel]) -> str:
    """A validation error as a person would say it: the key, what is wrong, what would do."""
    loc = [str(p) for p in err["loc"]]
    where = ".".join(loc)
    if err["type"] == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        near = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        hint = f", did you mean '{near[0]}'?" if near else (
            f" (known here: {', '.join(sorted(known))})" if known else "")
        return f"unknown key '{where}'{hint}"
    if err["type"] == "string_pattern_mismatch" and loc[-1:] == ["python"]:
        return f"{where}: must be a Python version like '3.12', not {err.get('input')!r}"[:300]
    if err["type"] in ("literal_error", "less_than_equal", "greater_than_equal", "less_than",
                       "greater_than", "string_pattern_mismatch"):
        return f"{where}: {err['msg'].replace('Input should be', 'must be')}, not " \
               f"{err.get('input')!r}"[:300]
    shape = SHAPES.get(err["type"])
    given = err.get("input")
    if shape:
        extra = " (or a number: `approvals: 2`)" if loc[:1] == ["approvals"] else ""
        return f"{where}: must be {shape}{extra}, not {given!r}"[:300]
    return f"{where}: {err['msg']}"


def _fields_at(model: type[BaseModel], path: list[str]) -> list[str]:
    """The keys a mapping at `path` of `model` accepts (through lists and optional values)."""
    current: Any = model
    for part in path:
        if part.isdigit():
            current = _item_type(current)
            continue
        fields = getattr(_model_in(current), "model_fields", {})
        if part not in fields:
            return []
        current = fields[part].annotation
    return list(getattr(_model_in(current), "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    """The model an annotation holds: X itself, or X in `X | None` or `str | X`."""
    if hasattr(annotation, "model_fields"):
        return annotation
    return next((a for a in get_args(annotation) if hasattr(a, "model_fields")), None)


def _item_type(annotation: Any) -> Any:
    """X in `list[X]`, or in `list[X] | None`."""
    for candidate in (annotation, *get_args(annotation)):
        if get_origin(candidate) is list and get_args(candidate):
            return get_args(candidate)[0]
    return None


def short_forms(data: dict) -> dict:
    """`approvals: 2` means `approvals: {required: 2}`, so a file may set either key alone;
    a bare `off` (which YAML reads as false) is the setting "off" where a key takes one."""
    if not isinstance(data, dict):
        return data
    tests = data.get("tests")
    if isinstance(tests, dict) and any(tests.get(k) is False for k in OFF_KEYS):
        data = {**data, "tests": {k: "off" if k in OFF_KEYS and v is False else v
                                  for k, v in tests.items()}}
    if isinstance(data.get("approvals"), int) and not isinstance(data.get("approvals"), bool):
        return {**data, "approvals": {"required": data["approvals"]}}
    return data


OFF_KEYS = ("base_tests", "attempts")  # tests.* settings whose values include "off"


def merge(base: Any, override: Any, path: tuple = ()) -> Any:
    """`override` over `base`, key by key; lists in ADDITIVE are joined."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base.get(key), value, path + (key,)) if key in base else value
        return merged
    if path in ADDITIVE and isinstance(base, list) and isinstance(override, list):
        return base + [v for v in override if v not in base]
    return override


def line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """The line of the deepest part of `loc` that the file itself has."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if k.value == part]
            if not found:
                break
            key, node = found[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def parse_agents(text: str) -> AgentRules:
    """rules/agents.yml: a list of agents and of automation bots, each with its signatures
    (and notes on where they were seen), flattened for detection; flat lists as in a policy's
    `agents:` are read as they are."""
    data = load_yaml(text, "rules/agents.yml") or {}
    if not isinstance(data.get("agents", []), list) and not isinstance(data.get("automation"), list):
        return AgentRules.model_validate(data)
    flat: dict[str, list[str]] = {"labels": list(data.get("labels", [])),
                                  "trailer_keys": list(data.get("trailer_keys", []))}
    names: dict[str, str] = {}
    for entry in data.get("agents", []):
        for key in AGENT_FIELDS:
            for value in entry.get(key, []):
                flat.setdefault(key, []).append(value)
                names[value.lower()] = entry["name"]
    for entry in data.get("automation", []):
        for key, field in (("bot_logins", "automation_logins"),
                           ("coauthor_emails", "automation_emails"),
                           ("author_emails", "automation_emails"),
                           ("author_names", "automation_names")):
            for value in entry.get(key, []):
                flat.setdefault(field, []).append(value)
                names[value.lower()] = entry["name"]
    return AgentRules.model_validate({**flat, "names": names})


def with_additions(base: AgentRules, extra: AgentRules) -> AgentRules:
    """The org's agent identities plus a repository's own."""
    merged: dict = {name: list(dict.fromkeys(getattr(base, name) + getattr(extra, name)))
                    for name, info in AgentRules.model_fields.items() if name != "names"}
    return AgentRules(**merged, names={**base.names, **extra.names})


def path_matches(pattern: str, path: str) -> bool:
    """Glob with `**` for any depth, `*` and `?` within one path segment."""
    return _glob(pattern).fullmatch(path) is not None


@lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))
