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


class BearerUserId(OAuth2PasswordBearer):
    """For hot paths: the bearer token's user id, as one dependency (the scheme and the decode).

    A route taking this instead of CurrentUser must answer UNAUTHORIZED when its own query finds
    no active user of that id (a deleted or deactivated user's token still decodes).
    """

    async def __call__(self, request: Request) -> str:  # type: ignore[override]
        """The user id, or 401."""
        return token_user_id(request, await super().__call__(request))


# The same scheme name as oauth2_scheme: one security scheme in the OpenAPI document.
bearer_user_id = BearerUserId(
    tokenUrl="/api/v1/auth/token", scheme_name="OAuth2PasswordBearer", auto_error=False
)


CurrentUser = Annotated[User, Depends(get_current_user)]
TokenUserId = Annotated[str, Depends(bearer_user_id)]


def get_auth_throttle(request: Request) -> AuthThrottle:
    """The app's sign-in and registration throttle."""
    throttle: AuthThrottle = request.app.state.auth_throttle
    return throttle


AuthThrottleDep = Annotated[AuthThrottle, Depends(get_auth_throttle)]


async def get_admin_user(user: CurrentUser) -> User:
    """The signed-in user if an admin; 403 otherwise."""
    if not user.is_admin:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Admins only.")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
