"""Helpers for end-to-end pipeline tests: an app with its executor, a user, a started job."""

from __future__ import annotations

from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from tests.conftest import SignedIn, sign_up

from adanalysis.config import Settings
from adanalysis.main import create_app

API = "/api/v1/ad_analysis"


async def start(client: httpx.AsyncClient, user: SignedIn, token: str = "sandbox") -> str:
    """Save sandbox credentials and start an analysis; the job id."""
    r = await client.put(
        f"{API}/credentials",
        headers=user.headers,
        json={"access_token": token, "account_id": "act_1234567890"},
    )
    assert r.status_code == 200
    r = await client.post(f"{API}/start-analysis/", headers=user.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


class Running:
    """An app with its executor, a client and a signed-in user."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.manager = LifespanManager(self.app)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://t"
        )

    async def __aenter__(self) -> Running:
        await self.manager.__aenter__()
        self.user = await sign_up(self.client)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await self.manager.__aexit__(*exc)

    async def analyses(self) -> list[dict[str, Any]]:
        """The user's analyses through the API."""
        r = await self.client.get(f"{API}/", headers=self.user.headers, params={"limit": 100})
        assert r.status_code == 200, r.text
        return list(r.json())
