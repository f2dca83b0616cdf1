"""The embedded executor: an asyncio runner inside the server process."""

from __future__ import annotations

import asyncio
import itertools
import logging

from adanalysis.jobs.recovery import pending_job_ids, recover_orphans
from adanalysis.jobs.runtime import JobContext, JobServices, run_job
from adanalysis.jobs.service import delete_old_jobs

log = logging.getLogger(__name__)
CLEANUP_EVERY_SECONDS = 24 * 3600


class LocalExecutor:
    """Bounded concurrency, priority order when saturated, durable across restarts."""

    def __init__(
        self, services: JobServices, *, concurrency: int, maintenance: bool = True
    ) -> None:
        self.services = services
        self.concurrency = concurrency
        self.maintenance = maintenance
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._running: dict[str, tuple[asyncio.Task[object], JobContext | None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Resume what a dead process left, queue pending jobs, start the workers."""
        await self.recover()
        async with self.services.session_factory() as session:
            for job_id, priority in await pending_job_ids(session):
                await self.submit(job_id, priority=priority)
        self._loops = [
            asyncio.create_task(self._worker(), name=f"job-worker-{i}")
            for i in range(self.concurrency)
        ]
        if self.maintenance:
            self._loops.append(asyncio.create_task(self._maintain(), name="job-maintenance"))

    async def stop(self) -> None:
        """Stop the workers; running jobs go back to pending and resume on the next start."""
        self._stopping = True
        for task, _ctx in list(self._running.values()):
            task.cancel()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(
            *(t for t, _ in list(self._running.values())), *self._loops, return_exceptions=True
        )
        self._loops.clear()

    async def submit(self, job_id: str, *, priority: int = 0) -> None:
        """Queue a job; higher priority first, then first come first served."""
        self._queue.put_nowait((-priority, next(self._seq), job_id))

    async def cancel(self, job_id: str) -> None:
        """Cancel the job's task now if it runs here; a queued one will fail to claim."""
        entry = self._running.get(job_id)
        if entry is None:
            return
        task, ctx = entry
        if ctx is not None:
            ctx.cancel_requested = True
        task.cancel()

    async def recover(self) -> list[str]:
        """Requeue or fail jobs whose runner died; returns the requeued ids (already submitted)."""
        async with self.services.session_factory() as session:
            requeued = await recover_orphans(
                session,
                current_worker=self.services.worker_id,
                stale_after_seconds=self.services.settings.stale_after_seconds,
            )
        for job_id in requeued:
            await self.submit(job_id)
        return requeued

    @property
    def running_job_ids(self) -> list[str]:
        """Jobs this process runs now."""
        return list(self._running)

    async def _worker(self) -> None:
        while True:
            _prio, _seq, job_id = await self._queue.get()
            if job_id in self._running:
                continue
            task = asyncio.create_task(self._run(job_id), name=f"job-{job_id}")
            self._running[job_id] = (task, None)
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if self._stopping:
                    raise
            except Exception:
                log.exception("runner error on job %s", job_id)
            finally:
                if task.done():
                    self._running.pop(job_id, None)

    async def _run(self, job_id: str) -> object:
        def ready(ctx: JobContext) -> None:
            task, _ = self._running[job_id]
            self._running[job_id] = (task, ctx)

        try:
            return await run_job(job_id, self.services, task_ready=ready)
        except asyncio.CancelledError:
            if self._stopping:
                raise
            return None

    async def _maintain(self) -> None:
        """Reap orphans now and then, and clean up old jobs daily."""
        settings = self.services.settings
        next_cleanup = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(settings.stale_after_seconds / 2)
            try:
                await self.recover()
            except Exception:
                log.exception("reaping orphaned jobs failed; will retry")
            if loop.time() >= next_cleanup:
                next_cleanup = loop.time() + CLEANUP_EVERY_SECONDS
                try:
                    async with self.services.session_factory() as session:
                        await delete_old_jobs(session, days_old=settings.cleanup_days)
                except Exception:
                    log.exception("job cleanup failed")
