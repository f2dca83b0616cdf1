"""Every way a job ends reaches its watchers as exactly one final event, and its end hooks once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.config import Settings
from adanalysis.db import utcnow
from adanalysis.jobs.context import JobServices
from adanalysis.jobs.events import JobEvent, Subscription, job_topic
from adanalysis.jobs.executors.local import LocalExecutor
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.runtime import run_job
from adanalysis.main import create_app
from adanalysis.serving import serve_app_in_thread
from tests.conftest import make_settings
from tests.jobs import jobtypes
from tests.jobs.support import new_user_id, service_for, services_for
from tests.jobs.test_api import replace_job
from tests.jobs.test_recovery import dead_worker_id

API = "/api/v1/ad_analysis"


class Ends:
    """Services whose end hooks and job events are recorded."""

    def __init__(self, services: JobServices) -> None:
        self.services = services
        self.hooked: list[JobEvent] = []
        services.lifecycle.on_job_end(self._record)

    async def _record(self, event: JobEvent) -> None:
        self.hooked.append(event)

    async def add(self, **values: Any) -> str:
        """A job of the test type, as given."""
        user_id = await new_user_id(self.services.session_factory)
        async with self.services.session_factory() as session:
            job = BackgroundJob(user_id=user_id, job_type=jobtypes.STEPS, **values)
            session.add(job)
            await session.commit()
            return job.id

    async def finals(self, watched: Subscription, job_id: str) -> list[str]:
        """The final statuses watchers received, after every hook ran."""
        await self.services.lifecycle.drain_hooks()
        received = [e.document["status"] for e in watched.drain() if e.is_final]
        assert [e.document["status"] for e in self.hooked if e.job_id == job_id] == received
        return received


@pytest.fixture
async def ends(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> AsyncIterator[Ends]:
    yield Ends(services_for(session_factory, settings))


def watch(ends: Ends, job_id: str) -> Any:
    return ends.services.lifecycle.events.subscribe(job_topic(job_id))


async def test_completed(ends: Ends) -> None:
    job_id = await ends.add(parameters={"steps": 2})
    async with watch(ends, job_id) as watched:
        assert await run_job(job_id, ends.services) == JobStatus.COMPLETED
        assert await ends.finals(watched, job_id) == ["completed"]


async def test_failed(ends: Ends) -> None:
    job_id = await ends.add(parameters={"steps": 3, "fail_at": 2})
    async with watch(ends, job_id) as watched:
        assert await run_job(job_id, ends.services) == JobStatus.FAILED
        assert await ends.finals(watched, job_id) == ["failed"]


async def test_timed_out(ends: Ends) -> None:
    ends.services.settings = ends.services.settings.model_copy(update={"job_timeout_seconds": 1})
    job_id = await ends.add(parameters={"steps": 50, "delay": 0.1})
    async with watch(ends, job_id) as watched:
        assert await run_job(job_id, ends.services) == JobStatus.FAILED
        assert await ends.finals(watched, job_id) == ["failed"]


async def test_cancelled_while_pending(ends: Ends) -> None:
    job_id = await ends.add(parameters={"steps": 2})
    service = service_for(ends.services)
    async with watch(ends, job_id) as watched:
        async with ends.services.session_factory() as session:
            job = await session.get(BackgroundJob, job_id)
            assert job is not None
            await service.cancel_job(session, job_id=job_id, user_id=job.user_id)
        assert await ends.finals(watched, job_id) == ["cancelled"]
    assert await run_job(job_id, ends.services) is None, "a cancelled job never runs"


async def test_cancelled_while_running(ends: Ends) -> None:
    executor = LocalExecutor(ends.services, concurrency=1, maintenance=False)
    service = service_for(ends.services, executor)
    job_id = await ends.add(parameters={"steps": 40, "delay": 0.05})
    await executor.start()
    try:
        async with watch(ends, job_id) as watched:
            while (await watched.get()).document["status"] != "running":
                pass
            async with ends.services.session_factory() as session:
                job = await session.get(BackgroundJob, job_id)
                assert job is not None
                await service.cancel_job(session, job_id=job_id, user_id=job.user_id)
            seen = [await asyncio.wait_for(watched.get(), 5)]
            while not seen[-1].is_final:
                seen.append(await asyncio.wait_for(watched.get(), 5))
            await ends.services.lifecycle.drain_hooks()
            seen += watched.drain()
            assert [e.document["status"] for e in seen if e.is_final] == ["cancelled"]
            assert [e.document["status"] for e in ends.hooked] == ["cancelled"]
    finally:
        await executor.stop()


@pytest.mark.parametrize(("cancel_requested", "expected"), [(False, "failed"), (True, "cancelled")])
async def test_reaped(ends: Ends, cancel_requested: bool, expected: str) -> None:
    job_id = await ends.add(
        status=JobStatus.RUNNING,
        attempts=3,
        max_attempts=3,
        worker_id=dead_worker_id(),
        heartbeat_at=utcnow() - timedelta(hours=1),
        started_at=utcnow() - timedelta(hours=1),
        cancel_requested_at=utcnow() if cancel_requested else None,
    )
    executor = LocalExecutor(ends.services, concurrency=1, maintenance=False)
    async with watch(ends, job_id) as watched:
        await executor.maintenance.reap()
        assert await ends.finals(watched, job_id) == [expected]


async def test_websocket_hears_a_pending_job_cancelled(database_url: str, tmp_path: Any) -> None:
    """One runner busy, another user's job pending and watched: cancel it, the socket hears it."""
    settings = make_settings(database_url, tmp_path / "data", max_concurrent_jobs=1)
    app = create_app(settings)
    with serve_app_in_thread(app, lifespan="on") as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            busy = await _signed_in_with_credentials(client)
            waiting = await _signed_in_with_credentials(client)
            _slow_down(app)
            first = await client.post(f"{API}/start-analysis/", headers=busy)
            assert first.status_code == 202
            second = await client.post(f"{API}/start-analysis/", headers=waiting)
            job_id = second.json()["job_id"]
            token = waiting["Authorization"].split()[1]
            ws_url = base.replace("http", "ws") + f"{API}/ws/jobs/{job_id}?token={token}"
            async with websockets.connect(ws_url) as ws:
                first_doc = _json(await asyncio.wait_for(ws.recv(), 5))
                assert first_doc["status"] == "pending"
                r = await client.delete(f"{API}/job/{job_id}", headers=waiting)
                assert r.status_code == 200
                # Liveness, not speed: before the fix this never arrived.
                last = _json(await asyncio.wait_for(ws.recv(), 5))
                assert last["_id"] == job_id and last["status"] == "cancelled"
                assert last["completed_at"] and last["message"]
            await client.delete(f"{API}/job/{first.json()['job_id']}", headers=busy)


def _json(raw: str | bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw)
    return data


def _slow_down(app: Any) -> None:
    """ad_analysis jobs that take a while, so the only runner stays busy."""

    async def slow(ctx: Any) -> Any:
        for i in range(200):
            await ctx.progress(10, f"Working ({i}/200)...")
            await asyncio.sleep(0.05)
        raise AssertionError("the test cancels this job long before")

    replace_job(app, slow)


async def _signed_in_with_credentials(client: httpx.AsyncClient) -> dict[str, str]:
    email, password = f"ws-{uuid.uuid4().hex[:8]}@example.com", "s3cure-pass-1"
    await client.post("/api/v1/auth/register", json={"email": email, "password": password})
    token = (
        await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    r = await client.put(
        f"{API}/credentials",
        headers=headers,
        json={"access_token": "EAABsecretsecretsecret", "account_id": "act_1"},
    )
    assert r.status_code == 200
    return headers


async def test_a_cancel_during_the_final_write_does_not_lose_the_end(ends: Ends) -> None:
    """The user's cancel and the heartbeat's both cancel the task: the second may land mid-write."""
    lifecycle = ends.services.lifecycle
    job_task: list[asyncio.Task[Any]] = []
    original = lifecycle.complete

    async def complete_while_cancelled(session: AsyncSession, **values: Any) -> BackgroundJob:
        job_task[0].cancel()  # a cancel arrives while the end is being written
        await asyncio.sleep(0)
        return await original(session, **values)

    lifecycle.complete = complete_while_cancelled  # type: ignore[method-assign]
    job_id = await ends.add(parameters={"steps": 1})
    task = asyncio.create_task(run_job(job_id, ends.services))
    job_task.append(task)
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):  # the shielded write goes on without the cancelled task
        async with ends.services.session_factory() as session:
            job = await session.get(BackgroundJob, job_id)
            assert job is not None
            if job.status != JobStatus.RUNNING:
                break
        await asyncio.sleep(0.05)
    assert job.status == JobStatus.COMPLETED
