"""The app factory: routers, error handling, and the lifespan that owns db and executor."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from adanalysis import ads  # noqa: F401  (registers the ad_analysis job type)
from adanalysis.ads import pipeline  # noqa: F401
from adanalysis.ads.router import router as ads_router
from adanalysis.auth.router import router as auth_router
from adanalysis.config import Settings, get_settings
from adanalysis.crypto import SecretBox
from adanalysis.db import create_engine, create_session_factory
from adanalysis.errors import BodySizeLimit, install_error_handlers
from adanalysis.jobs.events import JobEvents
from adanalysis.jobs.executors import Executor
from adanalysis.jobs.executors.local import LocalExecutor
from adanalysis.jobs.recovery import make_worker_id
from adanalysis.jobs.router import router as jobs_router
from adanalysis.jobs.runtime import JobServices
from adanalysis.jobs.service import BackgroundJobService
from adanalysis.monitoring.router import router as monitoring_router
from adanalysis.workers import stop_shared_pools

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_GRAPH_URL = Settings.model_fields["graph_api_url"].default


def create_app(settings: Settings | None = None, *, start_executor: bool = True) -> FastAPI:
    """A configured app; the executor starts with the app's lifespan."""
    settings = settings or get_settings()
    if settings.executor != "local":
        # Scale-out (Celery workers) is planned; refuse rather than silently run jobs in-process.
        raise RuntimeError(
            f"ADANALYSIS_EXECUTOR={settings.executor} is not available yet; "
            "use 'local' (the default)."
        )
    if settings.sandbox and settings.graph_api_url == DEFAULT_GRAPH_URL:
        # The embedded demo: the Graph client talks to the sandbox this app mounts.
        settings = settings.model_copy(
            update={"graph_api_url": f"{settings.public_url}/sandbox/graph"}
        )
    for module in settings.job_modules:
        importlib.import_module(module)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.sqlalchemy_url)
        session_factory = create_session_factory(engine)
        secret_key = settings.resolved_secret_key()
        events = JobEvents()
        services = JobServices(
            session_factory=session_factory,
            settings=settings,
            events=events,
            worker_id=make_worker_id("local"),
            secrets=SecretBox(secret_key),
        )
        executor: Executor = LocalExecutor(services, concurrency=settings.max_concurrent_jobs)
        app.state.settings = settings
        app.state.engine = engine
        app.state.session_factory = session_factory
        app.state.secret_key = secret_key
        app.state.secret_box = services.secrets
        app.state.events = events
        app.state.executor = executor
        app.state.job_service = BackgroundJobService(
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
            # The speech children die with the jobs that used them (a thread: it joins them).
            await asyncio.to_thread(stop_shared_pools)
            await engine.dispose()

    app = FastAPI(
        title="adanalysis",
        version="0.1.0",
        description="AI analysis of Facebook video ads, run as background jobs.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(auth_router)
    app.include_router(jobs_router)
    app.include_router(ads_router)
    app.include_router(monitoring_router)
    if settings.sandbox:
        from adanalysis.sandbox.graph import SandboxConfig, create_graph_sandbox

        config = SandboxConfig(
            latency_seconds=settings.sandbox_latency_seconds,
            download_latency_seconds=settings.sandbox_download_latency_seconds,
        )
        app.mount("/sandbox/graph", create_graph_sandbox(config))
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
