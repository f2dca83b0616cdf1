"""Scale-out on Celery with real processes: two API servers, two workers, beat, PostgreSQL, Redis."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from adanalysis.sandbox.graph import SandboxConfig
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig
from tests.scale.cluster import Cluster, sign_up, start, status, wait_status
from tests.scale.conftest import ACCOUNT, db_query, worker_pid

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
    db_query(scale_database, "UPDATE users SET is_premium = true WHERE id = :id", id=premium.user_id)
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
