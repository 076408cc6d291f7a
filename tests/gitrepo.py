"""Real git repositories for tests: a base commit and a pull request's commits on top."""

import subprocess
from pathlib import Path

ENV = {"GIT_AUTHOR_NAME": "Base", "GIT_AUTHOR_EMAIL": "base@example.invalid",
       "GIT_COMMITTER_NAME": "Base", "GIT_COMMITTER_EMAIL": "base@example.invalid",
       "HOME": "/tmp", "PATH": "/usr/bin:/bin"}


class Repo:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.root), *args], check=True, env=ENV,
                              capture_output=True, text=True).stdout.strip()

    def commit(self, files: dict[str, str | None], message: str = "change") -> str:
        for name, text in files.items():
            path = self.root / name
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str) -> None:
        self.git("checkout", "-q", "-b", name)
