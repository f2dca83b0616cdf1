"""The CurrentUser dependency: a valid bearer token or 401."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from adanalysis.auth.models import User
from adanalysis.auth.security import decode_access_token
from adanalysis.auth.throttle import AuthThrottle
from adanalysis.db import SessionDep

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

_UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Not authenticated: sign in and send 'Authorization: Bearer <token>'.",
    headers={"WWW-Authenticate": "Bearer"},
)


async def get_current_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    """The signed-in user."""
    if not token:
        raise _UNAUTHORIZED
    user_id = decode_access_token(token, secret=request.app.state.secret_key)
    if user_id is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Invalid or expired token: sign in again.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise _UNAUTHORIZED
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


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
