"""App-wide error handling: clear 4xx for bad input, 503 when the database is down."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adanalysis.jobs.schemas import ErrorOut, Responses
from adanalysis.ratelimit.limiter import LimiterUnavailableError, RateLimitedError

log = logging.getLogger(__name__)

DB_UNAVAILABLE = "The database is unavailable right now. Please try again in a moment."
# What FastAPI answers (400) when a JSON body is not UTF-8, nests too deep or has a huge number.
_FASTAPI_BODY_ERROR = "There was an error parsing the body"
UNREADABLE_BODY = (
    "The request body could not be read: send UTF-8 JSON (at most a few hundred levels deep) "
    "or a well-formed form."
)
UNSTORABLE_VALUE = (
    "A value in the request cannot be stored (for example it holds a NUL character); "
    "correct it and try again."
)


class ValidationIssue(BaseModel):
    """One refused input: its kind, where it is, and what to do (the input is never echoed)."""

    type: str
    loc: list[str | int]
    msg: str


class ValidationErrorOut(BaseModel):
    """The 422 answer: every problem found in the request."""

    detail: list[ValidationIssue]


# Statuses any operation can answer, documented on every one of them.
COMMON_RESPONSES: Responses = {
    413: {"model": ErrorOut, "description": "The request body is over the size limit"},
    422: {"model": ValidationErrorOut, "description": "The request has invalid input"},
    503: {"model": ErrorOut, "description": "The database is unavailable; retry shortly"},
}


def validation_error(issues: list[dict[str, Any]]) -> JSONResponse:
    """The 422 answer, keeping only type, loc and msg of each issue."""
    # FastAPI echoes each bad value back; that would return passwords and tokens.
    kept = [{key: issue[key] for key in ("type", "loc", "msg") if key in issue} for issue in issues]
    return JSONResponse({"detail": jsonable_encoder(kept)}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """422s without echoed input; database outages as 503 instead of a bare 500."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_unreadable_body(exc):
            return validation_error(
                [{"type": "body_unreadable", "loc": ["body"], "msg": UNREADABLE_BODY}]
            )
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            # Starlette names only the first matching route's methods; a path served by
            # several routes (GET, PUT and DELETE credentials) allows all of theirs.
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        return await http_exception_handler(request, exc)

    @app.exception_handler(RateLimitedError)
    async def _rate_limited(_request: Request, exc: RateLimitedError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.message},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(LimiterUnavailableError)
    async def _limiter_down(_request: Request, exc: LimiterUnavailableError) -> JSONResponse:
        log.error("rate-limit store unavailable: %s", exc)
        return JSONResponse(
            {"detail": "Signing in is unavailable right now. Please try again in a moment."},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(OperationalError)
    async def _db_down(_request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", type(exc.orig or exc).__name__)
        return JSONResponse(
            {"detail": DB_UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(DBAPIError)
    async def _db_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return JSONResponse(
                {"detail": DB_UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"}
            )
        if _is_data_error(exc):
            # The edge validation should have refused it first; never log the statement's values.
            log.warning("database refused a value: %s", type(exc.orig).__name__)
            return validation_error(
                [{"type": "value_error", "loc": ["request"], "msg": UNSTORABLE_VALUE}]
            )
        # A bug, not bad input; the engine hides SQL parameters, so the traceback is safe to log.
        raise exc

    @app.exception_handler(OSError)
    async def _os_error(_request: Request, exc: OSError) -> JSONResponse:
        # asyncpg raises ConnectionRefusedError/OSError when PostgreSQL is down.
        log.error("I/O error: %s", type(exc).__name__)
        return JSONResponse(
            {"detail": DB_UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"}
        )


def _allowed_methods(request: Request) -> list[str] | None:
    """Every method the API documents at the matched path, or None when it is not documented."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    documented = request.app.openapi().get("paths", {}).get(template)
    if not documented:
        return None
    methods = {method.upper() for method in documented}
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


def _is_data_error(exc: DBAPIError) -> bool:
    """A value the database cannot hold: SQLSTATE class 22 (asyncpg) or a DBAPI DataError."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return isinstance(exc, DataError) or (isinstance(sqlstate, str) and sqlstate.startswith("22"))


def _is_unreadable_body(exc: StarletteHTTPException) -> bool:
    """FastAPI's or Starlette's 400 for a body they could not decode."""
    if exc.status_code != 400:
        return False
    if exc.detail == _FASTAPI_BODY_ERROR and isinstance(exc.__cause__, ValueError | RecursionError):
        return True
    return isinstance(exc.__context__, MultiPartException)


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
