"""Send a recorded delivery, correctly signed, to a running instance or into the pipeline."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import requests

from gatekeeper.github.webhooks import sign
from gatekeeper.service.settings import Settings


def signed(path: Path, event: str, secret: bytes) -> tuple[bytes, dict[str, str]]:
    body = path.read_bytes()
    json.loads(body)  # refuse to send what is not JSON, with the parser's reason
    return body, {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/gatekeeper-replay",
    }


def replay(path: Path, event: str, settings: Settings, against: str | None,
           wait_seconds: float = 1800) -> tuple[int, str]:
    """(HTTP status, body) of the delivery; in-process, after its jobs have finished."""
    body, headers = signed(path, event, settings.webhook_secret)
    if against:
        url = against.rstrip("/")
        url = url if url.endswith("/webhook") else url + "/webhook"
        response = requests.post(url, data=body, headers=headers, timeout=30)
        return response.status_code, response.text
    from gatekeeper.service import jobs
    from gatekeeper.service.queue import MemoryBackend
    from gatekeeper.service.web import create_app

    backend = MemoryBackend(settings.delivery_ttl_seconds)
    jobs.configure(settings, backend)
    response = create_app(settings, backend).test_client().post("/webhook", data=body,
                                                                headers=headers)
    if not backend.wait_idle(wait_seconds):
        return 504, "jobs did not finish in time"
    return response.status_code, response.get_data(as_text=True)
