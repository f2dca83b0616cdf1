"""The polled job reads (job-status, the history) answered before the framework's routing.

Every open page polls job-status every 2 s, and the history is opened often. Routing through the
app's many routes, the middleware stack, dependency solving and the response classes cost more
than the reads themselves, so this ASGI middleware answers the common cases (a valid token, the
user's own job or plain history page) directly, with the same bytes and headers the routes send.
Anything else (no token, a bad one, another user's job, an unknown cursor, a filter or any other
query parameter, an error) goes on to the routes, which give the proper answer.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import ASGIApp, Receive, Scope, Send

from adanalysis.auth.security import TokenDecoder
from adanalysis.ids import is_object_id
from adanalysis.jobs.errors import JobNotFoundError
from adanalysis.jobs.reads import JobReader
from adanalysis.jobs.schemas import SUMMARY_LIST
from adanalysis.paging import NEXT_CURSOR_HEADER, split_page

log = logging.getLogger(__name__)

_JSON = b"content-type", b"application/json"
_NEXT = NEXT_CURSOR_HEADER.lower().encode()
HISTORY_DEFAULT_LIMIT = 20  # the route's default page size
HISTORY_MAX_LIMIT = 100
Answer = tuple[bytes, list[tuple[bytes, bytes]]]  # body, headers before the content ones


class FastJobReads:
    """Answers the owner's plain `GET <prefix>/job-status/<id>` and `GET <prefix>/jobs/`."""

    def __init__(self, app: ASGIApp, *, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.status_prefixes = tuple(f"{p}/job-status/" for p in prefixes)
        self.history_paths = frozenset(f"{p}/jobs/" for p in prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the hot cases here, the rest through the app."""
        if scope["type"] == "http" and scope["method"] == "GET":
            answer = await self._answer(scope)
            if answer is not None:
                body, headers = answer
                headers += [(b"content-length", str(len(body)).encode()), _JSON]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope) -> Answer | None:
        """The response when this request is a plain read its user may make; None otherwise."""
        path: str = scope["path"]
        job_id = next((path[len(p) :] for p in self.status_prefixes if path.startswith(p)), None)
        # An id of another shape (or with a '/', a control character...) is the route's case.
        status_read = job_id is not None and is_object_id(job_id) and not scope["query_string"]
        page = None if status_read else _history_query(path, scope, self.history_paths)
        if not status_read and page is None:
            return None
        state = scope["app"].state
        decoder: TokenDecoder | None = getattr(state, "token_decoder", None)
        reader: JobReader | None = getattr(state, "job_reader", None)
        token = _bearer_token(scope["headers"])
        if token is None or decoder is None or reader is None:
            return None
        user_id = decoder.user_id(token)
        if user_id is None:
            return None
        try:
            if page is not None:
                return await _history(reader, user_id, *page)
            assert job_id is not None
            read = await reader.status(job_id=job_id, user_id=user_id)
        except JobNotFoundError:
            return None  # an unknown cursor: the route's 404
        except Exception:
            # The route reads again and answers the error the usual way (and logs it).
            log.debug("fast job read failed; the route answers", exc_info=True)
            return None
        if read.job is None:
            return None
        return read.job.model_dump_json(by_alias=True).encode(), []


async def _history(
    reader: JobReader, user_id: str, limit: int, before: str | None
) -> Answer | None:
    """A plain history page as the route writes it: the summaries, the next page's cursor."""
    rows = await reader.history(user_id=user_id, limit=limit + 1, before=before)
    if rows is None:
        return None
    page, cursor = split_page(rows, limit)
    headers = [] if cursor is None else [(_NEXT, cursor.encode())]
    return SUMMARY_LIST.dump_json(page, by_alias=True), headers


def _history_query(
    path: str, scope: Scope, history_paths: frozenset[str]
) -> tuple[int, str | None] | None:
    """(limit, before) of a history request with only those parameters, well formed."""
    if path not in history_paths:
        return None
    limit, before = HISTORY_DEFAULT_LIMIT, None
    seen: set[str] = set()
    pairs: list[Any] = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    for key, value in pairs:
        if key in seen:
            return None
        seen.add(key)
        if key == "limit" and value.isascii() and value.isdigit():
            limit = int(value)
            if not 1 <= limit <= HISTORY_MAX_LIMIT:
                return None
        elif key == "before" and is_object_id(value):
            before = value
        else:
            return None
    return limit, before


def _bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, as OAuth2PasswordBearer reads it."""
    for name, value in headers:
        if name == b"authorization":
            scheme, token = get_authorization_scheme_param(value.decode("latin-1"))
            return token if scheme.lower() == "bearer" and token else None
    return None
