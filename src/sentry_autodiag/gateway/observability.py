"""Metrics (Prometheus text format) and structured JSON logs of the gateway's processes.

The flow reports through `FrontEnd.incr/timing` with dotted names; they map here to a
few Prometheus series with fixed label names, so dashboards do not depend on the flow's
internals. Each process has its own registry: the receiver serves it on /metrics; a
worker serves its own when `--metrics-port` is given.
"""
import json
import logging
import time
from typing import Dict, Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)


class Metrics:
    def __init__(self, registry: Optional[CollectorRegistry] = None):
        self.registry = registry or CollectorRegistry()
        self.webhooks = Counter("autodiag_webhooks", "Webhooks received, by Sentry-Hook-Resource and result",
                                ["resource", "result"], registry=self.registry)
        self.diagnoses = Counter("autodiag_diagnoses", "Diagnoses ended, by outcome", ["outcome"],
                                 registry=self.registry)
        self.flow_events = Counter("autodiag_flow_events", "Other events of the diagnosis flow", ["event", "detail"],
                                   registry=self.registry)
        self.note_latency = Histogram("autodiag_note_latency_seconds", "From webhook received to note written",
                                      buckets=LATENCY_BUCKETS, registry=self.registry)
        self.caught_up = Counter("autodiag_catchup_issues", "Fired issues the catch-up sweep looked at, by result "
                                 "(queued: caught up)", ["result"], registry=self.registry)
        self.catchup_sweeps = Counter("autodiag_catchup_sweeps", "Catch-up sweeps, by outcome", ["outcome"],
                                      registry=self.registry)
        self.job_duration = Histogram("autodiag_job_duration_seconds", "From PE job start to its end seen",
                                      buckets=LATENCY_BUCKETS, registry=self.registry)

    def watch_queue(self, depth) -> None:
        """`depth()` → steps waiting in the broker, read at each scrape (NaN when unknown)."""
        gauge = Gauge("autodiag_queue_depth", "Flow steps waiting in the broker", registry=self.registry)

        def read():
            try:
                return float(depth())
            except Exception:
                return float("nan")
        gauge.set_function(read)

    def watch_catchup(self, total) -> None:
        """`total()` → issues caught up by every worker's sweeps (a Redis counter), read at each scrape."""
        gauge = Gauge("autodiag_caught_up_issues", "Issues the catch-up sweeps queued (webhook not received)",
                      registry=self.registry)

        def read():
            try:
                return float(total())
            except Exception:
                return float("nan")
        gauge.set_function(read)

    def incr(self, name: str, tags: Optional[Dict[str, str]] = None) -> None:
        tags = tags or {}
        if name == "autodiag.diagnosis.outcome":
            self.diagnoses.labels(outcome=str(tags.get("outcome", "unknown"))[:60]).inc()
            return
        detail = ",".join("%s=%s" % item for item in sorted(tags.items()))[:80]
        self.flow_events.labels(event=name[:60], detail=detail).inc()

    def timing(self, name: str, seconds: float, tags: Optional[Dict[str, str]] = None) -> None:
        if name == "autodiag.note.latency":
            self.note_latency.observe(seconds)
        elif name == "autodiag.job.duration":
            self.job_duration.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and every `extra` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
