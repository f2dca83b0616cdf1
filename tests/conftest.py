"""Fixtures: a migrated database (SQLite or PostgreSQL by ADANALYSIS_TEST_DB), an app, a client."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.cli import run_migrations
from adanalysis.config import Settings
from adanalysis.db import create_engine, create_session_factory, execute_autocommit

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BACKEND = os.environ.get("ADANALYSIS_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "ADANALYSIS_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
TABLES = (
    "ad_performance",
    "ad_analyses",
    "facebook_credentials",
    "background_jobs",
    "users",
    "rate_limit_counters",
    "job_stage_timings",
    "notification_settings",
    "webhook_deliveries",
)


def pytest_report_header() -> str:
    """Say which database this pass runs on."""
    return f"adanalysis test database: {BACKEND}"


async def _pg_admin(statement: str) -> None:
    await execute_autocommit(PG_ADMIN_URL, statement)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database at the latest migration: a template file for SQLite, a fresh PG database."""
    if BACKEND == "sqlite":
        path = tmp_path_factory.mktemp("db") / "template.db"
        run_migrations(f"sqlite+aiosqlite:///{path}")
        yield str(path)
        return
    name = f"adanalysis_test_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    run_migrations(url)
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database_url(migrated_database: str, tmp_path: Path) -> str:
    """A clean database for one test."""
    if BACKEND == "sqlite":
        path = tmp_path / "adanalysis.db"
        shutil.copy(migrated_database, path)
        return f"sqlite+aiosqlite:///{path}"
    engine = create_engine(migrated_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    finally:
        await engine.dispose()
    return migrated_database


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings tuned for tests: fast heartbeats, no progress throttling."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "secret_key": "test-secret-key-not-for-production",
        "heartbeat_interval_seconds": 0.2,
        "stale_after_seconds": 3.0,
        "progress_min_interval_seconds": 0.0,
        "max_concurrent_jobs": 4,
        # Most tests save made-up tokens; the connection check has its own tests.
        "validate_credentials": False,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings on the clean database."""
    return make_settings(database_url, tmp_path / "data")


@pytest.fixture
async def session_factory(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test database, outside any app."""
    engine = create_engine(settings.sqlalchemy_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (executor started)."""
    from adanalysis.main import create_app

    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An async client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@dataclass
class SignedIn:
    """A registered user and the headers that authenticate them."""

    email: str
    password: str
    user_id: str
    headers: dict[str, str]


async def sign_up(client: httpx.AsyncClient, email: str | None = None) -> SignedIn:
    """Register a user and sign in."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct-horse-9"
    r = await client.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    me = await client.get("/api/v1/auth/me", headers=headers)
    return SignedIn(email, password, me.json()["id"], headers)


def sign_up_sync(client: TestClient, email: str) -> SignedIn:
    """sign_up for a TestClient (the tests that need a WebSocket)."""
    password = "correct-horse-9"
    r = client.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    user_id = client.get("/api/v1/auth/me", headers=headers).json()["id"]
    return SignedIn(email, password, user_id, headers)


def start_pending_job(client: TestClient, user: SignedIn) -> str:
    """Save credentials and start an analysis (it stays pending with no executor); its id."""
    r = client.put(
        "/api/v1/ad_analysis/credentials",
        headers=user.headers,
        json={"access_token": "tok-123456", "account_id": "act_1"},
    )
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/ad_analysis/start-analysis/", headers=user.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


@pytest.fixture
async def user(client: httpx.AsyncClient) -> SignedIn:
    """A signed-in user."""
    return await sign_up(client)


async def wait_for_status(
    client: httpx.AsyncClient,
    job_id: str,
    headers: dict[str, str],
    statuses: set[str],
    timeout: float = 30,
) -> dict[str, Any]:
    """Poll job-status until the job reaches one of statuses."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await client.get(f"/api/v1/ad_analysis/job-status/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in statuses:
            return job
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s: {job}")
        await asyncio.sleep(0.05)
