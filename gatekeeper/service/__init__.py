"""The running app: web intake, queue, the job orchestrator, stages over a fetched tree,
audit trail, details page, Slack, metrics, settings."""
