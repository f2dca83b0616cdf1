"""The scale-out cluster the tests in this folder share: 2 API processes, 2 workers, beat.

Scale-out needs PostgreSQL, so these tests run in the PostgreSQL pass only (skipped, with the
reason, in the SQLite pass). They need redis-server (a private one is started) and PostgreSQL;
RabbitMQ for its own test. In CI (CI=true) a missing service fails them instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from adanalysis.cli import run_migrations
from adanalysis.db import create_engine
from adanalysis.sandbox.graph import SandboxConfig, create_graph_sandbox
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig, create_openai_fake
from adanalysis.serving import serve_app_in_thread
from tests.conftest import BACKEND, PG_ADMIN_URL, _pg_admin
from tests.scale.cluster import Cluster, Process, RedisServer

# Three videos per job: short enough for 20 jobs in a few seconds on 2 cores.
ACCOUNT = "act_2234567890"


def unavailable(reason: str) -> None:
    """Fail in CI, skip on a developer machine without the service."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (the scale-out tests must run in CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def scale_database() -> Iterator[str]:
    """A private, migrated PostgreSQL database for the cluster's processes."""
    if BACKEND != "postgresql":
        pytest.skip("scale-out runs on PostgreSQL only; these tests run in the PostgreSQL pass")
    name = f"adanalysis_scale_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        unavailable(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    run_migrations(url)
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this module's own: broker, job events and rate limits."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sandbox_config() -> Iterator[SandboxConfig]:
    """The Graph sandbox's knobs; tests slow downloads down to catch jobs mid-run."""
    yield SandboxConfig()


@pytest.fixture(scope="module")
def graph_url(sandbox_config: SandboxConfig) -> Iterator[str]:
    with serve_app_in_thread(create_graph_sandbox(sandbox_config)) as url:
        yield url


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[tuple[str, FakeOpenAIConfig]]:
    config = FakeOpenAIConfig()
    with serve_app_in_thread(create_openai_fake(config)) as url:
        yield url, config


@pytest.fixture(scope="module")
def cluster(
    scale_database: str,
    redis_server: RedisServer,
    graph_url: str,
    openai_fake: tuple[str, FakeOpenAIConfig],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """2 API processes, 2 worker processes (2 jobs each) and beat, all started and ready."""
    env = {
        "ADANALYSIS_EXECUTOR": "celery",
        "ADANALYSIS_DATABASE_URL": scale_database,
        "ADANALYSIS_BROKER_URL": redis_server.url,
        "ADANALYSIS_REDIS_URL": redis_server.url,
        "ADANALYSIS_CELERY_QUEUE": f"scale{uuid.uuid4().hex[:6]}",
        "ADANALYSIS_SECRET_KEY": "scale-test-secret-key-" + "x" * 32,
        "ADANALYSIS_GRAPH_API_URL": graph_url,
        "ADANALYSIS_OPENAI_API_KEY": "sk-test",
        "ADANALYSIS_OPENAI_BASE_URL": f"{openai_fake[0]}/v1",
        "ADANALYSIS_VALIDATE_CREDENTIALS": "false",
        "ADANALYSIS_HEARTBEAT_INTERVAL_SECONDS": "0.5",
        "ADANALYSIS_STALE_AFTER_SECONDS": "3",
        "ADANALYSIS_PROGRESS_MIN_INTERVAL_SECONDS": "0",
        "ADANALYSIS_REGISTRATIONS_PER_ADDRESS": "1000",
        "ADANALYSIS_DOWNLOAD_CONCURRENCY": "1",
        "ADANALYSIS_SPEECH_WORKERS": "1",
        "ADANALYSIS_LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
    }
    c = Cluster(tmp_path_factory.mktemp("cluster"), env)
    try:
        for process in (
            c.api("api-a"),
            c.api("api-b"),
            c.worker("worker-1"),
            c.worker("worker-2"),
            c.beat(),
        ):
            if process.name != "beat":
                c.wait_ready(process)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def api_a(cluster: Cluster) -> str:
    return _url(cluster.processes[0])


@pytest.fixture(scope="module")
def api_b(cluster: Cluster) -> str:
    return _url(cluster.processes[1])


def _url(process: Process) -> str:
    assert process.url is not None
    return process.url


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def slow_downloads(sandbox_config: SandboxConfig) -> Iterator[SandboxConfig]:
    """The sandbox's knobs for one test (downloads slowed to catch jobs mid-run), reset after."""
    yield sandbox_config
    sandbox_config.download_latency_seconds = 0


def db_query(url: str, sql: str, **params: Any) -> list[Any]:
    """Rows of a query on the cluster's database (what the API does not show: worker ids)."""

    async def go() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(sql), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(go())


def worker_pid(worker_id: str) -> int:
    """The pid inside a worker id (kind:host:pid:random)."""
    return int(worker_id.split(":")[2])
