"""A hostile set-up: the project's own build code runs with the package cache reachable.

Each attack is made by a setup.py that runs during set-up, in the real sandbox, through the
real index gate and a real devpi-server. Its findings are written into the working copy and
read back. The positive control is in the same script: a GET of an index page through the
same path answers 200, so the attacks were made on a live way out.
"""

import http.client
import json
import shutil
import socket
import subprocess
import textwrap

import pytest

from gatekeeper.runner import sandbox
from gatekeeper.runner.egress import EgressGate
from gatekeeper.runner.indexcache import ensure_cache
from gatekeeper.runner.interpreters import available
from gatekeeper.runner.projectsetup import SetupError, set_up

LIMITS = sandbox.Limits(wall_seconds=300, cpu_seconds=300, memory_bytes=4 * 1024**3,
                        processes=256, disk_bytes=4 * 1024**3)

PROBE = textwrap.dedent('''
    import http.client, json, os, socket
    from setuptools import setup

    out = {}

    def attempt(name, action):
        try:
            out[name] = "ok: " + str(action())[:80]
        except Exception as exc:
            out[name] = "refused: " + exc.__class__.__name__

    def call(method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", 3141, timeout=20)
        conn.request(method, path, body=body)
        answer = conn.getresponse()
        answer.read()
        return answer.status

    out["index page"] = call("GET", "/root/pypi/+simple/six/")      # the control
    out["upload"] = call("POST", "/root/pypi/", body=b"x" * 100)
    out["put"] = call("PUT", "/root/pypi/+simple/six/")
    out["login"] = call("POST", "/+login", body=b"{}")
    out["api"] = call("GET", "/+api")
    out["refresh"] = call("POST", "/root/pypi/+simple/six/refresh")
    out["traversal"] = call("GET", "/root/pypi/+simple/../../+api")
    out["other index"] = call("GET", "/root/dev/+simple/six/")
    attempt("other host", lambda: socket.create_connection(("203.0.113.5", 443), timeout=5))
    attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
    port = int(open("cache-port.txt").read())  # the cache's own port on the host's loopback
    attempt("cache port", lambda: socket.create_connection(("127.0.0.1", port), timeout=5))
    out["environ"] = sorted(os.environ)
    out["proc1"] = open("/proc/1/environ", "rb").read().decode(errors="replace")
    with open("/work/egress-probe.json", "w") as f:
        json.dump(out, f)
    setup(name="probe", version="1.0", py_modules=[])
''')


@pytest.fixture(scope="module")
def probed(tmp_path_factory, wheel_cache):
    source = tmp_path_factory.mktemp("hostile")
    (source / "setup.py").write_text(PROBE)
    (source / "test_x.py").write_text("def test_x():\n    pass\n")
    (source / "cache-port.txt").write_text(str(ensure_cache(wheel_cache).port))
    setup = set_up(source, None, available()[0], wheel_cache, LIMITS)
    try:
        return json.loads((setup.work / "egress-probe.json").read_text()), setup.egress
    finally:
        subprocess.run(["rm", "-rf", str(setup.work.parent)], check=False)


def test_the_index_page_is_reachable_from_set_up(probed):
    found, _ = probed
    assert found["index page"] == 200  # the control: the attacks below went out this way


@pytest.mark.parametrize("attempt", ["upload", "put", "login", "api", "refresh", "traversal",
                                     "other index"])
def test_the_caches_other_endpoints_are_refused(probed, attempt):
    found, log = probed
    assert found[attempt] == 403
    assert any(entry.startswith(("POST", "PUT", "GET")) for entry in log.refused)


@pytest.mark.parametrize("attempt", ["other host", "dns", "cache port"])
def test_no_other_host_or_name_is_reachable(probed, attempt):
    found, _ = probed
    assert found[attempt].startswith("refused"), found[attempt]


def test_set_up_sees_no_worker_environment(probed):
    found, _ = probed
    own = {"GATEKEEPER_RESULT_FD", "GATEKEEPER_COLLECT"}  # the sandbox's own plumbing
    assert not [name for name in found["environ"] if name not in own and name.startswith(
        ("GITHUB", "GATEKEEPER_", "REDIS", "SLACK", "PIP_CERT", "HTTP", "AWS"))]
    assert found["proc1"] == ""  # bwrap was started with an empty environment


def test_a_download_past_the_budget_is_cut_and_later_requests_refused(wheel_cache):
    cache = ensure_cache(wheel_cache)
    with EgressGate(cache, budget=20_000) as gate:
        first = _get(gate.socket, "/root/pypi/+simple/setuptools/")  # far more than 20 kB
        second = _get(gate.socket, "/root/pypi/+simple/six/")
    with EgressGate(cache) as control:
        whole = _get(control.socket, "/root/pypi/+simple/setuptools/")
    assert len(whole[1]) > 20_000 and whole[0] == 200  # the control: the page is that large
    assert first[0] == "cut" or len(first[1]) < len(whole[1])
    assert second[0] == 403
    assert gate.log.over_budget and "budget" in gate.log.refused[-1]


def _get(path, url: str):
    class Unix(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(str(path))

    conn = Unix("index", timeout=60)
    conn.request("GET", url, headers={"Accept": "text/html"})
    answer = conn.getresponse()
    try:
        return answer.status, answer.read()
    except http.client.IncompleteRead as exc:
        return "cut", exc.partial
    finally:
        conn.close()


def test_a_set_up_that_fails_says_so_with_the_installers_words(tmp_path, wheel_cache):
    (tmp_path / "setup.py").write_text("raise SystemExit('needs a compiler it lacks')\n")
    with pytest.raises(SetupError) as raised:
        set_up(tmp_path, None, available()[0], wheel_cache, LIMITS)
    assert "could not be set up" in str(raised.value)
    assert "needs a compiler it lacks" in str(raised.value)


def test_a_set_up_past_the_policys_download_budget_names_what_took_it(tmp_path, wheel_cache):
    import dataclasses

    (tmp_path / "requirements.txt").write_text("pytest\n")
    tight = dataclasses.replace(LIMITS, download_bytes=150_000)  # pytest's wheel is larger
    with pytest.raises(SetupError) as raised:
        set_up(tmp_path, None, available()[0], wheel_cache, tight)
    said = str(raised.value)
    assert "download budget of 0.1 MiB (policy tests.limits.download_mib) was taken by" in said
    assert ".whl" in said  # the files that took it, by name
    # the control: the same set-up with the default budget goes through
    setup = set_up(tmp_path, None, available()[0], wheel_cache, LIMITS)
    shutil.rmtree(setup.work.parent, ignore_errors=True)


def test_the_policys_download_budget_is_capped_by_the_workers_maximum(monkeypatch):
    from factories import policy

    from gatekeeper.runner.setuprun import policy_limits

    asked = policy("tests:\n  limits:\n    download_mib: 20000\n")
    assert policy_limits(asked).download_bytes == 16384 * 1024**2  # the default maximum
    monkeypatch.setenv("GATEKEEPER_MAX_DOWNLOAD_MIB", "32768")
    assert policy_limits(asked).download_bytes == 20000 * 1024**2
    assert policy_limits(policy()).download_bytes == 4096 * 1024**2  # unset: 4 GiB
