"""Scale-out overhead: no-op jobs through our Celery executor vs raw Celery no-op tasks.

Both run on the same Redis in the same run, each with one `-P threads` worker process of the
same concurrency. Ours pays for what makes jobs durable (the job row, the atomic claim, the end
write, one event per transition); the ratio says how much of Celery's own rate survives that
(goal >= 0.7). Then start-analysis -> running latency on an idle worker (p50, p99).

Needs PostgreSQL (ADANALYSIS_BENCH_PG, default the local server) and Redis (ADANALYSIS_BENCH_REDIS).
Usage: python bench/celery_throughput.py [--jobs N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get(
    "ADANALYSIS_BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_BASE = os.environ.get("ADANALYSIS_BENCH_REDIS", "redis://127.0.0.1:6379")
REDIS_DB = 13  # a database number of its own, flushed before and after


def raw_app(broker: str) -> Any:
    """A bare Celery app with a no-op task that counts itself in Redis."""
    from celery import Celery

    app = Celery("raw", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
    )

    @app.task(name="raw.noop", ignore_result=True)
    def noop(counter: str) -> None:
        import redis

        redis.Redis.from_url(broker).incr(counter)

    return app


def run_raw_worker(broker: str, concurrency: int) -> None:
    """The raw Celery worker process."""
    raw_app(broker).worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            "raw",
        ]
    )


def bench_raw(broker: str, jobs: int, concurrency: int, workdir: Path) -> float:
    """Raw Celery no-op tasks per second."""
    import redis

    log = workdir / "raw-worker.log"
    proc = subprocess.Popen(
        [sys.executable, __file__, "--raw-worker", "--concurrency", str(concurrency)],
        env={**os.environ, "BENCH_BROKER": broker, "CELERY_LOG_LEVEL": "INFO"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        app = raw_app(broker)
        client = redis.Redis.from_url(broker)
        counter = f"raw-done-{uuid.uuid4().hex}"
        app.send_task("raw.noop", args=[counter], queue="raw")  # warm up the worker
        while int(client.get(counter) or 0) < 1:
            time.sleep(0.01)
        client.delete(counter)
        began = time.perf_counter()
        for _ in range(jobs):
            app.send_task("raw.noop", args=[counter], queue="raw")
        while int(client.get(counter) or 0) < jobs:
            time.sleep(0.005)
        return jobs / (time.perf_counter() - began)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _make_users(url: str, count: int) -> list[str]:
    from adanalysis.auth.service import create_user
    from adanalysis.db import open_database

    ids = []
    async with open_database(url) as (_engine, factory):
        async with factory() as session:
            for i in range(count):
                user = await create_user(
                    session,
                    email=f"bench{i}-{uuid.uuid4().hex[:6]}@example.com",
                    password="bench-password-1",  # noqa: S106 - throwaway users
                )
                ids.append(user.id)
    return ids


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll the database until condition holds (what the bench measures is in the rows)."""
    try:
        async with asyncio.timeout(300):  # a worker that died: fail, with its log, not hang
            while not await condition():  # noqa: ASYNC110 - the state is in PostgreSQL
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise RuntimeError("no progress in 300 s: see the worker's log") from None


async def _ours(
    settings: Any, users: list[str], jobs: int, latency_samples: int
) -> tuple[float, float, list[float]]:
    """Our jobs per second, then start -> running latencies (seconds) on an idle worker."""
    from sqlalchemy import func, select

    from adanalysis.bootstrap import job_runtime
    from adanalysis.jobs.executors.celery import CeleryExecutor, make_celery_app
    from adanalysis.jobs.models import BackgroundJob, JobStatus
    from adanalysis.jobs.noop import NOOP
    from adanalysis.jobs.service import BackgroundJobService

    async with job_runtime(settings, worker_kind="bench") as runtime:
        executor = CeleryExecutor(make_celery_app(settings), settings, events=runtime.events)
        service = BackgroundJobService(
            lifecycle=runtime.lifecycle, registry=runtime.registry, executor=executor
        )
        factory = runtime.services.session_factory

        async def start(user_id: str) -> str:
            async with factory() as session:
                job = await service.start_job(
                    session,
                    user_id=user_id,
                    job_type=NOOP,
                    parameters={},
                    estimated_duration_seconds=1,
                )
                return job.id

        async def ended() -> int:
            async with factory() as session:
                return int(
                    (
                        await session.execute(
                            select(func.count()).where(BackgroundJob.status == JobStatus.COMPLETED)
                        )
                    ).scalar_one()
                )

        async def ended_at_least(n: int) -> None:
            async def check() -> bool:
                return await ended() >= n

            await _until(check)

        await start(users[-1])  # warm up
        await ended_at_least(1)
        half = jobs // 2
        # (a) end to end: start_job (insert the row, publish) then the worker runs it.
        began = time.perf_counter()
        for user_id in users[:half]:
            await start(user_id)
        await ended_at_least(half + 1)
        end_to_end = half / (time.perf_counter() - began)
        # (b) the executor alone, like the raw tasks: rows exist, only publish and run.
        pending = []
        async with factory() as session:
            for user_id in users[half:jobs]:
                job = await runtime.lifecycle.create(
                    session, user_id=user_id, job_type=NOOP, parameters={}, message="Queued."
                )
                pending.append(job.id)
        began = time.perf_counter()
        for job_id in pending:
            await executor.submit(job_id)
        await ended_at_least(jobs + 1)
        executor_only = len(pending) / (time.perf_counter() - began)

        latencies = []
        for user_id in users[jobs : jobs + latency_samples]:
            job_id = await start(user_id)

            async def running(job_id: str = job_id) -> bool:
                async with factory() as session:
                    job = await session.get(BackgroundJob, job_id)
                    if job is None or job.started_at is None:
                        return False
                    latencies.append((job.started_at - job.created_at).total_seconds())
                    return True

            await _until(running)
            await ended_at_least(jobs + 1 + len(latencies))
        return end_to_end, executor_only, latencies


def bench_ours(
    broker: str, jobs: int, concurrency: int, samples: int, workdir: Path
) -> tuple[float, float, list[float]]:
    """Our executor: a private database, one `adanalysis worker` process."""
    from sqlalchemy import text

    from adanalysis.cli import run_migrations
    from adanalysis.config import Settings
    from adanalysis.db import create_engine

    name = f"adanalysis_bench_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        engine = create_engine(PG_ADMIN)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    env = {
        "ADANALYSIS_EXECUTOR": "celery",
        "ADANALYSIS_DATABASE_URL": url,
        "ADANALYSIS_BROKER_URL": broker,
        "ADANALYSIS_REDIS_URL": broker,
        "ADANALYSIS_SECRET_KEY": "bench-secret-" + "x" * 40,
        "ADANALYSIS_JOB_MODULES": '["adanalysis.jobs.noop"]',
        "ADANALYSIS_LOG_LEVEL": "WARNING",
        "ADANALYSIS_DATA_DIR": str(workdir / "ours"),
        "ADANALYSIS_PROGRESS_MIN_INTERVAL_SECONDS": "0",
    }
    proc = None
    try:
        run_migrations(url)
        log = workdir / "our-worker.log"
        # Logging at WARNING, as the raw worker does: Celery's per-task INFO lines would be
        # measured too. The warm-up job tells when the worker is ready.
        proc = subprocess.Popen(
            [sys.executable, "-m", "adanalysis", "worker", "--concurrency", str(concurrency)],
            env={**os.environ, **env},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        values: dict[str, Any] = {k.removeprefix("ADANALYSIS_").lower(): v for k, v in env.items()}
        values["job_modules"] = ["adanalysis.jobs.noop"]
        settings = Settings(**values)
        users = asyncio.run(_make_users(url, jobs + samples + 1))
        return asyncio.run(_ours(settings, users, jobs, samples))
    except Exception:
        print((workdir / "our-worker.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    """Print both rates, their ratio and the start -> running latency."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--raw-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    broker = os.environ.get("BENCH_BROKER") or f"{REDIS_BASE}/{REDIS_DB}"
    if args.raw_worker:
        run_raw_worker(broker, args.concurrency)
        return 0
    import redis

    client = redis.Redis.from_url(broker)
    client.flushdb()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        try:
            raw = bench_raw(broker, args.jobs, args.concurrency, workdir)
            end_to_end, ours, latencies = bench_ours(
                broker, args.jobs, args.concurrency, args.samples, workdir
            )
        finally:
            client.flushdb()
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"no-op throughput, 1 worker process x {args.concurrency} threads, same Redis:")
    print(f"  raw Celery tasks ({args.jobs}):                   {raw:8.1f} /s")
    print(f"  our executor, rows exist ({args.jobs - args.jobs // 2}):          {ours:8.1f} /s")
    print(f"  ratio executor / raw:                    {ours / raw:8.2f}  (goal >= 0.70)")
    print(f"  end to end, start_job + run ({args.jobs // 2}):       {end_to_end:8.1f} /s")
    print(f"  ratio end to end / raw:                  {end_to_end / raw:8.2f}")
    print(
        f"start -> running on an idle worker ({len(latencies)} jobs): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(main())
