"""Prometheus metrics.

The web process counts deliveries itself. Workers run elsewhere, so what they measure (jobs,
stages, verdicts, sandbox limits) is added to shared counters in the queue's store, and the
web serves those too, with the queue depth.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

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
HELP = {
    "gatekeeper_jobs_total": "Jobs run, by kind and outcome",
    "gatekeeper_job_seconds": "Job duration, by kind",
    "gatekeeper_stage_seconds": "Stage duration, by stage",
    "gatekeeper_stage_results_total": "Stage results, by stage and status",
    "gatekeeper_verdicts_total": "Overall verdicts, by conclusion",
    "gatekeeper_sandbox_limit_hits_total": "Sandboxed commands stopped by a limit, by limit",
}


def key(name: str, **labels: str) -> str:
    """A shared counter's field: NAME|label=value,..."""
    return name + "|" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def timing(name: str, seconds: float, **labels: str) -> dict[str, float]:
    return {key(name + "_sum", **labels): seconds, key(name + "_count", **labels): 1}


class SharedCollector:
    """Serves the shared counters and the queue depth from the store, at scrape time."""

    def __init__(self, store):
        self.store = store

    def collect(self):
        depth = GaugeMetricFamily("gatekeeper_queue_depth", "Jobs waiting", labels=["queue"])
        for queue, size in self.store.depth().items():
            depth.add_metric([queue], size)
        yield depth
        series: dict[str, list[tuple[dict[str, str], float]]] = {}
        for field, value in self.store.counts().items():
            name, _, raw = field.partition("|")
            labels = dict(pair.split("=", 1) for pair in raw.split(",") if pair)
            series.setdefault(name, []).append((labels, value))
        for name in sorted(n for n in series if n.endswith("_total")):
            family = None
            for labels, value in series[name]:
                family = family or CounterMetricFamily(name.removesuffix("_total"),
                                                       HELP.get(name, name), labels=list(labels))
                family.add_metric(list(labels.values()), value)
            yield family
        for name in sorted({n.removesuffix("_sum") for n in series if n.endswith("_sum")}):
            counts = {tuple(sorted(lb.items())): v for lb, v in series.get(name + "_count", [])}
            family = None
            for labels, total in series[name + "_sum"]:
                family = family or SummaryMetricFamily(name, HELP.get(name, name),
                                                       labels=list(labels))
                family.add_metric(list(labels.values()),
                                  count_value=counts.get(tuple(sorted(labels.items())), 0),
                                  sum_value=total)
            yield family
