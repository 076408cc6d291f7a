"""`gatekeeper policy check [FILE]`: a policy file validated offline, as the gate would."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from gatekeeper.core.escape import one_line
from gatekeeper.core.governance import parse_org
from gatekeeper.core.policy import POLICY_PATH, PolicyError, parse_policy
from gatekeeper.core.rules import default_policy_text


def problems_of(text: str, org: bool = False, name: str = POLICY_PATH) -> list:
    try:
        if org:
            parse_org(text, name)
        else:
            parse_policy(text, default_policy_text())
    except PolicyError as err:
        return err.problems
    return []


def check_file(path: str, org: bool = False, form: str = "text", out=None) -> int:
    out = out or sys.stdout
    file = Path(path)
    if not file.is_file():
        print(f"error: {path}: no such file (give the policy file's path, e.g. "
              f".github/gatekeeper.yml)", file=sys.stderr)
        return 2
    found = [dataclasses.replace(p, file=path)
             for p in problems_of(file.read_text(errors="replace"), org, path)]
    if form == "json":
        out.write(json.dumps({"file": path, "valid": not found, "problems": [
            {"path": p.file, "line": p.line, "message": p.message} for p in found]},
            indent=2) + "\n")
    elif found:
        out.write("".join(one_line(str(p)) + "\n" for p in found))
        out.write(f"{len(found)} problem{'s' if len(found) != 1 else ''}: the gate would fail "
                  "every gated pull request with this file\n")
    else:
        out.write(f"{one_line(path)}: valid\n")
    return 1 if found else 0
