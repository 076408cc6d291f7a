"""Verdicts → what a check run shows, within GitHub's limits."""

from __future__ import annotations

from .model import CheckOutput
from .verdict import CheckVerdict

MAX_TEXT = 65535  # GitHub's limit for output.summary and output.text
MAX_TITLE = 255
CUT_NOTE = "\n\n… (cut at GitHub's 65,535-character limit)"


def check_output(verdict: CheckVerdict) -> CheckOutput:
    summary = verdict.summary
    if len(summary) > MAX_TEXT:
        summary = summary[: MAX_TEXT - len(CUT_NOTE)] + CUT_NOTE
    return CheckOutput(title=verdict.title[:MAX_TITLE], summary=summary)
