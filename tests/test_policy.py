from pathlib import Path

import pytest

from gatekeeper.core.policy import PolicyError, parse_agents, parse_policy, path_matches, with_additions

RULES = Path(__file__).resolve().parent.parent / "rules"
DEFAULT = (RULES / "policy.yml").read_text()


def test_org_default_applies_when_the_repository_has_no_file():
    policy = parse_policy(None, DEFAULT)
    assert policy.gate == "agents" and policy.approvals.required == 1
    assert policy.approvals.after_verdict
    assert policy.approvers.min_permission == "write"
    assert policy.sensitive.approvals == 2
    assert ".github/workflows/**" in policy.sensitive.paths
    assert ".github/gatekeeper.yml" in policy.sensitive.paths


def test_repository_file_overrides_keys_but_only_adds_sensitive_paths():
    policy = parse_policy("approvals: 2\nsensitive:\n  paths: [src/auth/**]\n", DEFAULT)
    assert policy.approvals.required == 2
    assert "src/auth/**" in policy.sensitive.paths
    assert ".github/workflows/**" in policy.sensitive.paths  # a repo cannot drop these
    assert policy.sensitive.approvals == 2


def test_empty_file_is_the_default():
    assert parse_policy("", DEFAULT) == parse_policy(None, DEFAULT)


@pytest.mark.parametrize("text,line,fragment", [
    ("gate: agents\naprovals: 2\n", 2, "unknown key 'aprovals', did you mean 'approvals'?"),
    ("tests:\n  preexisitng: block\n", 2,
     "unknown key 'tests.preexisitng', did you mean 'preexisting'?"),
    ("approvals: two\n", 1, "approvals: must be a mapping of keys to values (or a number: "
                             "`approvals: 2`), not 'two'"),
    ("approvals: 0\n", 1, "approvals.required: must be greater than or equal to 1, not 0"),
    ("coverage:\n  changed_lines: 1.5\n", 2,
     "coverage.changed_lines: must be less than or equal to 1, not 1.5"),
    ("tests:\n  python: '3'\n", 2, "tests.python: must be a Python version like '3.12', not '3'"),
    ("gate: some\n", 1, "gate: must be 'agents', 'agents+automation' or 'all'"),
    ("approvers:\n  min_permission: owner\n", 2, "approvers.min_permission"),
    ("sensitive:\n  paths:\n    - ok/**\n    - 7\n", 4, "sensitive.paths.1"),
    ("approvals: [1\n", 2, "not valid YAML"),
    ("- just\n- a list\n", 1, "must be a mapping"),
])
def test_invalid_files_report_each_problem_with_its_line(text, line, fragment):
    with pytest.raises(PolicyError) as err:
        parse_policy(text, DEFAULT)
    [problem] = err.value.problems
    assert problem.line == line, problem
    assert fragment in problem.message
    assert str(problem).startswith(f".github/gatekeeper.yml:{line}: ")


def test_every_error_is_reported_not_just_the_first():
    with pytest.raises(PolicyError) as err:
        parse_policy("gate: maybe\napprovals: -1\nstages:\n  tests: perhaps\n", DEFAULT)
    assert [p.line for p in err.value.problems] == [1, 2, 4]


@pytest.mark.parametrize("pattern,path,expected", [
    (".github/workflows/**", ".github/workflows/ci.yml", True),
    (".github/workflows/**", ".github/workflows/sub/ci.yml", True),
    (".github/workflows/**", ".github/workflowsX/ci.yml", False),
    ("**/requirements*.txt", "requirements.txt", True),
    ("**/requirements*.txt", "svc/requirements-dev.txt", True),
    ("**/requirements*.txt", "svc/requirements/dev.txt", False),
    ("AGENTS.md", "docs/AGENTS.md", False),
    ("**/AGENTS.md", "docs/AGENTS.md", True),
    ("*.py", "a/b.py", False),
    ("src/?.py", "src/a.py", True),
])
def test_path_globs(pattern, path, expected):
    assert path_matches(pattern, path) is expected


def test_agent_rules_load_and_repositories_add_to_them():
    base = parse_agents((RULES / "agents.yml").read_text())
    assert "copilot-swe-agent[bot]" in base.bot_logins and "codex/" in base.branch_prefixes
    policy = parse_policy("agents:\n  branch_prefixes: [bot/]\n", DEFAULT)
    merged = with_additions(base, policy.agents)
    assert "bot/" in merged.branch_prefixes and "codex/" in merged.branch_prefixes


def test_a_bare_off_is_the_setting_not_false():
    from gatekeeper.core.rules import default_policy_text

    policy = parse_policy("tests:\n  base_tests: off\n  attempts: off\n", default_policy_text())
    assert (policy.tests.base_tests, policy.tests.attempts) == ("off", "off")
