"""Register, sign in, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from adanalysis.auth import service
from adanalysis.auth.deps import AuthThrottleDep, CurrentUser
from adanalysis.auth.schemas import DeleteAccountRequest, RegisterRequest, TokenOut, UserOut
from adanalysis.auth.security import create_access_token
from adanalysis.db import SessionDep
from adanalysis.jobs.deps import JobServiceDep
from adanalysis.jobs.errors import JobAlreadyFinishedError, JobNotFoundError
from adanalysis.jobs.schemas import ErrorOut, Responses

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
_429: Responses = {
    429: {
        "model": ErrorOut,
        "description": "Too many attempts from this address or for this account; "
        "wait for the seconds in Retry-After",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the attempt is accepted again",
                "schema": {"type": "integer"},
            }
        },
    }
}


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={409: {"model": ErrorOut, "description": "The email is already registered"}, **_429},
)
async def register(
    body: RegisterRequest, request: Request, session: SessionDep, throttle: AuthThrottleDep
) -> UserOut:
    """Create an account."""
    await throttle.start_registration(email=body.email, address=throttle.address_of(request))
    try:
        user = await service.create_user(session, email=body.email, password=body.password)
    except service.EmailTakenError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "An account with this email already exists. Sign in instead."
        ) from None
    return UserOut.model_validate(user)


@router.post(
    "/token",
    response_model=TokenOut,
    responses={401: {"model": ErrorOut, "description": "Bad credentials"}, **_429},
)
async def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    throttle: AuthThrottleDep,
) -> TokenOut:
    """Exchange email (as `username`) and password for a bearer token."""
    attempt = await throttle.start_sign_in(
        email=form.username, address=throttle.address_of(request)
    )
    user = await service.authenticate(session, email=form.username, password=form.password)
    # End the read before the throttle writes: on SQLite an open transaction holds the write lock.
    await session.commit()
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Incorrect email or password.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    await throttle.signed_in(attempt)
    settings = request.app.state.settings
    access = create_access_token(
        user.id,
        secret=request.app.state.secret_key,
        expires_minutes=settings.access_token_expire_minutes,
    )
    return TokenOut(access_token=access)


@router.get(
    "/me",
    response_model=UserOut,
    responses={401: {"model": ErrorOut, "description": "Not signed in"}},
)
async def me(user: CurrentUser) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(user)


@router.post(
    "/me/delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        401: {"model": ErrorOut, "description": "Not signed in"},
        403: {"model": ErrorOut, "description": "Wrong password"},
    },
)
async def delete_account(
    body: DeleteAccountRequest, user: CurrentUser, session: SessionDep, jobs: JobServiceDep
) -> Response:
    """Delete your account and everything of yours: jobs, analyses, saved token, settings."""
    if await service.authenticate(session, email=user.email, password=body.password) is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Wrong password: the account is kept.")
    # Stop its jobs first, so no runner keeps working (and paying) for a deleted account.
    for job in await jobs.list_active_jobs(session, user_id=user.id):
        try:
            await jobs.cancel_job(session, job_id=job.id, user_id=user.id)
        except (JobNotFoundError, JobAlreadyFinishedError):
            continue  # it ended meanwhile
    await service.delete_user(session, user_id=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
