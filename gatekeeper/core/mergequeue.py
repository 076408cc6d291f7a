"""A merge queue's group: which pull requests it holds, and the gate's verdict on it. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from gatekeeper.core.escape import md_text
from gatekeeper.core.model import Commit, StageResult
from gatekeeper.core.verdict import GATE, STAGE_CONCLUSION, CheckVerdict

QUEUE_REF = re.compile(r"/pr-(?P<number>\d+)-[0-9a-f]{7,40}$")
PULL_IN_MESSAGE = re.compile(r"^Merge pull request #(?P<merge>\d+) |\(#(?P<squash>\d+)\)\s*$")


def pulls_in_group(head_ref: str, messages: list[str]) -> list[int]:
    """The queue branch names the last pull request; each entry's commit message (merge or
    squash) names its own."""
    found = []
    last = QUEUE_REF.search(head_ref)
    for message in messages:
        first = message.splitlines()[0] if message else ""
        match = PULL_IN_MESSAGE.search(first)
        if match:
            found.append(int(match.group("merge") or match.group("squash")))
    if last:
        found.append(int(last.group("number")))
    return sorted(set(found))


def unattributed(group: Sequence[Commit], pulls: Mapping[int, Sequence[Commit]]) -> list[str]:
    """Commits of the group that belong to none of its known pull requests: neither a merge or
    squash commit naming one, nor a copy of one of their commits (a rebase merge queue keeps
    each commit's message and author, not its SHA)."""
    known = {_key(c) for commits in pulls.values() for c in commits}
    return [c.sha[:7] for c in group
            if not PULL_IN_MESSAGE.search(c.message.splitlines()[0] if c.message else "")
            and _key(c) not in known]


def _key(commit: Commit) -> tuple[str, str]:
    return commit.message.strip(), commit.author_email.lower()


def group_verdict(stages: Mapping[str, StageResult], gated: Mapping[int, list[str]],
                  unknown: Sequence[str]) -> CheckVerdict:
    """`gated`: for each gated pull request in the group, what its review still misses (empty
    when satisfied). `unknown`: what of the group could not be tied to a pull request."""
    lines, failing = [], []
    for name, result in stages.items():
        ok = STAGE_CONCLUSION.get(result.status, "failure") in ("success", "skipped", "neutral")
        lines.append(f"- {'✅' if ok else '❌'} `{GATE}/{name}` on the group's commit: "
                     f"{result.status}")
        if not ok:
            failing.append(name)
    unapproved = {n: missing for n, missing in gated.items() if missing}
    for number in sorted(gated):
        missing = unapproved.get(number)
        lines.append(f"- {'❌' if missing else '✅'} #{number}: "
                     + (md_text("; ".join(missing)) if missing else "review satisfied"))
    lines += [f"- ❌ {md_text(what)}" for what in unknown]
    if failing or unapproved or unknown:
        parts = ([f"stages {', '.join(failing)}"] if failing else []) + \
            ([f"no qualified approval on #{', #'.join(str(n) for n in sorted(unapproved))}"]
             if unapproved else []) + (["commits of no known pull request"] if unknown else [])
        return CheckVerdict(GATE, "failure", ("Merge group blocked: " + "; ".join(parts))[:255],
                            "\n".join(lines))
    return CheckVerdict(GATE, "success", "Merge group: stages green, every gated pull request "
                                         "approved", "\n".join(lines))
