"""`gatekeeper policy check [FILE]`: a policy file validated offline, as the gate would, and
what a valid file can still get wrong: secrets in tests.env (errors) and settings weaker than
the organisation's default (warnings).

Exit 0: valid (warnings alone are printed, not failed); 1: the file has errors; 2: no file
to read; 64: a usage error (the command line's parser)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from gatekeeper.core.bounded import ParseError, load_yaml_node
from gatekeeper.core.escape import one_line
from gatekeeper.core.governance import ORG_ONLY, parse_org
from gatekeeper.core.policy import POLICY_PATH, Policy, PolicyError, Problem, line_of, merge, parse_policy
from gatekeeper.core.policylint import Note, secrets_in_env, weakenings
from gatekeeper.core.rules import default_policy_text

VALID, ERRORS, NO_FILE = 0, 1, 2


def findings_of(text: str, org: bool = False,
                name: str = POLICY_PATH) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of a policy file."""
    default = parse_policy(None, default_policy_text())
    try:
        if org:
            data = parse_org(text, name)
            policy = Policy.model_validate(merge(default.model_dump(), {
                k: v for k, v in data.items() if k not in ORG_ONLY}))
        else:
            policy = parse_policy(text, default_policy_text())
    except PolicyError as err:
        return err.problems, []
    try:
        node = load_yaml_node(text, name)[1]  # read once already: only for the lines
    except ParseError:
        node = None
    secret_errors, secret_warnings = secrets_in_env(policy.tests.env)

    def located(notes: list[Note]) -> list[Problem]:
        return sorted((Problem(line_of(node, n.key), n.message, name) for n in notes),
                      key=lambda p: p.line or 0)
    return located(secret_errors), located([*secret_warnings, *weakenings(policy, default)])


def check_file(path: str, org: bool = False, form: str = "text", out=None) -> int:
    out = out or sys.stdout
    file = Path(path)
    if not file.is_file():
        print(f"error: {path}: no such file (give the policy file's path, e.g. "
              f".github/gatekeeper.yml)", file=sys.stderr)
        return NO_FILE
    found, warned = ([dataclasses.replace(p, file=path) for p in kind]
                     for kind in findings_of(file.read_text(errors="replace"), org, path))
    if form == "json":
        out.write(json.dumps({"file": path, "valid": not found, "problems": [
            {"path": p.file, "line": p.line, "message": p.message} for p in found],
            "warnings": [{"path": p.file, "line": p.line, "message": p.message}
                         for p in warned]}, indent=2) + "\n")
        return ERRORS if found else VALID
    if found:
        out.write("".join(one_line(str(p)) + "\n" for p in found))
        secrets = all("tests.env." in p.message for p in found)
        out.write(f"{len(found)} problem{'s' if len(found) != 1 else ''}: " + (
            "secrets in tests.env: remove them and revoke them" if secrets else
            "the gate would fail every gated pull request with this file") + "\n")
    out.write("".join(one_line(f"{p.file}:{p.line}: warning: {p.message}" if p.line else
                               f"{p.file}: warning: {p.message}") + "\n" for p in warned))
    if warned:
        out.write(f"{len(warned)} warning{'s' if len(warned) != 1 else ''} (the gate accepts "
                  "the file as it is)\n")
    if not found:
        out.write(f"{one_line(path)}: valid\n")
    return ERRORS if found else VALID
