"""`make run`: an agent-authored change in a fresh example repository, through the whole gate.

The agent's commit adds a shell injection, pins a dependency with a known vulnerability and
neuters a test. The gate runs for real (sandbox, semgrep, bandit, pip-audit against a local
OSV mirror) and shows the change blocked.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from gatekeeper.cli.local import check
from gatekeeper.cli.localreport import text
from gatekeeper.cli.osvmirror import OSVServer
from gatekeeper.runner.gitlocal import line_at
from gatekeeper.service.settings import load_stage_config

ADVISORIES = Path(__file__).resolve().parents[2] / "demo" / "advisories"
HUMAN = ("Dana Developer", "dana@example.com")
BRANCH = "copilot/add-log-grep"
AGENT = ("Copilot", "198982749+Copilot@users.noreply.github.com")

BASE = {
    "app.py": '''"""A tiny log search service."""


def search(pattern, lines):
    return [line for line in lines if pattern in line]
''',
    "test_app.py": '''from app import search


def test_search_finds_matching_lines():
    assert search("error", ["ok", "error: disk", "fine"]) == ["error: disk"]
''',
    "requirements.txt": "# runtime dependencies\n",
}
AGENT_CHANGE = {
    "app.py": BASE["app.py"] + '''

def grep_logs(request):
    import subprocess

    pattern = request.GET.get("pattern", "")
    return subprocess.run(f"grep {pattern} /var/log/app.log", shell=True, capture_output=True)
''',
    "test_app.py": '''import pytest

from app import search


@pytest.mark.skip(reason="flaky on CI")
def test_search_finds_matching_lines():
    assert search("error", ["ok", "error: disk", "fine"]) == ["error: disk"]


def test_grep_logs():
    assert True
''',
    "requirements.txt": "# runtime dependencies\nrequests==2.2.0\n",
}


def _commit(repo: Path, files: dict[str, str], who: tuple[str, str], message: str) -> None:
    for name, content in files.items():
        (repo / name).write_text(content)
    env = {**os.environ, "GIT_AUTHOR_NAME": who[0], "GIT_AUTHOR_EMAIL": who[1],
           "GIT_COMMITTER_NAME": who[0], "GIT_COMMITTER_EMAIL": who[1]}
    for args in (["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)


def build(repo: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    _commit(repo, BASE, HUMAN, "Log search service")
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", BRANCH],
                   check=True)
    _commit(repo, AGENT_CHANGE, AGENT, "Add grep_logs helper\n\nCo-authored-by: Dana Developer "
                                       "<dana@example.com>\n")


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the mirror's request log
    mirror = OSVServer(ADVISORIES).start()
    try:
        with tempfile.TemporaryDirectory(prefix="gatekeeper-demo-") as tmp:
            repo = Path(tmp) / "log-search"
            build(repo)
            print(f"Example repository: {repo}\n  main: a log search service with a real test\n"
                  "  copilot/add-log-grep: the agent's change\n", flush=True)
            config = load_stage_config({**os.environ, "GATEKEEPER_OSV_URL": mirror.url})

            def progress(stage: str, status: str) -> None:
                print(f"  {stage}: {status}", file=sys.stderr, flush=True)

            report = check(repo, "main", BRANCH, config, progress)
            print()
            print(text(report, lambda path, line: line_at(repo, BRANCH, path, line)))
            return 0 if report.blocked else 1  # the demo succeeds when the gate blocks
    finally:
        mirror.stop()

