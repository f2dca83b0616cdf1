"""Scale-out pieces in one process: the capped claim, discarding an unqueued job (503), the
Redis events channel and cancel nudges, and what a Celery message carries (real Redis)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.cli import worker_settings
from adanalysis.config import Settings
from adanalysis.jobs.errors import (
    InvalidTransitionError,
    JobDeferredError,
    JobQueueUnavailableError,
)
from adanalysis.jobs.events import JobEvent, JobEventKind, LocalJobEvents, job_topic
from adanalysis.jobs.executors.celery import CeleryExecutor, make_celery_app, queue_names
from adanalysis.jobs.lifecycle import JobLifecycle
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.redis_events import RedisJobEvents
from adanalysis.jobs.router import QUEUE_UNAVAILABLE
from adanalysis.workers import available_cores
from tests.conftest import SignedIn, make_settings
from tests.jobs.support import new_user_id, race_capped_claims

REDIS_URL = "redis://127.0.0.1:6379/0"
API = "/api/v1/ad_analysis"
WORKER = "worker:test:1:000000"


async def _redis_or_skip() -> None:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required at {REDIS_URL} in CI: {exc}")
        pytest.skip(f"Redis is not running at {REDIS_URL}")
    finally:
        await client.aclose()


async def _job(
    factory: async_sessionmaker[AsyncSession], user_id: str, job_type: str, status: JobStatus
) -> BackgroundJob:
    async with factory() as session:
        job = BackgroundJob(
            user_id=user_id,
            job_type=job_type,
            status=status,
            worker_id=WORKER if status == JobStatus.RUNNING else None,
        )
        session.add(job)
        await session.commit()
        return job


async def test_claim_over_the_user_cap_leaves_the_job_pending(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    lc = JobLifecycle(events=LocalJobEvents())
    user_id = await new_user_id(session_factory)
    await _job(session_factory, user_id, "a", JobStatus.RUNNING)
    waiting = await _job(session_factory, user_id, "b", JobStatus.PENDING)
    async with session_factory() as session:
        with pytest.raises(JobDeferredError):
            await lc.claim(session, job_id=waiting.id, worker_id=WORKER, max_running_per_user=1)
    async with session_factory() as session:
        row = await session.get(BackgroundJob, waiting.id)
        assert row is not None and row.status == JobStatus.PENDING and row.attempts == 0
    async with session_factory() as session:
        claimed = await lc.claim(
            session, job_id=waiting.id, worker_id=WORKER, max_running_per_user=2
        )
    assert claimed.status == JobStatus.RUNNING


async def test_concurrent_claims_of_one_user_respect_the_cap(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Two workers claiming two of one user's jobs at once: one runs, the other waits."""
    lc = JobLifecycle(events=LocalJobEvents())
    user_id = await new_user_id(session_factory)
    jobs = [await _job(session_factory, user_id, kind, JobStatus.PENDING) for kind in "ab"]

    async def claim(job_id: str) -> object:
        async with session_factory() as session:
            return await lc.claim(session, job_id=job_id, worker_id=WORKER, max_running_per_user=1)

    await race_capped_claims(session_factory, user_id, [job.id for job in jobs], claim)


async def test_a_pending_job_with_a_cancel_request_is_refused_not_deferred(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    lc = JobLifecycle(events=LocalJobEvents())
    user_id = await new_user_id(session_factory)
    job = await _job(session_factory, user_id, "a", JobStatus.PENDING)
    async with session_factory() as session:
        await session.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id == job.id)
            .values(cancel_requested_at=datetime.now(UTC))
        )
        await session.commit()
    async with session_factory() as session:
        with pytest.raises(InvalidTransitionError) as refused:
            await lc.claim(session, job_id=job.id, worker_id=WORKER, max_running_per_user=1)
    assert not isinstance(refused.value, JobDeferredError)


class _DownQueue:
    """An executor whose broker refuses every publish."""

    async def submit(self, job_id: str, *, priority: int = 0, user_id: str = "") -> None:
        raise JobQueueUnavailableError("ConnectionRefusedError")

    async def cancel(self, job_id: str) -> None:
        """Nothing runs."""


async def test_start_with_the_queue_down_is_503_and_leaves_no_pending_job(
    app: FastAPI, client: httpx.AsyncClient, user: SignedIn
) -> None:
    app.state.job_service.executor = _DownQueue()
    r = await client.put(
        f"{API}/credentials",
        headers=user.headers,
        json={"access_token": "tok-123456", "account_id": "act_1"},
    )
    assert r.status_code == 200
    r = await client.post(f"{API}/start-analysis/", headers=user.headers)
    assert r.status_code == 503
    assert r.json() == {"detail": QUEUE_UNAVAILABLE}
    [job] = (await client.get(f"{API}/jobs/", headers=user.headers)).json()
    full = (await client.get(f"{API}/job-status/{job['_id']}", headers=user.headers)).json()
    assert full["status"] == "failed" and full["error_code"] == "queue_unavailable"
    assert "could not be queued" in full["error_message"]
    # Nothing is left active: once the queue is back, the next start is accepted.
    app.state.job_service.executor = app.state.executor
    r = await client.post(f"{API}/start-analysis/", headers=user.headers)
    assert r.status_code == 202


async def test_readyz_embedded_reports_the_database_and_no_broker(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "up", "broker": "not used"}


@pytest.fixture
async def two_processes() -> AsyncIterator[tuple[RedisJobEvents, RedisJobEvents]]:
    """Two events channels on one Redis channel, as two processes would have."""
    await _redis_or_skip()
    channel = f"adanalysis-test-{uuid.uuid4().hex}:job-events"
    a, b = RedisJobEvents(REDIS_URL, channel=channel), RedisJobEvents(REDIS_URL, channel=channel)
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def test_events_published_in_one_process_reach_subscribers_of_another(
    two_processes: tuple[RedisJobEvents, RedisJobEvents],
) -> None:
    a, b = two_processes
    event = JobEvent(JobEventKind.PROGRESS, "j1", "u1", {"_id": "j1", "progress": 40})
    async with b.subscribe(job_topic("j1")) as on_b, a.subscribe(job_topic("j1")) as on_a:
        await a.publish(event)
        assert await asyncio.wait_for(on_b.get(), 10) == event
        assert await asyncio.wait_for(on_a.get(), 10) == event  # the publisher's own clients too


async def test_cancel_nudge_reaches_every_process(
    two_processes: tuple[RedisJobEvents, RedisJobEvents],
) -> None:
    a, b = two_processes
    heard: asyncio.Queue[str] = asyncio.Queue()
    b.on_cancel(heard.put_nowait)
    await a.nudge_cancel("j2")
    assert await asyncio.wait_for(heard.get(), 10) == "j2"


async def test_a_worker_hears_cancel_nudges_but_not_other_processes_events() -> None:
    """A worker's events object: others' events are not decoded there; its own reach its
    local subscribers and the API processes."""
    await _redis_or_skip()
    channel = f"adanalysis-test-{uuid.uuid4().hex}:job-events"
    api = RedisJobEvents(REDIS_URL, channel=channel)
    worker = RedisJobEvents(REDIS_URL, channel=channel, relay_events=False)
    await api.start()
    await worker.start()
    try:
        heard: asyncio.Queue[str] = asyncio.Queue()
        worker.on_cancel(heard.put_nowait)
        own = JobEvent(JobEventKind.PROGRESS, "w1", "u1", {"_id": "w1", "progress": 10})
        other = JobEvent(JobEventKind.PROGRESS, "a1", "u1", {"_id": "a1", "progress": 20})
        async with (
            worker.subscribe(job_topic("w1")) as worker_own,
            worker.subscribe(job_topic("a1")) as worker_other,
            api.subscribe(job_topic("w1")) as api_sees,
        ):
            await worker.publish(own)
            assert await asyncio.wait_for(worker_own.get(), 10) == own
            assert await asyncio.wait_for(api_sees.get(), 10) == own
            await api.publish(other)
            await api.nudge_cancel("w1")
            assert await asyncio.wait_for(heard.get(), 10) == "w1"
            # The nudge was published after the event, on the same connection: had the event
            # been relayed to the worker, it would be there by now.
            assert worker_other.drain() == []
            assert worker_own.drain() == []
    finally:
        await api.stop()
        await worker.stop()


async def test_a_published_job_message_carries_only_the_job_id(tmp_path: Path) -> None:
    await _redis_or_skip()
    settings = make_settings(
        "sqlite://", tmp_path, broker_url=REDIS_URL, celery_queue=f"t{uuid.uuid4().hex[:8]}"
    )
    executor = CeleryExecutor(make_celery_app(settings), settings, events=LocalJobEvents())
    premium, normal = queue_names(settings)
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await executor.submit("6b0cb06ffe279c7c2800ff5c", priority=10, user_id="u")
        await executor.submit("6b0cb06ffe279c7c2800ff5d", priority=0, user_id="u")
        [raw_premium] = await client.lrange(premium, 0, -1)
        [raw_normal] = await client.lrange(normal, 0, -1)
    finally:
        await client.delete(premium, normal)
        await client.aclose()
    for raw, job_id in (
        (raw_premium, "6b0cb06ffe279c7c2800ff5c"),
        (raw_normal, "6b0cb06ffe279c7c2800ff5d"),
    ):
        message = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        assert (args, kwargs) == ([job_id], {})
        assert message["headers"]["task"] == "adanalysis.run_job"


async def test_publishing_to_a_dead_broker_raises_queue_unavailable(tmp_path: Path) -> None:
    settings = make_settings(
        "sqlite://", tmp_path, broker_url="redis://127.0.0.1:1/0", broker_publish_timeout_seconds=2
    )
    executor = CeleryExecutor(make_celery_app(settings), settings, events=LocalJobEvents())
    with pytest.raises(JobQueueUnavailableError):
        await executor.submit("6b0cb06ffe279c7c2800ff5c")
    assert await executor.broker_ready() is False


def test_worker_settings_follow_the_command_line_and_the_sandbox(settings: Settings) -> None:
    """A sandbox worker fetches from the sandbox its API processes serve at PUBLIC_URL."""
    base = settings.model_copy(
        update={"sandbox": True, "public_url": "http://api.internal:8000", "speech_workers": 0}
    )
    built = worker_settings(base, concurrency=3, per_machine=2)
    assert built.executor == "celery" and built.resolved_worker_concurrency == 3
    assert built.graph_api_url == "http://api.internal:8000/sandbox/graph"
    assert built.speech_workers == max(1, available_cores() // 2)
    real = worker_settings(base.model_copy(update={"sandbox": False}), concurrency=0, per_machine=1)
    assert real.graph_api_url == "https://graph.facebook.com"
    assert real.resolved_worker_concurrency == base.resolved_worker_concurrency
    chosen = base.model_copy(update={"graph_api_url": "http://graph.example:9000"})
    assert worker_settings(chosen, concurrency=0, per_machine=1).graph_api_url == (
        "http://graph.example:9000"
    )
