"""Scale-out overhead: no-op jobs through our Celery executor vs raw Celery no-op tasks.

Both run on the same Redis in the same run, each with one `-P threads` worker process of the
same concurrency. Ours pays for what makes jobs durable (the job row, the atomic claim, the end
write, one event per transition); the ratio says how much of Celery's own rate survives that
(goal >= 0.7). The two alternate in rounds (both workers stay up, only one has work at a time)
and the medians are compared, so a burst of background load on the shared machine lands on one
round, not on one side. Then start_job end to end, and start-analysis -> running latency on an
idle worker (p50, p99).

Needs PostgreSQL (ADANALYSIS_BENCH_PG, default the local server) and Redis (ADANALYSIS_BENCH_REDIS).
Usage: python bench/celery_throughput.py [--jobs N] [--rounds R] [--concurrency C]
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
# A worker that has not finished a round in this long died or hangs: fail with its log.
ROUND_TIMEOUT_SECONDS = 300


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


class RawSide:
    """The raw Celery worker, and rounds of no-op tasks sent to it."""

    def __init__(self, broker: str, concurrency: int, workdir: Path) -> None:
        import redis

        self.app = raw_app(broker)
        self.client = redis.Redis.from_url(broker)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--raw-worker", "--concurrency", str(concurrency)],
            env={**os.environ, "BENCH_BROKER": broker},
            stdout=(workdir / "raw-worker.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.round(1)  # warm up: the worker is ready when its first task is done

    def round(self, jobs: int) -> float:
        """Tasks per second for jobs tasks, from the first send to the last one done."""
        counter = f"raw-done-{uuid.uuid4().hex}"
        began = time.perf_counter()
        for _ in range(jobs):
            self.app.send_task("raw.noop", args=[counter], queue="raw")
        while int(self.client.get(counter) or 0) < jobs:
            if time.perf_counter() - began > ROUND_TIMEOUT_SECONDS:
                raise RuntimeError("the raw worker stopped: see raw-worker.log")
            time.sleep(0.005)
        return jobs / (time.perf_counter() - began)

    def close(self) -> None:
        """Stop the worker."""
        self.proc.terminate()
        self.proc.wait(timeout=30)


async def _insert_users(url: str, count: int) -> list[str]:
    """count users in one statement (they never sign in: no password hashing to wait for)."""
    from sqlalchemy import insert

    from adanalysis.auth.models import User
    from adanalysis.db import open_database, utcnow
    from adanalysis.ids import new_object_id

    ids = [new_object_id() for _ in range(count)]
    rows = [
        {
            "id": user_id,
            "email": f"bench{i}-{uuid.uuid4().hex[:6]}@example.com",
            "password_hash": "!",  # matches no password
            "is_active": True,
            "is_admin": False,
            "is_premium": False,
            "created_at": utcnow(),
        }
        for i, user_id in enumerate(ids)
    ]
    async with open_database(url) as (_engine, factory):
        async with factory() as session:
            await session.execute(insert(User), rows)
            await session.commit()
    return ids


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll the database until condition holds (what the bench measures is in the rows)."""
    try:
        async with asyncio.timeout(ROUND_TIMEOUT_SECONDS):
            while not await condition():  # noqa: ASYNC110 - the state is in PostgreSQL
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise RuntimeError("no progress: see the worker's log") from None


class OurSide:
    """Our executor and one `adanalysis worker`, on a private database, in rounds of jobs."""

    def __init__(self, runtime: Any, executor: Any, users: list[str]) -> None:
        from adanalysis.jobs.service import BackgroundJobService

        self.runtime = runtime
        self.executor = executor
        self.users = users
        self.factory = runtime.services.session_factory
        self.service = BackgroundJobService(
            lifecycle=runtime.lifecycle, registry=runtime.registry, executor=executor
        )
        self.completed = 0

    async def _count_completed(self) -> int:
        from sqlalchemy import func, select

        from adanalysis.jobs.models import BackgroundJob, JobStatus

        async with self.factory() as session:
            query = select(func.count()).where(BackgroundJob.status == JobStatus.COMPLETED)
            return int((await session.execute(query)).scalar_one())

    async def _wait_completed(self, count: int) -> None:
        async def done() -> bool:
            return await self._count_completed() >= count

        await _until(done)
        self.completed = count

    async def start(self, user_id: str) -> str:
        """start_job as the API does it: insert the row, publish."""
        from adanalysis.jobs.noop import NOOP

        async with self.factory() as session:
            job = await self.service.start_job(
                session,
                user_id=user_id,
                job_type=NOOP,
                parameters={},
                estimated_duration_seconds=1,
            )
            return job.id

    async def executor_round(self, jobs: int) -> float:
        """Jobs per second with the rows already there: publish, claim, run, end."""
        from adanalysis.jobs.noop import NOOP

        pending = []
        async with self.factory() as session:
            for user_id in self.users[:jobs]:
                job = await self.runtime.lifecycle.create(
                    session, user_id=user_id, job_type=NOOP, parameters={}, message="Queued."
                )
                pending.append(job.id)
        began = time.perf_counter()
        for job_id in pending:
            await self.executor.submit(job_id)
        await self._wait_completed(self.completed + jobs)
        return jobs / (time.perf_counter() - began)

    async def end_to_end_round(self, jobs: int) -> float:
        """Jobs per second through start_job (insert the row, publish) then the worker."""
        began = time.perf_counter()
        for user_id in self.users[:jobs]:
            await self.start(user_id)
        await self._wait_completed(self.completed + jobs)
        return jobs / (time.perf_counter() - began)

    async def latencies(self, samples: int) -> list[float]:
        """started_at - created_at (s) of jobs started one at a time on an idle worker."""
        from adanalysis.jobs.models import BackgroundJob

        found: list[float] = []
        for user_id in self.users[:samples]:
            job_id = await self.start(user_id)

            async def running(job_id: str = job_id) -> bool:
                async with self.factory() as session:
                    job = await session.get(BackgroundJob, job_id)
                    if job is None or job.started_at is None:
                        return False
                    found.append((job.started_at - job.created_at).total_seconds())
                    return True

            await _until(running)
            await self._wait_completed(self.completed + 1)
        return found


def _our_env(url: str, broker: str, workdir: Path) -> dict[str, str]:
    return {
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


def _start_our_worker(concurrency: int, env: dict[str, str], workdir: Path) -> Any:
    """`adanalysis worker` on the private database, logging to our-worker.log."""
    # Logging at WARNING, as the raw worker does: Celery's per-task INFO lines would be
    # measured too. The warm-up job tells when the worker is ready.
    return subprocess.Popen(
        [sys.executable, "-m", "adanalysis", "worker", "--concurrency", str(concurrency)],
        env={**os.environ, **env},
        stdout=(workdir / "our-worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


async def _admin(sql: str) -> None:
    from sqlalchemy import text

    from adanalysis.db import create_engine

    engine = create_engine(PG_ADMIN)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(sql))
    await engine.dispose()


async def run(args: argparse.Namespace, broker: str, workdir: Path) -> dict[str, Any]:
    """Both sides in alternating rounds, then end to end and latency on ours."""
    from adanalysis.bootstrap import job_runtime
    from adanalysis.cli import run_migrations
    from adanalysis.config import Settings
    from adanalysis.jobs.executors.celery import CeleryExecutor, make_celery_app

    name = f"adanalysis_bench_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    env = _our_env(url, broker, workdir)
    raw = None
    proc = None
    try:
        await asyncio.to_thread(run_migrations, url)
        users = await _insert_users(url, max(args.jobs, args.samples) + 1)
        proc = _start_our_worker(args.concurrency, env, workdir)
        raw = await asyncio.to_thread(RawSide, broker, args.concurrency, workdir)
        values: dict[str, Any] = {k.removeprefix("ADANALYSIS_").lower(): v for k, v in env.items()}
        values["job_modules"] = ["adanalysis.jobs.noop"]
        settings = Settings(**values)
        async with job_runtime(settings, worker_kind="bench") as runtime:
            executor = CeleryExecutor(make_celery_app(settings), settings, events=runtime.events)
            ours = OurSide(runtime, executor, users)
            await ours.end_to_end_round(1)  # warm up
            raw_rates, our_rates = [], []
            for _ in range(args.rounds):
                raw_rates.append(await asyncio.to_thread(raw.round, args.jobs))
                our_rates.append(await ours.executor_round(args.jobs))
            end_to_end = await ours.end_to_end_round(args.jobs)
            latencies = await ours.latencies(args.samples)
        return {"raw": raw_rates, "ours": our_rates, "end": end_to_end, "latencies": latencies}
    except Exception:
        for log in ("our-worker.log", "raw-worker.log"):
            if (workdir / log).exists():
                print(f"--- {log}", file=sys.stderr)
                print((workdir / log).read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        if raw is not None:
            raw.close()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    """Print both rates per round, the ratio of their medians and the start -> running latency."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs per round")
    parser.add_argument("--rounds", type=int, default=3)
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
        try:
            found = asyncio.run(run(args, broker, Path(tmp)))
        finally:
            client.flushdb()
    raw, ours = statistics.median(found["raw"]), statistics.median(found["ours"])
    latencies = sorted(found["latencies"])
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(
        f"no-op throughput, 1 worker process x {args.concurrency} threads each, same Redis, "
        f"{args.rounds} alternating rounds of {args.jobs}:"
    )
    print("  raw Celery tasks /s:            " + "  ".join(f"{r:6.1f}" for r in found["raw"]))
    print("  our executor, rows exist /s:    " + "  ".join(f"{r:6.1f}" for r in found["ours"]))
    print(f"  medians: raw {raw:.1f} /s, ours {ours:.1f} /s")
    print(f"  ratio executor / raw:          {ours / raw:6.2f}  (goal >= 0.70)")
    print(
        f"  end to end, start_job + run:   {found['end']:6.1f} /s ({found['end'] / raw:.2f} of raw)"
    )
    print(
        f"start -> running on an idle worker ({len(latencies)} jobs): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(main())
