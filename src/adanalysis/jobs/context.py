"""What job code gets: JobContext to report progress and honour cancellation, and its services."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.config import Settings
from adanalysis.db_direct import DirectPool
from adanalysis.jobs.errors import JobCancelled
from adanalysis.jobs.lifecycle import JobLifecycle
from adanalysis.jobs.models import BackgroundJob
from adanalysis.jobs.registry import JobRegistry
from adanalysis.jobs.schemas import JobDocument
from adanalysis.jobs.stages import stage_of
from adanalysis.logging_setup import bind_stage

__all__ = ["JobContext", "JobServices", "stage_of"]


@dataclass
class JobServices:
    """What running jobs needs from the process it runs in."""

    session_factory: async_sessionmaker[AsyncSession]
    settings: Settings
    lifecycle: JobLifecycle
    registry: JobRegistry
    worker_id: str
    # PostgreSQL: the pool a runner's claim and end use, straight on asyncpg (runner_writes).
    direct: DirectPool | None = None


class JobContext:
    """Handed to job code: report progress, record results, honour cancellation."""

    def __init__(self, job: BackgroundJob | JobDocument, services: JobServices) -> None:
        self.job_id = job.id
        self.user_id = job.user_id
        self.job_type = job.job_type
        self.parameters: dict[str, Any] = dict(job.parameters or {})
        self.attempt = job.attempts
        self.started_at: datetime | None = job.started_at
        self.services = services
        self.session_factory = services.session_factory
        self.settings = services.settings
        self.results: list[Any] = list(job.results or [])
        self.result_count = job.result_count or 0
        self.progress_pct = job.progress
        self.message = job.message or ""
        self.cancel_requested = job.cancel_requested_at is not None
        self.lost = False  # set when another runner or the reaper took the job over
        self._last_write = 0.0
        self._last_stage = stage_of(self.message)
        self._lock = asyncio.Lock()

    async def progress(self, pct: int, message: str, *, force: bool = False) -> None:
        """Report progress; never backwards, written at most ~1/s unless the stage changes."""
        self.check_cancelled()
        self.progress_pct = max(self.progress_pct, min(100, int(pct)))
        self.message = message
        stage = stage_of(message)
        interval = self.settings.progress_min_interval_seconds
        if stage != self._last_stage:
            bind_stage(stage)
        if force or stage != self._last_stage or time.monotonic() - self._last_write >= interval:
            self._last_stage = stage
            await self.flush()

    def add_result(self, item: Any, *, counts: bool = False) -> None:
        """Record a result or warning in the job's results; written with the next flush."""
        self.results.append(item)
        if counts:
            self.result_count += 1

    def check_cancelled(self) -> None:
        """Raise JobCancelled when the user asked to cancel this job."""
        if self.cancel_requested:
            raise JobCancelled

    async def flush(self) -> None:
        """Write progress, message and results now; InvalidTransitionError if the job was lost."""
        async with self._lock, self.session_factory() as session:
            await self.services.lifecycle.progress(
                session,
                job_id=self.job_id,
                worker_id=self.services.worker_id,
                progress=self.progress_pct,
                message=self.message,
                results=self.results,
                result_count=self.result_count,
            )
        self._last_write = time.monotonic()

    def final_values(self) -> dict[str, Any]:
        """What an end keeps of the run: progress, results and when it started."""
        return {
            "progress": self.progress_pct,
            "results": self.results,
            "result_count": self.result_count,
            "started_at": self.started_at,
        }
