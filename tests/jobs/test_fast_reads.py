"""The fast read paths (job-status, history, live stream) answer what the ORM paths answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.auth.models import User
from adanalysis.config import Settings
from adanalysis.db import create_engine, utcnow
from adanalysis.ids import new_object_id
from adanalysis.jobs.lifecycle import JobLifecycle
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.schemas import JobDocument
from tests.conftest import SignedIn, sign_up

API = "/api/v1/ad_analysis"
# The job-status document's keys, as the seed lists them plus what reliability added.
DOCUMENT_KEYS = {
    "_id",
    "user_id",
    "job_type",
    "status",
    "progress",
    "message",
    "error_message",
    "error_code",
    "parameters",
    "result_count",
    "results",
    "created_at",
    "started_at",
    "completed_at",
    "updated_at",
    "estimated_duration_seconds",
    "actual_duration_seconds",
    "attempts",
    "max_attempts",
    "priority",
    "cancel_requested_at",
}
# Recent, so the app's cleanup of jobs ended days ago leaves the test's jobs alone.
T0 = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=123456)


async def _insert(
    factory: async_sessionmaker[AsyncSession], user_id: str, **values: Any
) -> BackgroundJob:
    values.setdefault("status", JobStatus.COMPLETED)
    values.setdefault("job_type", "ad_analysis")
    async with factory() as session:
        job = BackgroundJob(user_id=user_id, **values)
        session.add(job)
        await session.commit()
        return job


async def _orm_document(factory: async_sessionmaker[AsyncSession], job_id: str) -> dict[str, Any]:
    async with factory() as session:
        job = await session.get(BackgroundJob, job_id)
        assert job is not None
        return JobDocument.model_validate(job).model_dump(mode="json", by_alias=True)


async def test_status_document_is_the_row(
    client: httpx.AsyncClient, user: SignedIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Every field, typed as before: aware UTC times, JSON parameters and results, nulls."""
    job = await _insert(
        session_factory,
        user.user_id,
        status=JobStatus.FAILED,
        progress=42,
        message="Analysing videos (2/5)...",
        error_message="Facebook said no",
        error_code="FB_PERMISSION",
        parameters={"account_id": "act_1", "token": "fb_1234..."},
        result_count=2,
        results=[{"status": "analyzed", "video": "é"}, {"status": "failed"}],
        created_at=T0,
        started_at=T0 + timedelta(seconds=1),
        completed_at=T0 + timedelta(seconds=9),
        actual_duration_seconds=8,
        estimated_duration_seconds=300,
        attempts=2,
        priority=1,
    )
    r = await client.get(f"{API}/job-status/{job.id}", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == DOCUMENT_KEYS
    assert body == await _orm_document(session_factory, job.id)
    assert body["created_at"] == T0.strftime("%Y-%m-%dT%H:%M:%S.123456Z")
    assert body["cancel_requested_at"] is None and body["results"][0]["video"] == "é"


async def test_only_the_owner_reads_a_job(
    client: httpx.AsyncClient, user: SignedIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Another user's job is the same 404 as an unknown id; a deactivated owner is 401."""
    other = await sign_up(client)
    job = await _insert(session_factory, user.user_id)
    mine = await client.get(f"{API}/job-status/{job.id}", headers=user.headers)
    assert mine.status_code == 200 and mine.json()["_id"] == job.id
    theirs = await client.get(f"{API}/job-status/{job.id}", headers=other.headers)
    unknown = await client.get(f"{API}/job-status/{new_object_id()}", headers=other.headers)
    not_an_id = await client.get(f"{API}/job-status/not-an-id", headers=other.headers)
    assert theirs.status_code == unknown.status_code == not_an_id.status_code == 404
    assert theirs.json() == unknown.json() == not_an_id.json()
    async with session_factory() as session:
        await session.execute(update(User).where(User.id == user.user_id).values(is_active=False))
        await session.commit()
    gone = await client.get(f"{API}/job-status/{job.id}", headers=user.headers)
    assert gone.status_code == 401 and gone.headers["www-authenticate"] == "Bearer"
    assert (await client.get(f"{API}/jobs/", headers=user.headers)).status_code == 401


async def _all_pages(
    client: httpx.AsyncClient, user: SignedIn, limit: int, **params: str
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": limit, **params}
    while True:
        r = await client.get(f"{API}/jobs/", headers=user.headers, params=query)
        assert r.status_code == 200, r.text
        seen.extend(r.json())
        cursor = r.headers.get("x-next-before")
        if cursor is None:
            return seen
        assert cursor == seen[-1]["_id"]
        query["before"] = cursor


async def test_history_pages_through_equal_created_at(
    client: httpx.AsyncClient, user: SignedIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Keyset pages by (created_at, id): ties on created_at are neither repeated nor skipped."""
    other = await sign_up(client)
    expected: list[tuple[datetime, str, str]] = []
    for i in range(11):
        # Seven jobs share one created_at; the rest sit around it.
        created = T0 if i < 7 else T0 + timedelta(microseconds=(i - 8) * 10)
        status = JobStatus.FAILED if i % 3 == 0 else JobStatus.COMPLETED
        job = await _insert(session_factory, user.user_id, created_at=created, status=status)
        expected.append((created, job.id, status))
        await _insert(session_factory, other.user_id, created_at=T0)
    expected.sort(reverse=True)
    for limit in (1, 2, 3, 20):
        listed = await _all_pages(client, user, limit)
        assert [j["_id"] for j in listed] == [e[1] for e in expected], limit
    failed = await _all_pages(client, user, 2, status="failed")
    assert [j["_id"] for j in failed] == [e[1] for e in expected if e[2] == "failed"]


async def test_history_has_summaries_not_results(
    app: FastAPI, client: httpx.AsyncClient, user: SignedIn
) -> None:
    """result_summary is written with the results and listed; the results stay out of the list."""
    factory: async_sessionmaker[AsyncSession] = app.state.session_factory
    lifecycle: JobLifecycle = app.state.job_lifecycle
    job = await _insert(
        factory, user.user_id, status=JobStatus.RUNNING, worker_id="w1", heartbeat_at=utcnow()
    )
    async with factory() as session:
        results = [{"status": "analyzed"}, {"status": "skipped"}, {"status": "analyzed"}, "note"]
        await lifecycle.progress(
            session,
            job_id=job.id,
            worker_id="w1",
            progress=50,
            message="half",
            results=results,
            result_count=2,
        )
    await _insert(factory, user.user_id)  # never wrote results
    listed = (await client.get(f"{API}/jobs/", headers=user.headers)).json()
    by_id = {j["_id"]: j for j in listed}
    assert by_id[job.id]["result_summary"] == {"analyzed": 2, "skipped": 1}
    assert [j["result_summary"] for j in listed if j["_id"] != job.id] == [{}]
    assert all("results" not in j and "user_id" not in j for j in listed)
    assert (
        await client.get(f"{API}/jobs/", headers=user.headers, params={"before": "x"})
    ).status_code == 404


async def test_reads_do_not_wait_for_an_open_write(
    client: httpx.AsyncClient, user: SignedIn, settings: Settings
) -> None:
    """While a writer holds its transaction (SQLite: the write lock), status and history answer."""
    engine = create_engine(settings.sqlalchemy_url)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    try:
        job = await _insert(factory, user.user_id, message="committed", created_at=T0)
        async with engine.begin() as writer:
            await writer.execute(
                update(BackgroundJob)
                .where(BackgroundJob.id == job.id)
                .values(message="not committed yet")
            )
            # A read that took the write lock would wait here for the busy timeout, then fail.
            status = await client.get(f"{API}/job-status/{job.id}", headers=user.headers)
            history = await client.get(f"{API}/jobs/", headers=user.headers)
            assert status.status_code == 200 and status.json()["message"] == "committed"
            assert history.status_code == 200 and history.json()[0]["message"] == "committed"
        after = await client.get(f"{API}/job-status/{job.id}", headers=user.headers)
        assert after.json()["message"] == "not committed yet"
    finally:
        await engine.dispose()


async def test_a_dropped_read_connection_is_replaced(
    app: FastAPI, client: httpx.AsyncClient, user: SignedIn, settings: Settings
) -> None:
    """No pre-ping on the read pool: a connection the server dropped costs one retry, not a 500."""
    if not settings.sqlalchemy_url.startswith("postgresql"):
        return  # SQLite has no server to drop a connection
    job = await _insert(app.state.session_factory, user.user_id)
    assert (await client.get(f"{API}/job-status/{job.id}", headers=user.headers)).status_code == 200
    engine = create_engine(settings.sqlalchemy_url)
    try:
        async with engine.connect() as admin:
            killed = await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND state = 'idle'"
                )
            )
            assert killed.all(), "the read pool kept no idle connection to drop"
    finally:
        await engine.dispose()
    r = await client.get(f"{API}/job-status/{job.id}", headers=user.headers)
    assert r.status_code == 200 and r.json()["_id"] == job.id
