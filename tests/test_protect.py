"""`gatekeeper protect` and doctor's check, against the fake GitHub (requests validated against
GitHub's OpenAPI description)."""

import io

from conftest import APP_ID, installed_repo

from gatekeeper.cli.protect import protect, unprotected
from gatekeeper.service.settings import load_settings

ORG = "Codertocat"


def run(settings, dry_run=False):
    out = io.StringIO()
    assert protect(ORG, dry_run, out, settings) == 0
    return out.getvalue()


def test_dry_run_shows_the_ruleset_and_changes_nothing_then_it_is_created(env, fake_github):
    installed_repo(fake_github, f"{ORG}/Hello-World")
    settings = load_settings(env)
    assert unprotected(settings) == [f"{ORG}/Hello-World@main"]
    shown = run(settings, dry_run=True)
    assert "would create" in shown and "dry run: nothing changed" in shown
    assert f'"integration_id": {APP_ID}' in shown and '"~DEFAULT_BRANCH"' in shown
    assert fake_github.rulesets.get(ORG.lower(), {}) == {}
    assert "created" in run(settings)
    [ruleset] = fake_github.rulesets[ORG.lower()].values()
    assert ruleset["enforcement"] == "active" and ruleset["target"] == "branch"
    [rule] = ruleset["rules"]
    assert rule["parameters"]["required_status_checks"] == [
        {"context": "gatekeeper", "integration_id": APP_ID}]
    assert unprotected(settings) == []
    assert "already requires" in run(settings)  # idempotent


def test_an_existing_ruleset_keeps_its_other_checks_and_is_made_active(env, fake_github):
    installed_repo(fake_github, f"{ORG}/Hello-World")
    fake_github.rulesets[ORG.lower()] = {7: {
        "id": 7, "name": "Gatekeeper", "target": "branch", "enforcement": "evaluate",
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []},
                       "repository_name": {"include": ["~ALL"], "exclude": []}},
        "rules": [{"type": "required_status_checks", "parameters": {
            "strict_required_status_checks_policy": False,
            "required_status_checks": [{"context": "ci/build"},
                                       {"context": "gatekeeper", "integration_id": 1}]}}]}}
    settings = load_settings(env)
    assert unprotected(settings) == [f"{ORG}/Hello-World@main"]  # evaluate mode, wrong app
    shown = run(settings)
    assert '- enforcement: "evaluate"' in shown and '+ enforcement: "active"' in shown
    assert "updated (id 7)" in shown
    checks = fake_github.rulesets[ORG.lower()][7]["rules"][0]["parameters"][
        "required_status_checks"]
    assert checks == [{"context": "ci/build"}, {"context": "gatekeeper", "integration_id": APP_ID}]
    assert unprotected(settings) == []


def test_updating_never_loosens_an_existing_ruleset(env, fake_github):
    installed_repo(fake_github, f"{ORG}/Hello-World")
    bypass = [{"actor_id": 5, "actor_type": "Team", "bypass_mode": "pull_request"}]
    fake_github.rulesets[ORG.lower()] = {9: {
        "id": 9, "name": "Gatekeeper", "target": "branch", "enforcement": "active",
        "bypass_actors": bypass,
        "conditions": {"ref_name": {"include": ["refs/heads/release/*"], "exclude": ["refs/heads/x"]},
                       "repository_name": {"include": ["Hello-World"], "exclude": ["sandbox"]}},
        "rules": [{"type": "deletion"},
                  {"type": "required_status_checks", "parameters": {
                      "strict_required_status_checks_policy": True,
                      "required_status_checks": [{"context": "ci/build"}]}}]}}
    settings = load_settings(env)
    shown = run(settings, dry_run=True).splitlines()
    removed = {line[2:].split(":")[0] for line in shown if line.startswith("- ")}
    added = {line[2:].split(":")[0] for line in shown if line.startswith("+ ")}
    assert removed <= added, shown  # every key shown as removed is replaced, none dropped
    assert not [line for line in shown if line.startswith("+ ") and "strict" in line], shown
    run(settings)
    saved = fake_github.rulesets[ORG.lower()][9]
    status = [r for r in saved["rules"] if r["type"] == "required_status_checks"][0]
    assert status["parameters"]["strict_required_status_checks_policy"] is True
    assert {"type": "deletion"} in saved["rules"]
    assert saved["bypass_actors"] == bypass
    refs = saved["conditions"]["ref_name"]
    assert refs["include"] == ["refs/heads/release/*", "~DEFAULT_BRANCH"]
    assert refs["exclude"] == ["refs/heads/x"]
    assert saved["conditions"]["repository_name"]["exclude"] == ["sandbox"]
    assert "~ALL" in saved["conditions"]["repository_name"]["include"]


def test_doctor_names_bypass_actors_of_the_ruleset_that_requires_the_gate(env, fake_github):
    from gatekeeper.cli.protect import bypassers

    installed_repo(fake_github, f"{ORG}/Hello-World")
    settings = load_settings(env)
    run(settings)
    assert bypassers(settings) == []  # control: the ruleset protect made has no bypass list
    [ruleset] = fake_github.rulesets[ORG.lower()].values()
    ruleset["bypass_actors"] = [{"actor_id": 1, "actor_type": "OrganizationAdmin",
                                 "bypass_mode": "always"}]
    assert bypassers(settings) == [f"{ORG.lower()} ruleset 'Gatekeeper': "
                                   "OrganizationAdmin 1 (always)"]
