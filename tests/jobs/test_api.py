"""The seed's endpoints over HTTP: start, status, history, cancel, isolation, errors."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from adanalysis.ads.jobs import AD_ANALYSIS
from adanalysis.jobs.context import JobContext
from adanalysis.jobs.errors import JobError
from adanalysis.jobs.registry import JobOutcome, JobRegistry, JobType
from tests.conftest import SignedIn, sign_up, wait_for_status

API = "/api/v1/ad_analysis"
TOKEN = "EAABwzLixnjYBAOZCZCsecretsecretsecretTOKEN"


def replace_job(app: FastAPI, run: Any) -> None:
    """Run run() for the app's ad_analysis jobs, keeping the type's wording."""
    registry: JobRegistry = app.state.job_registry
    original = registry.get(AD_ANALYSIS)
    assert original is not None
    registry.register(JobType(AD_ANALYSIS, run, original.wording), replace=True)


@pytest.fixture
def slow_ad_job(app: FastAPI) -> dict[str, Any]:
    """Replace the ad_analysis job with steps the test controls (steps, delay, results kept)."""
    control: dict[str, Any] = {"steps": 5, "delay": 0.2}

    async def steps(ctx: JobContext) -> JobOutcome:
        await ctx.progress(5, "Job started")
        for i in range(len(ctx.results), control["steps"]):
            await ctx.progress(
                10 + 80 * i // control["steps"],
                f"Transcribing videos ({i + 1}/{control['steps']})...",
            )
            await asyncio.sleep(control["delay"])
            ctx.add_result({"video": i}, counts=True)
            await ctx.flush()
        return JobOutcome(
            message=f"Analysis completed successfully! Processed {ctx.result_count} ads.",
            result_count=ctx.result_count,
        )

    replace_job(app, steps)
    return control


async def save_credentials(client: httpx.AsyncClient, user: SignedIn, token: str = TOKEN) -> None:
    """Store Facebook credentials for user."""
    r = await client.put(
        f"{API}/credentials",
        headers=user.headers,
        json={"access_token": token, "account_id": "1234567890"},
    )
    assert r.status_code == 200, r.text


async def test_full_workflow(
    client: httpx.AsyncClient, user: SignedIn, slow_ad_job: dict[str, Any]
) -> None:
    """The seed's integration test: start, poll until completed, find it in the history."""
    slow_ad_job.update(steps=3, delay=0.05)
    await save_credentials(client, user)
    response = await client.post(f"{API}/start-analysis/", headers=user.headers)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert (
        body["message"] == "Ad analysis job started successfully. Use the job ID to track progress."
    )
    assert body["estimated_duration_seconds"] == 300
    job_id = body["job_id"]
    seen: set[int] = set()
    while True:
        job = (await client.get(f"{API}/job-status/{job_id}", headers=user.headers)).json()
        seen.add(job["progress"])
        if job["status"] in ["completed", "failed"]:
            break
        await asyncio.sleep(0.02)
    assert job["status"] == "completed"
    assert job["progress"] == 100
    assert job["result_count"] == 3
    assert job["message"] == "Analysis completed successfully! Processed 3 ads."
    assert job["_id"] == job_id and job["job_type"] == "ad_analysis"
    assert job["started_at"] and job["completed_at"] and job["actual_duration_seconds"] is not None
    assert len(seen) > 1, "progress should be observed moving"
    history = (await client.get(f"{API}/jobs/", headers=user.headers)).json()
    assert [j["_id"] for j in history] == [job_id]


async def test_start_without_credentials_is_400(client: httpx.AsyncClient, user: SignedIn) -> None:
    """No token saved: a 400 that says what to do."""
    r = await client.post(f"{API}/start-analysis/", headers=user.headers)
    assert r.status_code == 400
    assert "PUT /api/v1/ad_analysis/credentials" in r.json()["detail"]


async def test_fifty_concurrent_starts_make_one_job(
    client: httpx.AsyncClient, user: SignedIn, slow_ad_job: dict[str, Any]
) -> None:
    """The 409 race: exactly one 202, and every 409 names that job."""
    slow_ad_job.update(steps=2, delay=1.0)
    await save_credentials(client, user)
    responses = await asyncio.gather(
        *(client.post(f"{API}/start-analysis/", headers=user.headers) for _ in range(50))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(202) == 1, codes
    assert codes.count(409) == 49, codes
    winner = next(r for r in responses if r.status_code == 202).json()["job_id"]
    for r in responses:
        if r.status_code == 409:
            assert r.json()["job_id"] == winner
            assert "already" in r.json()["detail"]


async def test_cancel_running_job_keeps_partial_results(
    client: httpx.AsyncClient, user: SignedIn, slow_ad_job: dict[str, Any]
) -> None:
    """A running job reaches cancelled within 2 s, with its progress and results kept."""
    slow_ad_job.update(steps=20, delay=0.3)
    await save_credentials(client, user)
    job_id = (await client.post(f"{API}/start-analysis/", headers=user.headers)).json()["job_id"]
    for _ in range(100):
        job = (await client.get(f"{API}/job-status/{job_id}", headers=user.headers)).json()
        if job["result_count"] and job["result_count"] >= 2:
            break
        await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    r = await client.delete(f"{API}/job/{job_id}", headers=user.headers)
    assert r.status_code == 200 and r.json() == {"message": "Job cancelled successfully"}
    job = await wait_for_status(
        client, job_id, user.headers, {"cancelled", "completed", "failed"}, timeout=2
    )
    assert loop.time() - started < 2
    assert job["status"] == "cancelled"
    assert job["result_count"] >= 2 and len(job["results"]) == job["result_count"]
    assert job["progress"] >= 10
    r = await client.delete(f"{API}/job/{job_id}", headers=user.headers)
    assert r.status_code == 409 and "already cancelled" in r.json()["detail"]
    # The slot is free again.
    assert (await client.post(f"{API}/start-analysis/", headers=user.headers)).status_code == 202


async def test_cancel_pending_job(app: FastAPI, client: httpx.AsyncClient, user: SignedIn) -> None:
    """A job that has not started is cancelled at once and never runs."""
    await app.state.executor.stop()  # nothing picks jobs up: they stay pending
    await save_credentials(client, user)
    job_id = (await client.post(f"{API}/start-analysis/", headers=user.headers)).json()["job_id"]
    r = await client.delete(f"{API}/job/{job_id}", headers=user.headers)
    assert r.status_code == 200
    job = (await client.get(f"{API}/job-status/{job_id}", headers=user.headers)).json()
    assert job["status"] == "cancelled" and job["started_at"] is None and job["completed_at"]


async def test_owner_isolation_on_every_endpoint(
    client: httpx.AsyncClient, user: SignedIn, slow_ad_job: dict[str, Any]
) -> None:
    """Another user's job is 404 everywhere and absent from their history."""
    slow_ad_job.update(steps=10, delay=0.2)
    await save_credentials(client, user)
    job_id = (await client.post(f"{API}/start-analysis/", headers=user.headers)).json()["job_id"]
    other = await sign_up(client)
    r = await client.get(f"{API}/job-status/{job_id}", headers=other.headers)
    assert r.status_code == 404
    not_found = r.json()
    r = await client.get(f"{API}/job-status/{'f' * 24}", headers=other.headers)
    assert r.json() == not_found, "another user's job must look exactly like a missing one"
    assert (await client.delete(f"{API}/job/{job_id}", headers=other.headers)).status_code == 404
    assert (await client.get(f"{API}/jobs/", headers=other.headers)).json() == []
    r = await client.get(f"{API}/jobs/", headers=other.headers, params={"before": job_id})
    assert r.status_code == 404
    # Their own start is not blocked by the first user's running job.
    await save_credentials(client, other)
    assert (await client.post(f"{API}/start-analysis/", headers=other.headers)).status_code == 202
    job = (await client.get(f"{API}/job-status/{job_id}", headers=user.headers)).json()
    assert job["status"] in {"pending", "running"}


@pytest.mark.parametrize("bad_id", ["nope", "123", "g" * 24, "0" * 25, "%20"])
async def test_malformed_ids_are_404(
    client: httpx.AsyncClient, user: SignedIn, bad_id: str
) -> None:
    """Malformed ids are 'not found', never 500 or 422."""
    assert (await client.get(f"{API}/job-status/{bad_id}", headers=user.headers)).status_code == 404
    assert (await client.delete(f"{API}/job/{bad_id}", headers=user.headers)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{API}/start-analysis/"),
        ("GET", f"{API}/job-status/{'a' * 24}"),
        ("GET", f"{API}/jobs/"),
        ("DELETE", f"{API}/job/{'a' * 24}"),
        ("GET", f"{API}/credentials"),
        ("PUT", f"{API}/credentials"),
        ("DELETE", f"{API}/credentials"),
        ("GET", "/api/v1/auth/me"),
    ],
)
@pytest.mark.parametrize("auth", [None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"])
async def test_auth_failures_are_401(
    client: httpx.AsyncClient, method: str, path: str, auth: str | None
) -> None:
    """No token, a bad token, or another scheme: 401 with WWW-Authenticate."""
    headers = {"Authorization": auth} if auth else {}
    r = await client.request(method, path, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


async def test_history_paging_and_filter(
    app: FastAPI, client: httpx.AsyncClient, user: SignedIn
) -> None:
    """Newest first, limit, status filter, and a stable `before` cursor."""
    await app.state.executor.stop()
    await save_credentials(client, user)
    ids = []
    for _ in range(5):
        job_id = (await client.post(f"{API}/start-analysis/", headers=user.headers)).json()[
            "job_id"
        ]
        assert (await client.delete(f"{API}/job/{job_id}", headers=user.headers)).status_code == 200
        ids.append(job_id)
    pending = (await client.post(f"{API}/start-analysis/", headers=user.headers)).json()["job_id"]
    r = await client.get(f"{API}/jobs/", headers=user.headers, params={"limit": 2})
    assert [j["_id"] for j in r.json()] == [pending, ids[4]]
    cursor = r.headers["x-next-before"]
    r = await client.get(
        f"{API}/jobs/", headers=user.headers, params={"limit": 2, "before": cursor}
    )
    assert [j["_id"] for j in r.json()] == [ids[3], ids[2]]
    r = await client.get(
        f"{API}/jobs/",
        headers=user.headers,
        params={"limit": 10, "before": r.headers["x-next-before"]},
    )
    assert [j["_id"] for j in r.json()] == [ids[1], ids[0]]
    assert "x-next-before" not in r.headers
    r = await client.get(f"{API}/jobs/", headers=user.headers, params={"status": "pending"})
    assert [j["_id"] for j in r.json()] == [pending]
    for bad in ({"limit": 0}, {"limit": 101}, {"status": "weird"}):
        assert (
            await client.get(f"{API}/jobs/", headers=user.headers, params=bad)
        ).status_code == 422


async def test_token_never_leaves_the_server(
    client: httpx.AsyncClient,
    user: SignedIn,
    slow_ad_job: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Facebook token is in no response and no log line; the job keeps only its mask."""
    caplog.set_level(logging.DEBUG)
    slow_ad_job.update(steps=2, delay=0.01)
    await save_credentials(client, user)
    bodies = [(await client.get(f"{API}/credentials", headers=user.headers)).text]
    start = await client.post(f"{API}/start-analysis/", headers=user.headers)
    bodies.append(start.text)
    job = await wait_for_status(client, start.json()["job_id"], user.headers, {"completed"})
    bodies.append(str(job))
    bodies.append((await client.get(f"{API}/jobs/", headers=user.headers)).text)
    assert job["parameters"]["access_token"] == TOKEN[:7] + "..."
    for body in bodies:
        assert TOKEN not in body and TOKEN[7:20] not in body
    assert TOKEN[7:20] not in caplog.text


async def test_failed_job_reports_actionable_error(
    app: FastAPI, client: httpx.AsyncClient, user: SignedIn
) -> None:
    """An unexpected exception fails the job with a message for people, keeping its progress."""

    async def crash(ctx: JobContext) -> JobOutcome:
        await ctx.progress(35, "Getting video URLs...")
        raise KeyError("internal /path/to/secret detail")

    replace_job(app, crash)
    await save_credentials(client, user)
    job_id = (await client.post(f"{API}/start-analysis/", headers=user.headers)).json()["job_id"]
    job = await wait_for_status(client, job_id, user.headers, {"failed"})
    assert job["progress"] == 35
    assert job["error_code"] == "internal_error"
    assert "Please try again" in job["error_message"] and job_id in job["error_message"]
    assert "secret detail" not in job["error_message"] and "Traceback" not in job["error_message"]


async def test_fifty_starts_of_jobs_that_fail_at_once_never_answer_500(
    app: FastAPI, client: httpx.AsyncClient, user: SignedIn
) -> None:
    """Jobs end while other starts hit the one-active index: every answer is 202 or 409."""

    async def refused(ctx: JobContext) -> JobOutcome:
        raise JobError("Invalid Facebook access token. Please update your credentials.")

    replace_job(app, refused)
    await save_credentials(client, user)
    responses = await asyncio.gather(
        *(client.post(f"{API}/start-analysis/", headers=user.headers) for _ in range(50))
    )
    codes = [r.status_code for r in responses]
    assert set(codes) <= {202, 409}, codes
    assert codes.count(202) >= 1
    started = {r.json()["job_id"] for r in responses if r.status_code == 202}
    for r in responses:
        if r.status_code == 409:
            assert "already" in r.json()["detail"] or "retry" in r.json()["detail"]
    for job_id in started:
        job = await wait_for_status(client, job_id, user.headers, {"failed"})
        assert job["error_code"] == "job_error"
