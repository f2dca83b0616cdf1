"""Scale-out on Celery with real processes: two API servers, two workers, beat, PostgreSQL, Redis."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from kombu import Connection
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from adanalysis.sandbox.graph import SandboxConfig
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig
from tests.scale.cluster import Cluster, RedisServer, sign_up, start, status, wait_status
from tests.scale.conftest import ACCOUNT, db_query, unavailable, worker_pid

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"

VIDEOS = 3  # in the sandbox account ACCOUNT


def test_two_workers_complete_twenty_jobs_of_ten_users(
    cluster: Cluster, api_a: str, api_b: str, http: httpx.Client, scale_database: str
) -> None:
    users = [sign_up(http, api_a if i % 2 else api_b, account_id=ACCOUNT) for i in range(10)]
    job_ids: list[str] = []
    for round_ in range(2):
        started = [(u, start(http, api_a if i % 2 else api_b, u)) for i, u in enumerate(users)]
        for i, (user, job_id) in enumerate(started):
            job = wait_status(http, api_b if i % 2 else api_a, user, job_id, {"completed"})
            assert job["progress"] == 100
            # The first round analyses the account's videos; the second finds them done.
            assert job["result_count"] == (VIDEOS if round_ == 0 else 0), job
            job_ids.append(job_id)
    rows = db_query(
        scale_database,
        "SELECT worker_id, attempts FROM background_jobs WHERE id = ANY(:ids)",
        ids=job_ids,
    )
    assert len(rows) == 20
    workers = {row[0].rsplit(":", 2)[0] + ":" + row[0].split(":")[2] for row in rows}
    assert len(workers) == 2, f"both workers should have run jobs: {workers}"
    assert all(row[1] == 1 for row in rows)
    analyses = db_query(
        scale_database,
        "SELECT user_id, count(*), count(DISTINCT video_id) FROM ad_analyses "
        "WHERE user_id = ANY(:users) GROUP BY user_id",
        users=[u.user_id for u in users],
    )
    assert sorted((n, d) for _u, n, d in analyses) == [(VIDEOS, VIDEOS)] * 10


def test_start_race_across_two_api_processes_gives_one_job(
    cluster: Cluster, api_a: str, api_b: str, http: httpx.Client, slow_downloads: SandboxConfig
) -> None:
    slow_downloads.download_latency_seconds = 3.0  # the winner stays active through the race
    user = sign_up(http, api_a, account_id=ACCOUNT)

    def post(i: int) -> int:
        base = api_a if i % 2 else api_b
        with httpx.Client(timeout=60) as client:
            r = client.post(f"{base}/api/v1/ad_analysis/start-analysis/", headers=user.headers)
            return r.status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(post, range(50)))
    assert sorted(Counter(codes).items()) == [(202, 1), (409, 49)], Counter(codes)
    jobs = http.get(f"{api_b}/api/v1/ad_analysis/jobs/", headers=user.headers).json()
    assert len(jobs) == 1
    r = http.delete(f"{api_a}/api/v1/ad_analysis/job/{jobs[0]['_id']}", headers=user.headers)
    assert r.status_code == 200, r.text
    wait_status(http, api_a, user, jobs[0]["_id"], {"cancelled"})


def test_sigkill_of_a_worker_mid_job_resumes_on_the_other_without_reanalysing(
    cluster: Cluster,
    api_a: str,
    http: httpx.Client,
    scale_database: str,
    slow_downloads: SandboxConfig,
    openai_fake: tuple[str, FakeOpenAIConfig],
) -> None:
    slow_downloads.download_latency_seconds = 1.5  # one video at a time, each 1.5 s
    fake = openai_fake[1]
    chats_before = fake.requests["chat"]
    user = sign_up(http, api_a, account_id=ACCOUNT)
    job_id = start(http, api_a, user)
    deadline = time.monotonic() + 60
    while (status(http, api_a, user, job_id)["result_count"] or 0) < 1:  # one video saved
        assert time.monotonic() < deadline, "the job never saved its first video"
        time.sleep(0.05)
    [(worker_id,)] = db_query(
        scale_database, "SELECT worker_id FROM background_jobs WHERE id = :id", id=job_id
    )
    victim = next(p for p in cluster.processes if p.proc.pid == worker_pid(worker_id))
    os.kill(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait()
    try:
        job = wait_status(http, api_a, user, job_id, {"completed", "failed"}, timeout=90)
        assert job["status"] == "completed", job
        assert job["attempts"] == 2
        assert job["result_count"] == VIDEOS
        # Each video was analysed once: the one saved before the kill was not redone.
        assert fake.requests["chat"] - chats_before == VIDEOS
        [(new_worker,)] = db_query(
            scale_database, "SELECT worker_id FROM background_jobs WHERE id = :id", id=job_id
        )
        assert worker_pid(new_worker) != victim.proc.pid
    finally:
        cluster.processes.remove(victim)
        cluster.wait_ready(cluster.worker(f"{victim.name}-again"))


def test_sigterm_gives_a_running_job_back_to_another_worker_without_spending_an_attempt(
    cluster: Cluster,
    api_a: str,
    http: httpx.Client,
    scale_database: str,
    slow_downloads: SandboxConfig,
) -> None:
    slow_downloads.download_latency_seconds = 1.5
    user = sign_up(http, api_a, account_id=ACCOUNT)
    job_id = start(http, api_a, user)
    deadline = time.monotonic() + 60
    while (status(http, api_a, user, job_id)["result_count"] or 0) < 1:
        assert time.monotonic() < deadline, "the job never saved its first video"
        time.sleep(0.05)
    [(worker_id,)] = db_query(
        scale_database, "SELECT worker_id FROM background_jobs WHERE id = :id", id=job_id
    )
    victim = next(p for p in cluster.processes if p.proc.pid == worker_pid(worker_id))
    victim.proc.send_signal(signal.SIGTERM)  # a deploy's warm shutdown
    try:
        assert victim.proc.wait(timeout=60) is not None
        job = wait_status(http, api_a, user, job_id, {"completed", "failed"}, timeout=60)
        assert job["status"] == "completed", job
        assert job["attempts"] == 1  # the graceful stop gave its attempt back
        assert job["result_count"] == VIDEOS
    finally:
        cluster.processes.remove(victim)
        cluster.wait_ready(cluster.worker(f"{victim.name}-next"))


def test_cancel_reaches_a_job_running_in_another_process(
    cluster: Cluster, api_a: str, api_b: str, http: httpx.Client, slow_downloads: SandboxConfig
) -> None:
    slow_downloads.download_latency_seconds = 3.0
    user = sign_up(http, api_a, account_id=ACCOUNT)
    job_id = start(http, api_a, user)
    wait_status(http, api_a, user, job_id, {"running"})
    began = time.monotonic()
    r = http.delete(f"{api_b}/api/v1/ad_analysis/job/{job_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    job = wait_status(http, api_b, user, job_id, {"cancelled", "completed", "failed"}, timeout=10)
    elapsed = time.monotonic() - began
    assert job["status"] == "cancelled", job
    print(f"cancel across processes: cancelled {elapsed:.2f} s after DELETE")
    # The worker stopped on the Redis nudge, not on its next heartbeat poll.
    logs = "".join(p.log_text() for p in cluster.processes if "worker" in p.name)
    assert f"job {job_id} cancelled by its user from another process" in logs


def test_premium_job_starts_before_earlier_jobs_when_workers_are_saturated(
    cluster: Cluster,
    api_a: str,
    http: httpx.Client,
    scale_database: str,
    slow_downloads: SandboxConfig,
) -> None:
    slow_downloads.download_latency_seconds = 1.0  # ~3 s per job
    fillers = [sign_up(http, api_a, account_id=ACCOUNT) for _ in range(4)]  # 2 workers x 2
    waiting = [sign_up(http, api_a, account_id=ACCOUNT) for _ in range(2)]
    premium = sign_up(http, api_a, account_id=ACCOUNT)
    db_query(
        scale_database, "UPDATE users SET is_premium = true WHERE id = :id", id=premium.user_id
    )
    running = [(u, start(http, api_a, u)) for u in fillers]
    for user, job_id in running:
        wait_status(http, api_a, user, job_id, {"running"})
    queued = [(u, start(http, api_a, u)) for u in waiting]
    premium_job = start(http, api_a, premium)
    started = {}
    for user, job_id in [*running, *queued, (premium, premium_job)]:
        job = wait_status(http, api_a, user, job_id, {"completed"}, timeout=90)
        started[job_id] = job["started_at"]
    assert all(started[premium_job] < started[job_id] for _u, job_id in queued), started


def test_websocket_clients_on_two_api_processes_see_the_same_worker_run_job(
    cluster: Cluster, api_a: str, api_b: str, http: httpx.Client, slow_downloads: SandboxConfig
) -> None:
    slow_downloads.download_latency_seconds = 0.7
    user = sign_up(http, api_a, account_id=ACCOUNT)
    job_id = start(http, api_a, user)
    token = user.headers["Authorization"].removeprefix("Bearer ")

    def watch(base: str) -> list[dict[str, Any]]:
        url = f"{base.replace('http', 'ws', 1)}/api/v1/ad_analysis/ws/jobs/{job_id}?token={token}"
        seen = []
        with connect(url, open_timeout=30) as ws:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    seen.append(json.loads(ws.recv(timeout=60)))
        return seen

    with ThreadPoolExecutor(max_workers=2) as pool:
        on_a, on_b = pool.map(watch, [api_a, api_b])
    for seen in (on_a, on_b):
        assert seen[-1]["status"] == "completed"
        assert seen[-1]["result_count"] == VIDEOS
        # Progress written by a worker process reached this API process's client live.
        assert any(0 < doc["progress"] < 100 for doc in seen), [d["progress"] for d in seen]
        progress = [doc["progress"] for doc in seen]
        assert progress == sorted(progress)


def test_redis_restart_mid_run_loses_no_job(
    cluster: Cluster,
    api_a: str,
    http: httpx.Client,
    redis_server: RedisServer,
    slow_downloads: SandboxConfig,
) -> None:
    slow_downloads.download_latency_seconds = 1.0
    users = [sign_up(http, api_a, account_id=ACCOUNT) for _ in range(6)]
    jobs = [(u, start(http, api_a, u)) for u in users]  # 4 run, 2 wait in the broker
    for user, job_id in jobs[:2]:
        wait_status(http, api_a, user, job_id, {"running"})
    redis_server.stop()  # no persistence: the queued messages are gone
    time.sleep(1.5)
    redis_server.start()
    for user, job_id in jobs:
        job = wait_status(http, api_a, user, job_id, {"completed", "failed"}, timeout=90)
        assert job["status"] == "completed", job
        assert job["result_count"] == VIDEOS


def test_broker_down_answers_503_and_leaves_nothing_pending(
    cluster: Cluster, api_a: str, api_b: str, http: httpx.Client, redis_server: RedisServer
) -> None:
    user = sign_up(http, api_a, account_id=ACCOUNT)
    assert http.get(f"{api_a}/readyz").json() == {
        "status": "ok",
        "database": "up",
        "broker": "up",
    }
    redis_server.stop()
    try:
        r = http.get(f"{api_b}/readyz")
        assert r.status_code == 503
        assert r.json()["broker"] == "down" and r.json()["database"] == "up"
        r = http.post(f"{api_a}/api/v1/ad_analysis/start-analysis/", headers=user.headers)
        assert r.status_code == 503, r.text
        assert "job queue is unavailable" in r.json()["detail"]
        assert http.get(f"{api_a}/health").status_code == 200  # liveness is unchanged
    finally:
        redis_server.start()
    [job] = http.get(f"{api_a}/api/v1/ad_analysis/jobs/", headers=user.headers).json()
    assert job["status"] == "failed"
    full = status(http, api_a, user, job["_id"])
    assert full["error_code"] == "queue_unavailable"
    deadline = time.monotonic() + 30
    while http.get(f"{api_a}/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the broker never came back in /readyz"
        time.sleep(0.1)
    job_id = start(http, api_a, user)  # not a 409: the failed start left nothing active
    assert wait_status(http, api_a, user, job_id, {"completed"})["result_count"] == VIDEOS


def test_rabbitmq_as_broker_completes_a_job(
    cluster: Cluster, http: httpx.Client, scale_database: str
) -> None:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            pass
    except OSError:
        unavailable(f"RabbitMQ is not reachable at {RABBITMQ}")
    queue = f"scale-amqp-{uuid.uuid4().hex[:6]}"
    env = {"ADANALYSIS_BROKER_URL": RABBITMQ, "ADANALYSIS_CELERY_QUEUE": queue}
    api, worker = cluster.api("api-amqp", env), cluster.worker("worker-amqp", env)
    try:
        cluster.wait_ready(api)
        cluster.wait_ready(worker)
        assert api.url is not None
        user = sign_up(http, api.url, account_id=ACCOUNT)
        job_id = start(http, api.url, user)
        job = wait_status(http, api.url, user, job_id, {"completed"}, timeout=90)
        assert job["result_count"] == VIDEOS
        [(worker_id,)] = db_query(
            scale_database, "SELECT worker_id FROM background_jobs WHERE id = :id", id=job_id
        )
        assert worker_pid(worker_id) == worker.proc.pid
    finally:
        for process in (worker, api):
            process.stop()
            cluster.processes.remove(process)
        with Connection(RABBITMQ) as conn:
            for name in (queue, f"{queue}.premium"):
                with contextlib.suppress(Exception):
                    conn.default_channel.queue_delete(name)
