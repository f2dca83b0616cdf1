"""Hostile input at the edge: control characters, unreadable bodies and malformed ids are 4xx."""

from __future__ import annotations

import json
import logging

import httpx
import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.ads.models import FacebookCredentials
from adanalysis.auth.security import ALGORITHM
from adanalysis.config import Settings
from adanalysis.crypto import mask_secret
from adanalysis.db import utcnow
from tests.conftest import SignedIn

API = "/api/v1/ad_analysis"
AUTH = "/api/v1/auth"
CONTROL_SAMPLES = ["a\x00b", "\x00", "x\x1b[31my", "a\x7fb", "a\x85b", "a\ud800b"]


def assert_422_list(response: httpx.Response, *secrets: str) -> list[dict[str, object]]:
    """A 422 in the list shape, echoing none of the input."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    for issue in detail:
        assert set(issue) == {"type", "loc", "msg"}
        assert isinstance(issue["msg"], str) and issue["msg"]
    for secret in secrets:
        assert secret not in response.text
    return list(detail)


def _encoded(value: str) -> str:
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@pytest.mark.parametrize("value", CONTROL_SAMPLES)
async def test_control_characters_in_the_login_form_are_422(
    client: httpx.AsyncClient, value: str
) -> None:
    """The issue's unauthenticated 500: `username=a%00b` on /auth/token."""
    r = await client.post(f"{AUTH}/token", data={"username": _encoded(value), "password": "x"})
    if "\ud800" in value:  # a lone surrogate cannot be sent as UTF-8: it arrives replaced
        assert r.status_code == 401
        return
    detail = assert_422_list(r)
    assert detail[0]["loc"] == ["body", "username"]
    assert "Control characters" in str(detail[0]["msg"])


async def test_raw_nul_in_the_form_body_is_422(client: httpx.AsyncClient) -> None:
    """The exact request of the issue, byte for byte."""
    r = await client.post(
        f"{AUTH}/token",
        content=b"username=a%00b&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_422_list(r)


@pytest.mark.parametrize("name", ["job_id", "account_id", "before", "limit"])
async def test_control_characters_in_query_parameters_are_422(
    client: httpx.AsyncClient, user: SignedIn, name: str
) -> None:
    """`GET ad_analysis/?job_id=%00` (and every other query parameter) is refused before any query."""
    r = await client.get(f"{API}/", headers=user.headers, params={name: "\x00"})
    detail = assert_422_list(r)
    assert detail[0]["loc"] == ["query", name]


async def test_control_character_in_a_query_parameter_name_is_not_echoed(
    client: httpx.AsyncClient, user: SignedIn
) -> None:
    r = await client.get(f"{API}/jobs/?na%00me=1", headers=user.headers)
    assert assert_422_list(r)[0]["loc"] == ["query"]


@pytest.mark.parametrize(
    "path",
    [
        f"{API}/job-status/a%00b",
        f"{API}/job/%00",
        f"{API}/a%00b",
        f"{API}/%1b%5b31m",
    ],
)
async def test_control_characters_in_path_ids_are_422(
    client: httpx.AsyncClient, user: SignedIn, path: str
) -> None:
    method = "DELETE" if "/job/" in path else "GET"
    r = await client.request(method, path, headers=user.headers)
    assert assert_422_list(r)[0]["loc"][0] == "path"


@pytest.mark.parametrize("token", ["\u0000\u0000\u0000abcdef", "tok\u001ben", "tok\u0085en"])
async def test_control_characters_in_the_credentials_token_are_422_and_nothing_is_stored(
    client: httpx.AsyncClient,
    user: SignedIn,
    token: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The issue's `PUT credentials` case: refused on both databases, not stored on SQLite."""
    r = await client.put(
        f"{API}/credentials",
        headers=user.headers,
        json={"access_token": token, "account_id": "act_1"},
    )
    assert assert_422_list(r)[0]["loc"] == ["body", "access_token"]
    async with session_factory() as session:
        assert (await session.execute(select(FacebookCredentials))).first() is None


async def test_non_ascii_credentials_token_is_422(
    client: httpx.AsyncClient, user: SignedIn
) -> None:
    """Invisible format characters are no control characters, but no token has them either."""
    r = await client.put(
        f"{API}/credentials",
        headers=user.headers,
        json={"access_token": "tok\u200ben", "account_id": "act_1"},
    )
    assert "printable ASCII" in str(assert_422_list(r)[0]["msg"])


def test_token_mask_is_always_printable() -> None:
    """Tokens saved by other paths (the CLI) still get a printable mask."""
    mask = mask_secret("\x00\x00\x00abcdef\x1b")
    assert mask.isprintable() and mask.endswith("...")
    assert mask_secret("EAAB1234567890abcdefghij") == "EAAB123..."


async def test_control_characters_anywhere_in_a_json_body_are_422(
    client: httpx.AsyncClient, user: SignedIn
) -> None:
    """Nested values and keys alike; the offending key is never echoed."""
    r = await client.post(
        f"{API}/start-analysis/", headers=user.headers, json={"account_ids": ["1", "2\x00"]}
    )
    assert assert_422_list(r)[0]["loc"] == ["body", "account_ids", 1]
    r = await client.post(f"{API}/start-analysis/", headers=user.headers, json={"k\x00ey": "1"})
    assert assert_422_list(r)[0]["loc"] == ["body"]
    r = await client.post(
        f"{AUTH}/register", json={"email": "a\x00@example.com", "password": "s3cure-pass"}
    )
    assert assert_422_list(r)[0]["loc"] == ["body", "email"]
    # A lone surrogate can only arrive as a JSON escape; drivers cannot encode it.
    r = await client.post(
        f"{AUTH}/register",
        content=b'{"email": "a@example.com", "password": "s3cure-pass\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert assert_422_list(r)[0]["loc"] == ["body", "password"]


async def test_tabs_and_line_breaks_in_bodies_reach_the_model(
    client: httpx.AsyncClient,
) -> None:
    """They are not refused at the edge (text may have them); the model decides."""
    r = await client.post(
        f"{AUTH}/register", json={"email": "tab@example.com", "password": "pass\tword-1"}
    )
    assert r.status_code == 201, r.text


async def test_account_filter_that_is_not_an_account_is_422_with_a_list(
    client: httpx.AsyncClient, user: SignedIn
) -> None:
    """The issue's schema break: `?account_id=abc` answered a string detail."""
    r = await client.get(f"{API}/", headers=user.headers, params={"account_id": "abc"})
    detail = assert_422_list(r)
    assert detail[0]["loc"] == ["query", "account_id"]
    assert "act_" in str(detail[0]["msg"])
    ok = await client.get(f"{API}/", headers=user.headers, params={"account_id": "123"})
    assert ok.status_code == 200 and ok.json() == []


@pytest.mark.parametrize("job_id", ["abc", "0" * 25, "Z" * 24, "' OR 1=1 --"])
async def test_job_filter_is_shape_checked(
    client: httpx.AsyncClient, user: SignedIn, job_id: str
) -> None:
    r = await client.get(f"{API}/", headers=user.headers, params={"job_id": job_id})
    assert assert_422_list(r)[0]["loc"] == ["query", "job_id"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"account_id": "\xff\xfe"}',  # not UTF-8
        b"[" * 5000 + b"]" * 5000,  # nests deeper than the parser goes
        b'{"account_id": ' + b"9" * 5000 + b"}",  # a number too long to convert
    ],
    ids=["not-utf8", "5000-deep", "huge-number"],
)
async def test_unreadable_json_bodies_are_422(
    client: httpx.AsyncClient, user: SignedIn, body: bytes
) -> None:
    """FastAPI's undocumented 400 becomes the documented 422 of a malformed body."""
    r = await client.post(
        f"{API}/start-analysis/",
        headers={**user.headers, "Content-Type": "application/json"},
        content=body,
    )
    detail = assert_422_list(r)
    assert detail[0]["type"] == "body_unreadable" and detail[0]["loc"] == ["body"]
    assert (await client.get(f"{API}/jobs/", headers=user.headers)).json() == []


async def test_deep_but_parseable_json_is_a_plain_422(
    client: httpx.AsyncClient, user: SignedIn
) -> None:
    body = json.dumps({"account_ids": [json.loads("[" * 500 + "]" * 500)]})
    r = await client.post(
        f"{API}/start-analysis/",
        headers={**user.headers, "Content-Type": "application/json"},
        content=body,
    )
    assert_422_list(r)


async def test_broken_multipart_login_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        f"{AUTH}/token",
        content=b"--x\r\nnot a part",
        headers={"Content-Type": "multipart/form-data"},  # no boundary
    )
    assert_422_list(r)


async def test_jwt_whose_subject_holds_a_nul_is_401(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The issue's fourth 500: a well-signed token whose `sub` is not an id."""
    now = utcnow()
    for sub in ["a\x00b", "x" * 24, "", "0" * 23 + "\x00"]:
        token = jwt.encode(
            {"sub": sub, "iat": now, "exp": now.timestamp() + 600},
            settings.resolved_secret_key(),
            algorithm=ALGORITHM,
        )
        r = await client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (sub, r.text)


async def test_no_sql_parameters_in_database_error_text(
    session_factory: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    """Errors raised by the engine (and so their logged tracebacks) never carry bound values."""
    from sqlalchemy.exc import IntegrityError

    from adanalysis.auth.models import User

    async with session_factory() as session:
        session.add(User(email="secret-login@example.com", password_hash="h"))
        await session.commit()
    with pytest.raises(IntegrityError) as info:
        async with session_factory() as session:
            session.add(User(email="secret-login@example.com", password_hash="h"))
            await session.commit()
    assert "secret-login" not in str(info.value)
    assert "parameters hidden" in str(info.value)


async def test_database_data_errors_become_422_without_their_values_in_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The safety net behind the edge check: SQLSTATE class 22 (PostgreSQL's NUL) is a 422."""
    from fastapi import FastAPI
    from sqlalchemy.exc import DBAPIError

    from adanalysis.errors import install_error_handlers

    class _PgDataError(Exception):
        sqlstate = "22021"

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise DBAPIError("SELECT $1", ("secret-value",), _PgDataError("invalid byte sequence"))

    caplog.set_level(logging.DEBUG)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/boom")
    assert_422_list(r, "secret-value")
    assert "secret-value" not in caplog.text


async def test_openapi_documents_the_input_rules_and_common_statuses(
    client: httpx.AsyncClient,
) -> None:
    """Request strings carry the control-character pattern; every operation lists 413/422/503."""
    from adanalysis.validation import BODY_STRING_PATTERN, URL_STRING_PATTERN

    spec = (await client.get("/openapi.json")).json()
    components = spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert {"413", "422", "503"} <= set(operation["responses"]), (method, path)
            for param in operation.get("parameters", []):
                if param["schema"].get("type") == "string" and "enum" not in param["schema"]:
                    assert "pattern" in param["schema"], (method, path, param["name"])
    assert components["RegisterRequest"]["properties"]["email"]["pattern"] == BODY_STRING_PATTERN
    cursor = spec["paths"]["/api/v1/ad_analysis/job-status/{job_id}"]["get"]["parameters"][0]
    assert cursor["schema"]["pattern"] == URL_STRING_PATTERN
    token = components["CredentialsIn"]["properties"]["access_token"]["pattern"]
    assert token == "^[!-~]+$"
    # Response shapes are not constrained: a transcript may hold a tab.
    assert "pattern" not in json.dumps(components["AdAnalysisOut"])
    error = spec["paths"]["/api/v1/auth/me"]["get"]["responses"]["422"]
    assert error["content"]["application/json"]["schema"]["$ref"].endswith("/ValidationErrorOut")


async def test_method_not_allowed_names_every_method_of_the_path(
    client: httpx.AsyncClient, user: SignedIn
) -> None:
    r = await client.request("PATCH", f"{API}/credentials", headers=user.headers)
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "PUT", "DELETE"}


async def test_empty_bodies_are_no_server_error(client: httpx.AsyncClient, user: SignedIn) -> None:
    """An optional JSON body left out (Content-Type kept) and an empty form reach the endpoint."""
    r = await client.post(
        f"{API}/start-analysis/",
        headers={**user.headers, "Content-Type": "application/json"},
        content=b"",
    )
    assert r.status_code == 400 and "No Facebook credentials" in r.json()["detail"]
    r = await client.post(
        f"{AUTH}/token",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        content=b"",
    )
    assert_422_list(r)
