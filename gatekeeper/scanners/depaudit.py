"""The dependencies stage: what the PR adds or changes in its manifests, audited by pip-audit.

pip-audit runs outside the sandbox (it must reach the vulnerability service) but only ever
sees a requirements file Gatekeeper wrote: exact pins, no options, nothing to install or build.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gatekeeper.core.bounded import REPORT, ParseError, TooLarge, load_json, load_toml
from gatekeeper.core.escape import md_text
from gatekeeper.core.model import ChangedFile, Finding, StageResult
from gatekeeper.core.policy import path_matches
from gatekeeper.runner import toolargv
from gatekeeper.runner.wheelhouse import PASSED_ENV, sanitize
from gatekeeper.scanners import blocks

MANIFESTS = ("**/requirements*.txt", "**/requirements/*.txt", "**/pyproject.toml")
QUOTED_RE = re.compile(r'"[^"]*"')
LOCKS = ("**/poetry.lock", "**/uv.lock", "**/pylock*.toml", "**/Pipfile.lock")
AUDIT_TIMEOUT = 300


class AuditError(Exception):
    """The vulnerability service could not answer for every dependency."""


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    spec: str  # the requirement as written, normalised
    path: str
    line: int

    @property
    def version(self) -> str | None:
        specifiers = list(Requirement(self.spec).specifier)
        if len(specifiers) == 1 and specifiers[0].operator in ("==", "===") \
                and "*" not in specifiers[0].version:
            return specifiers[0].version
        return None


def manifest_paths(files: list[ChangedFile]) -> list[str]:
    return [f.path for f in files if f.status != "removed"
            and any(path_matches(p, f.path) for p in MANIFESTS + LOCKS)]


def pins_of(path: str, text: str | None) -> tuple[dict[str, Pin], list[str]]:
    """Requirements a manifest declares, by canonical name, and the lines refused with why."""
    if text is None:
        return {}, []
    if any(path_matches(p, path) for p in LOCKS):
        try:
            raw = _locked(path, text)
        except TooLarge:
            raise
        except (ValueError, AttributeError) as exc:  # ParseError included
            return {}, [f"{path}: lock file not readable: {exc}"]
    elif path.endswith("pyproject.toml"):
        try:
            project = load_toml(text, path).get("project", {})
        except TooLarge:
            raise
        except ParseError as exc:
            return {}, [str(exc)]
        raw = [(path, _line_of(text, d), d) for d in project.get("dependencies", [])[:2000]]
    else:
        raw = [(path, n, line) for n, line in enumerate(text.splitlines(), 1)]
    pins: dict[str, Pin] = {}
    refused: list[str] = []
    for where, line, entry in raw:
        kept, why = sanitize([(f"{where}:{line}", entry)])
        refused += why
        for spec in kept:
            name = canonicalize_name(Requirement(spec).name)
            pins[name] = Pin(name, spec, where, line)
    return pins, refused


def _locked(path: str, text: str) -> list[tuple[str, int, str]]:
    """Exact pins from a lock file: poetry.lock, uv.lock, pylock.toml or Pipfile.lock."""
    lines = _line_index(text)  # once: a lookup per package over the text was quadratic
    if path.endswith("Pipfile.lock"):
        data = load_json(text, path)
        return [(path, lines.get(f'"{name}"', 1), f"{name}{info.get('version', '')}")
                for section in ("default", "develop")
                for name, info in data.get(section, {}).items() if info.get("version")]
    key = "packages" if path.rsplit("/", 1)[-1].startswith("pylock") else "package"
    packages = load_toml(text, path).get(key, [])
    return [(path, lines.get(f'name = "{p["name"]}"', 1), f"{p['name']}=={p['version']}")
            for p in packages if p.get("name") and p.get("version")]


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return 1


def _line_index(text: str) -> dict[str, int]:
    """First line of each `name = "x"` line and of each line's first quoted string."""
    index: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        index.setdefault(stripped, number)
        quoted = QUOTED_RE.match(stripped)
        if quoted:
            index.setdefault(quoted.group(0), number)
    return index


def edit_distance_one(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours turns a into b."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def run_dependencies(files: list[ChangedFile], head_text: Callable[[str], str | None],
                     base_text: Callable[[str], str | None], block_on: str, audit: Auditor,
                     popular: set[str]) -> StageResult:
    paths = manifest_paths(files)
    if not paths:
        return StageResult("dependencies", "passed", "no dependency manifest changed")
    head: dict[str, Pin] = {}
    base: dict[str, Pin] = {}
    findings: list[Finding] = []
    for path in paths:
        try:
            pins, refused = pins_of(path, head_text(path))
            head |= pins
            base |= pins_of(path, base_text(path))[0]
        except TooLarge as exc:  # not read, so nothing in it is known: blocks at any level
            findings.append(Finding("gatekeeper", "manifest-not-read", f"{exc}: its "
                                    "dependencies are not checked", "high", path,
                                    exc.line or 1, exc.line or 1))
            continue
        findings += [Finding("gatekeeper", "unsupported-requirement", why, "medium", path, 1, 1)
                     for why in refused]
    touched = {n for n, pin in head.items() if n not in base or base[n].spec != pin.spec}
    for name in sorted(touched):
        pin = head[name]
        if pin.version is None:
            findings.append(Finding("gatekeeper", "unpinned-requirement",
                                    f"{pin.spec} is not pinned to one version (use ==)", "medium",
                                    pin.path, pin.line, pin.line))
        if name not in base and name not in popular:
            near = sorted(p for p in popular if edit_distance_one(name, p))
            if near:
                findings.append(Finding("gatekeeper", "possible-typosquat",
                                        f"new dependency {name!r} is one letter away from the "
                                        f"popular {near[0]!r}", "high", pin.path, pin.line,
                                        pin.line))
    pinned = {n: p.version for n, p in head.items() if p.version}
    try:
        advisories = audit.vulnerabilities(pinned)
    except AuditError as exc:
        unreachable = any(w in str(exc) for w in ("Connection", "Max retries", "resolve",
                                                  "timed out", "Timeout"))
        hint = ("\n\nThe vulnerability service did not answer: point GATEKEEPER_OSV_URL at one "
                "the worker reaches (`gatekeeper osv-mirror FOLDER` serves the PyPA advisory "
                "database offline); `gatekeeper doctor` checks it.") if unreachable else ""
        # pip-audit's own words quote the change's requirement names
        return StageResult("dependencies", "error", f"the dependency audit did not complete, so "
                                                    f"nothing is known to be safe: "
                                                    f"{md_text(str(exc))}{hint}",
                           tuple(findings))
    for name, vulns in sorted(advisories.items()):
        pin = head[name]
        for vuln in vulns:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none published"
            findings.append(Finding("pip-audit", vuln["id"],
                                    f"{name}=={pin.version}: {vuln.get('description', '')[:300]} "
                                    f"(fixed in: {fixes})", "high", pin.path, pin.line, pin.line,
                                    new=name in touched))
    findings = [f if blocks(f, block_on) else _not_blocking(f) for f in findings]
    status = "failed" if any(f.blocking for f in findings) else "passed"
    summary = (f"dependencies added or changed: {len(touched)}; pinned and audited: {len(pinned)} "
               f"({audit.describe()}); findings: {len(findings)}")
    return StageResult("dependencies", status, summary, tuple(findings))


def _not_blocking(finding: Finding) -> Finding:
    from dataclasses import replace

    return replace(finding, blocking=False)


class Auditor:
    """pip-audit against an OSV-compatible service, with answers cached per (name, version)
    for `ttl` seconds (0: no cache, every run asks). A cached answer is said to be one, with
    its age; past `ttl` it is never used, so a service that does not answer is an error."""

    def __init__(self, osv_url: str, cache: Path, ttl: int):
        self.osv_url, self.cache, self.ttl = osv_url, cache / "osv", ttl
        self.answers, self.ages = 0, []  # of the last call: answers, ages of the cached ones

    def describe(self) -> str:
        said = f"pip-audit via {self.osv_url}"
        if not self.ages:
            return said
        kept = f"answers are kept up to {age(self.ttl)}"
        if len(self.ages) == self.answers:
            return (f"{said} not asked: all {self.answers} answers from its cache, the oldest "
                    f"{age(max(self.ages))} old; {kept}")
        return (f"{said}; {len(self.ages)} of {self.answers} answers from its cache, the oldest "
                f"{age(max(self.ages))} old; {kept}")

    def vulnerabilities(self, pins: dict[str, str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        wanted: dict[str, str] = {}
        self.answers, self.ages = len(pins), []
        for name, version in pins.items():
            cached = self._cached(name, version)
            if cached is None:
                wanted[name] = version
                continue
            vulns, how_old = cached
            self.ages.append(how_old)
            if vulns:
                found[name] = vulns
        if wanted:
            try:
                answered = self._pip_audit(wanted)
            except AuditError as exc:
                past = "" if not self.ttl else (f"; no answer younger than {age(self.ttl)} was "
                                                "in the cache for them")
                raise AuditError(f"the vulnerability service {self.osv_url} did not answer "
                                 f"for {len(wanted)} dependencies{past}: {exc}") from None
            for name, vulns in answered.items():
                self._store(name, wanted[name], vulns)
                if vulns:
                    found[name] = vulns
        return found

    def _pip_audit(self, pins: dict[str, str]) -> dict[str, list[dict]]:
        with tempfile.TemporaryDirectory(prefix="gatekeeper-audit-") as tmp:
            listing = Path(tmp) / "requirements.txt"
            listing.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
            env = {k: v for k, v in os.environ.items() if k in PASSED_ENV} | {"HOME": tmp}
            try:
                done = subprocess.run(
                    toolargv.module(
                        sys.executable, "pip_audit", "-r", str(listing), "--no-deps",
                        "--disable-pip", "-s", "osv", "--osv-url", self.osv_url, "-f", "json",
                        "--progress-spinner", "off", "--cache-dir", str(Path(tmp) / "cache")),
                    capture_output=True, text=True, timeout=AUDIT_TIMEOUT, env=env)
            except subprocess.TimeoutExpired:
                raise AuditError(f"pip-audit took over {AUDIT_TIMEOUT} s") from None
        try:
            report = load_json(done.stdout, "pip-audit's report", REPORT)
        except ParseError:
            tail = " / ".join(done.stderr.strip().splitlines()[-2:])
            raise AuditError(f"pip-audit exited {done.returncode}: {tail}") from None
        results: dict[str, list[dict]] = {}
        for dep in report.get("dependencies", []):
            if dep.get("skip_reason"):  # pip-audit's way of saying it could not check
                raise AuditError(f"{dep['name']} was not checked: {dep['skip_reason']}")
            results[canonicalize_name(dep["name"])] = dep.get("vulns", [])
        missing = set(pins) - set(results)
        if missing:
            raise AuditError(f"pip-audit gave no answer for {', '.join(sorted(missing))}")
        return results

    def _path(self, name: str, version: str) -> Path:
        return self.cache / name / f"{version}.json"

    def _cached(self, name: str, version: str) -> tuple[list[dict], float] | None:
        """The stored answer and its age in seconds, if younger than the limit."""
        if self.ttl <= 0:
            return None
        path = self._path(name, version)
        try:
            how_old = max(0.0, time.time() - path.stat().st_mtime)
            if how_old < self.ttl:
                return json.loads(path.read_text()), how_old
        except (OSError, json.JSONDecodeError):
            pass
        return None

    def _store(self, name: str, version: str, vulns: list[dict]) -> None:
        if self.ttl <= 0:
            return  # no cache at all
        path = self._path(name, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(vulns))


def age(seconds: float) -> str:
    """A duration as a person reads it: 40 s, 12 min, 2 h 5 min, 3 d 4 h."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"
