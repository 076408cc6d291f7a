"""WSGI entry point for gunicorn: `gunicorn app:app`."""

import logging

from gatekeeper.service.web import create_app

# gunicorn configures only its own loggers: without a handler here, the audit trail's JSON lines
# (logger gatekeeper.audit, INFO) would never reach a log pipeline
_log = logging.getLogger("gatekeeper")
if not _log.handlers and not logging.getLogger().handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _log.addHandler(_handler)
    _log.setLevel(logging.INFO)

app = create_app()
