"""Scale-out on Celery with real processes: two API servers, two workers, beat, PostgreSQL, Redis."""

from __future__ import annotations

import httpx

from tests.scale.cluster import Cluster, sign_up, start, wait_status
from tests.scale.conftest import ACCOUNT, db_query

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
