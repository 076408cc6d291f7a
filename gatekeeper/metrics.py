"""Prometheus metrics, defined once per process."""

from prometheus_client import Counter, Histogram

DELIVERIES = Counter(
    "gatekeeper_webhook_deliveries_total",
    "Webhook deliveries by event and outcome",
    ["event", "outcome"],
)
INTAKE_SECONDS = Histogram(
    "gatekeeper_webhook_seconds",
    "Time to answer a webhook delivery",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
JOBS = Counter("gatekeeper_jobs_total", "Jobs run by kind and outcome", ["kind", "outcome"])
