"""Agent instruction and configuration files in real histories: does the default policy keep
every one of them a sensitive path, and does the instruction check find them?

Every path ever added on each repository's default branch is labelled by `is_agent_file()`, a
definition written apart from the policy: well-known file names of the agents' instruction
files, and the agents' configuration folders (.claude, .cursor, .windsurf, .github/instructions,
...). Each labelled path is then matched against rules/policy.yml's sensitive.paths; at the
head commit, the files the instruction check reads (governance.INSTRUCTION_FILES) are looked up.

    .venv/bin/python bench/instructions_eval.py [MIRROR_DIR]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.detection_eval import REPOS  # noqa: E402 - the same twelve histories
from gatekeeper.core.governance import INSTRUCTION_FILES  # noqa: E402
from gatekeeper.core.policy import parse_policy, path_matches  # noqa: E402
from gatekeeper.core.rules import default_policy_text  # noqa: E402

NAMES = {"AGENTS.md", "CLAUDE.md", "GEMINI.md", ".cursorrules", ".windsurfrules", ".clinerules",
         "copilot-instructions.md", "CLAUDE.local.md", ".aider.conf.yml"}
FOLDERS = {".claude", ".cursor", ".windsurf", ".clinerules", ".codex", ".gemini", ".openhands"}
GITHUB_FOLDERS = {"instructions", "prompts", "chatmodes", "agents"}


def is_agent_file(path: str) -> bool:
    parts = path.split("/")
    if parts[-1] in NAMES:
        return True
    if any(p in FOLDERS for p in parts[:-1]):
        return True
    return len(parts) > 2 and parts[0] == ".github" and parts[1] in GITHUB_FOLDERS


def git(repo: Path, *args: str) -> tuple[str, bool]:
    """Output, and whether git read everything (a fetched mirror may lack its largest
    objects: git log then stops there, and what it printed until then is kept)."""
    done = subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, text=True)
    return done.stdout, done.returncode == 0


def main() -> None:
    mirrors = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror")
    sensitive = parse_policy(None, default_policy_text()).sensitive.paths
    total = covered = 0
    missed: list[str] = []
    print(f"{'repository':34} {'agent files':>11} {'sensitive':>9}  instruction files at head")
    for name in REPOS:
        repo = mirrors / name.replace("/", "+") / "repo"
        if not repo.is_dir():
            print(f"{name:34} (not fetched)")
            continue
        log, whole = git(repo, "log", "--diff-filter=A", "--name-only", "--format=", "HEAD")
        added = {p for p in log.splitlines() if p and is_agent_file(p)}
        ok = {p for p in added if any(path_matches(g, p) for g in sensitive)}
        head = set(git(repo, "ls-tree", "-r", "--name-only", "HEAD")[0].splitlines())
        found = [f for f in INSTRUCTION_FILES if f in head]
        total, covered = total + len(added), covered + len(ok)
        missed += [f"{name}: {p}" for p in sorted(added - ok)]
        print(f"{name:34} {len(added):>11} {len(ok):>9}  {', '.join(found) or '-'}"
              + ("" if whole else "  (history cut at a missing object)"))
    print(f"\n{covered}/{total} agent files ever added are sensitive paths under the default "
          "policy")
    for line in missed:
        print(f"  not sensitive: {line}")


if __name__ == "__main__":
    main()
