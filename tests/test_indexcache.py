"""The package cache in front of the index: its start, and its trouble said as the gate's."""

import pytest


def test_a_cache_that_cannot_reach_the_upstream_index_is_the_gates_trouble(tmp_path,
                                                                          monkeypatch):
    """devpi answers with empty pages when it cannot verify the upstream's certificate: the
    installers would then say "setuptools was not found", blaming the project. The cache's
    start says so instead, as the gate's own trouble."""
    from gatekeeper.runner.indexcache import IndexUnavailable, ensure_cache, running

    bad_ca = tmp_path / "no-ca.pem"
    bad_ca.write_text("")
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.setenv(name, str(bad_ca))
    with pytest.raises(IndexUnavailable) as raised:
        ensure_cache(tmp_path / "cache")
    assert "cannot fetch from the upstream index" in str(raised.value)
    assert "SSL_CERT_FILE" in str(raised.value)
    assert not running(tmp_path / "cache")  # nothing left answering with empty pages


def test_control_the_same_start_with_the_workers_own_ca_settings_warms_the_cache(wheel_cache):
    from gatekeeper.runner.indexcache import _listed, ensure_cache, running

    cache = ensure_cache(wheel_cache)
    assert running(wheel_cache) and _listed(cache, "pip")  # what the attack test found empty


def test_the_cache_command_says_whether_it_runs_and_stops_it(tmp_path):
    import os
    import subprocess
    import sys

    from gatekeeper.runner.indexcache import ensure_cache, running

    def cache(action):
        return subprocess.run([sys.executable, "-m", "gatekeeper", "cache", action],
                              capture_output=True, text=True,
                              env={**os.environ, "GATEKEEPER_CACHE_DIR": str(tmp_path)})

    stopped = cache("status")
    assert stopped.returncode == 1 and "not running" in stopped.stdout
    ensure_cache(tmp_path)
    up = cache("status")  # the control: a running cache is seen
    assert up.returncode == 0 and "running at http://127.0.0.1:" in up.stdout
    assert cache("stop").returncode == 0
    assert not running(tmp_path) and cache("status").returncode == 1
