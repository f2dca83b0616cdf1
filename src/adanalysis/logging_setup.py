"""Logging for the server and workers; URLs that may carry tokens are redacted."""

from __future__ import annotations

import logging
import re

# One pattern, so each line is scanned once (the access log writes a line per request):
# `access_token=` in Graph URLs, `token=` (the WebSocket takes the bearer token in its query
# string, and uvicorn logs it) and `Bearer <token>` in headers.
_SECRET = re.compile(r"((?:access_)?token=|Bearer\s+)[^&\s\"']+", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    """Masks access tokens in query strings and bearer headers of any record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with secrets masked."""
        message = record.getMessage()
        redacted = _SECRET.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str = "INFO") -> None:
    """One handler on the root logger, with secret redaction."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's loggers go through the root handler, so its access lines are redacted too.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    # httpx logs every request URL at INFO; keep it at WARNING.
    logging.getLogger("httpx").setLevel(logging.WARNING)
