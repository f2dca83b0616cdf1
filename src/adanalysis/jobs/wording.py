"""The sentences users see about a job's state; a job type words them in its own terms."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 result', '2 results' (plural_form for irregular nouns: 'analysis', 'analyses')."""
    noun = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {noun}"


class JobWording:
    """Generic messages; subclass and override to speak of the job type's own things."""

    noun = "job"  # what the user calls one job of this type ("ad analysis")

    def queued(self) -> str:
        """The message of a job that waits for a runner."""
        return "Job queued."

    def started(self) -> str:
        """The answer to a start request."""
        return "Job started successfully. Use the job ID to track progress."

    def conflict(self, *, job_id: str, status: str) -> str:
        """Why a second job of this type cannot start while one is active."""
        return (
            f"A {self.noun} is already {status} (job {job_id}). "
            "Follow its progress, or cancel it before starting another."
        )

    def kept(self, count: int) -> str:
        """What a stopped job kept: '3 results were kept.'."""
        return f"{plural(count, 'result')} {'was' if count == 1 else 'were'} kept."

    def cancelled(self, *, kept: int) -> str:
        """The message of a job cancelled while it ran."""
        return "Job cancelled by user." + (f" {self.kept(kept)}" if kept else "")

    def cancelled_before_start(self) -> str:
        """The message of a job cancelled while pending."""
        return "Job cancelled by user before it started."

    def cancelling(self) -> str:
        """The message while a running job is asked to stop."""
        return "Cancelling..."

    def cancelled_unconfirmed(self) -> str:
        """A cancel request whose runner died before it could confirm."""
        return "Job cancelled by user (its worker stopped before it could confirm)."

    def failed(self) -> str:
        """The message beside a failed job's error_message."""
        return "Job failed."

    def timed_out(self, *, minutes: int) -> str:
        """The error of a job stopped by its time limit."""
        return (
            f"The job took longer than its {minutes}-minute limit and was stopped. "
            "Partial results were kept; try again with a smaller job."
        )

    def internal_error(self, *, job_id: str) -> str:
        """The error of a job whose code crashed."""
        return (
            "The job stopped because of an unexpected internal error. Please try again; "
            f"if it keeps failing, contact support with job id {job_id}."
        )

    def unknown_type(self, *, job_type: str) -> str:
        """The error of a job no runner knows how to run."""
        return f"Unknown job type '{job_type}'."

    def resuming(self, *, attempt: int, max_attempts: int) -> str:
        """The message of a job requeued after its runner died."""
        return (
            f"Resuming after an interruption (attempt {attempt} of {max_attempts}); "
            "finished work is kept."
        )

    def gave_up(self, *, attempts: int) -> str:
        """The error of a job whose runners died too often."""
        times = "once" if attempts == 1 else f"{attempts} times"
        return (
            f"The job was interrupted {times} (the server or worker running it stopped) "
            "and was given up. Partial results were kept; please start it again."
        )

    def paused(self) -> str:
        """The message of a job put back by a graceful shutdown."""
        return "Paused by a server restart; it resumes when the server is back."

    def not_queued(self) -> str:
        """The error of a job the queue could not take (scale-out broker down)."""
        return (
            "The job could not be queued because the job queue (broker) did not answer. "
            "Nothing was run; please start it again in a minute."
        )
