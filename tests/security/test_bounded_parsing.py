"""YAML, TOML and JSON from a repository, made to exhaust the worker: alias bombs, deep
nesting, huge files, keys said twice. Each reaches the real reader (the policy of a change
and of the base, the policy test cases, a workflow, a pyproject, a lock, the attempt FIFO)
and must come back as that reader's clear error naming the file and the bound.

Bounds are asserted by memory (tracemalloc's peak) and by counts, never by a time; the
pytest-timeout on each is only a guard against a hang. Controls: the bomb really grows (a
small sibling, loaded the old way, is ten times the one below it), and a benign file of the
same shape, aliases and all, goes through the same path and is read as yaml.safe_load reads it.
"""

import json
import shutil
import tomllib
import tracemalloc
from pathlib import Path

import pytest
import yaml
from gitrepo import Repo

from gatekeeper.cli.local import check
from gatekeeper.cli.policytest import run_suite
from gatekeeper.core.bounded import CONFIG, DATA, ParseError, TooLarge, load_json, load_toml, load_yaml
from gatekeeper.core.model import ChangedFile
from gatekeeper.core.policy import POLICY_PATH, PolicyError, parse_policy
from gatekeeper.core.rules import default_policy_text
from gatekeeper.runner.attempts import AttemptLog
from gatekeeper.runner.projectsetup import gather, gather_workflows
from gatekeeper.runner.testenv import TooComplex, discover
from gatekeeper.scanners.depaudit import pins_of
from gatekeeper.service.settings import load_stage_config
from gatekeeper.service.stages import policy_change_findings

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024**2
DEEP = 100_000


def bomb(levels: int, width: int = 10, key: str = "agents", indent: str = "  ") -> str:
    """The classic: each anchor a list of `width` aliases to the one before."""
    lines = [f"{key}:", f"{indent}l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"{indent}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]"
              for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


# in the policy, each level under a key that takes a list: validation then names every
# element it refuses with its value (9 levels took the old worker past 15 minutes)
AGENT_LISTS = ["bot_logins", "branch_prefixes", "coauthor_emails", "author_emails",
               "author_names", "markers", "message_prefixes", "labels", "automation_logins",
               "automation_emails"]


def policy_bomb(levels: int, width: int = 10) -> str:
    text = bomb(levels, width)
    for i, key in enumerate(AGENT_LISTS[:levels + 1]):
        text = text.replace(f"  l{i}: &l{i}", f"  {key}: &l{i}", 1)
    return text


BOMB = policy_bomb(9)  # 10^10 values once expanded, in a few hundred bytes
BENIGN_POLICY = ("sensitive:\n  paths: &mine [src/secret/**, deploy/**]\n"
                 "approvers:\n  users: &people [erin, frank]\n"
                 "break_glass:\n  teams: *people\n"
                 "tests:\n  env: {A: '1', B: '2'}\n")


def peak_of(call) -> tuple[object, int]:
    """What `call` returned or raised, and the most memory Python held meanwhile."""
    tracemalloc.start()
    try:
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - the caller asserts which
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def expanded_size(value) -> int:
    """Values a walk visits (the way validation or merging reads the document)."""
    if isinstance(value, dict):
        return 1 + sum(expanded_size(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(expanded_size(v) for v in value)
    return 1


def test_the_bomb_is_a_bomb_and_a_benign_file_reads_as_safe_load_reads_it():
    # each level multiplies what a reader walks by ten: the old reading of 9 levels is 10^10
    for make in (bomb, policy_bomb):
        sizes = [expanded_size(yaml.safe_load(make(n))) for n in (2, 3, 4)]
        assert sizes[1] > 9 * sizes[0] and sizes[2] > 9 * sizes[1]
    assert "automation_emails: &l9" in BOMB
    assert 10**9 > CONFIG.nodes * 1000  # the bound is far below the full bomb
    small = bomb(3)  # 10^4 values: under the bound, read, same value as yaml.safe_load
    assert load_yaml(small, "small.yml") == yaml.safe_load(small)
    merged = ("base: &b {x: 1, y: [1, 2]}\nuse:\n  <<: *b\n  x: 3\nwhen: 2024-01-02\n"
              "deep: " + "[" * 40 + "]" * 40 + "\n")
    assert load_yaml(merged, "benign.yml") == yaml.safe_load(merged)
    assert load_yaml(BENIGN_POLICY, POLICY_PATH) == yaml.safe_load(BENIGN_POLICY)


@pytest.mark.timeout(60)
def test_an_alias_bomb_in_a_changes_policy_is_a_blocking_finding_in_bounded_memory():
    files = [ChangedFile(POLICY_PATH, "modified")]
    found, peak = peak_of(lambda: policy_change_findings(files, lambda path: BOMB))
    assert peak < 4 * MIB
    assert [f.rule for f in found] == ["policy-invalid"] and found[0].severity == "high"
    assert found[0].path == POLICY_PATH
    assert f"more than {CONFIG.nodes:,} values once aliases are expanded" in found[0].message
    # the control: a policy with aliases of its own goes through the same path, no finding
    assert policy_change_findings(files, lambda path: BENIGN_POLICY) == []
    assert parse_policy(BENIGN_POLICY, default_policy_text()).break_glass.teams == \
        ["erin", "frank"]


@pytest.mark.timeout(120)
def test_an_alias_bomb_in_the_base_policy_is_the_local_gates_error_naming_the_file(tmp_path):
    config = load_stage_config({"GATEKEEPER_CACHE_DIR": str(tmp_path / "cache")})

    def gate(name, base_policy):
        repo = Repo(tmp_path / name)
        repo.commit({".github/gatekeeper.yml": base_policy})
        repo.branch("feature")
        repo.commit({"a.py": "x = 2\n"})
        return check(repo.root, "main", "feature", config, use_cache=False)

    report, peak = peak_of(lambda: gate("bomb", "gate: all\n" + BOMB))
    assert peak < 8 * MIB
    assert isinstance(report.policy_error, PolicyError) and report.blocked
    assert f"{POLICY_PATH}:" in str(report.policy_error)
    assert f"more than {CONFIG.nodes:,} values" in str(report.policy_error)
    # the control: a base policy with aliases of its own is read (this change is not gated)
    benign = gate("benign", BENIGN_POLICY)
    assert benign.policy_error is None and not benign.gated


@pytest.mark.timeout(120)
def test_an_alias_bomb_in_policy_test_cases_is_the_commands_error(tmp_path, capsys):
    suite = tmp_path / "suite"
    shutil.copytree(ROOT / "examples" / "policy-tests", suite)
    assert run_suite(str(suite), "text") == 0  # the control: the example suite passes
    capsys.readouterr()
    (suite / "bomb.yml").write_text(bomb(9, key="cases_extra"))
    code, peak = peak_of(lambda: run_suite(str(suite), "text"))
    err = capsys.readouterr().err
    assert code == 2 and peak < 8 * MIB
    assert f"{suite / 'bomb.yml'}:" in err and f"more than {CONFIG.nodes:,} values" in err


@pytest.mark.timeout(60)
def test_an_alias_bomb_in_a_workflow_is_the_set_ups_error_naming_the_file(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    benign = "on: push\njobs:\n  t: &job {runs-on: ubuntu-latest, steps: [{run: pytest}]}\n" \
             "  u: *job\n"
    (workflows / "a.yml").write_text(benign)
    assert gather_workflows(tmp_path) == {".github/workflows/a.yml": yaml.safe_load(benign)}
    (workflows / "ci.yml").write_text(bomb(9, key="jobs"))
    raised, peak = peak_of(lambda: gather(tmp_path, tmp_path))
    assert peak < 8 * MIB
    assert isinstance(raised, TooComplex)  # set_up says it as "could not read the project's ..."
    assert str(raised).startswith(".github/workflows/ci.yml:")
    assert f"more than {CONFIG.nodes:,} values" in str(raised)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name,text,old", [
    ("deep.yml", "a: " + "[" * DEEP + "]" * DEEP + "\n", yaml.safe_load),
    ("deep-block.yml", "- " * DEEP + "x\n", lambda t: yaml.load(t, Loader=yaml.SafeLoader)),
    ("pyproject.toml", "a = " + "[" * DEEP + "]" * DEEP + "\n", tomllib.loads),
    ("Pipfile.lock", "[" * DEEP + "]" * DEEP, json.loads),
])
def test_deep_nesting_is_refused_before_it_is_built(name, text, old):
    # the control: the old readers fail on it with an error none of their callers expected
    with pytest.raises((RecursionError, yaml.YAMLError)):
        old(text)
    load = {"yml": load_yaml, "toml": load_toml, "lock": load_json}[name.rsplit(".", 1)[1]]
    raised, peak = peak_of(lambda: load(text, name))
    assert isinstance(raised, TooLarge) and peak < 8 * MIB
    assert str(raised).startswith(f"{name}") and "nested more than 64 levels deep" in str(raised)
    twin = text.replace("[" * DEEP, "[" * 20).replace("]" * DEEP, "]" * 20) \
        .replace("- " * DEEP, "- " * 20)  # the control: the same shape, shallow, is read
    assert load(twin, name) is not None


@pytest.mark.timeout(60)
def test_a_long_dotted_toml_key_is_refused_before_tomllib_spends_its_square(tmp_path):
    def dotted(parts):
        return "a." * parts + "a = 1\n"
    # the control: tomllib's memory grows with the square of the parts (100k parts: gigabytes)
    small, twice = (peak_of(lambda n=n: tomllib.loads(dotted(n)))[1] for n in (1000, 2000))
    assert twice > 3 * small
    raised, peak = peak_of(lambda: load_toml(dotted(DEEP), "pyproject.toml"))
    assert isinstance(raised, TooLarge) and peak < 8 * MIB
    assert str(raised) == "pyproject.toml:1: nested more than 64 levels deep"
    # through the reader of a change's project: the tests stage's error, not an empty project
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n" + dotted(DEEP))
    with pytest.raises(TooComplex, match="pyproject.toml:3: nested more than 64"):
        discover(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'x'\n[project.optional-dependencies]\ntest = ['b']\n")
    assert [line for _, line in discover(tmp_path).requirements] == ["b"]


@pytest.mark.timeout(60)
def test_a_huge_file_is_refused_by_its_size_naming_the_file_and_the_bound():
    huge = "x: '" + "a" * (CONFIG.chars + 1) + "'\n"
    with pytest.raises(TooLarge, match=r"^big\.yml: 1,048,58\d characters, more than the "
                                       r"1,048,576 read$"):
        load_yaml(huge, "big.yml")
    found = policy_change_findings([ChangedFile(POLICY_PATH)], lambda path: huge)
    assert "more than the 1,048,576 read" in found[0].message
    lock = '[[package]]\nname = "a"\nversion = "1"\n' + "#" * DATA.chars
    with pytest.raises(TooLarge, match=r"^uv\.lock: .* more than the 8,388,608 read"):
        pins_of("uv.lock", lock)
    # the control: the same lock, without the padding, is read
    assert list(pins_of("uv.lock", lock[:-DATA.chars])[0]) == ["a"]


def test_a_key_said_twice_is_an_error_naming_the_key_and_both_lines():
    text = "approvals: 2\ntests:\n  preexisting: block\napprovals: 1\n"
    assert yaml.safe_load(text)["approvals"] == 1  # the control: the old reading, last wins
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, default_policy_text())
    [problem] = caught.value.problems
    assert (problem.line, problem.message) == (
        4, "duplicate key 'approvals' (first on line 1): only one of them would count")
    with pytest.raises(ParseError, match="duplicate key 'a'"):
        load_json('{"a": 1, "b": {}, "a": 2}', "Pipfile.lock")
    with pytest.raises(ParseError, match="^x.yml:3: duplicate key 'k'"):
        load_yaml("m:\n  k: 1\n  k: 1\n", "x.yml")
    # merge keys are meant to be overridden: not a duplicate
    assert load_yaml("b: &b {k: 1}\nc:\n  <<: *b\n  k: 2\n", "x.yml")["c"] == {"k": 2}


def test_a_value_yaml_cannot_build_is_a_parse_error_not_a_crash():
    text = "tests:\n  python: 2020-13-45\n"
    with pytest.raises(ValueError) as old:  # the control: not a YAMLError, so it escaped
        yaml.safe_load(text)
    assert not isinstance(old.value, yaml.YAMLError)
    with pytest.raises(PolicyError, match="a value YAML cannot build: month must be in 1..12"):
        parse_policy(text, default_policy_text())


@pytest.mark.timeout(60)
def test_a_deep_line_on_the_attempt_fifo_does_not_stop_the_reader(tmp_path):
    import hashlib

    deep = b"[" * 2000 + b"]" * 2000  # under the line cap
    with pytest.raises(RecursionError):  # the control: what used to end the reading thread
        json.loads(deep)
    log = AttemptLog(tmp_path)

    def signed(body: bytes) -> bytes:  # as the gate's hook signs (so the line is parsed)
        mac = hashlib.blake2b(body, key=log._key, digest_size=16).hexdigest().encode()
        return body + b', "mac": "' + mac + b'"}\n'

    with open(log.path, "wb") as fifo:
        fifo.write(signed(b'{"kind": "network", "target": ' + deep + b', "proc": "p", "seq": 0'))
        fifo.write(signed(b'{"kind": "network", "target": "203.0.113.5:443", "test": "t", '
                          b'"proc": "p", "seq": 1'))
    records, unread = log.close()
    assert unread == 1  # the deep line, counted as not the gate's, and said as tampering
    assert ("network", "203.0.113.5:443") in [(r["kind"], r["target"]) for r in records]
    assert [r["kind"] for r in records if r["kind"] != "network"] == ["tamper"]


@pytest.mark.timeout(60)
def test_a_lock_past_the_bounds_blocks_the_dependencies_stage_naming_it(tmp_path):
    from gatekeeper.scanners.depaudit import Auditor, run_dependencies

    def stage(lock_text):
        return run_dependencies([ChangedFile("uv.lock", "added")], lambda path: lock_text,
                                lambda path: None, "high",  # even at the laxest level
                                Auditor("http://127.0.0.1:9/v1/query", tmp_path, 0), set())
    deep = "version = 1\nx = " + "[" * DEEP + "]" * DEEP + "\n"
    result = stage(deep)
    [finding] = [f for f in result.findings if f.rule == "manifest-not-read"]
    assert result.status == "failed" and finding.blocking and finding.path == "uv.lock"
    assert finding.message.startswith("uv.lock: nested more than 64 levels deep")
    # the control: the same lock, shallow, is read and has nothing to audit
    shallow = stage(deep.replace("[" * DEEP, "[[").replace("]" * DEEP, "]]"))
    assert shallow.status == "passed" and shallow.findings == ()
