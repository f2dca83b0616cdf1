"""OpenAI SDK errors mapped to domain errors, and the one retry policy for all OpenAI calls."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Self, TypeVar

import openai
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from adanalysis.ads.errors import AdAnalysisError, OpenAIAuthError, OpenAIError, OpenAIQuotaError
from adanalysis.ads.limits import CallSlots, openai_slots
from adanalysis.monitoring.instruments import external_call, external_error

if TYPE_CHECKING:
    from adanalysis.config import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

QUOTA_MESSAGE = "OpenAI API quota exceeded. Please check your API limits."
RATE_LIMIT_MESSAGE = "OpenAI API rate limit exceeded. Please try again in a few minutes."
UNAVAILABLE_MESSAGE = "Could not reach OpenAI. Please try again."
AUTH_MESSAGE = "Invalid OpenAI API key. Please check your configuration."
FORBIDDEN_MESSAGE = "OpenAI denied access to the model. Please check your configuration."
NOT_FOUND_MESSAGE = "The configured OpenAI model was not found. Please check your configuration."


def openai_client(
    *, api_key: str, base_url: str | None, timeout: float, client: openai.AsyncOpenAI | None
) -> openai.AsyncOpenAI:
    """An AsyncOpenAI without the SDK's retries: ours (call_openai) skip insufficient_quota 429s."""
    if client is None:
        client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout)
    return client.with_options(max_retries=0)


class OpenAIEngine:
    """What the OpenAI transcriber and analyzer share: a client, a model, the retry policy."""

    name = "openai"
    default_model = ""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        client: openai.AsyncOpenAI | None = None,
        retry_initial_delay: float = 1.0,
        slots: CallSlots | None = None,
    ) -> None:
        self.model = model or self.default_model
        self.max_retries = max_retries
        self.retry_initial_delay = retry_initial_delay
        self._slots = slots  # the cap on calls in flight, across workers at scale
        self._client = openai_client(
            api_key=api_key, base_url=base_url, timeout=timeout, client=client
        )

    async def _call(
        self, call: Callable[[], Awaitable[T]], *, fallback: type[AdAnalysisError], action: str
    ) -> T:
        """call_openai with this engine's retry policy, each attempt holding a call slot."""
        slots = self._slots

        async def limited() -> T:
            if slots is None:
                return await call()
            async with slots.slot():  # a retry's back-off holds no slot
                return await call()

        return await call_openai(
            limited,
            max_retries=self.max_retries,
            fallback=fallback,
            action=action,
            retry_initial_delay=self.retry_initial_delay,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> Self:
        """An engine configured from the service settings (which must hold an API key)."""
        assert settings.openai_api_key is not None
        return cls(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            model=model,
            timeout=settings.openai_timeout_seconds,
            max_retries=settings.openai_max_retries,
            slots=openai_slots(settings),
        )


def is_quota_error(exc: BaseException) -> bool:
    """Whether exc is OpenAI's "insufficient_quota" 429, which no retry can fix."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code != 429:
        return False
    if exc.code == "insufficient_quota":
        return True
    body = exc.body
    # Some compatible servers put the code in `type` or nest the error object once more.
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return "insufficient_quota" in (inner.get("code"), inner.get("type"))
    return False


def is_retryable(exc: BaseException) -> bool:
    """Transient failures worth another attempt: timeouts, connection errors, 408/409/429, 5xx."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        if is_quota_error(exc):
            return False
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def to_domain_error(
    exc: openai.OpenAIError, *, fallback: type[AdAnalysisError], action: str
) -> AdAnalysisError:
    """The domain error (with its user-facing message) for an SDK error that was not recovered."""
    if is_quota_error(exc):
        return OpenAIQuotaError(QUOTA_MESSAGE)
    if isinstance(exc, openai.AuthenticationError):
        return OpenAIAuthError(AUTH_MESSAGE)
    if isinstance(exc, openai.PermissionDeniedError):
        return OpenAIAuthError(FORBIDDEN_MESSAGE)
    if isinstance(exc, openai.NotFoundError):
        return OpenAIError(NOT_FOUND_MESSAGE)
    if isinstance(exc, openai.RateLimitError):
        return OpenAIError(RATE_LIMIT_MESSAGE)
    if isinstance(exc, openai.APIConnectionError):
        return OpenAIError(UNAVAILABLE_MESSAGE)
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return OpenAIError(UNAVAILABLE_MESSAGE)
    if isinstance(exc, openai.APIStatusError):
        # A 400/413/422 is about this one input (bad or too long audio), not the account.
        return fallback(f"OpenAI could not {action} this video (HTTP {exc.status_code}).")
    return fallback(f"OpenAI could not {action} this video.")


def _describe(exc: BaseException | None) -> str:
    """A log-safe description: class and status, never the server's message (it may echo a key)."""
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")


async def call_openai(
    call: Callable[[], Awaitable[T]],
    *,
    max_retries: int,
    fallback: type[AdAnalysisError],
    action: str,
    retry_initial_delay: float = 1.0,
    retry_max_delay: float = 20.0,
) -> T:
    """Run call with our retry policy and raise domain errors; the SDK's own retries must be off."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=wait_exponential_jitter(
            multiplier=retry_initial_delay, max=retry_max_delay, jitter=retry_initial_delay
        ),
        retry=retry_if_exception(is_retryable),
        before_sleep=lambda state: log.warning(
            "OpenAI %s attempt %d failed: %s; retrying",
            action,
            state.attempt_number,
            _describe(state.outcome.exception()) if state.outcome else "?",
        ),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                external_call("openai", action)
                try:
                    return await call()
                except openai.OpenAIError as exc:
                    external_error("openai", type(exc).__name__)
                    raise
    except openai.OpenAIError as exc:
        log.warning("OpenAI %s failed: %s", action, _describe(exc))
        raise to_domain_error(exc, fallback=fallback, action=action) from exc
    raise AssertionError("unreachable")  # pragma: no cover
