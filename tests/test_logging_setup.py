"""Secrets are masked in every log line, whichever library wrote it."""

from __future__ import annotations

import logging

import pytest

from adanalysis.logging_setup import RedactSecrets


def _filtered(message: str, *args: object) -> str:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, message, args, None)
    RedactSecrets().filter(record)
    return record.getMessage()


def test_tokens_in_urls_and_headers_are_masked() -> None:
    """Query-string tokens (Graph, WebSocket) and bearer headers never reach the log."""
    line = _filtered(
        '%s - "WebSocket /api/v1/ad_analysis/ws/jobs/abc?token=%s" [accepted]',
        "1.2.3.4",
        "eyJhbGciOi.secret",
    )
    assert "eyJhbGciOi" not in line and "token=[redacted]" in line
    line = _filtered(
        "GET https://graph.facebook.com/v25.0/act_1/ads?access_token=EAABsecret&limit=25"
    )
    assert "EAABsecret" not in line and "limit=25" in line
    line = _filtered("headers: Authorization: Bearer EAABsecret123")
    assert "EAABsecret123" not in line
    assert _filtered("nothing secret here") == "nothing secret here"


def test_configured_logging_masks_uvicorn_access_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """The server's logging setup applies the mask to uvicorn's access log."""
    from adanalysis.logging_setup import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        logging.getLogger("uvicorn.access").info(
            '%s - "WebSocket /api/v1/ad_analysis/ws/jobs/x?token=%s" [accepted]',
            "127.0.0.1",
            "jwt.payload.sig",
        )
        err = capsys.readouterr().err
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "token=[redacted]" in err and "jwt.payload.sig" not in err
