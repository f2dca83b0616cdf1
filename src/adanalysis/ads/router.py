"""Ad-analysis endpoints: credentials, start an analysis, read the analyses."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse

from adanalysis.ads import credentials as creds_service
from adanalysis.ads import service as analyses_service
from adanalysis.ads.jobs import AdAnalysisWording, start_ad_analysis_job
from adanalysis.ads.schemas import (
    AdAnalysisOut,
    CredentialsIn,
    CredentialsOut,
    StartAnalysisRequest,
    normalise_account_id,
)
from adanalysis.auth.deps import CurrentUser
from adanalysis.crypto import SecretBox
from adanalysis.db import SessionDep
from adanalysis.jobs.deps import JobServiceDep
from adanalysis.jobs.events import job_topic
from adanalysis.jobs.models import FINAL_STATUSES, JobStatus
from adanalysis.jobs.router import CONFLICT_RESPONSE
from adanalysis.jobs.router import router as jobs_router
from adanalysis.jobs.scheduling import SchedulingPolicy
from adanalysis.jobs.schemas import JobDocument, JobStarted, error_responses
from adanalysis.paging import one_page

router = APIRouter(prefix="/api/v1/ad_analysis", tags=["ad analysis"])
# The generic job endpoints live at the contract's paths, under this domain's prefix.
router.include_router(jobs_router)

_401 = error_responses(e401="Not signed in")
NO_CREDENTIALS = (
    "No Facebook credentials saved. Add your access token and ad account with "
    "PUT /api/v1/ad_analysis/credentials, then start the analysis again."
)


def _box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


@router.put("/credentials", response_model=CredentialsOut, responses=_401)
async def put_credentials(
    body: CredentialsIn, request: Request, user: CurrentUser, session: SessionDep
) -> CredentialsOut:
    """Save (or replace) your Facebook access token and default ad account."""
    creds = await creds_service.save_credentials(
        session,
        box=_box(request),
        user_id=user.id,
        access_token=body.access_token,
        account_id=body.account_id,
    )
    return CredentialsOut(
        account_id=creds.account_id, access_token=creds.token_mask, updated_at=creds.updated_at
    )


@router.get(
    "/credentials",
    response_model=CredentialsOut,
    responses={**_401, **error_responses(e404="No credentials saved")},
)
async def get_credentials(user: CurrentUser, session: SessionDep) -> CredentialsOut:
    """Your saved ad account and the mask of your token."""
    creds = await creds_service.get_credentials(session, user_id=user.id)
    if creds is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_CREDENTIALS)
    return CredentialsOut(
        account_id=creds.account_id, access_token=creds.token_mask, updated_at=creds.updated_at
    )


@router.delete(
    "/credentials",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_401, **error_responses(e404="No credentials saved")},
)
async def delete_credentials(user: CurrentUser, session: SessionDep) -> Response:
    """Forget your Facebook token and account."""
    if not await creds_service.delete_credentials(session, user_id=user.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No Facebook credentials to delete.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/start-analysis/",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobStarted,
    responses={
        **_401,
        **error_responses(e400="No Facebook credentials saved"),
        **CONFLICT_RESPONSE,
    },
)
async def start_analysis(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    jobs: JobServiceDep,
    body: StartAnalysisRequest | None = None,
) -> JobStarted:
    """Start analysing your ads in the background; returns the job id at once."""
    stored = await creds_service.read_token(session, box=_box(request), user_id=user.id)
    if stored is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, NO_CREDENTIALS)
    token, default_account = stored
    body = body or StartAnalysisRequest()
    account_ids = body.account_ids
    policy: SchedulingPolicy = request.app.state.scheduling
    job = await start_ad_analysis_job(
        jobs,
        session,
        user_id=user.id,
        access_token=token,
        account_id=account_ids[0] if account_ids else (body.account_id or default_account),
        account_ids=account_ids,
        priority=policy.priority_for(is_premium=user.is_premium),
    )
    return JobStarted(
        job_id=job.id,
        status=JobStatus.PENDING,
        message=AdAnalysisWording().started(),
        estimated_duration_seconds=job.estimated_duration_seconds or jobs.default_estimate_seconds,
    )


@router.get(
    "/",
    response_model=list[AdAnalysisOut],
    responses={**_401, **error_responses(e404="The `before` cursor is unknown")},
)
async def list_analyses(
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    account_id: Annotated[str | None, Query(max_length=64)] = None,
    job_id: Annotated[str | None, Query(max_length=24)] = None,
    before: Annotated[
        str | None, Query(description="Last analysis id of the previous page")
    ] = None,
) -> list[AdAnalysisOut]:
    """Your analysed videos, newest first; `X-Next-Before` carries the next page's cursor."""
    account = None
    if account_id is not None:
        try:
            account = normalise_account_id(account_id)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    try:
        rows = await analyses_service.list_analyses(
            session,
            user_id=user.id,
            limit=limit + 1,
            account_id=account,
            job_id=job_id,
            before=before,
        )
    except analyses_service.AnalysisNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Unknown 'before' cursor.") from None
    return [AdAnalysisOut.model_validate(row) for row in one_page(rows, limit, response)]


@router.get(
    "/{analysis_id}",
    response_model=AdAnalysisOut,
    responses={**_401, **error_responses(e404="No such analysis for this user")},
)
async def get_analysis(analysis_id: str, user: CurrentUser, session: SessionDep) -> AdAnalysisOut:
    """One analysed video: transcript, segments and insights."""
    row = await analyses_service.get_analysis(session, analysis_id=analysis_id, user_id=user.id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Analysis not found.")
    return AdAnalysisOut.model_validate(row)


class LegacyAnalysisFailedError(Exception):
    """The job the deprecated endpoint waited for did not complete."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@router.post(
    "/analyze/",
    deprecated=True,
    response_model=list[AdAnalysisOut],
    responses={
        **_401,
        **error_responses(e400="No Facebook credentials saved", e502="The analysis job failed"),
        **CONFLICT_RESPONSE,
    },
)
async def analyze_legacy(
    request: Request,
    response: Response,
    user: CurrentUser,
    session: SessionDep,
    jobs: JobServiceDep,
    body: StartAnalysisRequest | None = None,
) -> list[AdAnalysisOut]:
    """Deprecated: runs the same background job and waits for it; use start-analysis instead."""
    response.headers.update(DEPRECATION_HEADERS)
    started = await start_analysis(request, user, session, jobs, body)
    # End this request's transaction before waiting: on SQLite an open one holds the write lock.
    await session.commit()
    job = await _wait_until_finished(request, started.job_id, user.id)
    if job.status != JobStatus.COMPLETED:
        raise LegacyAnalysisFailedError(
            job.error_message or job.message or f"The analysis {job.status}."
        )
    rows = await analyses_service.list_analyses(session, user_id=user.id, limit=1000, job_id=job.id)
    return [AdAnalysisOut.model_validate(row) for row in rows]


async def _wait_until_finished(request: Request, job_id: str, user_id: str) -> JobDocument:
    """Wait for a job's end, woken by its events and re-reading the row as the truth."""
    app = request.app
    async with app.state.events.subscribe(job_topic(job_id)) as updates:
        while True:
            async with app.state.session_factory() as session:
                job = await app.state.job_service.get_job_status(
                    session, job_id=job_id, user_id=user_id
                )
            if job is None:
                raise LegacyAnalysisFailedError("The analysis job disappeared.")
            if job.status in FINAL_STATUSES:
                return job
            try:
                await asyncio.wait_for(updates.get(), timeout=2)
            except TimeoutError:
                pass  # a worker in another process: poll the row


DEPRECATION_HEADERS = {
    "Deprecation": "true",
    "Link": '</api/v1/ad_analysis/start-analysis/>; rel="successor-version"',
}


def install_error_handlers(app: FastAPI) -> None:
    """The deprecated endpoint's failures as 502, still marked deprecated."""

    @app.exception_handler(LegacyAnalysisFailedError)
    async def _legacy_failed(_request: Request, exc: LegacyAnalysisFailedError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail},
            status_code=status.HTTP_502_BAD_GATEWAY,
            headers=DEPRECATION_HEADERS,
        )
