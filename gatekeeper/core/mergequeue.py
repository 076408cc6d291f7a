"""A merge queue's group: which pull requests it holds, and the gate's verdict on it. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping

from gatekeeper.core.escape import md_text
from gatekeeper.core.model import StageResult
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


def group_verdict(stages: Mapping[str, StageResult], gated: Mapping[int, list[str]],
                  unknown: bool) -> CheckVerdict:
    """`gated`: for each gated pull request in the group, what its review still misses (empty
    when satisfied). `unknown`: the group's pull requests could not all be identified."""
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
    if unknown:
        lines.append("- ❌ the pull requests in this group could not all be identified")
    if failing or unapproved or unknown:
        parts = ([f"stages {', '.join(failing)}"] if failing else []) + \
            ([f"no qualified approval on #{', #'.join(str(n) for n in sorted(unapproved))}"]
             if unapproved else []) + (["unidentified pull requests"] if unknown else [])
        return CheckVerdict(GATE, "failure", ("Merge group blocked: " + "; ".join(parts))[:255],
                            "\n".join(lines))
    return CheckVerdict(GATE, "success", "Merge group: stages green, every gated pull request "
                                         "approved", "\n".join(lines))
