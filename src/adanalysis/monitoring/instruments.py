"""The Prometheus instruments, defined once; code that measures something imports them from here.

With PROMETHEUS_MULTIPROC_DIR set (several server or worker processes), prometheus-client keeps
each process's values in files there and /metrics sums them (monitoring/prometheus.py).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds: jobs run from seconds to an hour.
JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, float("inf"))
STAGE_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, float("inf"))

JOBS_STARTED = Counter(
    "adanalysis_jobs_started_total", "Jobs a runner claimed (each attempt)", ["job_type"]
)
JOBS_FINISHED = Counter(
    "adanalysis_jobs_finished_total", "Jobs that ended, by end status", ["job_type", "status"]
)
JOB_DURATION = Histogram(
    "adanalysis_job_duration_seconds",
    "Duration of ended jobs, start to end",
    ["job_type", "status"],
    buckets=JOB_BUCKETS,
)
STAGE_DURATION = Histogram(
    "adanalysis_job_stage_duration_seconds",
    "Duration of job stages (the progress message without its numbers)",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
VIDEOS_ANALYSED = Counter(
    "adanalysis_videos_analysed_total", "Results (videos, for ad jobs) of ended jobs", ["job_type"]
)
EXTERNAL_CALLS = Counter(
    "adanalysis_external_calls_total",
    "Calls to outside services: provider graph|openai|download, kind = the operation",
    ["provider", "kind"],
)
EXTERNAL_ERRORS = Counter(
    "adanalysis_external_errors_total",
    "Failed calls to outside services: kind = what went wrong",
    ["provider", "kind"],
)
GRAPH_USAGE = Gauge(
    "adanalysis_graph_usage_percent",
    "Highest Graph API quota use reported by the latest response's usage headers",
    multiprocess_mode="max",
)
WEBSOCKET_CLIENTS = Gauge(
    "adanalysis_websocket_clients",
    "Open WebSocket connections watching jobs",
    multiprocess_mode="livesum",
)


def external_call(provider: str, kind: str) -> None:
    """Count one call to an outside service."""
    EXTERNAL_CALLS.labels(provider=provider, kind=kind).inc()


def external_error(provider: str, kind: str) -> None:
    """Count one failed call to an outside service."""
    EXTERNAL_ERRORS.labels(provider=provider, kind=kind).inc()
