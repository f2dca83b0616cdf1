"""The embedded executor: an asyncio runner inside the server process."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter, defaultdict

from adanalysis.jobs.context import JobContext, JobServices
from adanalysis.jobs.maintenance import Maintenance, PendingJob, maintain_forever
from adanalysis.jobs.runtime import run_job
from adanalysis.jobs.scheduling import SchedulingPolicy

log = logging.getLogger(__name__)


class LocalExecutor:
    """Bounded concurrency, priority order when saturated, a cap per user, durable restarts."""

    def __init__(
        self,
        services: JobServices,
        *,
        concurrency: int,
        maintenance: bool = True,
        policy: SchedulingPolicy | None = None,
    ) -> None:
        self.services = services
        self.concurrency = concurrency
        self.maintenance_enabled = maintenance
        self.policy = policy or SchedulingPolicy()
        self.maintenance = Maintenance(services, dispatch=self._dispatch)
        self._queue: asyncio.PriorityQueue[tuple[int, int, PendingJob]] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._known: set[str] = set()  # queued, parked or running here: never twice
        self._running: dict[str, tuple[asyncio.Task[object], JobContext | None]] = {}
        self._running_per_user: Counter[str] = Counter()
        self._parked: dict[str, list[PendingJob]] = defaultdict(list)  # over the user cap
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Resume what a dead process left, queue pending jobs, start the workers."""
        await self.maintenance.reap()
        await self.maintenance.redispatch_pending(idle_seconds=0)
        self._loops = [
            asyncio.create_task(self._worker(), name=f"job-worker-{i}")
            for i in range(self.concurrency)
        ]
        if self.maintenance_enabled:
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

    async def submit(self, job_id: str, *, priority: int = 0, user_id: str = "") -> None:
        """Queue a job; higher priority first, then first come first served."""
        await self._dispatch(PendingJob(job_id, priority, user_id))

    async def _dispatch(self, job: PendingJob) -> None:
        if job.id in self._known:
            return
        self._known.add(job.id)
        self._queue.put_nowait((-job.priority, next(self._seq), job))

    async def cancel(self, job_id: str) -> None:
        """Cancel the job's task now if it runs here; a queued one will fail to claim."""
        entry = self._running.get(job_id)
        if entry is None:
            return
        task, ctx = entry
        if ctx is not None:
            ctx.cancel_requested = True
        task.cancel()

    async def _worker(self) -> None:
        while True:
            _prio, _seq, job = await self._queue.get()
            if self._running_per_user[job.user_id] >= self.policy.max_running_per_user:
                self._parked[job.user_id].append(job)  # resumes when that user's job ends
                continue
            task = asyncio.create_task(self._run(job.id), name=f"job-{job.id}")
            self._running[job.id] = (task, None)
            self._running_per_user[job.user_id] += 1
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if self._stopping:
                    raise
            except Exception:
                log.exception("runner error on job %s", job.id)
            finally:
                if task.done():
                    self._finished(job)

    def _finished(self, job: PendingJob) -> None:
        """Forget a job that ran here, and let the same user's next parked job queue again."""
        self._running.pop(job.id, None)
        self._known.discard(job.id)
        self._running_per_user[job.user_id] -= 1
        if self._running_per_user[job.user_id] <= 0:
            del self._running_per_user[job.user_id]
        parked = self._parked.get(job.user_id)
        if parked:
            nxt = parked.pop(0)
            if not parked:
                del self._parked[job.user_id]
            self._queue.put_nowait((-nxt.priority, next(self._seq), nxt))

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
        """Reap orphans and pick up forgotten pending jobs now and then; clean up daily."""
        await maintain_forever(self.maintenance)
