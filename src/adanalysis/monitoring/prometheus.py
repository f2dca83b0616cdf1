"""Prometheus: job metrics fed by lifecycle hooks, and the GET /metrics exposition."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.db import utcnow
from adanalysis.db_direct import DirectPool, Prepared
from adanalysis.jobs.events import JobEvent, JobEventKind
from adanalysis.jobs.lifecycle import JobLifecycle
from adanalysis.jobs.models import ACTIVE_STATUSES, BackgroundJob, JobStageTiming
from adanalysis.monitoring.instruments import (
    JOB_DURATION,
    JOBS_FINISHED,
    JOBS_STARTED,
    STAGE_DURATION,
    VIDEOS_ANALYSED,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["monitoring"])


# The stage timings of an ended job, for the stage-duration histogram.
_STAGES_OF_JOB = Prepared(
    select(JobStageTiming.stage, JobStageTiming.duration_ms).where(
        JobStageTiming.job_id == bindparam("b_job"), JobStageTiming.duration_ms.is_not(None)
    )
)


def install_job_metrics(
    lifecycle: JobLifecycle,
    session_factory: async_sessionmaker[AsyncSession],
    *,
    direct: DirectPool | None = None,
) -> None:
    """Count starts from the lifecycle's events and ends from its on_job_end hooks.

    direct (PostgreSQL): read the stage timings straight on asyncpg, as every job's end does.
    """

    def on_event(event: JobEvent) -> None:
        if event.kind == JobEventKind.CLAIMED:
            JOBS_STARTED.labels(job_type=event.document.get("job_type", "")).inc()

    async def on_end(event: JobEvent) -> None:
        document = event.document
        job_type, status = document.get("job_type", ""), document.get("status", "")
        JOBS_FINISHED.labels(job_type=job_type, status=status).inc()
        duration = document.get("actual_duration_seconds")
        if duration is not None:
            JOB_DURATION.labels(job_type=job_type, status=status).observe(duration)
        if document.get("result_count"):
            VIDEOS_ANALYSED.labels(job_type=job_type).inc(document["result_count"])
        stages = await _STAGES_OF_JOB.rows(
            {"b_job": event.job_id}, direct=direct, sessions=session_factory
        )
        for row in stages:
            STAGE_DURATION.labels(stage=row["stage"]).observe((row["duration_ms"] or 0) / 1000)

    lifecycle.on_event(on_event)
    lifecycle.on_job_end(on_end)


class _Snapshot:
    """Metric families read at scrape time (the queue, from the job table)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        """The families."""
        yield from self.families


async def _queue_families(session: AsyncSession) -> list[Metric]:
    counts = dict.fromkeys((s.value for s in ACTIVE_STATUSES), 0)
    oldest = None
    rows = await session.execute(
        select(BackgroundJob.status, func.count(), func.min(BackgroundJob.created_at))
        .where(BackgroundJob.status.in_(ACTIVE_STATUSES))
        .group_by(BackgroundJob.status)
    )
    for status, n, first in rows:
        counts[status] = int(n)
        if status == "pending":
            oldest = first
    depth = GaugeMetricFamily(
        "adanalysis_queue_jobs", "Jobs waiting or running now (job table)", labels=["status"]
    )
    for status, n in counts.items():
        depth.add_metric([status], n)
    age = GaugeMetricFamily(
        "adanalysis_queue_oldest_pending_age_seconds", "Age of the oldest pending job (0: none)"
    )
    age.add_metric([], (utcnow() - oldest).total_seconds() if oldest else 0.0)
    return [depth, age]


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The Prometheus exposition: every process's counters, and the queue now."""
    async with request.app.state.session_factory() as session:
        snapshot = _Snapshot(await _queue_families(session))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every process writes its values to files there; sum them rather than this one's.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    queue = CollectorRegistry()
    queue.register(snapshot)
    return Response(body + generate_latest(queue), media_type=CONTENT_TYPE_LATEST)
