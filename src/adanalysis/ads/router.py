"""Ad-analysis endpoints: credentials, start an analysis, read the analyses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AfterValidator

from adanalysis.ads import credentials as creds_service
from adanalysis.ads import export
from adanalysis.ads import service as analyses_service
from adanalysis.ads.card import HookType
from adanalysis.ads.estimate import engine_of, estimate_seconds
from adanalysis.ads.jobs import AdAnalysisWording, start_ad_analysis_job
from adanalysis.ads.models import AdAnalysis
from adanalysis.ads.schemas import (
    ACCOUNT_ID_PATTERN,
    AdAnalysisOut,
    AdOut,
    AnalysisBrief,
    ComparisonOut,
    CredentialsIn,
    CredentialsOut,
    DeletedOut,
    HookTypeSummary,
    PerformanceOut,
    StartAnalysisRequest,
    normalise_account_id,
)
from adanalysis.ads.service import AdRow, AnalysisRow, Filters, Sort
from adanalysis.auth.deps import CurrentUser
from adanalysis.config import Settings
from adanalysis.crypto import SecretBox
from adanalysis.db import SessionDep
from adanalysis.ids import OBJECT_ID_PATTERN, require_object_id
from adanalysis.jobs.deps import JobServiceDep
from adanalysis.jobs.events import job_topic
from adanalysis.jobs.models import FINAL_STATUSES, JobStatus
from adanalysis.jobs.router import CONFLICT_RESPONSE
from adanalysis.jobs.router import router as jobs_router
from adanalysis.jobs.scheduling import SchedulingPolicy
from adanalysis.jobs.schemas import JobConflict, JobDocument, JobStarted, error_responses
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


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.put(
    "/credentials",
    response_model=CredentialsOut,
    responses={
        **_401,
        **error_responses(
            e400="Facebook refused the token or does not know the ad account",
            e503="Facebook could not be asked right now",
        ),
    },
)
async def put_credentials(
    body: CredentialsIn, request: Request, user: CurrentUser, session: SessionDep
) -> CredentialsOut:
    """Check the token and ad account with Facebook, then save them (replacing earlier ones)."""
    settings = _settings(request)
    account = None
    if settings.validate_credentials:
        try:
            account = await creds_service.check_connection(
                settings, access_token=body.access_token, account_id=body.account_id
            )
        except creds_service.ConnectionCheckError as exc:
            code = status.HTTP_503_SERVICE_UNAVAILABLE if exc.retryable else 400
            raise HTTPException(code, exc.message) from None
    creds = await creds_service.save_credentials(
        session,
        box=_box(request),
        user_id=user.id,
        access_token=body.access_token,
        account_id=body.account_id,
        account=account,
    )
    return CredentialsOut.model_validate(creds)


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
    return CredentialsOut.model_validate(creds)


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
        **error_responses(
            e400="No Facebook credentials saved",
            e503="The job queue is unavailable (scale-out broker down); nothing was started",
        ),
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
    account_id = account_ids[0] if account_ids else (body.account_id or default_account)
    estimate = await estimate_seconds(
        session,
        user_id=user.id,
        engine=engine_of(_settings(request)),
        account_ids=account_ids or [account_id],
    )
    policy: SchedulingPolicy = request.app.state.scheduling
    job = await start_ad_analysis_job(
        jobs,
        session,
        user_id=user.id,
        access_token=token,
        account_id=account_id,
        account_ids=account_ids,
        priority=policy.priority_for(is_premium=user.is_premium),
        estimated_duration_seconds=estimate,
    )
    return JobStarted(
        job_id=job.id,
        status=JobStatus.PENDING,
        message=AdAnalysisWording().started(),
        estimated_duration_seconds=job.estimated_duration_seconds or jobs.default_estimate_seconds,
    )


def _filters(
    account_id: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Only this ad account: act_<digits> or <digits>",
            json_schema_extra={"pattern": ACCOUNT_ID_PATTERN},
        ),
        AfterValidator(normalise_account_id),
    ] = None,
    job_id: Annotated[
        str | None,
        Query(
            description="Only what this job made",
            json_schema_extra={"pattern": OBJECT_ID_PATTERN},
        ),
        AfterValidator(require_object_id),
    ] = None,
    hook_type: Annotated[HookType | None, Query()] = None,
    min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    max_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    has_offer: Annotated[bool | None, Query()] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Words in the transcript")
    ] = None,
) -> Filters:
    return Filters(account_id, job_id, hook_type, min_score, max_score, has_offer, q)


FiltersDep = Annotated[Filters, Depends(_filters)]
_LIST_ERRORS = {
    **_401,
    **error_responses(e404="The `before` cursor is unknown"),
    200: {"content": {"text/csv": {}}, "description": "JSON page, or the whole list as CSV"},
}


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _csv_response(
    header: list[str], records: AsyncIterator[list[Any]], filename: str
) -> StreamingResponse:
    return StreamingResponse(
        export.stream_csv(header, records),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _performance(perf: analyses_service.Performance | None) -> PerformanceOut | None:
    if perf is None:
        return None
    return PerformanceOut(
        spend=perf.spend,
        currency=perf.currency,
        impressions=perf.impressions,
        clicks=perf.clicks,
        ctr=perf.ctr,
        video_3s_plays=perf.video_3s_plays,
        thruplays=perf.thruplays,
        hook_rate=perf.hook_rate,
        hold_rate=perf.hold_rate,
        date_start=perf.date_start,
        date_stop=perf.date_stop,
    )


def _analysis_out(row: AnalysisRow) -> AdAnalysisOut:
    out = AdAnalysisOut.model_validate(row.analysis)
    out.performance = _performance(row.performance)
    return out


def _brief(a: AdAnalysis | None) -> AnalysisBrief | None:
    if a is None:
        return None
    ins = a.insights or {}
    hook = ins.get("hook") or {}
    cta = ins.get("call_to_action") or {}
    return AnalysisBrief(
        id=a.id,
        video_id=a.video_id,
        title=a.title,
        thumbnail_url=a.thumbnail_url,
        hook_type=a.hook_type,
        hook_text=hook.get("text"),
        score=a.score,
        has_offer=a.has_offer,
        words_per_minute=ins.get("words_per_minute"),
        cta_seconds=cta.get("timestamp_seconds"),
        job_id=a.job_id,
        created_at=a.created_at,
    )


def _ad_out(row: AdRow) -> AdOut:
    ad = row.ad
    return AdOut(
        id=ad.id,
        ad_id=ad.ad_id,
        ad_name=ad.ad_name,
        status=ad.effective_status,
        account_id=ad.account_id,
        video_id=ad.video_id,
        video_ids=ad.video_ids,
        period=ad.period,
        fetched_at=ad.fetched_at,
        performance=_performance(analyses_service.ad_performance(ad)),
        analysis=_brief(row.analysis),
    )


@dataclass(frozen=True)
class _ListKind:
    """How one of the two lists is read, exported and shown."""

    lister: Any
    header: Callable[[], list[str]]
    record: Callable[[Any], list[Any]]
    filename: str
    cursor: Callable[[Any], str]
    out: Callable[[Any], Any]


_ANALYSES = _ListKind(
    analyses_service.list_analyses,
    export.analyses_header,
    export.analysis_record,
    "analyses.csv",
    lambda row: row.analysis.id,
    lambda row: _analysis_out(row),
)
_ADS = _ListKind(
    analyses_service.list_ads,
    export.ads_header,
    export.ad_record,
    "ads.csv",
    lambda row: row.ad.id,
    lambda row: _ad_out(row),
)


@dataclass
class _ListQuery:
    """The query parameters both lists take, besides the filters."""

    request: Request
    response: Response
    limit: Annotated[int, Query(ge=1, le=100)] = 20
    sort: Annotated[Sort, Query(description="What to order by")] = Sort.DATE
    order: Annotated[Literal["desc", "asc"], Query(description="Highest/newest first, or not")] = (
        "desc"
    )
    fmt: Annotated[
        Literal["json", "csv"] | None,
        Query(
            alias="format", description="csv: every matching row as a file (or Accept: text/csv)"
        ),
    ] = None
    before: Annotated[str | None, Query(description="Last `_id` of the previous page")] = None


ListQueryDep = Annotated[_ListQuery, Depends()]


async def _list_or_export(
    kind: _ListKind, q: _ListQuery, session: Any, user_id: str, filters: Filters
) -> Any:
    """One page as JSON with the next cursor in a header, or every matching row as CSV."""
    options: dict[str, Any] = {
        "user_id": user_id,
        "period": _settings(q.request).insights_period,
        "filters": filters,
        "sort": q.sort,
        "descending": q.order == "desc",
    }
    if _wants_csv(q.request, q.fmt):
        # End this request's transaction: on SQLite it holds the lock the export's reads need.
        await session.commit()
        rows = analyses_service.iter_all(
            q.request.app.state.session_factory, kind.lister, **options
        )
        return _csv_response(kind.header(), _records(rows, kind.record), kind.filename)
    try:
        found = await kind.lister(session, limit=q.limit + 1, before=q.before, **options)
    except analyses_service.AnalysisNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Unknown 'before' cursor.") from None
    return [kind.out(row) for row in one_page(found, q.limit, q.response, cursor=kind.cursor)]


@router.get("/", response_model=list[AdAnalysisOut], responses=_LIST_ERRORS)
async def list_analyses(
    user: CurrentUser, session: SessionDep, filters: FiltersDep, query: ListQueryDep
) -> Any:
    """Your analysed videos, filtered and sorted; `X-Next-Before` carries the next page's cursor.

    With `format=csv` (or `Accept: text/csv`) every matching analysis is streamed as CSV, with
    its transcript, every insight field and the summed performance of its ads.
    """
    return await _list_or_export(_ANALYSES, query, session, user.id, filters)


@router.get("/ads/", response_model=list[AdOut], responses=_LIST_ERRORS)
async def list_ads(
    user: CurrentUser, session: SessionDep, filters: FiltersDep, query: ListQueryDep
) -> Any:
    """Your ads with their performance over the configured period and their video's analysis.

    The same filters, sorts, paging and CSV export as the analyses.
    """
    return await _list_or_export(_ADS, query, session, user.id, filters)


@router.get("/ads/comparison", response_model=ComparisonOut, responses=_401)
async def compare_ads(
    request: Request, user: CurrentUser, session: SessionDep, filters: FiltersDep
) -> ComparisonOut:
    """Hook type, CTA timing, pace and score beside hook rate, hold rate and CTR, per ad."""
    period = _settings(request).insights_period
    rows, groups = await analyses_service.compare(
        session, user_id=user.id, period=period, filters=filters
    )
    return ComparisonOut(
        period=period,
        ads=[_ad_out(row) for row in rows],
        by_hook_type=[
            HookTypeSummary(
                hook_type=g.hook_type,
                ads=g.ads,
                impressions=g.impressions,
                spend=g.spend,
                hook_rate=g.hook_rate,
                hold_rate=g.hold_rate,
                ctr=g.ctr,
                average_score=g.average_score,
            )
            for g in groups
        ],
    )


async def _records(rows: AsyncIterator[Any], to_record: Any) -> AsyncIterator[list[Any]]:
    async for row in rows:
        yield to_record(row)


@router.get(
    "/{analysis_id}",
    response_model=AdAnalysisOut,
    responses={**_401, **error_responses(e404="No such analysis for this user")},
)
async def get_analysis(
    analysis_id: str, request: Request, user: CurrentUser, session: SessionDep
) -> AdAnalysisOut:
    """One analysed video: transcript, segments, insights and the performance of its ads."""
    row = await analyses_service.get_analysis_row(
        session,
        analysis_id=analysis_id,
        user_id=user.id,
        period=_settings(request).insights_period,
    )
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Analysis not found.")
    return _analysis_out(row)


@router.delete(
    "/{analysis_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_401, **error_responses(e404="No such analysis for this user")},
)
async def delete_analysis(analysis_id: str, user: CurrentUser, session: SessionDep) -> Response:
    """Delete one of your analysed videos."""
    removed = await analyses_service.delete_analyses(
        session, user_id=user.id, analysis_id=analysis_id
    )
    if not removed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Analysis not found.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/", response_model=DeletedOut, responses=_401)
async def delete_all_analyses(user: CurrentUser, session: SessionDep) -> DeletedOut:
    """Delete every analysis of yours, with the performance figures of their ads."""
    return DeletedOut(deleted=await analyses_service.delete_analyses(session, user_id=user.id))


class LegacyAnalysisFailedError(Exception):
    """The job the deprecated endpoint waited for did not complete (job None: it vanished)."""

    def __init__(self, detail: str, *, job: JobDocument | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.job = job


@router.post(
    "/analyze/",
    deprecated=True,
    response_model=list[AdAnalysisOut],
    responses={
        **_401,
        **error_responses(
            e400="No Facebook credentials saved, or Facebook refused them (invalid or expired "
            "token, missing permission, unknown ad account): the message says what to fix",
            e502="The analysis failed on our side or Facebook's",
            e503="Facebook or the transcription service is rate limited or unreachable; "
            "try again later",
        ),
        409: {
            "model": JobConflict,
            "description": "An analysis is already active, or this one was cancelled meanwhile",
        },
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
            job.error_message or job.message or f"The analysis {job.status}.",
            job=job,
        )
    rows = await analyses_service.list_analyses(
        session,
        user_id=user.id,
        period=_settings(request).insights_period,
        limit=1000,
        filters=Filters(job_id=job.id),
    )
    return [_analysis_out(row) for row in rows]


# The legacy endpoint answers the job's end in one status: the user's own doing is a 4xx.
LEGACY_USER_ERRORS = frozenset(
    {
        "facebook_invalid_token",
        "facebook_permission_denied",
        "facebook_credentials_missing",
        "facebook_object_not_found",
    }
)
LEGACY_OUTAGES = frozenset(
    {"facebook_rate_limited", "facebook_unavailable", "network_timeout", "openai_quota_exceeded"}
)


def legacy_status(job_status: str, error_code: str | None) -> int:
    """The HTTP status of a job that did not complete, as the legacy endpoint answers it."""
    if job_status == JobStatus.CANCELLED:
        return status.HTTP_409_CONFLICT
    if error_code in LEGACY_USER_ERRORS:
        return status.HTTP_400_BAD_REQUEST
    if error_code in LEGACY_OUTAGES:
        return status.HTTP_503_SERVICE_UNAVAILABLE
    return status.HTTP_502_BAD_GATEWAY


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
    """The deprecated endpoint's failures: 400 for the user's own, 503 outages, else 502."""

    @app.exception_handler(LegacyAnalysisFailedError)
    async def _legacy_failed(_request: Request, exc: LegacyAnalysisFailedError) -> JSONResponse:
        job = exc.job
        if job is None:
            return JSONResponse(
                {"detail": exc.detail}, status_code=502, headers=DEPRECATION_HEADERS
            )
        code = legacy_status(job.status, job.error_code)
        content: dict[str, object] = {"detail": exc.detail}
        if code == status.HTTP_409_CONFLICT:  # the 409 shape: which job, in which state
            content = JobConflict(detail=exc.detail, job_id=job.id, status=job.status).model_dump()
        return JSONResponse(content, status_code=code, headers=DEPRECATION_HEADERS)
