"""The CurrentUser dependency: a valid bearer token or 401."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from adanalysis.auth.models import User
from adanalysis.auth.security import TokenDecoder
from adanalysis.auth.throttle import AuthThrottle
from adanalysis.db import SessionDep

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Not authenticated: sign in and send 'Authorization: Bearer <token>'.",
    headers={"WWW-Authenticate": "Bearer"},
)
_INVALID_TOKEN = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Invalid or expired token: sign in again.",
    headers={"WWW-Authenticate": "Bearer"},
)


def token_user_id(request: Request, token: str | None) -> str:
    """The user id a bearer token names, or 401; whether that user may act is checked apart."""
    if not token:
        raise UNAUTHORIZED
    decoder: TokenDecoder = request.app.state.token_decoder
    user_id = decoder.user_id(token)
    if user_id is None:
        raise _INVALID_TOKEN
    return user_id


async def get_current_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    """The signed-in user."""
    user = await session.get(User, token_user_id(request, token))
    if user is None or not user.is_active:
        raise UNAUTHORIZED
    return user


async def get_token_user_id(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> str:
    """For hot paths: the token's user id, checked for existence in the route's own query.

    A route taking this instead of CurrentUser must answer UNAUTHORIZED when its query finds no
    active user of that id (a deleted or deactivated user's token still decodes).
    """
    return token_user_id(request, token)


CurrentUser = Annotated[User, Depends(get_current_user)]
TokenUserId = Annotated[str, Depends(get_token_user_id)]


def get_auth_throttle(request: Request) -> AuthThrottle:
    """The app's sign-in and registration throttle."""
    throttle: AuthThrottle = request.app.state.auth_throttle
    return throttle


AuthThrottleDep = Annotated[AuthThrottle, Depends(get_auth_throttle)]
