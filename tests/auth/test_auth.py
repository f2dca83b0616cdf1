"""Registration, sign-in, and the users CLI."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from adanalysis.config import Settings

AUTH = "/api/v1/auth"


async def test_register_sign_in_and_me(client: httpx.AsyncClient) -> None:
    """201 then a bearer token that /me accepts; the email is normalised."""
    r = await client.post(
        f"{AUTH}/register", json={"email": "Ann@Example.com", "password": "s3cure-pass"}
    )
    assert r.status_code == 201
    assert r.json()["email"] == "ann@example.com" and "password" not in r.text
    r = await client.post(
        f"{AUTH}/token", data={"username": "ann@example.com", "password": "s3cure-pass"}
    )
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    me = await client.get(
        f"{AUTH}/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["is_premium"] is False and me.json()["is_admin"] is False


async def test_duplicate_email_is_409(client: httpx.AsyncClient) -> None:
    """The same email twice, in any case."""
    body = {"email": "bob@example.com", "password": "s3cure-pass"}
    assert (await client.post(f"{AUTH}/register", json=body)).status_code == 201
    r = await client.post(f"{AUTH}/register", json={**body, "email": "BOB@example.com"})
    assert r.status_code == 409 and "already exists" in r.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "s3cure-pass"},
        {"email": "c@example.com", "password": "short1"},
        {"email": "c@example.com", "password": "password1"},
        {"email": "c@example.com", "password": "onlyletters"},
        {"email": "c@example.com", "password": "123456789012"},
        {"email": "c@example.com"},
        {"email": "c@example.com", "password": "s3cure-pass", "is_admin": True},
        {"email": 42, "password": "s3cure-pass"},
    ],
)
async def test_bad_registrations_are_422(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    """Weak passwords, bad emails, wrong types and smuggled fields are refused with reasons."""
    r = await client.post(f"{AUTH}/register", json=body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"]


async def test_wrong_password_is_401(client: httpx.AsyncClient) -> None:
    """Wrong password and unknown email get the same answer."""
    await client.post(
        f"{AUTH}/register", json={"email": "d@example.com", "password": "s3cure-pass"}
    )
    wrong = await client.post(
        f"{AUTH}/token", data={"username": "d@example.com", "password": "nope-nope-1"}
    )
    unknown = await client.post(
        f"{AUTH}/token", data={"username": "x@example.com", "password": "nope-nope-1"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_expired_token_is_401(client: httpx.AsyncClient, settings: Settings) -> None:
    """A token past its expiry no longer works."""
    from adanalysis.auth.security import create_access_token

    r = await client.post(
        f"{AUTH}/register", json={"email": "e@example.com", "password": "s3cure-pass"}
    )
    token = create_access_token(
        r.json()["id"], secret=settings.resolved_secret_key(), expires_minutes=-1
    )
    me = await client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401 and "expired" in me.json()["detail"]


def test_users_create_cli(settings: Settings) -> None:
    """`adanalysis users create` makes a premium admin that can sign in; a duplicate fails."""
    env = {
        "ADANALYSIS_DATABASE_URL": settings.sqlalchemy_url,
        "ADANALYSIS_DATA_DIR": str(settings.data_dir),
        "PATH": "/usr/bin:/bin",
    }
    cmd = [
        sys.executable,
        "-m",
        "adanalysis",
        "users",
        "create",
        "f@example.com",
        "--password",
        "s3cure-pass",
    ]
    done = subprocess.run(
        [*cmd, "--admin", "--premium"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Created user f@example.com" in done.stdout
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "already exists" in again.stderr
    weak = subprocess.run([*cmd[:-1], "weak"], env=env, capture_output=True, text=True, timeout=60)
    assert weak.returncode != 0
