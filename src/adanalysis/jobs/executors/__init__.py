"""Executors run jobs: in-process asyncio (embedded) or Celery (scale-out)."""

from __future__ import annotations

from typing import Protocol


class Executor(Protocol):
    """What the job service needs from whatever runs jobs."""

    async def start(self) -> None:
        """Begin accepting work; resume what a previous process left."""

    async def stop(self) -> None:
        """Stop, leaving unfinished jobs to be resumed."""

    async def submit(self, job_id: str, *, priority: int = 0, user_id: str = "") -> None:
        """Run job_id soon; called only after its row is committed."""

    async def cancel(self, job_id: str) -> None:
        """Stop job_id promptly if it runs here (the cancel request is already stored)."""
