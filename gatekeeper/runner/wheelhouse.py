"""Dependencies for pull request code, fetched without running any of it.

Requirements are read as data and reduced to plain specifiers (no options, URLs or paths),
then `pip download --only-binary=:all:` fetches wheels outside the sandbox into a cache
keyed by what was asked. No sdist is built, so no code from any package runs here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from gatekeeper.core.escape import md_text
from gatekeeper.runner import toolargv

PASSED_ENV = {"PATH", "HOME", "LANG", "LC_ALL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
              "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
# the operator's index settings, given to pip as options: no PIP_* variable is inherited
PIP_OPTIONS = {"PIP_INDEX_URL": "--index-url", "PIP_EXTRA_INDEX_URL": "--extra-index-url",
               "PIP_FIND_LINKS": "--find-links", "PIP_CERT": "--cert",
               "PIP_TRUSTED_HOST": "--trusted-host", "PIP_DEFAULT_TIMEOUT": "--timeout"}
DOWNLOAD_TIMEOUT = 600
LIST_FILE = "requirements.gatekeeper.txt"


class DependencyError(Exception):
    """A dependency cannot be provided offline; the message names it."""


def sanitize(lines: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    requirements: list[str] = []
    refused: list[str] = []
    for where, raw in lines:
        line = re.sub(r"(^|\s)#.*$", "", str(raw)).strip()
        if not line:
            continue
        if "$" in line:  # pip expands ${VAR} from its own environment: the worker's
            refused.append(f"{where}: environment references ($) are not followed")
            continue
        if line.startswith("-"):
            refused.append(f"{where}: pip option {line.split()[0]!r} is not followed (only plain "
                           "requirements are installed)")
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            refused.append(f"{where}: not a requirement: {exc}")
            continue
        if requirement.url:
            refused.append(f"{where}: {requirement.name} from a direct URL is not installed")
            continue
        requirements.append(str(requirement))
    return sorted(set(requirements)), refused


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def wheelhouse_key(requirements: list[str], python: str | None = None) -> str:
    # "native": fetched by the target interpreter itself, so its markers were evaluated
    tag = f"cp{(python or _this_python()).replace('.', '')}-{sys.platform}-{os.uname().machine}" \
        "-native"
    return hashlib.sha256("\n".join([tag, *requirements]).encode()).hexdigest()[:32]


@lru_cache(maxsize=16)
def _has_pip(interpreter: str) -> bool:
    """A pip of its own, recent enough for the options used here (21 and later)."""
    try:
        done = subprocess.run(toolargv.module(interpreter, "pip", "--version"),
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    found = re.match(r"pip (\d+)\.", done.stdout)
    return done.returncode == 0 and bool(found) and int(found.group(1)) >= 21


def _downloader(python: str | None, interpreter: str | None) -> list[str]:
    """pip download run by the interpreter the suite will use: `--python-version` alone picks
    the right wheels but evaluates markers such as `python_version >= "3.13"` for the worker's
    own Python, so a dependency only newer Pythons need would be missing in the sandbox."""
    if interpreter and _has_pip(interpreter):
        return toolargv.module(interpreter, "pip")
    return toolargv.module(sys.executable, "pip", *_target(python))


def _target(python: str | None) -> list[str]:
    """pip download's options for wheels of another Python version than the worker's own."""
    if not python or python == _this_python():
        return []
    abi = "cp" + python.replace(".", "")
    return ["--python-version", python, "--implementation", "cp", "--abi", abi,
            "--abi", "abi3", "--abi", "none"]


def ensure_wheelhouse(requirements: list[str], cache: Path, python: str | None = None,
                      interpreter: str | None = None) -> Path:
    """A folder of wheels for exactly these requirements and this Python X.Y (cached), with
    LIST_FILE beside them."""
    folder = cache / "wheelhouse" / wheelhouse_key(requirements, python)
    if (folder / LIST_FILE).exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="incoming-", dir=folder.parent))
    try:
        (staging / LIST_FILE).write_text("".join(f"{r}\n" for r in requirements))
        env = {k: v for k, v in os.environ.items() if k in PASSED_ENV}
        options = [word for name, flag in PIP_OPTIONS.items() if os.environ.get(name)
                   for value in os.environ[name].split() for word in (flag, value)]
        done = subprocess.run(
            [*_downloader(python, interpreter), "download", *options, "--only-binary=:all:",
             "--no-input",
             "--disable-pip-version-check", "--dest", str(staging), "-r", str(staging / LIST_FILE)],
            capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, env=env)
        if done.returncode != 0:
            raise DependencyError(_why(done.stderr))
        for path in staging.iterdir():
            path.chmod(0o644)
        staging.chmod(0o755)
        try:
            staging.rename(folder)  # atomic: a half-filled wheelhouse is never used
        except OSError:
            if not (folder / LIST_FILE).exists():
                raise
        return folder
    except subprocess.TimeoutExpired:
        raise DependencyError(f"downloading wheels took over {DOWNLOAD_TIMEOUT} s") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _why(stderr: str) -> str:
    """pip's reason, for a check run's markdown: it quotes the change's requirements."""
    missing = re.findall(r"No matching distribution found for (\S+)", stderr)
    if missing:
        return (f"no wheel for {md_text(', '.join(missing))}: only wheels are installed (no "
                "sdist is built); pin a version that ships a wheel")
    tail = stderr.strip().splitlines()[-3:]
    return "pip download failed: " + md_text(" / ".join(tail))
