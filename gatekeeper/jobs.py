"""Job entry points; the only orchestrator. Runs in an RQ worker or the embedded pool."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from . import metrics
from .github import GitHubApp
from .model import CheckOutput
from .settings import Settings, load_settings
from .webhooks import RERUN_ACTION, Target

log = logging.getLogger(__name__)

GATE_CHECK = "gatekeeper"
RERUN_BUTTON = {
    "label": "Re-run",
    "description": "Run Gatekeeper again on this commit",
    "identifier": RERUN_ACTION,
}


@dataclass
class Context:
    settings: Settings
    app: GitHubApp


_context: Context | None = None


def configure(settings: Settings) -> Context:
    """Set the process-wide context; a forked RQ work horse inherits it."""
    global _context
    _context = Context(settings, GitHubApp(settings))
    return _context


def context() -> Context:
    return _context or configure(load_settings())


def run(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The one function the queue calls."""
    handlers = {"gate": gate, "review": gate, "installation": installation_added}
    try:
        result = handlers[kind](context(), args)
    except Exception:
        metrics.JOBS.labels(kind=kind, outcome="error").inc()
        raise
    metrics.JOBS.labels(kind=kind, outcome="ok").inc()
    return result


def gate(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Gate one pull request at one head commit. Until the stages exist it fails closed."""
    target = Target(**args["target"])
    github = ctx.app.installation(target.installation_id)
    run_id = github.start_check_run(target.repo, target.head_sha, GATE_CHECK)
    try:
        pr = github.pull_request(target.repo, target.number)
        output = CheckOutput(
            title="Blocked: this version of Gatekeeper cannot evaluate pull requests yet",
            summary=(
                f"Pull request #{pr.number} by @{pr.author.login} at `{target.head_sha[:12]}`.\n\n"
                "The test, SAST, dependency and review stages are not installed in this "
                "version, so Gatekeeper fails closed: nothing is reported green unchecked."
            ),
        )
    except Exception as exc:
        output = CheckOutput(
            title="Gate did not complete",
            summary=f"gate did not complete: {exc.__class__.__name__}. Re-run to try again.",
        )
        github.complete_check_run(target.repo, run_id, "failure", output, [RERUN_BUTTON])
        raise
    github.complete_check_run(target.repo, run_id, "failure", output, [RERUN_BUTTON])
    log.info("gate %s#%s@%s: failure (%s)", target.repo, target.number, target.head_sha[:12],
             output.title)
    return {"check_run_id": run_id, "conclusion": "failure"}


def installation_added(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A new installation or new repositories: confirm access and list what is covered."""
    repos = ctx.app.installation(args["installation_id"]).repositories()
    log.info("installation %s covers %d repositories", args["installation_id"], len(repos))
    return {"repositories": repos}

