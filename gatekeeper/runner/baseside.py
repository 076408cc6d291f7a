"""Evidence about the base commit, from the base commit alone.

The base's own run is set up from the base's tree by its own installers and lock, in a job
folder of its own: no file the change's set-up or tests wrote is in its environment or its
working copy (a `setup.py` that plants a failing test in the change's set-up cannot make that
failure look pre-existing). What it found is kept under what decides it (the base tree, the
interpreter, the limits, the command, the sandbox's version), so later pushes onto the same
base reuse it without setting the base up again.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from gatekeeper.core.attempts import key as attempt_key
from gatekeeper.core.referee import SessionRecord
from gatekeeper.runner import baserun, sandbox
from gatekeeper.runner.interpreters import Interpreter
from gatekeeper.runner.projectsetup import SetupError, set_up
from gatekeeper.runner.referee import launch, read_run

VERSION = "base-alone-1"  # what a remembered outcome means; changed when that changes


@dataclass(frozen=True)
class BaseEvidence:
    failing: set[str] | None  # None: unknown (the base could not be set up or run)
    executed: int | None
    tried: set[tuple[str, str]] | None  # attempt keys of the base's own run
    session: SessionRecord | None  # what its pytest session registered
    why_unknown: str = ""


def base_evidence(base: Path, python: Interpreter, cache: Path, limits: sandbox.Limits,
                  setup_limits: sandbox.Limits, setting: str, shell: str, report: str, parse,
                  tag: str | None, asked: tuple[str, ...]) -> BaseEvidence:
    key = baserun.key_of(base, VERSION, python.path, str(python.version), repr(limits), setting,
                         shell, repr(asked), tag or "")
    known = baserun.remembered(cache, key)
    if known is None:
        known = _run_base(base, python, cache, limits, setup_limits, setting, shell, report,
                          parse, tag, asked)
        if known.get("final"):  # a set-up that failed is tried again (the index, say)
            baserun.remember(cache, key, known)
    return BaseEvidence(
        set(known["failing"]) if known["failing"] is not None else None, known["executed"],
        {tuple(k) for k in known["attempts"]} if known.get("attempts") is not None else None,
        SessionRecord.of(known.get("session")), known.get("why", ""))


def _run_base(base: Path, python: Interpreter, cache: Path, limits: sandbox.Limits,
              setup_limits: sandbox.Limits, setting: str, shell: str, report: str, parse,
              tag: str | None, asked: tuple[str, ...]) -> dict:
    unknown = {"failing": None, "executed": None, "attempts": None, "session": None}
    try:
        setup = set_up(base, base, python, cache, setup_limits, tag, asked)
    except SetupError as exc:
        return {**unknown, "why": f"the base commit could not be set up: {str(exc)[:300]}"}
    try:
        command, _ = launch(shell, None, None, referee=False)
        command += "".join(" " + shlex.quote(a) for a in setup.plan.pytest_args)
        prepare = f"export PATH={setup.env}/bin:$PATH VIRTUAL_ENV={setup.env}\n"
        ran = sandbox.run(setup.work, ["/bin/sh", "-c", prepare + setting + command], limits,
                          collect=report, binds=[str(setup.env), python.prefix], attempts=True)
        outcome, why = read_run(ran, parse)
        if outcome is None:  # the base's own doing: kept, not tried on every push
            return {**unknown, "final": True, "why": f"the base commit's suite did not run: "
                                                     f"{why}"}
        session = outcome.sessions[-1] if outcome.sessions else None
        return {"failing": sorted(outcome.failing), "executed": outcome.executed,
                "attempts": sorted(attempt_key(a) for a in ran.attempts)
                if not ran.attempts_lost else None,
                "session": session.encode() if session else None, "final": True}
    finally:
        shutil.rmtree(setup.work.parent, ignore_errors=True)
