"""Plain facts about pull requests and check runs, shared by every module."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class User:
    login: str
    type: str = "User"  # GitHub's user.type: "User", "Bot" or "Organization"

    @property
    def is_bot(self) -> bool:
        return self.type == "Bot"


@dataclass(frozen=True)
class PullRequest:
    repo: str
    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    base_sha: str
    author: User
    title: str = ""
    body: str = ""
    draft: bool = False
    state: str = "open"
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckOutput:
    """What a completed check run shows: GitHub's `output` object."""

    title: str
    summary: str
    text: str = ""
    annotations: list[dict] = field(default_factory=list)
