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
