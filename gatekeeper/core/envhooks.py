"""Judging the start-up hooks set-up left in the test environment (facts from
`runner.envhooks`).

Judged by provenance first: a hook (and the modules its `.pth` line imports) that no
distribution's RECORD lists with the hashes it has now was written by something other than an
installer, whatever it looks like, and blocks. A hook a package from the index installs
(setuptools' distutils shim, a namespace package's `.pth`) is the dependency's business and
the dependency audit's. One the project's own distribution installs runs the project's code
before every test, the referee's run included: it can rewrite outcomes where no diff shows
it; only its editable finder, recorded, is let through. A site-packages folder too big to
look through is nothing vouched for, and blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gatekeeper.core.model import Finding

EDITABLE_RE = re.compile(r"^import (__editable___[\w.]+_finder|_[\w]+_editable\w*)\s*;\s*"
                         r"\1\.install\([^;]*\)\s*$")


@dataclass(frozen=True)
class Hook:
    path: str  # relative to the environment
    kind: str  # pth | sitecustomize | usercustomize | unverified (a folder not looked through)
    owner: str  # the distribution whose RECORD lists it (and what it imports) with the hashes
    # they have, "" when none does
    local: bool  # that distribution was built from the repository (not from the index)
    code: str  # the .pth line that runs (for `unverified`: why)
    creator: bool = False  # byte for byte what the environment's creator (uv venv) writes


def hook_findings(hooks: list[Hook]) -> list[Finding]:
    findings = []
    for hook in hooks:
        if hook.kind == "unverified":  # a folder too big to look through: nothing vouched for
            findings.append(Finding(
                "tests", "runner-tampering/set-up-hook", f"set-up left {hook.path} with "
                f"{hook.code}, so the gate could not verify what runs before every test "
                "(the referee's run too): no outcome of this environment is evidence", "high"))
            continue
        if hook.creator:
            continue  # e.g. uv's `_virtualenv.pth` on older Pythons, with its module intact
        if hook.owner and not hook.local:
            continue  # from a package on the index, as its RECORD says, hashes included
        if hook.kind == "pth" and hook.owner and EDITABLE_RE.match(hook.code):
            continue  # the project's editable finder, its .pth and module as recorded
        made = f"installed by the project's own distribution {hook.owner} (its RECORD lists " \
            "it)" if hook.owner else "that no distribution's RECORD accounts for, hashes " \
            "included, with the modules it imports"
        findings.append(Finding(
            "tests", "runner-tampering/set-up-hook", f"set-up left a start-up hook in the test "
            f"environment: {hook.path} ({hook.kind}, {made}"
            + (f": {hook.code}" if hook.code else "") + "). It runs before every test, in "
            "the referee's run too, so no outcome of this environment is evidence", "high"))
    return findings
