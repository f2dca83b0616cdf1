"""Exceptions of the job system: job code's own, and refused state changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adanalysis.jobs.models import BackgroundJob


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


class InvalidTransitionError(Exception):
    """A state change the job's current state does not allow (or the job is gone)."""

    def __init__(
        self, job_id: str, transition: str, status: str | None, owner_id: str | None = None
    ) -> None:
        state = status or "missing"
        super().__init__(f"job {job_id}: '{transition}' is not allowed from '{state}'")
        self.job_id = job_id
        self.transition = transition
        self.status = status  # None: no such job
        self.owner_id = owner_id


class ActiveJobExistsError(Exception):
    """The user already has a pending or running job of this type."""

    def __init__(self, job: BackgroundJob) -> None:
        super().__init__(job.id)
        self.job = job


class JobStartContendedError(Exception):
    """Starts kept colliding with jobs that ended at the same moment; the caller may retry."""


class JobNotFoundError(Exception):
    """No such job for this user (another user's job is 'not found' too)."""


class JobAlreadyFinishedError(Exception):
    """The job already ended; there is nothing to cancel."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id
        self.status = status


class JobDeferredError(InvalidTransitionError):
    """Not claimed: its user already runs as many jobs as allowed; it stays pending."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, "claim", "pending")


class JobQueueUnavailableError(Exception):
    """The job could not be handed to the queue (the broker does not answer)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
