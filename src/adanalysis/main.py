"""The app factory: routers, error handling, and the lifespan that owns db and executor."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from adanalysis.ads.router import install_error_handlers as install_ads_error_handlers
from adanalysis.ads.router import router as ads_router
from adanalysis.auth.router import router as auth_router
from adanalysis.bootstrap import job_runtime, scheduling_policy
from adanalysis.config import Settings, get_settings
from adanalysis.errors import BodySizeLimit, install_error_handlers
from adanalysis.jobs.executors.local import LocalExecutor
from adanalysis.jobs.router import install_error_handlers as install_job_error_handlers
from adanalysis.jobs.service import BackgroundJobService
from adanalysis.monitoring.router import router as monitoring_router

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, *, start_executor: bool = True) -> FastAPI:
    """A configured app; the executor starts with the app's lifespan."""
    settings = settings or get_settings()
    if settings.executor != "local":
        # Scale-out (Celery workers) is planned; refuse rather than silently run jobs in-process.
        raise RuntimeError(
            f"ADANALYSIS_EXECUTOR={settings.executor} is not available yet; "
            "use 'local' (the default)."
        )
    policy = scheduling_policy(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with job_runtime(settings, worker_kind="local") as runtime:
            executor = LocalExecutor(
                runtime.services, concurrency=settings.max_concurrent_jobs, policy=policy
            )
            app.state.engine = runtime.engine
            app.state.session_factory = runtime.services.session_factory
            app.state.secret_key = runtime.secret_key
            app.state.secret_box = runtime.secrets
            app.state.events = runtime.events
            app.state.job_registry = runtime.registry
            app.state.job_lifecycle = runtime.lifecycle
            app.state.executor = executor
            app.state.job_service = BackgroundJobService(
                lifecycle=runtime.lifecycle,
                registry=runtime.registry,
                executor=executor,
                default_estimate_seconds=settings.default_estimated_duration_seconds,
                max_attempts=settings.max_attempts,
            )
            if start_executor:
                await executor.start()
            try:
                yield
            finally:
                await executor.stop()

    app = FastAPI(
        title="adanalysis",
        version="0.1.0",
        description="AI analysis of Facebook video ads, run as background jobs.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.scheduling = policy
    install_error_handlers(app)
    install_job_error_handlers(app)
    install_ads_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(auth_router)
    app.include_router(ads_router)
    app.include_router(monitoring_router)
    _serve_web_app(app)
    return app


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
