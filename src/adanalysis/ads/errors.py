"""Domain errors that carry the message a user sees on a failed job."""

from __future__ import annotations

from adanalysis.jobs.errors import JobError


class AdAnalysisError(JobError):
    """An error with a user-facing message and a machine-readable code."""

    code = "ad_analysis_error"
    # Fatal errors end the job; non-fatal ones fail only the video they happened on.
    fatal = True

    def __init__(self, message: str, *, code: str | None = None, fatal: bool | None = None) -> None:
        super().__init__(message, code=code)
        if fatal is not None:
            self.fatal = fatal


class FacebookError(AdAnalysisError):
    """A failure talking to the Facebook Graph API."""

    code = "facebook_error"


class FacebookAuthError(FacebookError):
    """The token is invalid, expired or revoked."""

    code = "facebook_invalid_token"


class FacebookPermissionError(FacebookError):
    """The token lacks a permission the call needs."""

    code = "facebook_permission_denied"


class FacebookNotFoundError(FacebookError):
    """The ad account (or object) does not exist, or the token cannot read it."""

    code = "facebook_object_not_found"


class FacebookRateLimitError(FacebookError):
    """Facebook throttled the app, the account or the user."""

    code = "facebook_rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class FacebookTransientError(FacebookError):
    """A temporary failure (5xx, timeout, is_transient); retried before it surfaces."""

    code = "facebook_unavailable"


class VideoUnavailableError(AdAnalysisError):
    """One video cannot be fetched; the job goes on with the others."""

    code = "video_unavailable"
    fatal = False


class MediaError(AdAnalysisError):
    """Download or audio extraction of one video failed."""

    code = "media_error"
    fatal = False


class NetworkTimeoutError(AdAnalysisError):
    """Downloads timed out repeatedly."""

    code = "network_timeout"


class OpenAIError(AdAnalysisError):
    """A failure talking to OpenAI (or a compatible server)."""

    code = "openai_error"


class OpenAIQuotaError(OpenAIError):
    """The OpenAI account has no quota left."""

    code = "openai_quota_exceeded"


class OpenAIAuthError(OpenAIError):
    """The OpenAI key is wrong."""

    code = "openai_invalid_key"


class TranscriptionError(AdAnalysisError):
    """One video could not be transcribed; the job goes on."""

    code = "transcription_failed"
    fatal = False


class AnalysisError(AdAnalysisError):
    """One transcript could not be analysed; the job goes on."""

    code = "analysis_failed"
    fatal = False
