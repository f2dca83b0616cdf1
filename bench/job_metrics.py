"""job-metrics on 1,000,000 jobs in PostgreSQL, against a plain SELECT count(*) in the same run.

Creates a private database (dropped at the end), bulk-inserts a year of history server-side
(generate_series), VACUUM ANALYZEs it, then times each admin range. Goal: each call <= 10x the
count and under a second.

    .venv/bin/python bench/job_metrics.py [--jobs 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

from sqlalchemy import text

from adanalysis.cli import run_migrations
from adanalysis.db import create_engine, create_session_factory, execute_autocommit
from adanalysis.monitoring.metrics import job_metrics
from adanalysis.monitoring.schemas import MetricsRange

ADMIN_URL = os.environ.get("BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
USERS = 1000

_USERS_SQL = """
INSERT INTO users (id, email, password_hash, is_active, is_admin, is_premium, created_at)
SELECT lpad(to_hex(g), 24, '0'), 'bench' || g || '@example.com', 'x', true, false, false, now()
FROM generate_series(1, :users) AS g
"""
# A year of ended jobs: 80 % completed, 15 % failed (four error codes), 5 % cancelled.
_JOBS_SQL = """
INSERT INTO background_jobs (
    id, user_id, job_type, status, progress, message, error_message, error_code, parameters,
    result_count, created_at, updated_at, started_at, completed_at, actual_duration_seconds,
    attempts, max_attempts, priority)
SELECT
    lpad(to_hex(g + 1000000000), 24, '0'),
    lpad(to_hex(1 + g % :users), 24, '0'),
    'ad_analysis',
    CASE WHEN r < 0.80 THEN 'completed' WHEN r < 0.95 THEN 'failed' ELSE 'cancelled' END,
    100, 'done',
    CASE WHEN r >= 0.80 AND r < 0.95 THEN 'Failure number ' || g END,
    CASE WHEN r >= 0.80 AND r < 0.95
         THEN (ARRAY['graph_error','job_timeout','internal_error','download_error'])[1 + g % 4] END,
    '{}'::json,
    g % 12,
    t, t, t, t + make_interval(secs => 5 + g % 600),
    5 + g % 600,
    1, 3, 0
FROM (
    SELECT g, random() AS r, now() - random() * interval '365 days' AS t
    FROM generate_series(1, :jobs) AS g
) AS s
"""
_STAGES_SQL = """
INSERT INTO job_stage_timings (job_id, stage, started_at, ended_at, duration_ms)
SELECT id, (ARRAY['Downloading videos (#/#)...','Transcribing videos (#/#)...',
                  'Analyzing videos (#/#)...'])[1 + (abs(hashtext(id)) % 3)],
       started_at, completed_at, actual_duration_seconds * 1000
FROM background_jobs
"""


async def _admin(statement: str) -> None:
    await execute_autocommit(ADMIN_URL, statement)


async def _timed(call: object, runs: int) -> float:
    """Median seconds of `runs` awaits of call() after one warm-up."""
    await call()  # type: ignore[operator]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def run(jobs: int, runs: int) -> int:
    name = f"bench_issue12_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.to_thread(run_migrations, url)
        engine = create_engine(url)
        factory = create_session_factory(engine)
        started = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(text(_USERS_SQL), {"users": USERS})
            await conn.execute(text(_JOBS_SQL), {"users": USERS, "jobs": jobs})
            await conn.execute(text(_STAGES_SQL))
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
        print(f"inserted {jobs:,} jobs (+ stage rows) in {time.perf_counter() - started:.1f} s")

        async def count() -> None:
            async with factory() as session:
                await session.execute(text("SELECT count(*) FROM background_jobs"))

        baseline = await _timed(count, runs)
        print(f"SELECT count(*): {baseline * 1000:.1f} ms (median of {runs})")
        worst = 0.0
        for range_ in MetricsRange:

            async def metrics(range_: MetricsRange = range_) -> None:
                await job_metrics(factory, range_=range_)

            seconds = await _timed(metrics, runs)
            ratio = seconds / baseline
            worst = max(worst, seconds)
            print(f"job-metrics range={range_.value}: {seconds * 1000:.1f} ms = {ratio:.1f}x count")
        await engine.dispose()
        print(f"slowest range: {worst * 1000:.1f} ms (goal < 1000 ms, <= 10x count)")
        return 0
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    return asyncio.run(run(args.jobs, args.runs))


if __name__ == "__main__":
    raise SystemExit(main())
