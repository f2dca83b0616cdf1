"""Another user's objects are 'not found' through every endpoint that takes an id, live too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from adanalysis.ads.models import AdAnalysis
from adanalysis.config import Settings
from adanalysis.db import create_engine, create_session_factory
from adanalysis.jobs.models import BackgroundJob
from adanalysis.main import create_app
from tests.conftest import sign_up_sync, start_pending_job
from tests.openapi_ops import operations

API = "/api/v1/ad_analysis"
# What an id-valued query parameter answers for another user's id: 404, or an empty page.
ID_QUERY_PARAMETERS = {"before": 404, "job_id": "empty"}
# Query parameters that name no object.
PLAIN_QUERY_PARAMETERS = {
    "limit",
    "status",
    "account_id",
    "hook_type",
    "min_score",
    "max_score",
    "has_offer",
    "q",
    "sort",
    "order",
    "format",
    "range",
}
# Admin endpoints answer 403 to every other user, whatever the id.
ADMIN_PREFIX = "/api/v1/admin/"


async def _add_analysis(settings: Settings, *, user_id: str, job_id: str) -> str:
    engine = create_engine(settings.sqlalchemy_url)
    try:
        async with create_session_factory(engine)() as session:
            row = AdAnalysis(
                user_id=user_id,
                account_id="act_1",
                video_id="v-secret-1",
                ad_ids=["ad-1"],
                ad_names=["Owner's ad"],
                title="Owner's video",
                thumbnail_url=None,
                duration_seconds=12.0,
                transcript="the owner's private transcript",
                segments=[],
                language="en",
                insights={},
                transcriber="t",
                transcription_model="m",
                analyzer="a",
                analysis_model="m",
                job_id=job_id,
            )
            session.add(row)
            await session.commit()
            return row.id
    finally:
        await engine.dispose()


async def _job(settings: Settings, job_id: str) -> BackgroundJob:
    engine = create_engine(settings.sqlalchemy_url)
    try:
        async with create_session_factory(engine)() as session:
            job = await session.get(BackgroundJob, job_id)
            assert job is not None
            return job
    finally:
        await engine.dispose()


def _empty(body: Any) -> bool:
    """An empty page: [] or an object whose lists are all empty (the comparison view)."""
    if isinstance(body, list):
        return body == []
    return isinstance(body, dict) and all(v == [] for v in body.values() if isinstance(v, list))


def test_every_id_of_another_user_is_404(settings: Settings) -> None:
    """The matrix is built from the OpenAPI document: a new endpoint with an id joins it."""
    with TestClient(create_app(settings, start_executor=False)) as client:
        owner_user = sign_up_sync(client, "owner@example.com")
        other_user = sign_up_sync(client, "other@example.com")
        owner, other = owner_user.headers, other_user.headers
        owner_token = owner["Authorization"].removeprefix("Bearer ")
        other_token = other["Authorization"].removeprefix("Bearer ")
        job_id = start_pending_job(client, owner_user)
        analysis_id = asyncio.run(
            _add_analysis(settings, user_id=owner_user.user_id, job_id=job_id)
        )
        objects = {"job_id": job_id, "analysis_id": analysis_id}
        secrets = [job_id, analysis_id, "owner's private", "v-secret-1", "owner@example.com"]
        checked: list[str] = []

        for op in operations(client.get("/openapi.json").json()):
            unknown = set(op.parameters("path")) - set(objects)
            assert not unknown, f"{op.label}: add {unknown} to the IDOR matrix"
            if op.path.startswith(ADMIN_PREFIX):
                r = client.request(**op.request(**objects), headers=other)
                assert r.status_code == 403, f"{op.label}: {r.status_code} {r.text}"
                assert not any(s in r.text for s in secrets), f"{op.label} leaked: {r.text}"
                checked.append(op.label)
                continue
            if op.parameters("path"):
                r = client.request(**op.request(**objects), headers=other)
                assert r.status_code == 404, f"{op.label}: {r.status_code} {r.text}"
                assert not any(s in r.text for s in secrets), f"{op.label} leaked: {r.text}"
                checked.append(op.label)
            for name in op.parameters("query"):
                if name in PLAIN_QUERY_PARAMETERS:
                    continue
                assert name in ID_QUERY_PARAMETERS, f"{op.label}: classify query '{name}'"
                value = analysis_id if op.path == f"{API}/" and name == "before" else job_id
                r = client.request(op.method.upper(), op.path, params={name: value}, headers=other)
                if ID_QUERY_PARAMETERS[name] == 404:
                    assert r.status_code == 404, f"{op.label}?{name}: {r.status_code}"
                else:
                    assert r.status_code == 200 and _empty(r.json()), f"{op.label}?{name}"
                assert not any(s in r.text for s in secrets[2:]), f"{op.label}?{name} leaked"
                checked.append(f"{op.label}?{name}")
        assert len(checked) >= 6, checked

        # Nothing the other user did had any effect, and the ids are real: the owner sees them.
        job = asyncio.run(_job(settings, job_id))
        assert job.status == "pending" and job.cancel_requested_at is None
        assert client.get(f"{API}/job-status/{job_id}", headers=owner).status_code == 200
        assert client.get(f"{API}/{analysis_id}", headers=owner).status_code == 200
        assert client.get(f"{API}/", params={"job_id": job_id}, headers=owner).json() != []

        # The live updates of the owner's job: refused to the other user like a bad token.
        with client.websocket_connect(f"{API}/ws/jobs/{job_id}?token={other_token}") as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert closed.value.code == 1008
        assert closed.value.reason == "Job not found or not signed in"
        with client.websocket_connect(f"{API}/ws/jobs/{job_id}?token={owner_token}") as ws:
            first: dict[str, Any] = ws.receive_json()
        assert first["_id"] == job_id and first["status"] == "pending"
        assert client.delete(f"{API}/job/{job_id}", headers=owner).status_code == 200
