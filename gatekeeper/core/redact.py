"""Secrets never reach a log line: every record is scrubbed as it is created."""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlparse

MASK = "[redacted]"
_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def add(*values: str | None) -> None:
    """Register values to scrub: the key, webhook secret, Slack URL, installation tokens."""
    found = set()
    for value in values:
        if not value:
            continue
        found.add(value)
        found |= {line for line in value.splitlines() if len(line) >= 16}  # PEM body lines
        if value.startswith(("http://", "https://")):
            path = urlparse(value).path  # a webhook URL's secret is its path
            if len(path) > 8:
                found.add(path)
    with _lock:
        _secrets.update(s for s in found if len(s) >= 8)
    install()


def scrub(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def install() -> None:
    """Wrap the log record factory once, so every handler sees scrubbed messages."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return record
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return record

    logging.setLogRecordFactory(factory)
