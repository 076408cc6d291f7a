"""Slack alerts (Block Kit, through an incoming webhook). A failed alert never fails a gate."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from gatekeeper.core.escape import slack, slack_code
from gatekeeper.core.model import Finding

log = logging.getLogger(__name__)
TOP_FINDINGS = 5


@dataclass(frozen=True)
class Alert:
    """What happened to which pull request, and where to look."""

    headline: str
    repo: str
    number: int
    head_sha: str
    verdict: str
    pull_url: str
    findings: tuple[Finding, ...] = ()
    details_url: str | None = None


def pull_url(api_url: str, repo: str, number: int) -> str:
    """The pull request's web page, on github.com or a GitHub Enterprise Server."""
    web = "https://github.com" if "api.github.com" in api_url else \
        api_url.removesuffix("/api/v3").rstrip("/")
    return f"{web}/{repo}/pull/{number}"


def message(alert: Alert, channel: str | None = None) -> dict:
    """The Block Kit payload. Pure, so tests assert it exactly."""
    top = [f for f in alert.findings if f.blocking][:TOP_FINDINGS]
    # paths, rules and messages come from the pull request (a test's assertion message):
    # inert code, so `<!channel>` cannot ping and `<https://…|sign in>` cannot link
    lines = [f"• {slack_code(f'{f.path}:{f.start_line}')} *{slack(f.rule)}* "
             f"({slack(f.severity)}): {slack_code(f.message[:150])}" for f in top]
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.headline[:150]}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Repository*\n{slack(alert.repo)}"},
            {"type": "mrkdwn", "text": f"*Pull request*\n<{alert.pull_url}|#{alert.number}>"},
            {"type": "mrkdwn", "text": f"*Verdict*\n{slack(alert.verdict)}"},
            {"type": "mrkdwn", "text": f"*Commit*\n{slack_code(alert.head_sha[:12])}"},
        ]},
    ]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": "*Top findings*\n" + "\n".join(lines)}})
    buttons = [{"type": "button", "text": {"type": "plain_text", "text": "Open pull request"},
                "url": alert.pull_url}]
    if alert.details_url:
        buttons.append({"type": "button", "text": {"type": "plain_text", "text": "Details"},
                        "url": alert.details_url})
    blocks.append({"type": "actions", "elements": buttons})
    payload = {"text": slack(f"{alert.headline}: {alert.repo}#{alert.number}"), "blocks": blocks}
    if channel:
        payload["channel"] = channel
    return payload


class Slack:
    def __init__(self, url: str, timeout: int = 10, backoff: float = 0.5):
        interval = BackoffRetryIntervalCalculator(backoff_factor=backoff)
        self.client = WebhookClient(url, timeout=timeout, retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
        ])

    def send(self, alert: Alert, channel: str | None = None) -> bool:
        try:
            response = self.client.send_dict(message(alert, channel))
        except Exception as exc:  # noqa: BLE001 - logged, never raised into the gate
            log.warning("slack alert not sent: %s", exc.__class__.__name__)
            return False
        if response.status_code != 200:
            log.warning("slack alert refused: HTTP %s", response.status_code)
            return False
        return True
