"""Slack alerts: the Block Kit payload, retries, and a Slack that cannot be reached."""


import pytest
from support.receiver import Receiver

from gatekeeper.core.model import Finding
from gatekeeper.service.notify import Alert, Slack, message, pull_url

ALERT = Alert("Gatekeeper blocked an agent pull request", "octo/app", 7, "a" * 40,
              "blocked: gatekeeper/sast", "https://github.com/octo/app/pull/7",
              (Finding("semgrep", "shell-injection", "shell=True with input", "high", "app.py", 10),
               Finding("bandit", "B101", "assert", "low", "t.py", 3, blocking=False)))


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def test_block_kit_payload():
    payload = message(ALERT, "#security")
    assert payload["channel"] == "#security"
    assert payload["text"] == "Gatekeeper blocked an agent pull request: octo/app#7"
    header, facts, findings, actions = payload["blocks"]
    assert header["text"]["text"] == "Gatekeeper blocked an agent pull request"
    assert "*Pull request*\n<https://github.com/octo/app/pull/7|#7>" in \
        [f["text"] for f in facts["fields"]]
    assert findings["text"]["text"] == ("*Top findings*\n• `app.py:10` *shell-injection* (high): "
                                        "`shell=True with input`")  # the non-blocking one is left out
    assert actions["elements"][0]["url"] == "https://github.com/octo/app/pull/7"


def test_pull_url_on_enterprise_server():
    assert pull_url("https://ghe.example.com/api/v3", "o/r", 2) == \
        "https://ghe.example.com/o/r/pull/2"
    assert pull_url("https://api.github.com", "o/r", 2) == "https://github.com/o/r/pull/2"


def test_alert_reaches_the_webhook(receiver):
    assert Slack(receiver.url).send(ALERT)
    assert receiver.payloads == [message(ALERT)]


def test_server_errors_are_retried(receiver):
    receiver.failures_left = 2
    assert Slack(receiver.url, backoff=0.05).send(ALERT)
    assert len(receiver.payloads) == 3


def test_unreachable_slack_is_logged_not_raised(caplog):
    from conftest import free_port

    sent = Slack(f"http://127.0.0.1:{free_port()}/hook", timeout=2, backoff=0.05).send(ALERT)
    assert sent is False  # bounded by its timeout and retries, not asserted in seconds
    assert "slack alert not sent" in caplog.text
    assert "/hook" not in caplog.text  # the webhook URL is a credential
