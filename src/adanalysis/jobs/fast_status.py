"""GET job-status answered before the framework's routing, when the answer is a plain 200.

Every open page polls job-status every 2 s. Routing through the app's many routes, the
middleware stack, dependency solving and the response classes cost more than the read itself,
so this ASGI middleware answers the common case (a valid token, the user's own job) directly,
with the same headers and bytes the route sends. Anything else (no token, a bad one, another
user's job, a query string, an error) goes on to the route, which gives the proper answer.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from adanalysis.auth.security import TokenDecoder
from adanalysis.ids import is_object_id
from adanalysis.jobs.reads import JobReader

log = logging.getLogger(__name__)

_HEADERS = b"content-type", b"application/json"


class FastJobStatus:
    """Answers `GET <prefix><job_id>` for its owner; passes every other request on."""

    def __init__(self, app: ASGIApp, *, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the hot case here, the rest through the app."""
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            body = await self._document(scope)
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            _HEADERS,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _document(self, scope: Scope) -> bytes | None:
        """The job document's JSON when this request may have it; None: let the route answer."""
        path: str = scope["path"]
        job_id = next((path[len(p) :] for p in self.prefixes if path.startswith(p)), None)
        # An id of another shape (or with a '/', a control character...) is the route's case.
        if job_id is None or not is_object_id(job_id):
            return None
        token = _bearer_token(scope["headers"])
        state = scope["app"].state
        decoder: TokenDecoder | None = getattr(state, "token_decoder", None)
        reader: JobReader | None = getattr(state, "job_reader", None)
        if token is None or decoder is None or reader is None:
            return None
        user_id = decoder.user_id(token)
        if user_id is None:
            return None
        try:
            read = await reader.status(job_id=job_id, user_id=user_id)
        except Exception:
            # The route reads again and answers the error the usual way (and logs it).
            log.debug("fast job-status read failed; the route answers", exc_info=True)
            return None
        if read.job is None:
            return None
        return read.job.model_dump_json(by_alias=True).encode()


def _bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, as OAuth2PasswordBearer reads it."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def status_prefixes(*route_prefixes: str) -> tuple[str, ...]:
    """The job-status path prefixes under the given router prefixes."""
    return tuple(f"{prefix}/job-status/" for prefix in route_prefixes)
