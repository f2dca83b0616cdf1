"""Per-job temporary folders under data/tmp, and sweeping the ones no live job owns."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.ads import media
from adanalysis.db import utcnow
from adanalysis.jobs.maintenance import is_dead_local_worker
from adanalysis.jobs.models import BackgroundJob, JobStatus

log = logging.getLogger(__name__)
PREFIX = "adanalysis-"
# adanalysis-<job id>-<random>: the owner is in the name, so a sweep can ask if it still runs.
_JOB_DIR = re.compile(r"^adanalysis-([0-9a-f]{24})-")


@contextmanager
def job_workdir(tmp_root: Path, job_id: str) -> Iterator[Path]:
    """A fresh folder for one video of job_id, removed with its contents on exit."""
    with media.temporary_workdir(tmp_root, prefix=f"{PREFIX}{job_id}-") as path:
        yield path


def remove_job_workdirs(tmp_root: Path, job_id: str) -> int:
    """Remove what earlier attempts of job_id left (a resumed job starts clean); the count."""
    paths = [p for p in _workdirs(tmp_root) if _owner(p) == job_id]
    _remove(paths)
    return len(paths)


async def sweep_workdirs(
    session_factory: async_sessionmaker[AsyncSession],
    tmp_root: Path,
    *,
    current_worker: str,
    stale_after_seconds: float,
) -> int:
    """Remove folders no live job owns: their job ended, waits, or its runner is gone.

    Safe with several processes sharing the data folder: a folder whose job runs with a fresh
    heartbeat in a process that is not known dead is kept. Folders not named after a job (an
    older version's) are removed once they are older than stale_after_seconds.
    """
    paths = _workdirs(tmp_root)
    if not paths:
        return 0
    owners = {owner for p in paths if (owner := _owner(p)) is not None}
    live = await _live_jobs(
        session_factory, owners, current_worker=current_worker, stale_after=stale_after_seconds
    )
    cutoff = time.time() - stale_after_seconds
    doomed = [
        p
        for p in paths
        if (owner := _owner(p)) not in live and (owner is not None or _mtime(p) < cutoff)
    ]
    await asyncio.to_thread(_remove, doomed)
    if doomed:
        log.info("removed %d temporary folders left by interrupted jobs", len(doomed))
    return len(doomed)


async def _live_jobs(
    session_factory: async_sessionmaker[AsyncSession],
    job_ids: set[str],
    *,
    current_worker: str,
    stale_after: float,
) -> set[str]:
    if not job_ids:
        return set()
    fresh = utcnow() - timedelta(seconds=stale_after)
    async with session_factory() as session:
        rows = await session.execute(
            select(BackgroundJob.id, BackgroundJob.worker_id).where(
                BackgroundJob.id.in_(job_ids),
                BackgroundJob.status == JobStatus.RUNNING,
                BackgroundJob.heartbeat_at >= fresh,
            )
        )
        return {
            job_id
            for job_id, worker_id in rows
            if not is_dead_local_worker(worker_id, current=current_worker)
        }


def _workdirs(tmp_root: Path) -> list[Path]:
    if not tmp_root.is_dir():
        return []
    return [p for p in tmp_root.glob(f"{PREFIX}*") if p.is_dir() and not p.is_symlink()]


def _owner(path: Path) -> str | None:
    match = _JOB_DIR.match(path.name)
    return match.group(1) if match else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def _remove(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
