"""Per-user Facebook credentials: stored encrypted, shown masked."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import SignedIn, sign_up

from adanalysis.ads.models import FacebookCredentials

CREDS = "/api/v1/ad_analysis/credentials"
TOKEN = "EAAGm0PX4ZCpsBAxyzSECRETtoken1234567890"


async def test_put_get_delete(
    client: httpx.AsyncClient, user: SignedIn, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Saved with the account normalised; read back masked; encrypted at rest; deleted."""
    r = await client.put(
        CREDS, headers=user.headers, json={"access_token": TOKEN, "account_id": "987654321"}
    )
    assert r.status_code == 200
    assert r.json()["account_id"] == "act_987654321"
    assert r.json()["access_token"] == "EAAGm0P..."
    got = (await client.get(CREDS, headers=user.headers)).json()
    assert got["access_token"] == "EAAGm0P..." and TOKEN not in str(got)
    async with session_factory() as session:
        row = await session.get(FacebookCredentials, user.user_id)
        assert (
            row is not None
            and TOKEN not in row.token_encrypted
            and "SECRET" not in row.token_encrypted
        )
    other = await sign_up(client)
    assert (await client.get(CREDS, headers=other.headers)).status_code == 404
    assert (await client.delete(CREDS, headers=user.headers)).status_code == 204
    assert (await client.get(CREDS, headers=user.headers)).status_code == 404
    assert (await client.delete(CREDS, headers=user.headers)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": TOKEN, "account_id": "act_12ab"},
        {"access_token": TOKEN, "account_id": "12 34"},
        {"access_token": TOKEN, "account_id": ""},
        {"access_token": "", "account_id": "123"},
        {"access_token": "two words", "account_id": "123"},
        {"access_token": TOKEN},
        {"access_token": TOKEN, "account_id": "123", "extra": 1},
        {"access_token": ["x"], "account_id": "123"},
    ],
)
async def test_bad_credentials_are_422(
    client: httpx.AsyncClient, user: SignedIn, body: dict[str, object]
) -> None:
    """Bad account ids, empty tokens, unknown fields: 422 and nothing saved."""
    r = await client.put(CREDS, headers=user.headers, json=body)
    assert r.status_code == 422
    assert TOKEN not in r.text, "validation errors must not echo the token"
    assert (await client.get(CREDS, headers=user.headers)).status_code == 404
