# ruff: noqa: F811  (the App fixture `gate` is imported, and pytest passes it by name)
"""The verdict-steering attacks of the local gate's tests, each through the App on the fake GitHub.

The local tests (test_forged_verdicts, test_worker_env_in_reports, test_worker_budgets,
test_terminal_and_local_reports) hold the controls that show each trick works on its own;
here the same pull request content goes through webhook → worker → check runs, and the
required check must end red with the trick named, and nothing of the trick in what people see.
"""

import textwrap

import pytest
from factories import unescaped
from test_escaping import rendered
from test_forged_verdicts import ATTACKS, BASE, BROKEN
from test_review_flow import HEAD, TESTS_ONLY, check, gate, pr_event, tree_tarball  # noqa: F401

BASE_SHA = "0" * 40


def _pull(repo, head: dict[str, str], changed: list[str], policy: str = TESTS_ONLY):
    repo.contents[("main", ".github/gatekeeper.yml")] = policy.encode()
    repo.tarballs[BASE_SHA] = tree_tarball(BASE, BASE_SHA)
    repo.tarballs[HEAD] = tree_tarball({k: textwrap.dedent(v) for k, v in head.items()})
    repo.files[2] = [{"filename": name, "status": "modified" if name in BASE else "added"}
                     for name in changed]


def _annotations(fake_github, run):
    return fake_github.check_runs[run["id"]]["output"]["annotations"]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_forged_passing_run_ends_red_through_the_app(gate, fake_github, name):
    repo, send = gate
    _pull(repo, {**BROKEN, **ATTACKS[name]}, ["calc.py", *ATTACKS[name]])
    send("pull_request", pr_event("opened"))
    tests = check(fake_github, "gatekeeper/tests")
    own_run = tests["output"]["summary"].splitlines()[0]
    assert " 0 failed, 0 errors" in own_run or "no test executed" in own_run, own_run
    assert tests["conclusion"] == "failure", tests["output"]
    assert any("base branch's version of tests.test_calc::test_add fails on this change"
               in n["message"] for n in _annotations(fake_github, tests))
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"


def test_a_worker_variable_in_a_requirement_never_reaches_the_check_run(gate, fake_github,
                                                                     monkeypatch):
    canary = "CANARY-app-pip-env-77c1"
    monkeypatch.setenv("PIP_GK_CANARY", canary)
    repo, send = gate
    _pull(repo, {**BASE, "requirements.txt": "leakprobe===${PIP_GK_CANARY}\n"},
          ["requirements.txt"], policy="stages:\n  sast: false\n")
    send("pull_request", pr_event("opened"))
    shown = []
    for stage in ("tests", "dependencies"):
        run = check(fake_github, f"gatekeeper/{stage}")
        shown.append(str(fake_github.check_runs[run["id"]]["output"]))
        assert run["conclusion"] == "failure", (stage, run["output"])
    assert "leakprobe" in "".join(shown)  # the control: the requirement was read and reported
    assert canary not in "".join(shown)
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"


@pytest.mark.timeout(240)
def test_a_workspace_glob_bomb_is_a_red_error_not_a_busy_worker(gate, fake_github):
    repo, send = gate
    chain = "/".join(f"d{i}" for i in range(24))
    _pull(repo, {**BROKEN, f"{chain}/keep.txt": "",
                 "pyproject.toml": '[tool.uv.workspace]\nmembers = ["**/**/**/**/**/**/x"]\n'},
          ["calc.py", "pyproject.toml"])
    send("pull_request", pr_event("opened"))
    tests = check(fake_github, "gatekeeper/tests")
    assert tests["conclusion"] == "failure", tests["output"]
    assert "too complex" in unescaped(tests["output"]["summary"])
    assert check(fake_github, "gatekeeper")["conclusion"] == "failure"


RELOCATE = """
    import pytest

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        outcome = yield
        report = outcome.get_result()
        report.location = ("../../../../etc/evil.py", 2, "evil")
        if report.failed:
            report.longrepr = "../../../../etc/evil.py:2: AssertionError relocated"
    """


def test_a_failure_location_outside_the_tree_is_no_annotation_path(gate, fake_github):
    repo, send = gate
    new = "def test_new():\n    assert False\n"
    _pull(repo, {**BASE, "tests/conftest.py": RELOCATE, "tests/test_new.py": new},
          ["tests/conftest.py", "tests/test_new.py"])
    send("pull_request", pr_event("opened"))
    tests = check(fake_github, "gatekeeper/tests")
    assert tests["conclusion"] == "failure", tests["output"]
    notes = _annotations(fake_github, tests)
    assert all(".." not in n["path"] and not n["path"].startswith("/") for n in notes), notes
    summary = unescaped(tests["output"]["summary"])
    assert "test_new failure" in summary, (summary, notes)  # the control: forged
    assert "etc/evil.py" not in str(notes)


def test_markup_in_a_requirement_error_is_shown_as_text(gate, fake_github):
    repo, send = gate
    hostile = "[sign in](https://evil.example/login) @octocat <img src=x onerror=alert(1)>"
    _pull(repo, {**BASE, "requirements.txt": f"{hostile}\n"}, ["requirements.txt"],
          policy="stages:\n  sast: false\n  tests: false\n")
    send("pull_request", pr_event("opened"))
    deps = check(fake_github, "gatekeeper/dependencies")
    assert deps["conclusion"] == "failure", deps["output"]
    summary = deps["output"]["summary"]
    assert "evil.example" in unescaped(summary)  # the control: the line is reported
    tags = rendered(summary)
    assert "img" not in [t for t, _ in tags.tags], summary
    links = [a.get("href", "") for t, a in tags.tags if t == "a"]
    assert not [href for href in links if "evil" in href], links  # only the audit service's
    assert "@\u200boctocat" in summary  # no mention either


def test_unchanged_tests_hidden_from_the_tarball_fail_the_tree_check(gate, fake_github):
    """`tests/** export-ignore`: GitHub's tarball leaves out test files the change never
    touched, so a check of changed files alone would not see it; the commit's tree does."""
    repo, send = gate
    attributes = "tests/** export-ignore\n"
    _pull(repo, {"calc.py": BROKEN["calc.py"]}, ["calc.py", ".gitattributes"])
    repo.trees[HEAD] = {**{k: v.encode() for k, v in BROKEN.items()},
                        ".gitattributes": attributes.encode()}
    send("pull_request", pr_event("opened"))
    tests = check(fake_github, "gatekeeper/tests")
    assert tests["conclusion"] == "failure", tests["output"]
    assert ("does not match the commit: .gitattributes is missing; tests/test_calc.py is missing"
            in unescaped(tests["output"]["summary"])), tests["output"]["summary"]
    # the control: the same tarball, the tree as the tarball has it, is read as it comes
    repo.trees[HEAD] = {"calc.py": BROKEN["calc.py"].encode()}
    repo.files[2] = [{"filename": "calc.py", "status": "modified"}]
    send("pull_request", pr_event("synchronize"))
    again = fake_github.runs_for("Codertocat/Hello-World", HEAD, "gatekeeper/tests")[-1]
    assert "does not match the commit" not in unescaped(again["output"]["summary"])
