"""Deleting an account removes every row of that user, in every table; others keep theirs."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from adanalysis.ads.models import AdAnalysis, AdPerformance
from adanalysis.db import Base, utcnow
from adanalysis.jobs.models import BackgroundJob, JobStageTiming
from adanalysis.notifications.models import NotificationSettings, WebhookDelivery
from tests.conftest import SignedIn, sign_up

TOKEN = "EAAB-known-token-for-deletion-123456"


async def _give_rows(app: Any, client: httpx.AsyncClient, user: SignedIn) -> None:
    r = await client.put(
        "/api/v1/ad_analysis/credentials",
        headers=user.headers,
        json={"access_token": TOKEN, "account_id": "act_1"},
    )
    assert r.status_code == 200, r.text
    now = utcnow()
    async with app.state.session_factory() as session:
        job = BackgroundJob(
            user_id=user.user_id,
            job_type="ad_analysis",
            status="completed",
            message="done",
            parameters={},
            completed_at=now,
        )
        session.add(job)
        await session.flush()
        session.add_all(
            [
                JobStageTiming(job_id=job.id, stage="Step", started_at=now, ended_at=now),
                AdAnalysis(
                    user_id=user.user_id,
                    account_id="act_1",
                    video_id=f"v-{user.user_id}",
                    transcript="private words",
                    insights={"score": 7},
                    transcriber="t",
                    transcription_model="m",
                    analyzer="a",
                    analysis_model="m",
                    job_id=job.id,
                ),
                AdPerformance(
                    user_id=user.user_id, account_id="act_1", ad_id="ad-1", period="last_30d"
                ),
                NotificationSettings(user_id=user.user_id, webhook_url="http://127.0.0.1:1/h"),
                WebhookDelivery(
                    user_id=user.user_id,
                    job_id=job.id,
                    event="completed",
                    url="http://127.0.0.1:1/h",
                    attempt=1,
                    ok=False,
                ),
            ]
        )
        await session.commit()


async def _rows_of(app: Any, user_id: str) -> dict[str, int]:
    """Rows that name user_id, or one of user_id's jobs, in every table of the schema."""
    counts: dict[str, int] = {}
    async with app.state.session_factory() as session:
        job_ids = select(BackgroundJob.id).where(BackgroundJob.user_id == user_id)
        for table in Base.metadata.sorted_tables:
            if "user_id" in table.c:
                where = table.c.user_id == user_id
            elif table.name == "users":
                where = table.c.id == user_id
            elif "job_id" in table.c:
                where = table.c.job_id.in_(job_ids)
            else:
                continue
            counts[table.name] = (
                await session.execute(select(func.count()).select_from(table).where(where))
            ).scalar_one()
    return counts


async def _holds(app: Any, text: str) -> bool:
    """Whether any text-like column of any table contains text."""
    async with app.state.session_factory() as session:
        for table in Base.metadata.sorted_tables:
            for column in table.c:
                if column.type.python_type is str:
                    found = await session.execute(
                        select(func.count()).select_from(table).where(column.contains(text))
                    )
                    if found.scalar_one():
                        return True
    return False


async def test_account_deletion_leaves_no_row_of_the_user(
    app: Any, client: httpx.AsyncClient
) -> None:
    gone, kept = await sign_up(client), await sign_up(client)
    for user in (gone, kept):
        await _give_rows(app, client, user)
    before = await _rows_of(app, gone.user_id)
    assert all(n >= 1 for n in before.values()), before
    assert {"notification_settings", "webhook_deliveries", "job_stage_timings"} <= set(before)

    r = await client.post(
        "/api/v1/auth/me/delete", headers=gone.headers, json={"password": "wrong-password"}
    )
    assert r.status_code == 403
    assert await _rows_of(app, gone.user_id) == before

    r = await client.post(
        "/api/v1/auth/me/delete", headers=gone.headers, json={"password": gone.password}
    )
    assert r.status_code == 204, r.text
    assert set((await _rows_of(app, gone.user_id)).values()) == {0}
    assert not await _holds(app, gone.email)
    assert (await client.get("/api/v1/auth/me", headers=gone.headers)).status_code == 401
    # The other user keeps everything.
    assert await _rows_of(app, kept.user_id) == before


async def test_user_deletes_analyses_and_connection(app: Any, client: httpx.AsyncClient) -> None:
    user = await sign_up(client)
    await _give_rows(app, client, user)
    listed = (await client.get("/api/v1/ad_analysis/", headers=user.headers)).json()
    assert len(listed) == 1
    one = listed[0]["_id"] if "_id" in listed[0] else listed[0]["id"]
    other = await sign_up(client)
    assert (
        await client.delete(f"/api/v1/ad_analysis/{one}", headers=other.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/ad_analysis/{one}", headers=user.headers)
    ).status_code == 204
    assert (
        await client.delete(f"/api/v1/ad_analysis/{one}", headers=user.headers)
    ).status_code == 404
    r = await client.delete("/api/v1/ad_analysis/", headers=user.headers)
    assert r.status_code == 200 and r.json() == {"deleted": 0}
    assert (await _rows_of(app, user.user_id))["ad_performance"] == 0
    r = await client.delete("/api/v1/ad_analysis/credentials", headers=user.headers)
    assert r.status_code == 204
    assert not await _holds(app, TOKEN[:12])
