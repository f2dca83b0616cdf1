"""The scale-out executor: a Celery app with one task that carries only a job id.

API processes publish "run job X" after the job row is committed; `adanalysis worker` processes
consume it and run the same run_job the local executor runs. Progress and cancellation never go
through Celery (no result backend, never revoke(terminate=True)): the job table is the truth and
job events travel on Redis pub/sub (jobs/redis_events.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from celery import Celery
from kombu import Queue

from adanalysis.config import Settings
from adanalysis.jobs.errors import JobQueueUnavailableError
from adanalysis.jobs.events import JobEvents
from adanalysis.jobs.maintenance import PendingJob
from adanalysis.jobs.redis_events import RedisJobEvents

if TYPE_CHECKING:
    from adanalysis.jobs.executors.worker import Worker

log = logging.getLogger(__name__)

RUN_JOB = "adanalysis.run_job"
# A redelivered message (the worker holding it died) reappears after this many seconds more
# than the job time limit, so a job still running healthily is never handed out twice.
VISIBILITY_MARGIN_SECONDS = 600
# A publish that cannot reach the broker gives up quickly: the API answers 503 instead.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def queue_names(settings: Settings) -> tuple[str, str]:
    """The premium queue (consumed first) and the normal queue."""
    return f"{settings.celery_queue}.premium", settings.celery_queue


def make_celery_app(settings: Settings, *, worker: Worker | None = None) -> Celery:
    """The Celery app of this deployment; with worker, its task runs jobs in this process."""
    premium, normal = queue_names(settings)
    app = Celery("adanalysis", broker=settings.broker_url, set_as_current=False)
    transport: dict[str, Any] = {
        "visibility_timeout": settings.job_timeout_seconds + VISIBILITY_MARGIN_SECONDS,
        # Redis: consume queues in the order listed (premium first), not round-robin.
        "queue_order_strategy": "priority",
    }
    if settings.broker_url.startswith(("redis://", "rediss://")):
        transport.update(socket_connect_timeout=2, socket_timeout=10, retry_on_timeout=True)
    app.conf.update(
        task_acks_late=True,  # a message is acknowledged only after its job ran
        task_reject_on_worker_lost=True,  # a worker that dies gives its message back
        worker_prefetch_multiplier=1,  # a busy worker holds no message another could run
        task_default_queue=normal,
        task_queues=(Queue(premium), Queue(normal)),
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport,
        broker_connection_timeout=2,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )

    @app.task(name=RUN_JOB, ignore_result=True)
    def run_job_task(job_id: str) -> None:
        """Run job_id in this worker process (a redelivery of a job taken elsewhere is a no-op)."""
        if worker is None:
            raise RuntimeError("this Celery app was not built by `adanalysis worker`")
        worker.run(job_id)

    return app


class CeleryExecutor:
    """Publishes jobs to the broker; cancel nudges go out on the job events channel."""

    def __init__(self, app: Celery, settings: Settings, *, events: JobEvents) -> None:
        self.app = app
        self.settings = settings
        self.events = events
        self.premium_queue, self.normal_queue = queue_names(settings)

    async def start(self) -> None:
        """Nothing to start here: workers run jobs, `adanalysis beat` keeps the table healthy."""

    async def stop(self) -> None:
        """Nothing runs in this process."""

    async def submit(self, job_id: str, *, priority: int = 0, user_id: str = "") -> None:
        """Publish "run job_id"; JobQueueUnavailableError when the broker does not take it."""
        queue = self.premium_queue if priority > 0 else self.normal_queue
        try:
            async with asyncio.timeout(self.settings.broker_publish_timeout_seconds):
                await asyncio.to_thread(self._publish, job_id, queue)
        except Exception as exc:
            log.warning("could not queue job %s: %s", job_id, type(exc).__name__)
            raise JobQueueUnavailableError(type(exc).__name__) from exc

    async def dispatch(self, job: PendingJob) -> None:
        """submit() for the maintenance sweep, which logs rather than fails on a down broker."""
        try:
            await self.submit(job.id, priority=job.priority, user_id=job.user_id)
        except JobQueueUnavailableError:
            log.warning("job %s stays pending until the broker is back", job.id)

    def _publish(self, job_id: str, queue: str) -> None:
        # Only the id travels: parameters stay in the job row, secrets in their encrypted table.
        self.app.send_task(RUN_JOB, args=[job_id], queue=queue, retry_policy=PUBLISH_RETRY)

    async def cancel(self, job_id: str) -> None:
        """Tell the worker running job_id to stop now (the heartbeat would notice it later)."""
        if isinstance(self.events, RedisJobEvents):
            try:
                await self.events.nudge_cancel(job_id)
            except Exception:
                log.warning("cancel nudge for job %s not sent; the heartbeat will carry it", job_id)

    async def broker_ready(self) -> bool:
        """Whether the broker accepts a connection now."""
        try:
            async with asyncio.timeout(self.settings.broker_publish_timeout_seconds):
                return await asyncio.to_thread(self._ping_broker)
        except Exception:
            return False

    def _ping_broker(self) -> bool:
        with self.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return True
