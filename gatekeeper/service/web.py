"""Flask app factory: webhook intake, health and metrics."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from werkzeug.exceptions import RequestEntityTooLarge

from gatekeeper.core import redact
from gatekeeper.github import webhooks
from gatekeeper.service import metrics
from gatekeeper.service.activity import bp as activity_bp
from gatekeeper.service.audit import AuditTrail, entry_of
from gatekeeper.service.audit import log as audit_log
from gatekeeper.service.details import bp as details_bp
from gatekeeper.service.details import session_secret
from gatekeeper.service.queue import Backend, QueueUnavailable, backend_of
from gatekeeper.service.settings import Settings, load_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> Flask:
    settings = settings or load_settings()
    redact.add(*settings.secrets())
    backend = backend or backend_of(settings)
    app = Flask(__name__)
    app.secret_key = session_secret(settings.webhook_secret)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=(settings.public_url or "").startswith("https://"))
    app.register_blueprint(details_bp)
    app.register_blueprint(activity_bp)
    # one byte over the cap: a chunked body is cut there, not refused, so we look at the length
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.extensions["gatekeeper"] = {"settings": settings, "backend": backend}
    audit = AuditTrail(backend)
    shared = CollectorRegistry()
    shared.register(metrics.SharedCollector(backend))

    @app.post("/webhook")
    def webhook() -> tuple[Response, int]:
        started = time.perf_counter()
        event = request.headers.get("X-GitHub-Event", "")
        status, body, stored = _intake(settings, backend, event)
        metrics.DELIVERIES.labels(event=event or "none", outcome=body["status"]).inc()
        metrics.INTAKE_SECONDS.observe(time.perf_counter() - started)
        if stored is not None:  # kept in the same round trip as the delivery itself
            audit_log.info(stored)
        else:
            audit.record("delivery", delivery=request.headers.get("X-GitHub-Delivery"),
                         event=event, status=status, outcome=body["status"],
                         reason=body.get("reason", "")[:300], jobs=body.get("jobs", []))
        return jsonify(body), status

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        ok = backend.healthy()
        kind = "redis" if settings.redis_url else "embedded"
        return jsonify({"status": "ok" if ok else "queue unavailable", "queue": kind}), (
            200 if ok else 503
        )

    @app.get("/metrics")
    def prometheus() -> Response:
        try:
            from_workers = generate_latest(shared)
        except Exception:  # noqa: BLE001 - the store is down: serve what this process knows
            log.warning("shared metrics unavailable")
            from_workers = b""
        return Response(generate_latest(REGISTRY) + from_workers, mimetype=CONTENT_TYPE_LATEST)

    return app


def _intake(settings: Settings, backend: Backend, event: str) -> tuple[int, dict, str | None]:
    """One delivery, in the order that matters: size, signature, shape, then one durable step
    (dedupe, queue, audit). Returns the status, the body and the audit record already kept."""
    too_large = 413, {"status": "too large", "reason": f"body over {settings.max_body_bytes} bytes"}
    try:
        raw = request.get_data(cache=False)  # reads at most MAX_CONTENT_LENGTH bytes
    except RequestEntityTooLarge:
        return *too_large, None
    if len(raw) > settings.max_body_bytes:
        return *too_large, None
    signature = request.headers.get("X-Hub-Signature-256")
    if not webhooks.signature_valid(settings.webhook_secret, raw, signature):
        reason = "missing X-Hub-Signature-256" if not signature else "bad signature"
        return 401, {"status": "unauthorized", "reason": reason}, None
    delivery = request.headers.get("X-GitHub-Delivery", "").strip()
    if not event or not delivery:
        return 400, {"status": "malformed",
                     "reason": "missing X-GitHub-Event or X-GitHub-Delivery"}, None
    if len(delivery) > 100:
        return 400, {"status": "malformed", "reason": "X-GitHub-Delivery is too long"}, None
    try:
        decision = webhooks.route(event, raw, settings.github_app_id)
    except webhooks.Malformed as exc:
        return 400, {"status": "malformed", "reason": str(exc)}, None
    if isinstance(decision, webhooks.Ignored):
        return 200, {"status": "ignored", "reason": decision.reason}, None
    record = entry_of("delivery", delivery=delivery, event=event, reason=decision.reason[:300])
    try:
        accepted = backend.accept(delivery, decision.jobs, record)
    except QueueUnavailable as exc:
        return 503, {"status": "queue unavailable", "reason": str(exc)}, None
    if accepted is None:
        return 200, {"status": "duplicate", "reason": f"delivery {delivery} already queued"}, None
    queued, running, stored = accepted
    if not queued:
        return 200, {"status": "duplicate", "reason": "already queued or running",
                     "jobs": running}, stored
    return 202, {"status": "queued", "reason": decision.reason, "jobs": queued}, stored
