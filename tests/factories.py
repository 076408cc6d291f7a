"""Small builders for the pure core's inputs, and small source trees for the runner."""

import textwrap
from pathlib import Path

from gatekeeper.core.escape import md_unescape
from gatekeeper.core.model import ChangedFile, Commit, PullRequest, Review, User
from gatekeeper.core.policy import parse_agents, parse_policy

RULES = Path(__file__).resolve().parent.parent / "rules"
AGENTS = parse_agents((RULES / "agents.yml").read_text())
DEFAULT_POLICY = (RULES / "policy.yml").read_text()
HEAD = "h" * 40
OLD = "o" * 40
BOT = "copilot-swe-agent[bot]"


def policy(text: str | None = None):
    return parse_policy(text, DEFAULT_POLICY)


def user(login: str, bot: bool = False) -> User:
    return User(login, "Bot" if bot else "User")


def pull(author=BOT, bot=True, head_ref="copilot/fix", body="", labels=(), assignees=()):
    return PullRequest(repo="octo/app", number=1, head_sha=HEAD, head_ref=head_ref,
                       base_ref="main", base_sha="b" * 40, author=user(author, bot), body=body,
                       labels=tuple(labels), assignees=tuple(user(a) for a in assignees))


def commit(message="change", author=None, bot=False, sha="c" * 40) -> Commit:
    who = user(author, bot) if author else None
    return Commit(sha=sha, message=message, author=who, committer=who)


VERDICT_AT = "2026-11-24T09:00:00+00:00"  # the gate's verdict, before the reviews below


def review(login, state="APPROVED", commit_id=HEAD, at="2026-11-24T10:00:00Z", bot=False, rid=1,
           body=""):
    return Review(id=rid, user=user(login, bot), state=state, commit_id=commit_id, submitted_at=at,
                  body=body)


def files(*paths):
    return [ChangedFile(p) for p in paths]


unescaped = md_unescape  # check-run markdown as a reader sees it


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Files (dedented) under root; returns root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root
