"""The job runner inside an `adanalysis worker` process: one event loop, many Celery threads.

Celery's `threads` pool calls run(job_id) from its threads; every job runs as a task on the one
asyncio loop this class keeps in its own thread, so database engine, speech pool and the events
relay are built once per process and shared by its jobs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack

from adanalysis.jobs.context import JobContext, JobServices
from adanalysis.jobs.maintenance import PendingJob
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.redis_events import RedisJobEvents
from adanalysis.jobs.runner_writes import next_pending_of
from adanalysis.jobs.runtime import run_job

log = logging.getLogger(__name__)

OpenServices = Callable[[], AbstractAsyncContextManager[JobServices]]
Dispatch = Callable[[PendingJob], Awaitable[None]]


class Worker:
    """Runs jobs handed over by Celery threads on this process's single event loop."""

    def __init__(self, open_services: OpenServices, *, max_running_per_user: int) -> None:
        self._open_services = open_services
        self.max_running_per_user = max_running_per_user
        self.dispatch: Dispatch | None = None  # set once the Celery executor exists
        self.services: JobServices | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jobs-loop", daemon=True
        )
        self._stack = AsyncExitStack()
        self._running: dict[str, tuple[asyncio.Task[object], JobContext | None]] = {}
        self._stopping = False

    def start(self) -> None:
        """Start the loop thread and build the services (database, events relay) once."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(timeout=120)

    async def _open(self) -> None:
        self.services = await self._stack.enter_async_context(self._open_services())
        events = self.services.lifecycle.events
        if isinstance(events, RedisJobEvents):
            events.on_cancel(self._cancel_here)

    def run(self, job_id: str) -> None:
        """Run job_id to its end on the loop; blocks the calling Celery thread meanwhile."""
        future = asyncio.run_coroutine_threadsafe(self._run(job_id), self._loop)
        with contextlib.suppress(concurrent.futures.CancelledError):
            future.result()

    def runs_here(self, job_id: str) -> bool:
        """Whether job_id is running in this process right now."""
        return job_id in self._running

    async def _run(self, job_id: str) -> None:
        services = self.services
        if services is None:
            return
        if self._stopping:
            # A message taken during a warm shutdown goes back to the queue, not to waste.
            await self._dispatch_job(job_id)
            return
        task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
        self._running[job_id] = (task, None)
        user_id: str | None = None

        def ready(ctx: JobContext) -> None:
            nonlocal user_id
            user_id = ctx.user_id
            self._running[job_id] = (task, ctx)

        try:
            await run_job(
                job_id,
                services,
                task_ready=ready,
                max_running_per_user=self.max_running_per_user,
            )
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # A warm shutdown gave the job back (pending); queue it for another worker now.
            await asyncio.shield(self._dispatch_job(job_id))
            return
        finally:
            self._running.pop(job_id, None)
        if user_id is not None:
            await self._dispatch_next_of(user_id)

    async def _dispatch_job(self, job_id: str) -> None:
        if self.dispatch is None or self.services is None:
            return
        async with self.services.session_factory() as session:
            job = await session.get(BackgroundJob, job_id)
        if job is not None and job.status == JobStatus.PENDING:
            await self.dispatch(PendingJob(job.id, job.priority, job.user_id))

    async def _dispatch_next_of(self, user_id: str) -> None:
        """After a job of user_id ends, queue their next pending job (it may have been deferred
        by the per-user cap while this one ran)."""
        if self.dispatch is None or self.services is None:
            return
        pending = await next_pending_of(self.services, user_id)
        if pending is not None:
            await self.dispatch(pending)

    def _cancel_here(self, job_id: str) -> None:
        """A cancel nudge: stop job_id now if it runs here (called on the loop by the relay)."""
        entry = self._running.get(job_id)
        if entry is None:
            return
        task, ctx = entry
        if ctx is None:
            return  # not claimed yet: the claim refuses a job with a cancel request
        ctx.cancel_requested = True
        task.cancel()
        log.info("job %s cancelled by its user from another process", job_id)

    def stop_jobs(self) -> None:
        """Give running jobs back (pending, attempt not spent) and re-queue them; thread-safe."""

        def stop() -> None:
            self._stopping = True
            for task, _ctx in list(self._running.values()):
                task.cancel()

        self._loop.call_soon_threadsafe(stop)

    def close(self) -> None:
        """Close the services and stop the loop thread."""
        self.stop_jobs()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _close(self) -> None:
        pending = [task for task, _ in list(self._running.values())]
        if pending:
            await asyncio.wait(pending, timeout=10)
        await self._stack.aclose()
