"""Durability: jobs left running by a dead process are resumed or failed, never stuck."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.auth.service import create_user
from adanalysis.config import Settings
from adanalysis.db import utcnow
from adanalysis.jobs.executors.local import LocalExecutor
from adanalysis.jobs.models import BackgroundJob, JobStatus
from tests.jobs import jobtypes
from tests.jobs.support import services_for

ROOT = Path(__file__).resolve().parents[2]


def dead_worker_id() -> str:
    """The id a killed local process on this host would have left."""
    child = subprocess.Popen(["true"])
    child.wait()  # its pid is now free: a process that is certainly gone
    return f"local:{socket.gethostname()}:{child.pid}:abcdef"


async def add_job(factory: async_sessionmaker[AsyncSession], **values: object) -> str:
    """Insert a job row as a crashed process would have left it."""
    async with factory() as session:
        user = await create_user(
            session, email=f"r{uuid.uuid4().hex[:8]}@example.com", password="pass-word-1"
        )
        job = BackgroundJob(user_id=user.id, **values)
        session.add(job)
        await session.commit()
        return job.id


async def get_job(factory: async_sessionmaker[AsyncSession], job_id: str) -> BackgroundJob:
    """The job's current row."""
    async with factory() as session:
        job = await session.get(BackgroundJob, job_id)
        assert job is not None
        return job


async def wait_until(
    factory: async_sessionmaker[AsyncSession], job_id: str, statuses: set[str], timeout: float = 20
) -> BackgroundJob:
    """Poll the row until it reaches one of statuses."""
    deadline = time.monotonic() + timeout
    while True:
        job = await get_job(factory, job_id)
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, f"job still {job.status}: {job.message}"
        await asyncio.sleep(0.05)


async def test_orphaned_running_job_is_resumed_on_start(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """A running row whose process is gone resumes at start-up, keeping finished steps."""
    job_id = await add_job(
        session_factory,
        job_type=jobtypes.STEPS,
        status=JobStatus.RUNNING,
        parameters={"steps": 4},
        attempts=1,
        progress=50,
        results=[{"step": 1, "attempt": 1}, {"step": 2, "attempt": 1}],
        result_count=2,
        worker_id=dead_worker_id(),
        heartbeat_at=utcnow(),  # fresh: only the dead pid tells it is orphaned
        started_at=utcnow(),
    )
    executor = LocalExecutor(
        services_for(session_factory, settings), concurrency=2, maintenance=False
    )
    await executor.start()
    try:
        job = await wait_until(session_factory, job_id, {"completed", "failed"})
    finally:
        await executor.stop()
    assert job.status == JobStatus.COMPLETED
    assert job.attempts == 2
    assert [r["attempt"] for r in job.results or []] == [1, 1, 2, 2], (
        "finished steps are not redone"
    )


async def test_orphan_out_of_attempts_is_failed(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """After max_attempts interruptions the job fails with a clear message and keeps its progress."""
    job_id = await add_job(
        session_factory,
        job_type=jobtypes.STEPS,
        status=JobStatus.RUNNING,
        attempts=3,
        max_attempts=3,
        progress=65,
        worker_id=dead_worker_id(),
        heartbeat_at=utcnow(),
    )
    executor = LocalExecutor(
        services_for(session_factory, settings), concurrency=1, maintenance=False
    )
    await executor.start()
    await executor.stop()
    job = await get_job(session_factory, job_id)
    assert job.status == JobStatus.FAILED and job.progress == 65
    assert job.error_code == "worker_lost"
    assert "interrupted 3 times" in (job.error_message or "")


async def test_stale_heartbeat_from_another_host_is_reaped(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """A worker elsewhere that stopped beating is presumed dead after stale_after_seconds."""
    settings = settings.model_copy(update={"stale_after_seconds": 3.0})
    job_id = await add_job(
        session_factory,
        job_type=jobtypes.STEPS,
        status=JobStatus.RUNNING,
        parameters={"steps": 1},
        attempts=1,
        worker_id="celery:other-host:123:abcdef",
        heartbeat_at=utcnow() - timedelta(seconds=1),
    )
    executor = LocalExecutor(
        services_for(session_factory, settings), concurrency=1, maintenance=True
    )
    await executor.start()
    try:
        assert (await get_job(session_factory, job_id)).status == JobStatus.RUNNING  # not stale yet
        job = await wait_until(session_factory, job_id, {"completed"}, timeout=10)
    finally:
        await executor.stop()
    assert job.attempts == 2


async def test_graceful_stop_requeues_without_spending_an_attempt(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Stopping the server puts its running job back to pending; the next start finishes it."""
    job_id = await add_job(
        session_factory, job_type=jobtypes.STEPS, parameters={"steps": 6, "delay": 0.2}
    )
    executor = LocalExecutor(
        services_for(session_factory, settings), concurrency=1, maintenance=False
    )
    await executor.start()
    await wait_until(session_factory, job_id, {"running"})
    await asyncio.sleep(0.5)
    await executor.stop()
    job = await get_job(session_factory, job_id)
    assert job.status == JobStatus.PENDING and job.attempts == 0 and (job.result_count or 0) >= 1
    executor = LocalExecutor(
        services_for(session_factory, settings, "w2"), concurrency=1, maintenance=False
    )
    await executor.start()
    try:
        job = await wait_until(session_factory, job_id, {"completed"})
    finally:
        await executor.stop()
    assert job.result_count == 6 and job.attempts == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ADANALYSIS_DATABASE_URL": settings.sqlalchemy_url,
        "ADANALYSIS_DATA_DIR": str(settings.data_dir),
        "ADANALYSIS_SECRET_KEY": "kill-test-secret",
        "ADANALYSIS_JOB_MODULES": '["tests.jobs.jobtypes"]',
        "ADANALYSIS_HEARTBEAT_INTERVAL_SECONDS": "0.5",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "adanalysis", "serve", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not start: " + log.read_text())


async def test_sigkilled_server_resumes_its_job_on_restart(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    """A real `adanalysis serve` killed with SIGKILL mid-job: the next start finishes that job."""
    job_id = await add_job(
        session_factory, job_type=jobtypes.STEPS, parameters={"steps": 12, "delay": 0.25}
    )
    log = tmp_path / "serve.log"
    port = _free_port()
    proc = _serve(settings, port, log)
    try:
        _wait_healthy(port, proc, log)
        deadline = time.monotonic() + 30
        while ((await get_job(session_factory, job_id)).result_count or 0) < 3:
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed = await get_job(session_factory, job_id)
        assert killed.status == JobStatus.RUNNING, "a SIGKILL leaves the row running"
        proc = _serve(settings, port, log)
        _wait_healthy(port, proc, log)
        try:
            job = await wait_until(session_factory, job_id, {"completed", "failed"}, timeout=60)
        except AssertionError as stuck:
            raise AssertionError(f"{stuck}\n--- serve.log\n{log.read_text()[-6000:]}") from None
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.attempts == 2
    assert job.result_count == 12 and len(job.results or []) == 12
    assert {r["attempt"] for r in job.results or []} == {1, 2}


async def test_cleanup_command_removes_old_finished_jobs(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """`adanalysis cleanup --days N` deletes finished jobs older than N days and keeps the rest."""
    old = utcnow() - timedelta(days=9)
    done = await add_job(
        session_factory, job_type="a", status=JobStatus.COMPLETED, created_at=old, completed_at=old
    )
    active = await add_job(session_factory, job_type="b", status=JobStatus.RUNNING, created_at=old)
    env = {
        **os.environ,
        "ADANALYSIS_DATABASE_URL": settings.sqlalchemy_url,
        "ADANALYSIS_DATA_DIR": str(settings.data_dir),
    }
    cmd = [sys.executable, "-m", "adanalysis", "cleanup", "--days", "7"]
    ran = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert "Removed 1 finished job older than 7 days." in ran.stdout
    async with session_factory() as session:
        assert await session.get(BackgroundJob, done) is None
        assert await session.get(BackgroundJob, active) is not None


async def test_reaper_leaves_this_process_s_own_jobs_alone(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """A heartbeat late because the machine is busy does not make a live runner's job an orphan."""
    services = services_for(session_factory, settings)
    job_id = await add_job(
        session_factory,
        job_type=jobtypes.STEPS,
        status=JobStatus.RUNNING,
        attempts=1,
        worker_id=services.worker_id,
        heartbeat_at=utcnow() - timedelta(hours=1),
    )
    executor = LocalExecutor(services, concurrency=1, maintenance=False)
    assert await executor.maintenance.reap() == []
    job = await get_job(session_factory, job_id)
    assert job.status == JobStatus.RUNNING and job.worker_id == services.worker_id
