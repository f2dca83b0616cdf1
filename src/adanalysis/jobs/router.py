"""The seed's job endpoints: status, history, cancel, and a live WebSocket.

The router has no prefix of its own: the domain that owns the public paths mounts it (the ad
domain mounts it under /api/v1/ad_analysis, as the contract says).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import (
    APIRouter,
    FastAPI,
    HTTPException,
    Query,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from fastapi.responses import JSONResponse

from adanalysis.auth.deps import UNAUTHORIZED, CurrentUser, TokenUserId
from adanalysis.db import SessionDep
from adanalysis.jobs.deps import JobServiceDep
from adanalysis.jobs.errors import (
    ActiveJobExistsError,
    JobAlreadyFinishedError,
    JobNotFoundError,
    JobQueueUnavailableError,
    JobStartContendedError,
)
from adanalysis.jobs.events import job_topic
from adanalysis.jobs.models import FINAL_STATUSES, JobStatus
from adanalysis.jobs.reads import JobReader
from adanalysis.jobs.registry import JobRegistry
from adanalysis.jobs.schemas import (
    SUMMARY_LIST,
    JobConflict,
    JobDocument,
    JobSummary,
    MessageOut,
    Responses,
    error_responses,
)
from adanalysis.monitoring.instruments import WEBSOCKET_CLIENTS
from adanalysis.paging import NEXT_CURSOR_HEADER, one_page

router = APIRouter(tags=["jobs"])

JSON = "application/json"

WS_REFUSED = "Job not found or not signed in"
NOT_FOUND = "Job not found. Check the job id; jobs are visible only to the user who started them."
QUEUE_UNAVAILABLE = (
    "The job queue is unavailable right now, so the job was not started (nothing is left "
    "pending). Please try again in a minute; if it persists, the operator should check the "
    "broker (ADANALYSIS_BROKER_URL) and /readyz."
)
_404 = error_responses(e404="No such job for this user")
_401 = error_responses(e401="Not signed in")
# The 409 of a start request, for routers that start jobs.
CONFLICT_RESPONSE: Responses = {
    409: {"model": JobConflict, "description": "A job is already active"}
}


@router.get("/job-status/{job_id}", response_model=JobDocument, responses={**_404, **_401})
async def job_status(job_id: str, user_id: TokenUserId, request: Request) -> Response:
    """The whole job document: status, progress, message, errors, timestamps."""
    # The reader from app.state, not a dependency: each dependency costs the framework more per
    # request than this read costs the database.
    reader: JobReader = request.app.state.job_reader
    read = await reader.status(job_id=job_id, user_id=user_id)
    if not read.user_ok:
        raise UNAUTHORIZED
    if read.job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    # Serialised once, here: returning the model would have FastAPI validate it a second time.
    return Response(read.job.model_dump_json(by_alias=True), media_type=JSON)


@router.get(
    "/jobs/",
    response_model=list[JobSummary],
    responses={**_401, **error_responses(e404="The `before` cursor is unknown")},
)
async def list_jobs(
    user_id: TokenUserId,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    status_filter: Annotated[JobStatus | None, Query(alias="status")] = None,
    before: Annotated[str | None, Query(description="Last job id of the previous page")] = None,
) -> Response:
    """The user's jobs, newest first; the `X-Next-Before` header carries the next page's cursor."""
    reader: JobReader = request.app.state.job_reader
    try:
        page = await reader.history(
            user_id=user_id, limit=limit + 1, status=status_filter, before=before
        )
    except JobNotFoundError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "Unknown 'before' cursor: " + NOT_FOUND
        ) from None
    if page is None:
        raise UNAUTHORIZED
    summaries = one_page(page, limit, response)
    cursor = response.headers.get(NEXT_CURSOR_HEADER)
    return Response(
        SUMMARY_LIST.dump_json(summaries, by_alias=True),
        media_type=JSON,
        headers={NEXT_CURSOR_HEADER: cursor} if cursor else None,
    )


@router.delete(
    "/job/{job_id}",
    response_model=MessageOut,
    responses={**_404, **_401, **error_responses(e409="The job already ended")},
)
async def cancel_job(
    job_id: str, user: CurrentUser, session: SessionDep, jobs: JobServiceDep
) -> MessageOut:
    """Cancel a pending or running job; its partial results are kept."""
    await jobs.cancel_job(session, job_id=job_id, user_id=user.id)
    return MessageOut(message="Job cancelled successfully")


@router.websocket("/ws/jobs/{job_id}")
async def job_updates(websocket: WebSocket, job_id: str, token: str = "") -> None:
    """Live updates of one job (its job-status document on every change); `?token=<bearer>`.

    A bad token, an unknown job and another user's job: accepted, then closed with 1008.
    """
    app = websocket.app
    user_id = app.state.token_decoder.user_id(token) if token else None
    # Subscribe before reading the row so no update can fall between the two.
    async with app.state.events.subscribe(job_topic(job_id)) as updates:
        job = None
        if user_id is not None:
            # The same one-statement read as job-status: the user must exist and be active.
            reader: JobReader = app.state.job_reader
            job = (await reader.status(job_id=job_id, user_id=user_id)).job
        await websocket.accept()
        if job is None:
            # Accepted first, so the client sees the code and reason (closing before accepting
            # turns into an HTTP 403 at the handshake); one answer for a bad token and for
            # another user's job, so neither can be told from the other.
            await websocket.close(code=1008, reason=WS_REFUSED)
            return
        with WEBSOCKET_CLIENTS.track_inprogress():
            await websocket.send_json(job.model_dump(mode="json", by_alias=True))
            if job.status not in FINAL_STATUSES:
                try:
                    while True:
                        event = await updates.get()
                        await websocket.send_json(event.document)
                        if event.is_final:
                            break
                except WebSocketDisconnect:
                    return
    await websocket.close()


def install_error_handlers(app: FastAPI) -> None:
    """Job-system errors as HTTP answers: 404 for unknown jobs, 409 for conflicts."""

    @app.exception_handler(JobNotFoundError)
    async def _not_found(_request: Request, _exc: JobNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": NOT_FOUND}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(JobAlreadyFinishedError)
    async def _finished(_request: Request, exc: JobAlreadyFinishedError) -> JSONResponse:
        detail = f"Job already {exc.status}; only pending or running jobs can be cancelled."
        return JSONResponse({"detail": detail}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(ActiveJobExistsError)
    async def _active(request: Request, exc: ActiveJobExistsError) -> JSONResponse:
        registry: JobRegistry = request.app.state.job_registry
        job = exc.job
        conflict = JobConflict(
            detail=registry.wording(job.job_type).conflict(job_id=job.id, status=job.status),
            job_id=job.id,
            status=JobStatus(job.status),
        )
        return JSONResponse(conflict.model_dump(), status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(JobQueueUnavailableError)
    async def _queue_down(_request: Request, _exc: JobQueueUnavailableError) -> JSONResponse:
        return JSONResponse(
            {"detail": QUEUE_UNAVAILABLE},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "30"},
        )

    @app.exception_handler(JobStartContendedError)
    async def _contended(_request: Request, _exc: JobStartContendedError) -> JSONResponse:
        conflict = JobConflict(
            detail="Another job of yours was starting or ending at that moment. Please retry.",
            job_id=None,
            status=None,
        )
        return JSONResponse(
            conflict.model_dump(),
            status_code=status.HTTP_409_CONFLICT,
            headers={"Retry-After": "1"},
        )
