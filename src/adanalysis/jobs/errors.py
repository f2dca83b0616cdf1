"""Exceptions job code raises to end a job with a message a user can act on."""

from __future__ import annotations


class JobError(Exception):
    """A failure whose message is shown to the user as the job's error_message."""

    code = "job_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class JobCancelled(Exception):
    """Raised inside job code when the user asked to cancel."""


class JobLost(Exception):
    """This runner no longer owns the job (it was reaped or finished elsewhere)."""
