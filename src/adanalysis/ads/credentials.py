"""Saving, reading and removing a user's Facebook credentials (token encrypted at rest)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.ads.errors import (
    FacebookAuthError,
    FacebookError,
    FacebookPermissionError,
    FacebookRateLimitError,
    FacebookTransientError,
)
from adanalysis.ads.facebook import AccountInfo, GraphClient
from adanalysis.ads.models import FacebookCredentials
from adanalysis.config import Settings
from adanalysis.crypto import SecretBox, mask_secret
from adanalysis.db import utcnow

REFUSED_MESSAGE = (
    "Facebook did not accept this access token: it is invalid or has expired. "
    "Create a new token with the ads_read permission (Meta Business Settings, System users) "
    "and paste it here."
)


class ConnectionCheckError(Exception):
    """Facebook refused the token or account (retryable False) or could not be asked."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


async def check_connection(
    settings: Settings,
    *,
    access_token: str,
    account_id: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AccountInfo:
    """Ask the Graph API for the account with this token; ConnectionCheckError in words if not."""
    client = GraphClient(
        access_token=access_token,
        base_url=settings.graph_api_url,
        version=settings.graph_api_version,
        timeout=min(settings.graph_timeout_seconds, 15),
        max_retries=1,  # someone is waiting for the answer
        transport=transport,
    )
    async with client:
        try:
            return await client.get_account(account_id)
        except FacebookAuthError:
            raise ConnectionCheckError(REFUSED_MESSAGE, retryable=False) from None
        except FacebookPermissionError as exc:
            raise ConnectionCheckError(exc.message, retryable=False) from None
        except (FacebookRateLimitError, FacebookTransientError) as exc:
            raise ConnectionCheckError(
                f"Facebook could not check the connection right now. {exc.message}",
                retryable=True,
            ) from None
        except FacebookError:
            raise ConnectionCheckError(
                f"Facebook has no ad account {account_id} that this token can read. Check the "
                "ID in Ads Manager (it is shown as act_ followed by digits) and that the token "
                "belongs to someone with access to that account.",
                retryable=False,
            ) from None


async def save_credentials(
    session: AsyncSession,
    *,
    box: SecretBox,
    user_id: str,
    access_token: str,
    account_id: str,
    account: AccountInfo | None = None,
) -> FacebookCredentials:
    """Create or replace the user's credentials, with what Facebook said about the account."""
    creds = await session.get(FacebookCredentials, user_id)
    if creds is None:
        creds = FacebookCredentials(user_id=user_id)
        session.add(creds)
    creds.account_id = account_id
    creds.token_encrypted = box.encrypt(access_token)
    creds.token_mask = mask_secret(access_token)
    creds.account_name = account.name if account else None
    creds.account_currency = account.currency if account else None
    creds.account_status = account.status if account else None
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
