"""Time to verdict on a real project: `gatekeeper check` versus the same tools run by hand.

Fetches the toolz source distribution from the package index, commits it as the base, and
makes an agent-style change on top (two files, one new dependency). Then, in the same run:
  baseline: the project's tests, semgrep with the same rules, bandit and pip-audit, one after
            the other, on the whole tree (no sandbox);
  gate:     `gatekeeper check` (sandboxed, diff-aware, stages side by side);
  first gate: the same with empty caches (wheels downloaded, sandbox venv built);
  follow-up: one more commit touching one file, gated again;
  re-run:   the same commits again, answered from the stored result.
Medians of RUNS runs each, after one warm-up of each (wheels and caches in place).

    .venv/bin/python bench/time_to_verdict.py [RUNS]
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper.cli.local import check  # noqa: E402
from gatekeeper.cli.osvmirror import OSVServer  # noqa: E402
from gatekeeper.runner.wheelhouse import ensure_wheelhouse  # noqa: E402
from gatekeeper.service.settings import StageConfig  # noqa: E402

PROJECT = "toolz==0.12.1"
BIN = Path(sys.prefix) / "bin"
AGENT = {"GIT_AUTHOR_NAME": "Copilot", "GIT_COMMITTER_NAME": "Copilot",
         "GIT_AUTHOR_EMAIL": "198982749+Copilot@users.noreply.github.com",
         "GIT_COMMITTER_EMAIL": "198982749+Copilot@users.noreply.github.com"}


def sh(*args: str, cwd: Path | None = None, env: dict | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, **(env or {})})


def project(tmp: Path) -> Path:
    sh(sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
       "-d", str(tmp / "sdist"), PROJECT)
    archive = next((tmp / "sdist").glob("*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
    repo = next(p for p in tmp.iterdir() if p.is_dir() and p.name.startswith("toolz-"))
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "base", cwd=repo,
       env={"GIT_AUTHOR_NAME": "Dana", "GIT_AUTHOR_EMAIL": "dana@example.com",
            "GIT_COMMITTER_NAME": "Dana", "GIT_COMMITTER_EMAIL": "dana@example.com"})
    sh("git", "checkout", "-q", "-b", "copilot/chunked", cwd=repo)
    with open(repo / "toolz/itertoolz.py", "a") as f:
        f.write("\n\ndef chunked(seq, n):\n    seq = list(seq)\n"
                "    return [seq[i:i + n] for i in range(0, len(seq), n)]\n")
    with open(repo / "toolz/tests/test_itertoolz.py", "a") as f:
        f.write("\n\ndef test_chunked():\n    from toolz.itertoolz import chunked\n"
                "    assert chunked(range(5), 2) == [[0, 1], [2, 3], [4]]\n")
    (repo / "requirements.txt").write_text("six==1.16.0\n")
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "Add chunked", cwd=repo, env=AGENT)
    return repo


def baseline(repo: Path, wheels: Path, osv_url: str, tmp: Path) -> float:
    """The same work by hand, one tool after the other, on the whole tree."""
    started = time.perf_counter()
    venv = tmp / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    sh(sys.executable, "-m", "venv", str(venv))
    sh(str(venv / "bin/pip"), "install", "-q", "--no-index", "--find-links", str(wheels),
       "-r", str(wheels / "requirements.gatekeeper.txt"))
    subprocess.run([str(venv / "bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                   cwd=repo, capture_output=True)
    subprocess.run([str(BIN / "semgrep"), "scan", "--metrics=off", "--disable-version-check",
                    "--quiet", "--json", "--config", str(ROOT / "rules/semgrep"), "."],
                   cwd=repo, capture_output=True, env={**os.environ, "HOME": str(tmp)})
    subprocess.run([sys.executable, "-m", "bandit", "-q", "-r", "-f", "json", "."], cwd=repo,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "pip_audit", "-r", "requirements.txt", "--no-deps",
                    "--disable-pip", "-s", "osv", "--osv-url", osv_url, "-f", "json",
                    "--progress-spinner", "off"], cwd=repo, capture_output=True)
    return time.perf_counter() - started


def gate(repo: Path, config: StageConfig, use_cache: bool = False) -> float:
    started = time.perf_counter()
    report = check(repo, "main", "HEAD", config, use_cache=use_cache)
    elapsed = time.perf_counter() - started
    statuses = {name: r.status for name, r in report.stages.items()}
    assert report.gated and "error" not in statuses.values(), statuses
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    tmp = Path(tempfile.mkdtemp(prefix="gatekeeper-bench-"))
    mirror = OSVServer(ROOT / "demo" / "advisories").start()
    try:
        repo = project(tmp)
        config = StageConfig(cache_dir=tmp / "cache", osv_url=mirror.url, audit_cache_ttl=3600)
        wheels = ensure_wheelhouse(["pytest", "six==1.16.0"], config.cache_dir)
        gate(repo, config), baseline(repo, wheels, mirror.url, tmp)  # warm-up
        by_hand = [baseline(repo, wheels, mirror.url, tmp) for _ in range(runs)]
        warm = [gate(repo, config) for _ in range(runs)]
        cold = []  # the pull request's first gate: this dependency set never seen before
        for i in range(runs):
            fresh = StageConfig(cache_dir=tmp / f"cold-{i}", osv_url=mirror.url,
                                audit_cache_ttl=3600)
            cold.append(gate(repo, fresh))
        with open(repo / "toolz/itertoolz.py", "a") as f:
            f.write("\n# follow-up\n")
        sh("git", "commit", "-q", "-am", "Follow-up", cwd=repo, env=AGENT)
        follow = [gate(repo, config) for _ in range(runs)]
        gate(repo, config, use_cache=True)
        rerun = [gate(repo, config, use_cache=True) for _ in range(runs)]
        lines = sum(1 for p in repo.rglob("*.py") for _ in p.open())
        b, w, c, f, r = (statistics.median(x) for x in (by_hand, warm, cold, follow, rerun))
        print(f"project: {PROJECT} ({lines} lines of Python), {runs} runs each, medians")
        print(f"by hand, sequential (tests, semgrep, bandit, pip-audit): {b:6.2f} s")
        print(f"gatekeeper check, caches warm:                           {w:6.2f} s  "
              f"ratio {w / b:.2f} (target <= 0.7)")
        print(f"gatekeeper check, first gate (wheels fetched, venv built): {c:6.2f} s  "
              f"ratio {c / b:.2f}")
        print(f"follow-up push touching one file:                        {f:6.2f} s  "
              f"ratio to first gate {f / c:.2f} (target <= 0.5)")
        print(f"re-run of the same head SHA (stored result):             {r:6.2f} s  "
              f"(target <= 1 s)")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS: this process (the gate's Python side) {own:.0f} MiB; largest child "
              f"(a sandboxed tool) {kids:.0f} MiB")
    finally:
        mirror.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
