"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["monitoring"])


@router.get("/health", responses={503: {"description": "The database does not answer"}})
async def health(request: Request) -> JSONResponse:
    """200 when the database answers, 503 otherwise."""
    try:
        async with request.app.state.session_factory() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    return JSONResponse(
        {"status": "ok", "database": "up", "executor": request.app.state.settings.executor}
    )


@router.get(
    "/readyz",
    responses={503: {"description": "The database or the job broker does not answer"}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 when this process can take work: database up and, at scale, the broker up."""
    checks: dict[str, str] = {}
    try:
        async with request.app.state.session_factory() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "up"
    except Exception:
        checks["database"] = "down"
    broker_ready = getattr(request.app.state.executor, "broker_ready", None)
    if broker_ready is None:
        checks["broker"] = "not used"  # the embedded executor runs jobs in this process
    else:
        checks["broker"] = "up" if await broker_ready() else "down"
    ok = "down" not in checks.values()
    body = {"status": "ok" if ok else "unavailable", **checks}
    return JSONResponse(body, status_code=200 if ok else 503)
