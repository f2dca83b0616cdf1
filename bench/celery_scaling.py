"""Analysis throughput of the scale-out with 1, 2 and 4 `adanalysis worker` processes.

Each round starts one API process, N workers (2 jobs each, `--per-machine N`) and beat on a
private PostgreSQL database and a private redis-server, then runs JOBS analyses of the sandbox
account (9 videos each, distinct users) and reports videos per minute. The Graph sandbox and
the fake OpenAI (1 s per transcription, 0.5 s per chat, as a slow real API) run in this process,
so the CPU work per video is the download and ffmpeg's audio extraction. The baseline is the
1-worker round of the same run.

Needs PostgreSQL (ADANALYSIS_BENCH_PG) and redis-server. Usage: python bench/celery_scaling.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scale tests' process harness lives in tests/scale
PG_ADMIN = os.environ.get(
    "ADANALYSIS_BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
VIDEOS_PER_JOB = 9  # the main sandbox account


def run_round(workers: int, jobs: int, workdir: Path, graph_url: str, openai_url: str) -> float:
    """Videos per minute with `workers` worker processes."""
    import httpx
    from tests.conftest import _pg_admin
    from tests.scale.cluster import Cluster, RedisServer, sign_up, start, wait_status

    from adanalysis.cli import run_migrations

    name = f"adanalysis_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    redis = RedisServer(workdir)
    redis.start()
    cluster = Cluster(
        workdir / f"round-{workers}",
        {
            "ADANALYSIS_EXECUTOR": "celery",
            "ADANALYSIS_DATABASE_URL": url,
            "ADANALYSIS_BROKER_URL": redis.url,
            "ADANALYSIS_REDIS_URL": redis.url,
            "ADANALYSIS_SECRET_KEY": "bench-secret-" + "x" * 40,
            "ADANALYSIS_GRAPH_API_URL": graph_url,
            "ADANALYSIS_OPENAI_API_KEY": "sk-bench",
            "ADANALYSIS_OPENAI_BASE_URL": f"{openai_url}/v1",
            "ADANALYSIS_VALIDATE_CREDENTIALS": "false",
            "ADANALYSIS_REGISTRATIONS_PER_ADDRESS": "1000",
            "ADANALYSIS_LOG_LEVEL": "INFO",  # the worker's "ready." line is how we see it started
            "HF_HUB_OFFLINE": "1",
        },
    )
    try:
        run_migrations(url)
        api = cluster.api("api")
        procs = [cluster.worker(f"w{i}", concurrency=2) for i in range(workers)]
        cluster.beat()
        for process in (api, *procs):
            cluster.wait_ready(process, timeout=180)
        assert api.url is not None
        with httpx.Client(timeout=60) as http:
            users = [sign_up(http, api.url, account_id="act_1234567890") for _ in range(jobs)]
            began = time.perf_counter()
            started = [(u, start(http, api.url, u)) for u in users]
            for user, job_id in started:
                job = wait_status(http, api.url, user, job_id, {"completed"}, timeout=900)
                assert job["result_count"] == VIDEOS_PER_JOB, job
            minutes = (time.perf_counter() - began) / 60
        return jobs * VIDEOS_PER_JOB / minutes
    finally:
        cluster.stop()
        redis.stop()
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    """Print videos/min for each worker count and the ratio to one worker."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    from adanalysis.sandbox.graph import create_graph_sandbox
    from adanalysis.sandbox.openai_fake import FakeOpenAIConfig, create_openai_fake
    from adanalysis.serving import serve_app_in_thread

    fake = FakeOpenAIConfig(transcription_latency_seconds=1.0, chat_latency_seconds=0.5)
    rates: dict[int, float] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve_app_in_thread(create_graph_sandbox()) as graph_url,
        serve_app_in_thread(create_openai_fake(fake)) as openai_url,
    ):
        for workers in args.workers:
            rates[workers] = run_round(workers, args.jobs, Path(tmp), graph_url, openai_url)
            print(f"{workers} worker(s) x 2 jobs: {rates[workers]:7.1f} videos/min", flush=True)
    base = rates[args.workers[0]]
    for workers, rate in rates.items():
        print(f"  {workers} worker(s): {rate / base:5.2f}x the {args.workers[0]}-worker rate")
    print(f"({os.cpu_count()} cores; {args.jobs} jobs x {VIDEOS_PER_JOB} videos per round)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
