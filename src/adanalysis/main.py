"""The app factory: routers, error handling, and the lifespan that owns db and executor."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from adanalysis.ads.router import install_error_handlers as install_ads_error_handlers
from adanalysis.ads.router import router as ads_router
from adanalysis.ads.workdirs import sweep_workdirs
from adanalysis.auth.router import router as auth_router
from adanalysis.auth.security import TokenDecoder
from adanalysis.auth.throttle import AuthThrottle
from adanalysis.bootstrap import build_executor, job_runtime, scheduling_policy
from adanalysis.config import Settings, get_settings
from adanalysis.errors import COMMON_RESPONSES, BodySizeLimit, install_error_handlers
from adanalysis.jobs.fast_path import FastJobReads
from adanalysis.jobs.reads import JobReader
from adanalysis.jobs.router import install_error_handlers as install_job_error_handlers
from adanalysis.jobs.service import BackgroundJobService
from adanalysis.monitoring.admin import router as admin_router
from adanalysis.monitoring.prometheus import router as prometheus_router
from adanalysis.monitoring.router import router as monitoring_router
from adanalysis.notifications.router import router as notifications_router
from adanalysis.ratelimit.factory import make_limiter
from adanalysis.validation import document_control_character_rule, refuse_control_characters

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
API_DESCRIPTION = """AI analysis of Facebook video ads, run as background jobs.

Live updates of one job: `WS /api/v1/ad_analysis/ws/jobs/{job_id}?token=<bearer token>` sends
the whole job document, then each update, and closes (1000) after the final status. A missing,
invalid or expired token, an unknown job and another user's job all get the same answer: the
connection is accepted and closed at once with code 1008 (policy violation) and the reason
"Job not found or not signed in" (not an HTTP 403 at the handshake, so browsers can read it).

Input containing control characters (NUL and the like; tabs and line breaks are allowed inside
JSON and form bodies) is refused with 422. Sign-in and registration are rate-limited per account
and per client address: 429 with a Retry-After header.
"""
# Paths of the web app's screens; everything else (/api, /docs, /assets, /health) is not the app.
APP_PAGES = (
    "/jobs/{job_id}",
    "/analyses/{analysis_id}",
    "/history",
    "/ads",
    "/compare",
    "/connection",
    "/settings",
    "/admin",
)


def create_app(
    settings: Settings | None = None,
    *,
    start_executor: bool = True,
    freeze_after_start: bool = False,
) -> FastAPI:
    """A configured app; the executor starts with the app's lifespan."""
    settings = settings or get_settings()
    policy = scheduling_policy(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kind = "local" if settings.executor == "local" else "api"
        async with job_runtime(settings, worker_kind=kind) as runtime:
            executor = build_executor(settings, runtime, policy=policy)
            app.state.engine = runtime.engine
            app.state.session_factory = runtime.services.session_factory
            app.state.secret_key = runtime.secret_key
            app.state.token_decoder = TokenDecoder(runtime.secret_key)
            app.state.job_reader = reader = JobReader(
                runtime.read_engine, inline=runtime.inline_engine
            )
            app.state.secret_box = runtime.secrets
            app.state.events = runtime.events
            app.state.job_registry = runtime.registry
            app.state.job_lifecycle = runtime.lifecycle
            app.state.executor = executor
            limiter = make_limiter(settings, runtime.services.session_factory)
            app.state.auth_throttle = AuthThrottle(limiter, settings)
            app.state.job_service = BackgroundJobService(
                lifecycle=runtime.lifecycle,
                registry=runtime.registry,
                executor=executor,
                default_estimate_seconds=settings.default_estimated_duration_seconds,
                max_attempts=settings.max_attempts,
            )
            if start_executor:
                # Before any job runs here: what the folder holds now belongs to dead runs
                # only, or to live jobs of other processes sharing the data folder (kept).
                await sweep_workdirs(
                    runtime.services.session_factory,
                    settings.data_dir / "tmp",
                    current_worker=runtime.services.worker_id,
                    stale_after_seconds=settings.stale_after_seconds,
                )
                await executor.start()
            if freeze_after_start:
                # Start-up's objects (modules, routes, schemas) leave the collector's sight, so
                # full collections under load stop walking them: bench/polling.py's p99 went
                # 151 -> 54 ms on PostgreSQL, 36 -> 30 ms on SQLite. Only for a serving process:
                # frozen objects are never freed, and tests build many apps.
                gc.freeze()
            try:
                yield
            finally:
                await executor.stop()
                await limiter.close()
                await reader.aclose()

    app = FastAPI(
        title="adanalysis",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(refuse_control_characters)],
    )
    app.state.settings = settings
    app.state.scheduling = policy
    install_error_handlers(app)
    install_job_error_handlers(app)
    install_ads_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outermost of ours: polled job reads (status, history) skip routing and the other middleware.
    app.add_middleware(FastJobReads, prefixes=(ads_router.prefix,))
    for router in (auth_router, ads_router, admin_router, notifications_router):
        app.include_router(router, responses=COMMON_RESPONSES)
    app.include_router(monitoring_router, responses={k: COMMON_RESPONSES[k] for k in (413, 422)})
    app.include_router(prometheus_router)
    _serve_web_app(app)
    _document_input_rules(app)
    return app


def _document_input_rules(app: FastAPI) -> None:
    """The OpenAPI document, with the control-character rule written into request strings."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = generate()
        if fresh:
            document_control_character_rule(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _serve_web_app(app: FastAPI) -> None:
    """Serve the built web app at / (assets under /assets), or point to the API docs."""
    index = STATIC_DIR / "index.html"
    assets = STATIC_DIR / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")

    @app.get("/", include_in_schema=False, response_model=None)
    async def root() -> FileResponse | RedirectResponse:
        if index.exists():
            return FileResponse(index)
        return RedirectResponse("/docs")

    # The app's own pages are client-side routes: a reload or a shared link must get the app.
    for page in APP_PAGES:
        app.add_api_route(page, root, methods=["GET"], include_in_schema=False, response_model=None)
