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


def _configured(json_logs: bool, capsys: pytest.CaptureFixture[str], write: object) -> str:
    from adanalysis.logging_setup import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO", json_logs=json_logs)
        write()  # type: ignore[operator]
        return capsys.readouterr().err
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_job_lines_carry_the_job_as_json_in_production(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """JSON lines with job_id, user_id, job_type and stage bound; secrets still masked."""
    import json

    from adanalysis.logging_setup import bind_job, bind_stage

    def write() -> None:
        log = logging.getLogger("adanalysis.test")
        with bind_job(job_id="j1", user_id="u1", job_type="ad_analysis"):
            bind_stage("Downloading videos (#/#)...")
            log.info("fetching %s", "https://x/v?access_token=EAABsecret")
        log.info("after the job")

    first, after = (json.loads(line) for line in _configured(True, capsys, write).splitlines())
    assert first["job_id"] == "j1" and first["user_id"] == "u1"
    assert first["stage"] == "Downloading videos (#/#)..." and first["level"] == "info"
    assert first["event"] == "fetching https://x/v?access_token=[redacted]"
    assert first["logger"] == "adanalysis.test" and "timestamp" in first
    assert "job_id" not in after and "stage" not in after, "bindings end with the job"


def test_development_lines_are_readable(capsys: pytest.CaptureFixture[str]) -> None:
    from adanalysis.logging_setup import bind_job

    def write() -> None:
        with bind_job(job_id="j2", user_id="u2", job_type="t"):
            logging.getLogger("adanalysis.test").warning("slow call")

    line = _configured(False, capsys, write).strip()
    assert not line.startswith("{")
    assert "slow call" in line and "job_id=j2" in line and "warning" in line
