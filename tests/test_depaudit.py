"""The dependencies stage: real pip-audit against a loopback OSV server of real PyPA advisories."""

from pathlib import Path

import pytest
from gitrepo import Repo

from gatekeeper.cli.osvmirror import OSVServer
from gatekeeper.core.escape import md_unescape
from gatekeeper.core.rules import popular_packages
from gatekeeper.runner.gitlocal import changed_files, file_at
from gatekeeper.scanners.depaudit import Auditor, edit_distance_one, pins_of, run_dependencies


@pytest.fixture(scope="module")
def osv():
    server = OSVServer(Path(__file__).parent / "fixtures" / "advisories").start()
    yield server
    server.stop()


def stage(tmp_path, osv, base_files, head_files, block_on="medium", url=None):
    repo = Repo(tmp_path / "repo")
    base = repo.commit(base_files, "base")
    repo.branch("copilot/deps")
    head = repo.commit(head_files, "agent change")
    files = changed_files(repo.root, base, head)
    auditor = Auditor(url or osv.url, tmp_path / "cache", 3600)
    return run_dependencies(files, lambda p: file_at(repo.root, head, p),
                            lambda p: file_at(repo.root, base, p), block_on, auditor,
                            popular_packages())


def test_pinning_a_vulnerable_version_is_blocked_with_the_advisory_id(tmp_path, osv):
    result = stage(tmp_path, osv, {"requirements.txt": "six==1.16.0\n"},
                   {"requirements.txt": "six==1.16.0\nrequests==2.2.0\n"})
    assert result.status == "failed", result.summary
    ids = {f.rule for f in result.findings if f.blocking}
    assert "PYSEC-2014-13" in ids  # netrc password leak, fixed in 2.3.0
    hit = next(f for f in result.findings if f.rule == "PYSEC-2014-13")
    assert (hit.path, hit.start_line, hit.new) == ("requirements.txt", 2, True)
    assert "requests==2.2.0" in hit.message and "2.3.0" in hit.message


def test_known_vulnerability_on_an_untouched_dependency_is_pre_existing(tmp_path, osv):
    result = stage(tmp_path, osv, {"requirements.txt": "requests==2.2.0\n"},
                   {"requirements.txt": "requests==2.2.0\nsix==1.16.0\n"})
    assert result.status == "passed", result.summary
    old = [f for f in result.findings if f.rule.startswith("PYSEC")]
    assert old and not any(f.new or f.blocking for f in old)


def test_pyproject_dependencies_are_audited_too(tmp_path, osv):
    pyproject = '[project]\nname = "x"\nversion = "1"\ndependencies = [\n  "pyyaml==5.3",\n]\n'
    result = stage(tmp_path, osv, {"README": "x\n"}, {"README": "x\n", "pyproject.toml": pyproject})
    assert result.status == "failed"
    hit = next(f for f in result.findings if f.rule.startswith("PYSEC"))
    assert (hit.path, hit.start_line) == ("pyproject.toml", 5)


def test_unpinned_new_requirement_is_a_finding(tmp_path, osv):
    result = stage(tmp_path, osv, {"requirements.txt": "six==1.16.0\n"},
                   {"requirements.txt": "six==1.16.0\nrequests>=2.31\n"})
    assert result.status == "failed"
    [unpinned] = [f for f in result.findings if f.rule == "unpinned-requirement"]
    assert unpinned.start_line == 2 and "requests>=2.31" in unpinned.message


def test_typosquat_of_a_popular_name_is_flagged(tmp_path, osv):
    result = stage(tmp_path, osv, {"requirements.txt": "six==1.16.0\n"},
                   {"requirements.txt": "six==1.16.0\nreqeusts==2.31.0\n"})
    [typo] = [f for f in result.findings if f.rule == "possible-typosquat"]
    assert "'requests'" in typo.message and typo.blocking


def test_unreachable_vulnerability_service_turns_the_stage_red(tmp_path, osv):
    from conftest import free_port

    result = stage(tmp_path, osv, {"requirements.txt": "six==1.16.0\n"},
                   {"requirements.txt": "six==1.16.0\nrequests==2.31.0\n"},
                   url=f"http://127.0.0.1:{free_port()}/v1/query")
    assert result.status == "error"
    assert "did not complete" in result.summary
    assert "GATEKEEPER_OSV_URL" in result.summary and "osv-mirror" in result.summary


def test_answers_are_cached_per_name_and_version(tmp_path, osv):
    auditor = Auditor(osv.url, tmp_path / "cache", 3600)
    before = len(osv.queries)
    first = auditor.vulnerabilities({"requests": "2.2.0", "six": "1.16.0"})
    second = auditor.vulnerabilities({"requests": "2.2.0", "six": "1.16.0"})
    assert first == second and "requests" in first and "six" not in first
    assert len(osv.queries) - before == 2


def test_no_manifest_changed_passes_without_asking_anyone(tmp_path, osv):
    before = len(osv.queries)
    result = stage(tmp_path, osv, {"app.py": "x = 1\n"}, {"app.py": "x = 2\n"})
    assert result.status == "passed" and len(osv.queries) == before


@pytest.mark.parametrize("a,b,expected", [("reqeusts", "requests", True), ("request", "requests", True),
                                          ("requestss", "requests", True), ("flask", "flask", False),
                                          ("numpyy", "numpy", True), ("django", "flask", False)])
def test_edit_distance_one(a, b, expected):
    assert edit_distance_one(a, b) is expected


def test_requirement_options_in_a_manifest_are_refused_not_followed():
    pins, refused = pins_of("requirements.txt", "--extra-index-url http://evil.invalid\nsix==1\n")
    assert list(pins) == ["six"] and "'--extra-index-url'" in refused[0]


@pytest.mark.parametrize("name,text,line", [
    ("poetry.lock", '[[package]]\nname = "six"\nversion = "1.16.0"\n\n[[package]]\n'
                    'name = "requests"\nversion = "2.2.0"\n', 6),
    ("uv.lock", 'version = 1\n\n[[package]]\nname = "requests"\nversion = "2.2.0"\n', 4),
    ("pylock.toml", 'lock-version = "1.0"\n\n[[packages]]\nname = "requests"\nversion = "2.2.0"\n',
     4),
    ("Pipfile.lock", '{\n "default": {\n  "requests": {\n   "version": "==2.2.0"\n  }\n },\n'
                     ' "develop": {}\n}\n', 3),
])
def test_lock_files_are_audited(tmp_path, osv, name, text, line):
    result = stage(tmp_path, osv, {"README": "x\n"}, {"README": "x\n", name: text})
    assert result.status == "failed", result.summary
    hit = next(f for f in result.findings if f.rule == "PYSEC-2014-13")
    assert (hit.path, hit.start_line, hit.new) == (name, line, True)


def test_unreadable_lock_file_is_a_finding_not_a_pass(tmp_path, osv):
    result = stage(tmp_path, osv, {"README": "x\n"}, {"README": "x\n", "uv.lock": "[[package\n"})
    assert any("lock file not readable" in f.message for f in result.findings)


class Change:
    """One change adding a vulnerable pin, audited as often as a test asks."""

    def __init__(self, root: Path):
        repo = Repo(root / "repo")
        self.base = repo.commit({"requirements.txt": "six==1.16.0\n"}, "base")
        repo.branch("copilot/deps")
        self.head = repo.commit({"requirements.txt": "six==1.16.0\nrequests==2.2.0\n"}, "agent")
        self.repo, self.cache = repo, root / "cache"

    def audit(self, url: str, ttl: int):
        files = changed_files(self.repo.root, self.base, self.head)
        return run_dependencies(files, lambda p: file_at(self.repo.root, self.head, p),
                                lambda p: file_at(self.repo.root, self.base, p), "medium",
                                Auditor(url, self.cache, ttl), popular_packages())

    def age_cache(self, seconds: int) -> None:
        import os
        import time

        for path in (self.cache / "osv").rglob("*.json"):
            then = time.time() - seconds
            os.utime(path, (then, then))


def advisory_ids(result) -> set[str]:
    return {f.rule for f in result.findings if f.rule.startswith("PYSEC")}


def own_osv() -> OSVServer:
    return OSVServer(Path(__file__).parent / "fixtures" / "advisories").start()


def test_a_cached_answer_says_it_is_cached_and_how_old(tmp_path):
    change, server = Change(tmp_path), own_osv()
    url = server.url
    try:
        fresh = change.audit(url, 6 * 3600)  # the control: asked, so not marked cached
    finally:
        server.stop()
    assert fresh.status == "failed" and "PYSEC-2014-13" in advisory_ids(fresh)
    assert "cache" not in fresh.summary and len(server.queries) == 2
    change.age_cache(2 * 3600 + 30)
    cached = change.audit(url, 6 * 3600)  # the service is gone now
    assert advisory_ids(cached) == advisory_ids(fresh) and cached.status == "failed"
    assert f"pip-audit via {url} not asked: all 2 answers from its cache, the oldest 2 h old; " \
           "answers are kept up to 6 h" in cached.summary
    assert len(server.queries) == 2


def test_an_unreachable_service_with_a_cache_past_its_age_is_an_error(tmp_path):
    change, server = Change(tmp_path), own_osv()
    url = server.url
    try:
        assert change.audit(url, 3600).status == "failed"
    finally:
        server.stop()
    change.age_cache(1800)
    assert change.audit(url, 3600).status == "failed"  # the control: within its age, used
    change.age_cache(3600 + 60)
    stale = change.audit(url, 3600)
    assert stale.status == "error", stale.summary
    assert f"the vulnerability service {url} did not answer for 2 dependencies; no answer " \
           "younger than 1 h was in the cache for them" in md_unescape(stale.summary)
    assert not advisory_ids(stale)  # nothing stale is reported as if it had been asked


def test_with_no_cache_every_run_asks_and_an_unreachable_service_is_an_error(tmp_path):
    change, server = Change(tmp_path), own_osv()
    url = server.url
    try:
        first, second = change.audit(url, 0), change.audit(url, 0)
    finally:
        server.stop()
    assert len(server.queries) == 4  # each run asked for both pins
    assert "PYSEC-2014-13" in advisory_ids(first)  # the control: answered
    assert advisory_ids(second) == advisory_ids(first)
    assert "cache" not in second.summary and not list(tmp_path.glob("cache/**/*.json"))
    gone = change.audit(url, 0)
    assert gone.status == "error" and url in md_unescape(gone.summary)
    assert "cache" not in gone.summary


def test_the_audit_cache_can_be_turned_off_but_not_set_below_zero():
    from gatekeeper.service.settings import SettingsError, load_stage_config

    assert load_stage_config({"GATEKEEPER_AUDIT_CACHE_TTL": "0"}).audit_cache_ttl == 0
    assert load_stage_config({}).audit_cache_ttl == 6 * 3600  # the control: the default
    with pytest.raises(SettingsError, match="GATEKEEPER_AUDIT_CACHE_TTL must be a whole number"):
        load_stage_config({"GATEKEEPER_AUDIT_CACHE_TTL": "-1"})
