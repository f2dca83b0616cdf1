"""Per-job temporary folders: named after their job, swept when no live job owns them."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import make_settings
from tests.jobs.test_recovery import add_job, dead_worker_id

from adanalysis.ads.workdirs import job_workdir, remove_job_workdirs, sweep_workdirs
from adanalysis.config import Settings
from adanalysis.db import utcnow
from adanalysis.ids import new_object_id
from adanalysis.jobs.models import JobStatus
from adanalysis.main import create_app

# Long enough that creating the rows (each with a slow password hash) keeps "now" fresh.
STALE = 60.0


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A process on this host that is alive for the whole test (another server, say)."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _leave(tmp_root: Path, name: str, *, age: float = 0) -> Path:
    path = tmp_root / name
    path.mkdir(parents=True)
    (path / "video.mp4").write_bytes(b"\0" * 1024)
    if age:
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
    return path


def test_job_workdir_is_named_after_its_job_and_removed(tmp_path: Path) -> None:
    job_id = new_object_id()
    with job_workdir(tmp_path, job_id) as work:
        assert work.name.startswith(f"adanalysis-{job_id}-") and work.is_dir()
        (work / "audio.wav").write_bytes(b"x")
    assert not work.exists()


def test_a_resumed_job_removes_only_its_own_leftovers(tmp_path: Path) -> None:
    mine, other = new_object_id(), new_object_id()
    _leave(tmp_path, f"adanalysis-{mine}-aaaa")
    _leave(tmp_path, f"adanalysis-{mine}-bbbb")
    kept = _leave(tmp_path, f"adanalysis-{other}-cccc")
    assert remove_job_workdirs(tmp_path, mine) == 2
    assert [p.name for p in tmp_path.iterdir()] == [kept.name]
    assert remove_job_workdirs(tmp_path / "missing", mine) == 0


async def test_sweep_keeps_exactly_the_folders_of_live_jobs(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, live_pid: int
) -> None:
    """Several processes may share the data folder: a running job with a live runner keeps its."""
    now = utcnow()
    here = socket.gethostname()
    running = {"job_type": "t", "status": JobStatus.RUNNING, "heartbeat_at": now}
    jobs = {
        "live elsewhere here": await add_job(
            session_factory, **running, worker_id=f"local:{here}:{live_pid}:abcdef"
        ),
        "live on another host": await add_job(
            session_factory, **running, worker_id="celery:other-host:42:abcdef"
        ),
        "runner dead": await add_job(session_factory, **running, worker_id=dead_worker_id()),
        "heartbeat stale": await add_job(
            session_factory,
            **{**running, "heartbeat_at": now - timedelta(seconds=STALE * 2)},
            worker_id="celery:other-host:42:abcdef",
        ),
        "pending": await add_job(session_factory, job_type="t", status=JobStatus.PENDING),
        "completed": await add_job(session_factory, job_type="t", status=JobStatus.COMPLETED),
        "unknown": new_object_id(),
    }
    root = tmp_path / "tmp"
    folders = {name: _leave(root, f"adanalysis-{job_id}-x1y2") for name, job_id in jobs.items()}
    old_unnamed = _leave(root, "adanalysis-q8w7e6r5", age=STALE * 2)
    new_unnamed = _leave(root, "adanalysis-z9x8c7v6")
    not_ours = _leave(root, "something-else")
    (root / "adanalysis-a-file").write_text("not a folder")

    removed = await sweep_workdirs(
        session_factory, root, current_worker="local:me:1:000000", stale_after_seconds=STALE
    )

    kept = {name for name, path in folders.items() if path.exists()}
    assert kept == {"live elsewhere here", "live on another host"}
    assert not old_unnamed.exists() and new_unnamed.exists() and not_ours.exists()
    assert (root / "adanalysis-a-file").exists()
    assert removed == 6
    assert (
        await sweep_workdirs(
            session_factory, tmp_path / "none", current_worker="w", stale_after_seconds=STALE
        )
        == 0
    )


async def test_app_start_sweeps_what_a_killed_process_left(
    database_url: str, tmp_path: Path, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """The embedded server's start-up removes a dead run's video and audio before resuming."""
    from asgi_lifespan import LifespanManager

    settings: Settings = make_settings(database_url, tmp_path / "data")
    job_id = await add_job(
        session_factory,
        job_type="t",
        status=JobStatus.RUNNING,
        heartbeat_at=utcnow(),
        worker_id=dead_worker_id(),
        attempts=3,
        max_attempts=3,
    )
    leftover = _leave(settings.data_dir / "tmp", f"adanalysis-{job_id}-k1l2")
    async with LifespanManager(create_app(settings)):
        assert not leftover.exists()
