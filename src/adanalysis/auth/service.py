"""User accounts: create and authenticate."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.auth.models import User
from adanalysis.auth.security import hash_password, verify_password


class EmailTakenError(Exception):
    """An account with that email exists."""


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    is_admin: bool = False,
    is_premium: bool = False,
) -> User:
    """Create a user; raises EmailTakenError on a duplicate email."""
    user = User(
        email=email.strip().lower(),
        # Argon2 is deliberately slow (~50 ms of CPU): keep it off the event loop.
        password_hash=await asyncio.to_thread(hash_password, password),
        is_admin=is_admin,
        is_premium=is_premium,
    )
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise EmailTakenError(email) from exc
    return user


async def get_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    """The user with that email, if any."""
    result = await session.execute(select(User).where(User.email == email.strip().lower()))
    return result.scalar_one_or_none()


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User | None:
    """The active user whose password matches, or None."""
    user = await get_user_by_email(session, email=email)
    stored = user.password_hash if user else None
    if not await asyncio.to_thread(verify_password, password, stored) or user is None:
        return None
    return user if user.is_active else None


async def delete_user(session: AsyncSession, *, user_id: str) -> None:
    """Remove the user and, through ON DELETE CASCADE, every row that belongs to them."""
    await session.execute(delete(User).where(User.id == user_id))
    await session.commit()
