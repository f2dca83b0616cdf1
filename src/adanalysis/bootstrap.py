"""Builds a process's job runtime (database, registry, events, lifecycle) for the API server,
the command line and workers alike, so each starts the same way."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from adanalysis.ads.jobs import register_ad_jobs
from adanalysis.auth import models as _auth_models  # noqa: F401 - the users table, for foreign keys
from adanalysis.config import Settings
from adanalysis.crypto import SecretBox
from adanalysis.db import (
    create_inline_engine,
    create_read_engine,
    create_session_factory,
    open_database,
)
from adanalysis.db_direct import DirectPool, is_postgres
from adanalysis.jobs.context import JobServices
from adanalysis.jobs.events import JobEvents, LocalJobEvents
from adanalysis.jobs.executors.local import LocalExecutor
from adanalysis.jobs.lifecycle import JobLifecycle
from adanalysis.jobs.maintenance import make_worker_id
from adanalysis.jobs.registry import JobRegistry
from adanalysis.jobs.scheduling import SchedulingPolicy
from adanalysis.monitoring.prometheus import install_job_metrics
from adanalysis.notifications.service import Notifier
from adanalysis.workers import stop_shared_pools

if TYPE_CHECKING:
    from adanalysis.jobs.executors.celery import CeleryExecutor

# Connections of a process's direct pool: its runners' claims and ends are one statement each,
# so a few serve many concurrent jobs.
DIRECT_POOL_SIZE = 10


def build_job_registry(settings: Settings, *, secrets: SecretBox) -> JobRegistry:
    """Every job type this deployment runs: the ad analysis, plus settings.job_modules'."""
    registry = JobRegistry()
    register_ad_jobs(registry, secrets=secrets)
    for module in settings.job_modules:
        # A plugin module exposes register_jobs(registry); importing it registers nothing.
        importlib.import_module(module).register_jobs(registry)
    return registry


def job_events(settings: Settings, *, relay: bool = True) -> JobEvents:
    """In-process fan-out embedded; Redis pub/sub shared by every process at scale.

    relay=False (workers): hear only cancel nudges from other processes, not their events.
    """
    if settings.executor == "local":
        return LocalJobEvents()
    url = settings.events_redis_url
    if url is None:
        raise RuntimeError(
            "ADANALYSIS_EXECUTOR=celery needs Redis for live job events: set ADANALYSIS_REDIS_URL "
            "(or use a redis:// ADANALYSIS_BROKER_URL)."
        )
    from adanalysis.jobs.redis_events import RedisJobEvents

    return RedisJobEvents(url, channel=f"{settings.redis_key_prefix}job-events", relay_events=relay)


def build_executor(
    settings: Settings, runtime: JobRuntime, *, policy: SchedulingPolicy
) -> LocalExecutor | CeleryExecutor:
    """The executor of an API process: the asyncio runner, or the Celery publisher."""
    if settings.executor == "local":
        return LocalExecutor(
            runtime.services, concurrency=settings.max_concurrent_jobs, policy=policy
        )
    from adanalysis.jobs.executors.celery import CeleryExecutor, make_celery_app

    return CeleryExecutor(make_celery_app(settings), settings, events=runtime.events)


def scheduling_policy(settings: Settings) -> SchedulingPolicy:
    """The scheduling rules from settings."""
    return SchedulingPolicy(max_running_per_user=settings.max_running_jobs_per_user)


@dataclass
class JobRuntime:
    """What one process needs to start, run and watch jobs."""

    engine: AsyncEngine
    read_engine: AsyncEngine  # single-statement reads in autocommit (db.create_read_engine)
    inline_engine: Engine | None  # SQLite: reads in the loop's thread (db.create_inline_engine)
    secret_key: str
    secrets: SecretBox
    events: JobEvents
    registry: JobRegistry
    lifecycle: JobLifecycle
    services: JobServices


@asynccontextmanager
async def job_runtime(settings: Settings, *, worker_kind: str) -> AsyncIterator[JobRuntime]:
    """The job runtime of this process; the database is closed when the block ends."""
    secret_key = settings.resolved_secret_key()
    secrets = SecretBox(secret_key)
    # A worker's jobs are watched from API processes; it needs only the cancel nudges.
    events = job_events(settings, relay=worker_kind != "worker")
    registry = build_job_registry(settings, secrets=secrets)
    lifecycle = JobLifecycle(events=events)
    async with (
        open_database(settings.sqlalchemy_url) as (engine, session_factory),
        _relaying(events),
    ):
        read_engine = create_read_engine(settings.sqlalchemy_url)
        inline_engine = create_inline_engine(settings.sqlalchemy_url)
        # PostgreSQL: what every job's run does to the database (claim, end, the end hooks'
        # reads) goes straight to asyncpg (db_direct.py, jobs/runner_writes.py). A worker opens
        # a connection per job it runs at once before its first job: opening one (login, JSON
        # codecs: 3-5 ms) would otherwise land on its first jobs.
        direct = None
        if is_postgres(settings.sqlalchemy_url):
            busy = settings.resolved_worker_concurrency if worker_kind == "worker" else 1
            direct = DirectPool(settings.sqlalchemy_url, max_size=DIRECT_POOL_SIZE, min_size=busy)
            if worker_kind == "worker":
                await direct.warm()
        # The end hooks only read (but for the delivery log): on the read engine, each read is
        # one round trip, without the write pool's ping, BEGIN and ROLLBACK around it.
        reads = create_session_factory(read_engine)
        install_job_metrics(lifecycle, reads, direct=direct)
        notifier = Notifier(settings, session_factory, secrets, reads=reads, direct=direct)
        notifier.install(lifecycle)
        services = JobServices(
            session_factory=session_factory,
            settings=settings,
            lifecycle=lifecycle,
            registry=registry,
            worker_id=make_worker_id(worker_kind),
            direct=direct,
        )
        try:
            yield JobRuntime(
                engine,
                read_engine,
                inline_engine,
                secret_key,
                secrets,
                events,
                registry,
                lifecycle,
                services,
            )
        finally:
            notifier.stop()  # failing deliveries give up rather than hold the shutdown
            await lifecycle.drain_hooks()  # before the read engine the hooks use goes
            await read_engine.dispose()
            if direct is not None:
                await direct.aclose()
            if inline_engine is not None:
                inline_engine.dispose()
            # The speech children end with the jobs that used them (a thread: it reaps them).
            await asyncio.to_thread(stop_shared_pools)


@asynccontextmanager
async def _relaying(events: JobEvents) -> AsyncIterator[None]:
    """Run the events relay of a scale-out process while the block runs."""
    from adanalysis.jobs.redis_events import RedisJobEvents

    if not isinstance(events, RedisJobEvents):
        yield
        return
    await events.start()
    try:
        yield
    finally:
        await events.stop()
