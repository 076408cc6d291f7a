"""The example deployment (deploy/, Dockerfile, the locks) checked where no container engine
runs: compose against the Compose specification's JSON schema and the manifests against
Kubernetes' (validators and schemas from PyPI: check-jsonschema, kubernetes-validate), each
with a broken copy that must fail; the secrets' variables loaded by the real settings; the
Dockerfile's stages read for the invariants the image relies on."""

import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gatekeeper.cli.main import parser
from gatekeeper.scanners.toolenv import check_lock
from gatekeeper.service.settings import GITHUB_MAX_PAYLOAD, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
KUBERNETES = "1.33.0"  # the oldest version the manifests' fields (hostUsers, procMount) need


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed: run `make test` (it is in the dev extra)"
    return found


def compose_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                           str(path)], capture_output=True, text=True, timeout=120)


def kube_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("kubernetes-validate"), "--strict", "-k", KUBERNETES, str(path)],
                          capture_output=True, text=True, timeout=120)


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


# -- compose ----------------------------------------------------------------------------------

def test_compose_file_follows_the_compose_specification(tmp_path):
    done = compose_check(DEPLOY / "compose.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    # positive controls: the schema is really applied
    data = compose()
    data["services"]["worker"]["deploy"]["replicas"] = ["two"]
    wrong_type = tmp_path / "wrong-type.yaml"
    wrong_type.write_text(yaml.safe_dump(data))
    caught = compose_check(wrong_type)
    assert caught.returncode != 0 and "replicas" in caught.stdout + caught.stderr
    unknown = tmp_path / "unknown-key.yaml"
    unknown.write_text(yaml.safe_dump({**compose(), "servicez": {}}))
    caught = compose_check(unknown)
    assert caught.returncode != 0 and "servicez" in caught.stdout + caught.stderr


def test_each_process_has_its_own_health_check_and_the_worker_what_bubblewrap_needs():
    services = compose()["services"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "gatekeeper", "worker", "--health"]
    assert parser().parse_args(["worker", "--health"]).health
    worker = services["worker"]
    assert {"seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined",
            "no-new-privileges:true"} == set(worker["security_opt"])
    assert worker["cap_drop"] == ["ALL"] and "cap_add" not in worker
    assert "privileged" not in worker
    assert worker["deploy"]["resources"]["reservations"]["cpus"] == "2"
    redis = services["redis"]["command"]
    assert redis[redis.index("--appendonly") + 1] == "yes" and "redis-data:/data" in \
        services["redis"]["volumes"]
    # the package cache is per container: its server listens on the container's loopback
    assert worker["volumes"] == ["/var/cache/gatekeeper"]
    assert compose()["networks"]["backend"]["internal"] is True


def settings_from(env: dict, files: dict[str, str], mount: str, tmp_path: Path):
    """Load the real settings from an environment whose secret paths point under `mount`,
    with the mount's files made in tmp_path."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    moved = {k: str(v).replace(mount, str(tmp_path)) for k, v in env.items()}
    return load_settings(moved)


def test_compose_secrets_reach_the_variables_the_settings_read(tmp_path, app_key):
    data = compose()
    web = data["services"]["web"]
    files = {name: {"github_private_key": app_key[0], "github_webhook_secret": "s3cret\n",
                    "redis_url": "redis://gatekeeper:pw@redis:6379/0\n"}[name]
             for name in web["secrets"]}
    settings = settings_from(web["environment"], files, "/run/secrets", tmp_path)
    assert settings.webhook_secret == b"s3cret" and settings.redis_url.endswith("@redis:6379/0")
    assert settings.private_key_pem == app_key[0]
    for name in web["secrets"]:
        assert data["secrets"][name]["file"].startswith("./secrets/")
    # positive control: a variable the settings do not know leaves the secret unread
    renamed = dict(web["environment"])
    renamed["GITHUB_WEBHOOK_SECRET_PATH"] = renamed.pop("GITHUB_WEBHOOK_SECRET_FILE")
    with pytest.raises(SettingsError, match="GITHUB_WEBHOOK_SECRET is not set"):
        settings_from(renamed, files, "/run/secrets", tmp_path)


# -- Kubernetes -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_follows_the_kubernetes_schema(path):
    done = kube_check(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_broken_manifests_fail_the_same_validation(tmp_path):
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "worker.yaml").read_text()))
    worker = docs[0]
    worker["spec"]["replicas"] = "two"
    wrong_type = tmp_path / "wrong-type.yaml"
    wrong_type.write_text(yaml.safe_dump(worker))
    caught = kube_check(wrong_type)
    assert caught.returncode != 0 and "'two' is not of type 'integer'" in caught.stdout + caught.stderr
    unknown = tmp_path / "unknown-key.yaml"
    unknown.write_text(yaml.safe_dump({**docs[1], "spek": {}}))
    caught = kube_check(unknown)
    assert caught.returncode != 0 and "spek" in caught.stdout + caught.stderr


def test_kubernetes_secret_keys_reach_the_variables_the_settings_read(tmp_path, app_key):
    config = next(d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "config.yaml").read_text())
                  if d["kind"] == "ConfigMap")["data"]
    secret = next(yaml.safe_load_all((DEPLOY / "kubernetes" / "secret.example.yaml").read_text()))
    files = {"github-private-key.pem": app_key[0], "github-webhook-secret": "s3cret",
             "redis-url": "redis://gatekeeper:pw@gatekeeper-redis:6379/0"}
    assert set(secret["stringData"]) == set(files)
    settings = settings_from(config, files, "/run/secrets/gatekeeper", tmp_path)
    assert settings.webhook_secret == b"s3cret" and settings.redis_url.endswith("redis:6379/0")


def test_worker_pod_runs_unprivileged_with_only_what_bubblewrap_needs():
    worker = next(yaml.safe_load_all((DEPLOY / "kubernetes" / "worker.yaml").read_text()))
    pod = worker["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["hostUsers"] is False and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "Unconfined"
    context = container["securityContext"]
    assert context["privileged"] is False and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]} and context["procMount"] == "Unmasked"
    assert container["resources"]["requests"]["cpu"] == "2"
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["gatekeeper", "worker", "--health"]


# -- the proxy --------------------------------------------------------------------------------

def app_paths() -> set[str]:
    from flask import Flask

    from gatekeeper.service.activity import bp as activity
    from gatekeeper.service.details import bp as details

    app = Flask(__name__)
    app.register_blueprint(details)
    app.register_blueprint(activity)
    return {rule.rule for rule in app.url_map.iter_rules()} | {"/webhook", "/healthz", "/metrics"}


def test_the_proxy_exposes_only_the_public_routes_and_the_apps_body_cap():
    text = (DEPLOY / "nginx.conf").read_text()
    size = re.search(r"client_max_body_size (\d+)m;", text)
    assert size and int(size.group(1)) * 1024 * 1024 == GITHUB_MAX_PAYLOAD
    passed = set(re.findall(r"location (?:= )?(\S+) \{ proxy_pass", text))
    assert passed == {"/webhook", "/healthz", "/pulls/", "/orgs/", "/login", "/oauth/callback",
                      "/logout"}
    assert "location / { return 404; }" in text
    ingress = yaml.safe_load((DEPLOY / "kubernetes" / "ingress.yaml").read_text())
    routed = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert routed == {p.rstrip("/") for p in passed}
    served = app_paths()
    for path in routed:  # each routed path is one the app serves
        assert any(rule == path or rule.startswith(path + "/") for rule in served), path
    assert "/metrics" in served and "/metrics" not in routed  # internal only
    for header in ("Host $host", "X-Forwarded-Proto $scheme", "X-Forwarded-For"):
        assert f"proxy_set_header {header}" in text


# -- the image --------------------------------------------------------------------------------

def stages(text: str) -> dict[str, list[str]]:
    """Each stage's instructions (continuation lines joined), by stage name."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found: dict[str, list[str]] = {}
    current = None
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        start = re.match(r"FROM \S+ AS (\S+)$", line)
        if start:
            current = start.group(1)
            found[current] = []
        found[current].append(line)
    return found


def dockerfile_problems(text: str) -> list[str]:
    problems = []
    found = stages(text)
    every = [line for lines in found.values() for line in lines]
    if list(found)[-1] != "web":
        problems.append("a plain build must give the web image: web is the last stage")
    if any(line.startswith("HEALTHCHECK") for line in found.get("base", [])):
        problems.append("the shared base carries a health check")
    health = {name: [line for line in lines if line.startswith("HEALTHCHECK")]
              for name, lines in found.items()}
    if not (len(health.get("web", [])) == 1 and "/healthz" in health["web"][0]):
        problems.append("the web stage's health check is not GET /healthz")
    if not (len(health.get("worker", [])) == 1 and health["worker"][0].endswith(
            'CMD ["gatekeeper", "worker", "--health"]')):
        problems.append("the worker stage's health check is not its own")
    for line in every:
        if "pip install" in line and not ("--require-hashes" in line or "--no-index" in line):
            problems.append(f"installs from the index without hashes: {line}")
    if "RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock" not in every:
        problems.append("the dependencies are not installed from the hashed lock")
    worker = " ".join(found.get("worker", []))
    if "python -m gatekeeper.scanners.toolenv /opt/scanners requirements-scanners.lock" not in worker \
            or "GATEKEEPER_SCANNER_PYTHON=/opt/scanners/bin/python" not in worker:
        problems.append("the scanner environment is not built, or not the one the worker uses")
    installed = set(re.search(r"uv python install ([\d. ]+)", worker).group(1).split()) \
        if "uv python install" in worker else set()
    pythons = re.search(r"GATEKEEPER_PYTHONS=(\S+)", worker)
    named = pythons.group(1).split(":") if pythons else []
    for path in named:
        short = re.fullmatch(r"/opt/pythons/bin/python(3\.\d+)", path)
        if not (path == "/usr/local/bin/python3.12" or (short and short.group(1) in installed)):
            problems.append(f"GATEKEEPER_PYTHONS names an interpreter the image lacks: {path}")
    if not installed or {f"/opt/pythons/bin/python{v}" for v in installed} - set(named):
        problems.append("an installed interpreter is not in GATEKEEPER_PYTHONS")
    for name in ("worker", "web"):
        if "USER 10001" not in found.get(name, []):
            problems.append(f"the {name} stage does not run as the unprivileged user")
    return problems


def test_the_dockerfile_keeps_its_invariants():
    text = (ROOT / "Dockerfile").read_text()
    assert dockerfile_problems(text) == []
    # positive controls: each broken copy is caught
    web_check = next(line for line in stages(text)["web"] if line.startswith("HEALTHCHECK"))
    worker_check = next(line for line in stages(text)["worker"] if line.startswith("HEALTHCHECK"))
    broken = {
        "the worker stage's health check is not its own": text.replace(worker_check, web_check),
        "installs from the index without hashes": text.replace("--require-hashes ", ""),
        "the scanner environment is not built": text.replace(
            "RUN python -m gatekeeper.scanners.toolenv", "# RUN python -m gatekeeper.scanners.toolenv"),
        "GATEKEEPER_PYTHONS names an interpreter the image lacks": text.replace(
            "uv python install 3.9 ", "uv python install "),
    }
    for expected, copy in broken.items():
        assert any(p.startswith(expected) for p in dockerfile_problems(copy)), expected


def lock_pins(path: Path) -> dict[str, str]:
    text = path.read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, re.MULTILINE))
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for block in blocks:  # every pin carries at least one hash
        assert "--hash=sha256:" in block, block[:80]
    return {canonicalize_name(k): v for k, v in pins.items()}


def lock_problems(pins: dict[str, str]) -> list[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    problems = []
    for line in project["dependencies"]:
        wanted = Requirement(line)
        pinned = pins.get(canonicalize_name(wanted.name))
        if pinned is None or not wanted.specifier.contains(pinned, prereleases=True):
            problems.append(f"{wanted} is not pinned in requirements.lock (got {pinned})")
    return problems


def test_the_locks_pin_every_dependency_with_hashes_at_the_tested_versions():
    pins = lock_pins(ROOT / "requirements.lock")
    assert lock_problems(pins) == []
    assert pins["bandit"] == version("bandit") and pins["semgrep"] == version("semgrep")
    assert "setuptools" in pins  # the project is installed without build isolation
    without_flask = {k: v for k, v in pins.items() if k != "flask"}
    assert any("flask" in p for p in lock_problems(without_flask))  # positive control
    scanners = ROOT / "requirements-scanners.lock"
    assert lock_pins(scanners)["bandit"] == version("bandit")
    check_lock(scanners, f"bandit=={version('bandit')}")


def test_the_scanner_environment_refuses_a_lock_of_another_bandit(tmp_path):
    other = tmp_path / "other.lock"
    other.write_text((ROOT / "requirements-scanners.lock").read_text().replace(
        f"bandit=={version('bandit')} ", "bandit==1.7.0 "))
    with pytest.raises(SystemExit, match="does not pin bandit=="):
        check_lock(other, f"bandit=={version('bandit')}")


# -- the guide ---------------------------------------------------------------------------------
# Every command, path and link in docs/deploy.md is checked with the rest of the docs, by one
# checker: tests/test_docs.py (its positive controls feed it broken snippets).
