"""Register, sign in, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from adanalysis.auth import service
from adanalysis.auth.deps import CurrentUser
from adanalysis.auth.schemas import RegisterRequest, TokenOut, UserOut
from adanalysis.auth.security import create_access_token
from adanalysis.db import SessionDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={409: {"description": "The email is already registered"}},
)
async def register(body: RegisterRequest, session: SessionDep) -> UserOut:
    """Create an account."""
    try:
        user = await service.create_user(session, email=body.email, password=body.password)
    except service.EmailTakenError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "An account with this email already exists. Sign in instead."
        ) from None
    return UserOut.model_validate(user)


@router.post("/token", response_model=TokenOut, responses={401: {"description": "Bad credentials"}})
async def token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep
) -> TokenOut:
    """Exchange email (as `username`) and password for a bearer token."""
    user = await service.authenticate(session, email=form.username, password=form.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Incorrect email or password.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    settings = request.app.state.settings
    access = create_access_token(
        user.id,
        secret=request.app.state.secret_key,
        expires_minutes=settings.access_token_expire_minutes,
    )
    return TokenOut(access_token=access)


@router.get("/me", response_model=UserOut, responses={401: {"description": "Not signed in"}})
async def me(user: CurrentUser) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(user)
