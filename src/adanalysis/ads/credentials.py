"""Saving, reading and removing a user's Facebook credentials (token encrypted at rest)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.ads.models import FacebookCredentials
from adanalysis.crypto import SecretBox, mask_secret
from adanalysis.db import utcnow


async def save_credentials(
    session: AsyncSession, *, box: SecretBox, user_id: str, access_token: str, account_id: str
) -> FacebookCredentials:
    """Create or replace the user's credentials."""
    creds = await session.get(FacebookCredentials, user_id)
    if creds is None:
        creds = FacebookCredentials(user_id=user_id)
        session.add(creds)
    creds.account_id = account_id
    creds.token_encrypted = box.encrypt(access_token)
    creds.token_mask = mask_secret(access_token)
    creds.updated_at = utcnow()
    await session.commit()
    return creds


async def get_credentials(session: AsyncSession, *, user_id: str) -> FacebookCredentials | None:
    """The user's stored credentials, if any."""
    return await session.get(FacebookCredentials, user_id, populate_existing=True)


async def delete_credentials(session: AsyncSession, *, user_id: str) -> bool:
    """Remove the user's credentials; False when there were none."""
    creds = await session.get(FacebookCredentials, user_id)
    if creds is None:
        return False
    await session.delete(creds)
    await session.commit()
    return True


async def read_token(
    session: AsyncSession, *, box: SecretBox, user_id: str
) -> tuple[str, str] | None:
    """(token, account id) in clear, for job code only; None when absent or unreadable."""
    creds = await get_credentials(session, user_id=user_id)
    if creds is None:
        return None
    token = box.decrypt(creds.token_encrypted)
    return None if token is None else (token, creds.account_id)
