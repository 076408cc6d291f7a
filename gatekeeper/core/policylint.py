"""What a valid policy can still get wrong: settings weaker than the organisation's default,
and secrets in `tests.env` (everything there is the change's code to read, and committed).

Pure: both take parsed values; `gatekeeper policy check` prints them, the service may too.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from gatekeeper.core.policy import PERMISSION_RANK, Policy


@dataclass(frozen=True)
class Note:
    key: tuple[str, ...]  # where in the file, e.g. ("stages", "tests")
    message: str

    @property
    def dotted(self) -> str:
        return ".".join(self.key)


# each setting's values from weakest to strongest
RANKED: dict[tuple[str, ...], tuple] = {
    ("gate",): ("agents", "agents+automation", "all"),
    ("approvers", "min_permission"): tuple(sorted(PERMISSION_RANK, key=PERMISSION_RANK.get)),
    ("tests", "preexisting"): ("warn", "block"),
    ("tests", "base_tests"): ("off", "warn", "block"),
    ("tests", "attempts"): ("off", "ack", "block"),
    ("scanners", "block_on"): ("high", "medium", "low"),
    ("scanners", "unparsed"): ("neutral", "fail"),
}
STRONG_WHEN_TRUE = [("approvals", "after_verdict"), ("approvers", "teams_only"),
                    ("stages", "tests"), ("stages", "sast"), ("stages", "dependencies"),
                    ("coverage", "enabled"), ("coverage", "blocking"),
                    ("scanners", "whole_tree")]
STRONG_WHEN_FALSE = [("tests", "rerun")]  # the re-run alone is a path the change can game
STRONG_WHEN_HIGHER = [("approvals", "required"), ("sensitive", "approvals"),
                      ("coverage", "changed_lines")]
MORE_IS_WEAKER = {("approvers", "users"): "may approve whatever their permission",
                  ("break_glass", "teams"): "may override the gate"}
WHY = {
    ("stages", "tests"): "the tests stage is skipped",
    ("stages", "sast"): "the sast stage is skipped",
    ("stages", "dependencies"): "the dependencies stage is skipped",
    ("approvals", "after_verdict"): "an approval given before the gate's verdict counts",
    ("approvers", "min_permission"): "people with less access may approve",
    ("tests", "base_tests"): "the base's versions of edited tests decide less",
    ("tests", "preexisting"): "tests failing on the base too do not block",
    ("tests", "attempts"): "what the change's tests try is recorded with less weight",
    ("tests", "rerun"): "a base test failing on the change is re-run alone, which the change "
                        "can tell apart",
    ("coverage", "blocking"): "changed lines no test runs do not block",
    ("scanners", "block_on"): "fewer findings block",
    ("scanners", "unparsed"): "a file the scanners could not parse does not fail the stage",
}


def weakenings(policy: Policy, default: Policy) -> list[Note]:
    """Every setting of `policy` weaker than `default`'s, named with both values."""
    mine, theirs = policy.model_dump(), default.model_dump()
    notes = []
    for key in [*RANKED, *STRONG_WHEN_TRUE, *STRONG_WHEN_FALSE, *STRONG_WHEN_HIGHER]:
        value, was = _get(mine, key), _get(theirs, key)
        if key in RANKED:
            order = RANKED[key]
            weaker = value in order and was in order and order.index(value) < order.index(was)
        elif key in STRONG_WHEN_TRUE:
            weaker = was is True and value is False
        elif key in STRONG_WHEN_FALSE:
            weaker = was is False and value is True
        else:
            weaker = value < was
        if weaker:
            why = WHY.get(key, "")
            notes.append(Note(key, f"{'.'.join(key)}: {_show(value)}, weaker than the "
                                   f"organisation's default {_show(was)}"
                                   + (f" ({why})" if why else "")))
    for key, what in MORE_IS_WEAKER.items():
        extra = [v for v in _get(mine, key) if v not in _get(theirs, key)]
        if extra:
            notes.append(Note(key, f"{'.'.join(key)}: {', '.join(extra)} {what}, beyond the "
                                   "organisation's default"))
    if policy.tests.command and not default.tests.command:
        notes.append(Note(("tests", "command"), "tests.command: the gate runs this command "
                          "instead of its own pytest run, so the base's tests do not referee "
                          "the change"))
    return notes


def _get(data: dict, key: tuple[str, ...]):
    for part in key:
        data = data[part]
    return data


def _show(value) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


# shapes of real credentials: a value like these is a secret whatever its name
TOKEN_SHAPES = [
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("an API key (sk-...)", re.compile(r"\bsk-(proj-|ant-)?[A-Za-z0-9_-]{20,}")),
]
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW(OR)?D|PWD|(^|_)(API_?)?KEY(S)?($|_)|CREDENTIAL|"
                         r"(^|_)AUTH($|_)|PRIVATE", re.IGNORECASE)
MIN_LENGTH, MIN_BITS = 16, 3.5  # bits of entropy per character: random text, not words


def secrets_in_env(env: dict[str, str]) -> tuple[list[Note], list[Note]]:
    """(errors, warnings): values shaped like a real credential, and long random-looking values
    under a secret's name. The value itself is never repeated."""
    errors, warnings = [], []
    for name, value in env.items():
        key = ("tests", "env", name)
        shape = next((what for what, pattern in TOKEN_SHAPES if pattern.search(value)), None)
        if shape:
            errors.append(Note(key, f"tests.env.{name}: looks like {shape}; everything in "
                                    "tests.env is committed and readable by the change's code: "
                                    "never put a secret there (revoke this one)"))
        elif SECRET_NAME.search(name) and len(value) >= MIN_LENGTH and \
                entropy(value) >= MIN_BITS:
            warnings.append(Note(key, f"tests.env.{name}: a long random-looking value under a "
                                      "secret's name; tests.env is committed and readable by "
                                      "the change's code: use a dummy value, never a real "
                                      "secret"))
    return errors, warnings


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
