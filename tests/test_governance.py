"""The organisation policy over repositories' files, levels and what they demand (pure)."""

from __future__ import annotations

import pytest

from gatekeeper.core.governance import (
    BUILT_IN,
    REPOSITORY,
    RepoFacts,
    combine,
    eligibility,
    instructions_problem,
    parse_org,
)
from gatekeeper.core.policy import PolicyError
from gatekeeper.core.rules import default_policy_text

ORG = "acme/.github:.github/gatekeeper.yml"
ORG_TEXT = """\
approvals: 2
scanners:
  block_on: low
tests:
  command: pytest -q
overridable: [tests.command]
levels:
  public: {}
  internal:
    instructions:
      references: ["https://acme.example/secure-coding"]
  restricted:
    agents: forbidden
    approvals: 3
    teams: [acme/security]
    stages: [tests, sast, dependencies]
assign:
  - level: restricted
    repos: ["payments-*"]
  - level: internal
    topics: [internal]
  - level: restricted
    properties: {data-sensitivity: [restricted, secret]}
default_level: public
"""


def effective(repo_text=None, name="acme/web", topics=(), properties=None, org=ORG_TEXT):
    return combine(default_policy_text(), parse_org(org, ORG) if org else None, "organisation",
                   repo_text, RepoFacts(name, tuple(topics), properties or {}))


def test_a_repository_cannot_lower_the_organisations_approvals():
    result = effective("approvals: 1\n")
    assert result.policy.approvals.required == 2
    assert [r.key for r in result.refused] == ["approvals.required"]
    assert "refused" in str(result.refused[0]) and "2" in str(result.refused[0])
    assert result.sources["approvals.required"] == "organisation"


def test_tightening_is_taken_and_said_to_come_from_the_repository():
    result = effective("approvals: 4\nsensitive:\n  paths: [secrets/**]\n")
    assert result.policy.approvals.required == 4 and not result.refused
    assert result.sources["approvals.required"] == REPOSITORY
    assert "secrets/**" in result.policy.sensitive.paths
    assert ".github/workflows/**" in result.policy.sensitive.paths  # the org's stay


@pytest.mark.parametrize("repo_text,key", [
    ("scanners:\n  block_on: high\n", "scanners.block_on"),
    ("stages:\n  sast: false\n", "stages.sast"),
    ("gate: agents\n", None),  # the same value is no loosening
    ("approvers:\n  min_permission: read\n", "approvers.min_permission"),
    ("approvers:\n  users: [friend]\n", "approvers.users"),
    ("break_glass:\n  teams: [anyone]\n", "break_glass.teams"),
    ("agents:\n  automation_logins: ['agent-x[bot]']\n", "agents.automation_logins"),
    ("tests:\n  preexisting: block\n  base_tests: 'off'\n", "tests.base_tests"),
    ("tests:\n  attempts: off\n", "tests.attempts"),  # bare YAML `off` is the setting
    ("coverage:\n  changed_lines: 0.5\n", "coverage.changed_lines"),
    ("coverage:\n  enabled: false\n", "coverage.enabled"),
    ("coverage:\n  changed_lines: 0.9\n  blocking: true\n", None),  # tighter: taken
])
def test_loosening_is_refused_key_by_key(repo_text, key):
    refused = [r.key for r in effective(repo_text).refused]
    assert refused == ([key] if key else [])


def test_overridable_keys_and_keys_the_organisation_left_alone_are_the_repositorys():
    result = effective("tests:\n  command: make check\n  python: '3.12'\n")
    assert not result.refused
    assert result.policy.tests.command == "make check" and result.policy.tests.python == "3.12"
    locked = effective("tests:\n  command: make check\n",
                       org="tests:\n  command: pytest -q\n")
    assert [r.key for r in locked.refused] == ["tests.command"]
    assert locked.policy.tests.command == "pytest -q"


def test_without_an_organisation_policy_the_repository_overrides_as_before():
    result = effective("approvals: 1\nscanners:\n  block_on: high\n", org=None)
    assert result.policy.scanners.block_on == "high" and not result.refused
    assert result.sources["scanners.block_on"] == REPOSITORY
    assert result.sources["approvals.required"] == REPOSITORY
    assert result.sources["stages.tests"] == BUILT_IN


@pytest.mark.parametrize("name,topics,properties,level", [
    ("acme/payments-api", (), {}, "restricted"),
    ("acme/web", ("internal",), {}, "internal"),
    ("acme/web", ("internal",), {"data-sensitivity": "restricted"}, "restricted"),  # the most
    ("acme/web", (), {"data-sensitivity": "public"}, "public"),
])
def test_levels_by_name_topic_and_custom_property(name, topics, properties, level):
    assert effective(name=name, topics=topics, properties=properties).level == level


def test_a_restricted_level_tightens_what_a_repository_cannot_loosen():
    result = effective("stages:\n  tests: false\n", name="acme/payments-api")
    policy = result.policy
    assert policy.approvals.required == 3 and policy.approvers.teams_only
    assert policy.approvers.teams == ["acme/security"] and policy.stages.tests
    assert result.sources["approvals.required"] == "level restricted"
    assert eligibility(result.rules, result.level, ["app.py"])[0].startswith(
        "levels.restricted.agents: forbidden")


def test_off_limits_paths_name_the_rule():
    org = "levels:\n  guarded:\n    off_limits: ['billing/**']\ndefault_level: guarded\n"
    result = effective(org=org)
    assert eligibility(result.rules, result.level, ["docs/a.md"]) == []
    assert eligibility(result.rules, result.level, ["billing/x.py"]) == [
        "levels.guarded.off_limits: billing/** — agents may not change billing/x.py"]


def test_instruction_files_required_by_a_level():
    result = effective(topics=("internal",))
    ref = "https://acme.example/secure-coding"
    assert "has none" in instructions_problem(result.rules, result.level,
                                              {"AGENTS.md": None, "CLAUDE.md": None})
    assert ref in instructions_problem(result.rules, result.level, {"AGENTS.md": "be careful"})
    assert instructions_problem(result.rules, result.level,
                                {"AGENTS.md": None, "CLAUDE.md": f"Follow {ref}."}) is None
    assert instructions_problem(None, None, {}) is None


def test_an_invalid_organisation_policy_names_its_file_and_line():
    with pytest.raises(PolicyError) as err:
        parse_org("approvals: 2\nassign:\n  - level: secret\n", ORG)
    assert str(err.value).startswith(ORG) and "unknown level secret" in str(err.value)
    with pytest.raises(PolicyError) as err:
        parse_org("scanners:\n  block_on: never\n", ORG)
    assert f"{ORG}:2" in str(err.value)


def test_a_repository_file_cannot_define_levels():
    with pytest.raises(PolicyError):
        effective("levels:\n  mine: {agents: allowed}\n")


def test_a_blocking_instruction_finding_fails_the_gate_and_refusals_are_listed():
    from gatekeeper.core.model import Finding
    from gatekeeper.core.verdict import GATE, REVIEW, CheckVerdict, with_governance

    passed = [CheckVerdict(REVIEW, "success", "Approved", "ok"),
              CheckVerdict(GATE, "success", "Passed", "all green")]
    warning = Finding("gatekeeper", "agent-instructions", "none found", blocking=False)
    [_, gate] = with_governance(passed, [warning], ["approvals.required: refused"])
    assert gate.conclusion == "success" and gate.findings == (warning,)
    assert "refused by the organisation's policy:**\n- approvals.required: refused" in gate.summary
    blocking = Finding("gatekeeper", "agent-instructions", "none found", blocking=True)
    [review, gate] = with_governance(passed, [blocking], [])
    assert gate.conclusion == "failure" and gate.title == "Blocked: agent-instructions"
    assert review == passed[0]
    assert with_governance(passed, [], []) == passed


def test_a_levels_instruction_files_become_sensitive_paths():
    org = ("levels:\n  internal:\n    instructions:\n      files: [docs/AI.md]\n"
           "default_level: internal\n")
    assert "docs/AI.md" in effective(org=org).policy.sensitive.paths


def test_an_overridable_sensitive_path_list_adds_to_the_organisations_never_replaces_it():
    result = effective("sensitive:\n  paths: ['migrations/**']\n",
                       org="overridable: [sensitive.paths]\n")
    paths = result.policy.sensitive.paths
    assert "migrations/**" in paths and ".github/workflows/**" in paths and not result.refused
