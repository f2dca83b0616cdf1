"""Forged, tampered, expired and orphaned bearer tokens are 401 on every endpoint, and 1008 live."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update
from starlette.websockets import WebSocketDisconnect

from adanalysis.auth.models import User
from adanalysis.config import Settings
from adanalysis.db import create_engine, create_session_factory
from adanalysis.ids import new_object_id
from adanalysis.main import create_app
from tests.conftest import sign_up_sync, start_pending_job
from tests.openapi_ops import operations

API = "/api/v1/ad_analysis"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_tokens(secret: str, user_id: str) -> dict[str, str]:
    """Every way a bearer token can be wrong, named."""
    now = int(time.time())
    good = {"sub": user_id, "iat": now, "exp": now + 600}

    def signed(claims: dict[str, object], key: str = secret, algorithm: str = "HS256") -> str:
        return jwt.encode(claims, key, algorithm=algorithm)

    valid = signed(good)
    header, payload, signature = valid.split(".")
    other = signed({**good, "sub": new_object_id()})
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg none, signature kept": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}",
        "wrong key": signed(good, "not-the-secret-key-at-all-0123456789"),
        "HS512 with the right key": signed(good, secret, "HS512"),
        "expired": signed({**good, "iat": now - 7200, "exp": now - 3600}),
        "issued in the future": signed({**good, "iat": now + 3600, "exp": now + 7200}),
        "no exp": signed({"sub": user_id, "iat": now}),
        "no sub": signed({"iat": now, "exp": now + 600}),
        "no iat": signed({"sub": user_id, "exp": now + 600}),
        "sub is a number": signed({**good, "sub": 12345}),
        "sub is no id": signed({**good, "sub": "admin"}),
        "sub holds a NUL": signed({**good, "sub": user_id[:23] + "\x00"}),
        "unknown user": signed({**good, "sub": new_object_id()}),
        "payload swapped": f"{header}.{other.split('.')[1]}.{signature}",
        "signature cut": valid[:-4],
        "not a JWT": "definitely-not-a-jwt",
        "empty segments": "..",
        "control characters": "a\x01b.c\x7fd.e",
    }


async def _change_user(settings: Settings, user_id: str, *, remove: bool) -> None:
    engine = create_engine(settings.sqlalchemy_url)
    try:
        async with create_session_factory(engine)() as session:
            if remove:
                await session.execute(delete(User).where(User.id == user_id))
            else:
                await session.execute(
                    update(User).where(User.id == user_id).values(is_active=False)
                )
            await session.commit()
    finally:
        await engine.dispose()


def _assert_refused_everywhere(client: TestClient, token: str, job_id: str, name: str) -> int:
    """401 on each authenticated operation, 1008 on the job's WebSocket; the requests sent."""
    sent = 0
    for op in operations(client.get("/openapi.json").json()):
        if not op.authenticated:
            continue
        r = client.request(
            **op.request(job_id=job_id, analysis_id="0" * 24),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 401, f"{name}: {op.label} answered {r.status_code} {r.text}"
        assert r.headers.get("www-authenticate") == "Bearer", f"{name}: {op.label}"
        sent += 1
    with client.websocket_connect(f"{API}/ws/jobs/{job_id}", params={"token": token}) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008, name
    return sent + 1


# The test secret is short for HS512; forging with it is the point.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_forged_tokens_are_refused_everywhere(settings: Settings) -> None:
    """Each forgery on each endpoint that needs a signed-in user."""
    with TestClient(create_app(settings, start_executor=False)) as client:
        victim = sign_up_sync(client, "victim@example.com")
        job_id = start_pending_job(client, victim)
        forged = forged_tokens(settings.resolved_secret_key(), victim.user_id)
        sent = sum(_assert_refused_everywhere(client, t, job_id, n) for n, t in forged.items())
        assert sent >= len(forged) * 10
        # The genuine token still works: the refusals were about the tokens, not the endpoints.
        assert client.get("/api/v1/auth/me", headers=victim.headers).status_code == 200
        token = victim.headers["Authorization"].removeprefix("Bearer ")
        with client.websocket_connect(f"{API}/ws/jobs/{job_id}", params={"token": token}) as ws:
            assert ws.receive_json()["_id"] == job_id


@pytest.mark.parametrize("remove", [True, False], ids=["deleted user", "deactivated user"])
def test_tokens_of_removed_users_are_refused(settings: Settings, remove: bool) -> None:
    """A well-signed, unexpired token outlives its user: it must not outlive their access."""
    with TestClient(create_app(settings, start_executor=False)) as client:
        gone = sign_up_sync(client, "gone@example.com")
        job_id = start_pending_job(client, sign_up_sync(client, "keeper@example.com"))
        asyncio.run(_change_user(settings, gone.user_id, remove=remove))
        token = gone.headers["Authorization"].removeprefix("Bearer ")
        _assert_refused_everywhere(client, token, job_id, "deleted" if remove else "inactive")
