"""App-wide error handling: clear 4xx for bad input, 503 when the database is down."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

DB_UNAVAILABLE = "The database is unavailable right now. Please try again in a moment."


def install_error_handlers(app: FastAPI) -> None:
    """422s without echoed input; database outages as 503 instead of a bare 500."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI echoes each bad value back; that would return passwords and tokens.
        errors = [
            {key: value for key, value in error.items() if key in {"type", "loc", "msg"}}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(OperationalError)
    async def _db_down(_request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", type(exc.orig).__name__ if exc.orig else exc)
        return JSONResponse(
            {"detail": DB_UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(DBAPIError)
    async def _db_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return JSONResponse(
                {"detail": DB_UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"}
            )
        raise exc

    @app.exception_handler(OSError)
    async def _os_error(_request: Request, exc: OSError) -> JSONResponse:
        # asyncpg raises ConnectionRefusedError/OSError when PostgreSQL is down.
        log.error("I/O error: %s", type(exc).__name__)
        return JSONResponse(
            {"detail": DB_UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"}
        )


class BodySizeLimit:
    """Reject request bodies over max_bytes with 413, by header or as they stream in."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"Request body too large; the limit is {self.max_bytes} bytes."},
            status_code=413,
        )
        await response({"type": "http"}, _no_receive, send)


class _TooLarge(HTTPException):
    """The streamed body passed the limit; an HTTPException so FastAPI's body reader re-raises."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body too large; the limit is {max_bytes} bytes.")


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
