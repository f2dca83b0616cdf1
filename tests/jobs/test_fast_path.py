"""Job-status and history answered before routing: the same bytes as the routes, owner only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.ids import new_object_id
from adanalysis.jobs.errors import JobNotFoundError
from adanalysis.jobs.fast_path import FastJobReads
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.reads import StatusRead
from adanalysis.jobs.schemas import JobDocument
from tests.conftest import SignedIn, sign_up

API = "/api/v1/ad_analysis"


async def test_the_fast_answer_is_the_routes_answer(
    client: httpx.AsyncClient, user: SignedIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with session_factory() as session:
        job = BackgroundJob(
            user_id=user.user_id,
            job_type="ad_analysis",
            status=JobStatus.COMPLETED,
            results=[{"status": "analyzed", "title": "Müsli — 100 % oats"}],
            result_count=1,
        )
        session.add(job)
        await session.commit()
    fast = await client.get(f"{API}/job-status/{job.id}", headers=user.headers)
    # A query string sends the request through the router and the route.
    routed = await client.get(f"{API}/job-status/{job.id}?via=route", headers=user.headers)
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content
    for header in ("content-type", "content-length"):
        assert fast.headers[header] == routed.headers[header]
    # Whoever answers, another user still gets the 404 and a bad token the 401.
    other = await sign_up(client)
    theirs = await client.get(f"{API}/job-status/{job.id}", headers=other.headers)
    assert theirs.status_code == 404
    forged = {"Authorization": "Bearer " + user.headers["Authorization"].split()[1][:-4] + "AAAA"}
    assert (await client.get(f"{API}/job-status/{job.id}", headers=forged)).status_code == 401


class _Downstream:
    """The rest of the app: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b"routed"})


class _Reader:
    def __init__(self, owner: str, job_id: str, *, fail: bool = False) -> None:
        self.owner, self.job_id, self.fail = owner, job_id, fail
        self.pages: list[tuple[int, str | None]] = []

    async def history(self, *, user_id: str, limit: int, before: str | None) -> list[Any] | None:
        if self.fail:
            raise OSError("connection reset")
        if before is not None and before != self.job_id:
            raise JobNotFoundError(before)
        self.pages.append((limit, before))
        return [] if user_id == self.owner else None

    async def status(self, *, job_id: str, user_id: str) -> StatusRead:
        if self.fail:
            raise OSError("connection reset")
        if user_id != self.owner:
            return StatusRead(user_ok=True, job=None)
        now = datetime.now(UTC)
        document = {name: None for name in JobDocument.model_fields}
        document.update(
            id=job_id,
            user_id=user_id,
            job_type="t",
            status="running",
            progress=5,
            message="m",
            parameters={},
            result_count=0,
            results=[],
            created_at=now,
            updated_at=now,
            attempts=1,
            max_attempts=3,
            priority=0,
        )
        return StatusRead(user_ok=True, job=JobDocument.model_validate(document))


class _Decoder:
    def user_id(self, token: str) -> str | None:
        return {"tok-alice": "alice", "tok-bob": "bob"}.get(token)


async def _get(
    reader: _Reader, path: str, *, auth: str | None = None, query: str = ""
) -> tuple[int, bytes, list[str]]:
    downstream = _Downstream()
    app = FastJobReads(downstream, prefixes=(API,))
    state = SimpleNamespace(token_decoder=_Decoder(), job_reader=reader)
    headers = [(b"authorization", auth.encode())] if auth else []
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": headers,
        "app": SimpleNamespace(state=state),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"], downstream.paths


async def test_only_the_owners_plain_read_skips_the_route() -> None:
    job_id = new_object_id()
    path = f"{API}/job-status/{job_id}"
    reader = _Reader("alice", job_id)
    status, body, routed = await _get(reader, path, auth="Bearer tok-alice")
    assert status == 200 and routed == []
    assert json.loads(body)["_id"] == job_id
    # Everything else is the route's to answer (its 401, 404, 422...).
    assert (await _get(reader, path, auth="bearer tok-alice"))[2] == []  # scheme, any case
    for kwargs in (
        {"auth": "Bearer tok-bob"},  # not the owner
        {"auth": "Bearer tok-forged"},  # not a valid token
        {"auth": "Basic tok-alice"},
        {},
        {"auth": "Bearer tok-alice", "query": "x=1"},
    ):
        status, body, routed = await _get(reader, path, **kwargs)
        assert (status, body, routed) == (418, b"routed", [path]), kwargs
    for other in (f"{API}/job-status/not-an-id", f"{API}/job-status/{job_id}/x", f"{API}/job/"):
        assert (await _get(reader, other, auth="Bearer tok-alice"))[2] == [other]
    failing = _Reader("alice", job_id, fail=True)
    assert (await _get(failing, path, auth="Bearer tok-alice"))[2] == [path]


async def test_only_a_plain_history_page_skips_the_route() -> None:
    job_id = new_object_id()
    reader = _Reader("alice", job_id)
    history = f"{API}/jobs/"
    for query, page in (
        ("", (21, None)),  # the route's default: 20, fetched with one more
        ("limit=5", (6, None)),
        (f"limit=100&before={job_id}", (101, job_id)),
    ):
        status, body, routed = await _get(reader, history, auth="Bearer tok-alice", query=query)
        assert (status, body, routed) == (200, b"[]", []), query
        assert reader.pages[-1] == page
    for query in (
        "limit=0",
        "limit=101",
        "limit=ten",
        "limit=%2B5",
        "limit=5&limit=6",
        "status=running",
        "before=not-an-id",
        f"before={new_object_id()}",  # unknown cursor: the route's 404
        "x=1",
    ):
        status, body, routed = await _get(reader, history, auth="Bearer tok-alice", query=query)
        assert routed == [history], query
    assert (await _get(reader, history, auth="Bearer tok-bob"))[2] == [history]
    assert (await _get(reader, history))[2] == [history]
    failing = _Reader("alice", job_id, fail=True)
    assert (await _get(failing, history, auth="Bearer tok-alice"))[2] == [history]


async def test_a_fast_history_page_is_the_routes_page(
    client: httpx.AsyncClient, user: SignedIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with session_factory() as session:
        for i in range(5):
            session.add(
                BackgroundJob(
                    user_id=user.user_id,
                    job_type="ad_analysis",
                    status=JobStatus.COMPLETED,
                    message=f"job {i}",
                    results=[{"status": "analyzed"}],
                )
            )
        await session.commit()
    before = None
    pages = 0
    while True:
        params = {"limit": "2"} if before is None else {"limit": "2", "before": before}
        fast = await client.get(f"{API}/jobs/", headers=user.headers, params=params)
        # An extra parameter sends the request through the router and the route.
        routed = await client.get(
            f"{API}/jobs/", headers=user.headers, params={**params, "via": "route"}
        )
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content
        for header in ("content-type", "content-length", "x-next-before"):
            assert fast.headers.get(header) == routed.headers.get(header)
        pages += 1
        before = fast.headers.get("x-next-before")
        if before is None:
            break
    assert pages == 3
