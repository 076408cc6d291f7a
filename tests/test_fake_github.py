"""The fake GitHub itself: it must refuse what GitHub refuses, or the other tests prove nothing."""

import requests
from conftest import INSTALLATION_ID, installed_repo

from gatekeeper.github.client import GitHubApp

REPO = "octo/widgets"


def token_for(settings, fake_github) -> str:
    repo = installed_repo(fake_github, REPO)
    repo.add_pull(3, "c" * 40)
    repo.files[3] = [{"filename": f"f{i}.py", "status": "added"} for i in range(130)]
    repo.contents[("main", ".github/gatekeeper.yml")] = b"required_approvals: 2\n"
    repo.tarballs["c" * 40] = b"\x1f\x8b fake tarball"
    repo.permissions["alice"] = "write"
    return GitHubApp(settings).installation_token(INSTALLATION_ID)


def get(fake_github, token, path, **params):
    return requests.get(fake_github.url + path, params=params, timeout=5,
                        headers={"Authorization": f"token {token}"}, allow_redirects=False)


def test_lists_are_paginated(settings, fake_github):
    token = token_for(settings, fake_github)
    pages = [get(fake_github, token, f"/repos/{REPO}/pulls/3/files", per_page=100, page=p).json()
             for p in (1, 2)]
    assert [len(p) for p in pages] == [100, 30]


def test_contents_by_ref_and_missing_files(settings, fake_github):
    token = token_for(settings, fake_github)
    found = get(fake_github, token, f"/repos/{REPO}/contents/.github/gatekeeper.yml", ref="main")
    assert found.status_code == 200 and found.json()["encoding"] == "base64"
    assert get(fake_github, token, f"/repos/{REPO}/contents/.github/gatekeeper.yml",
               ref="other").status_code == 404


def test_tarball_redirects_to_a_download(settings, fake_github):
    token = token_for(settings, fake_github)
    redirect = get(fake_github, token, f"/repos/{REPO}/tarball/{'c' * 40}")
    assert redirect.status_code == 302
    assert requests.get(redirect.headers["Location"], timeout=5).content.startswith(b"\x1f\x8b")


def test_collaborator_permission(settings, fake_github):
    token = token_for(settings, fake_github)
    assert get(fake_github, token, f"/repos/{REPO}/collaborators/alice/permission"
               ).json()["permission"] == "write"
    assert get(fake_github, token, f"/repos/{REPO}/collaborators/mallory/permission"
               ).json()["permission"] == "none"


def test_unknown_endpoints_bad_parameters_and_bad_tokens_are_violations(settings, fake_github):
    token = token_for(settings, fake_github)
    assert get(fake_github, token, f"/repos/{REPO}/no-such-thing").status_code == 404
    assert get(fake_github, token, f"/repos/{REPO}/pulls/three").status_code == 422
    assert get(fake_github, "ghs_forged", f"/repos/{REPO}/pulls/3").status_code == 401
    assert len(fake_github.violations) == 3
    fake_github.violations.clear()


def test_more_than_fifty_annotations_in_one_request_is_refused(settings, fake_github):
    token = token_for(settings, fake_github)
    annotation = {"path": "a.py", "start_line": 1, "end_line": 1,
                  "annotation_level": "failure", "message": "m"}
    body = {"name": "gatekeeper", "head_sha": "c" * 40,
            "output": {"title": "t", "summary": "s", "annotations": [annotation] * 51}}
    response = requests.post(f"{fake_github.url}/repos/{REPO}/check-runs", json=body, timeout=5,
                             headers={"Authorization": f"token {token}"})
    assert response.status_code == 422
    assert fake_github.runs_for(REPO, "c" * 40) == []
    fake_github.violations.clear()
