"""The production set-up docs/production.md gives: the image's Dockerfile linted (no container engine
here), and the Procfile's web command run as it stands (the gunicorn fixture)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def hadolint(path: Path) -> subprocess.CompletedProcess:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert found, "hadolint is not installed: run `make test`"
    return subprocess.run([found, "--no-color", str(path)], capture_output=True, text=True,
                          timeout=60)


def test_the_dockerfile_passes_hadolint_and_a_sloppy_one_does_not(tmp_path):
    done = hadolint(ROOT / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text((ROOT / "Dockerfile").read_text().replace(
        "--no-install-recommends ", "").replace("USER 10001", "USER root"))
    caught = hadolint(sloppy)
    assert caught.returncode != 0 and "DL3015" in caught.stdout and "DL3002" in caught.stdout


def test_the_image_holds_what_the_processes_read_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text()
    copied = {word for line in text.splitlines() if line.startswith("COPY")
              for word in line.split()[1:-1]}
    for needed in ("pyproject.toml", "app.py", "gunicorn.conf.py", "gatekeeper", "rules",
                   "Procfile"):
        assert needed in copied, needed
    assert re.search(r"^USER 10001$", text, re.MULTILINE) and "bubblewrap" in text
    assert 'CMD ["gunicorn", "app:app"]' in text
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines())
    assert procfile == {"web": "gunicorn app:app", "worker": "gatekeeper worker"}


def test_the_procfile_web_command_serves_with_the_configured_settings(gunicorn):
    url, env = gunicorn  # started as `gunicorn app:app`, bound through GATEKEEPER_BIND
    assert requests.get(url + "/healthz", timeout=10).status_code == 200
    assert env["GATEKEEPER_BIND"] == url.removeprefix("http://")
