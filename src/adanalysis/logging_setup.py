"""Logging for the server and workers: structlog, JSON in production, readable in development.

Every line goes through the root handler, whoever wrote it (our modules, uvicorn, libraries);
job work has job_id, user_id, job_type and stage bound (contextvars, see bind_job); URLs and
headers that may carry tokens are redacted before anything is rendered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

# One pattern, so each line is scanned once (the access log writes a line per request):
# `access_token=` in Graph URLs, `token=` (the WebSocket takes the bearer token in its query
# string, and uvicorn logs it) and `Bearer <token>` in headers.
_SECRET = re.compile(r"((?:access_)?token=|Bearer\s+)[^&\s\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    """text with query-string tokens and bearer tokens masked."""
    return _SECRET.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    """Masks access tokens in query strings and bearer headers of any record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with secrets masked."""
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _redact_values(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The same masks over every string of the event (bound values, exception text)."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(level: str = "INFO", *, json_logs: bool = False) -> None:
    """One handler on the root logger, rendering through structlog, with secret redaction."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json_logs:
        final.append(structlog.processors.format_exc_info)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[*final, _redact_values, renderer],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # structlog's own loggers hand their events to the same handler.
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # uvicorn's loggers go through the root handler, so its access lines are redacted too.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    # httpx logs every request URL at INFO; keep it at WARNING.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@contextmanager
def bind_job(*, job_id: str, user_id: str, job_type: str) -> Iterator[None]:
    """Put the job on every log line written inside the block (and tasks started in it)."""
    with structlog.contextvars.bound_contextvars(
        job_id=job_id, user_id=user_id, job_type=job_type, stage=None
    ):
        yield


def bind_stage(stage: str) -> None:
    """Name the stage the current job is in on its next log lines."""
    structlog.contextvars.bind_contextvars(stage=stage)
