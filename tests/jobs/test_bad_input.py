"""Bad input gets a clear 4xx and loses nothing; a dead database gets 503."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from adanalysis.main import create_app
from tests.conftest import SignedIn, make_settings

API = "/api/v1/ad_analysis"


async def _with_credentials(client: httpx.AsyncClient, user: SignedIn) -> None:
    r = await client.put(
        f"{API}/credentials",
        headers=user.headers,
        json={"access_token": "tok-123456", "account_id": "1"},
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"account_id": 5}',
        b'{"account_id": "act_x"}',
        b'{"acount_id": "1"}',
        b"[1, 2]",
        b'{"account_ids": []}',
        b'{"account_id": "1", "account_ids": ["2"]}',
    ],
)
async def test_bad_start_bodies_are_422_and_start_nothing(
    client: httpx.AsyncClient, user: SignedIn, content: bytes
) -> None:
    """Malformed JSON, wrong types, typos in field names: 422, and no job is created."""
    await _with_credentials(client, user)
    r = await client.post(
        f"{API}/start-analysis/",
        headers={**user.headers, "Content-Type": "application/json"},
        content=content,
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    assert (await client.get(f"{API}/jobs/", headers=user.headers)).json() == []


async def test_account_override_is_normalised(client: httpx.AsyncClient, user: SignedIn) -> None:
    """An explicit account id overrides the stored one, in the act_ form."""
    await _with_credentials(client, user)
    r = await client.post(
        f"{API}/start-analysis/", headers=user.headers, json={"account_id": "555"}
    )
    assert r.status_code == 202
    job = (await client.get(f"{API}/job-status/{r.json()['job_id']}", headers=user.headers)).json()
    assert job["parameters"]["account_id"] == "act_555"


async def test_oversized_body_is_413(client: httpx.AsyncClient, user: SignedIn) -> None:
    """Bodies over the limit are refused before they are read whole."""
    big = b'{"access_token": "' + b"a" * 2_000_000 + b'", "account_id": "1"}'
    r = await client.put(
        f"{API}/credentials",
        headers={**user.headers, "Content-Type": "application/json"},
        content=big,
    )
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    async def chunks():  # no Content-Length: the streamed size is what counts
        for _ in range(30):
            yield b"a" * 100_000

    r = await client.put(
        f"{API}/credentials",
        headers={**user.headers, "Content-Type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413


async def test_database_down_is_503(tmp_path) -> None:
    """A database that cannot be reached answers 503 with a clear message, not 500."""
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", tmp_path)
    app = create_app(settings, start_executor=False)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.post(
                "/api/v1/auth/register", json={"email": "a@example.com", "password": "s3cure-pass"}
            )
            assert r.status_code == 503
            assert "database is unavailable" in r.json()["detail"]
            assert (await client.get("/health")).status_code == 503


async def test_openapi_documents_every_endpoint(client: httpx.AsyncClient) -> None:
    """Each seed endpoint is in the schema with its success and error codes."""
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert set(paths[f"{API}/start-analysis/"]["post"]["responses"]) >= {
        "202",
        "400",
        "401",
        "409",
        "422",
    }
    assert set(paths[f"{API}/job-status/{{job_id}}"]["get"]["responses"]) >= {"200", "401", "404"}
    assert set(paths[f"{API}/jobs/"]["get"]["responses"]) >= {"200", "401"}
    assert set(paths[f"{API}/job/{{job_id}}"]["delete"]["responses"]) >= {
        "200",
        "401",
        "404",
        "409",
    }
    job_doc = spec["components"]["schemas"]["JobDocument"]["properties"]
    assert "_id" in job_doc and "id" not in job_doc
