"""The rate-limit store interface and its errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Hit:
    """A key's count after one more attempt, and the seconds until its window ends."""

    count: int
    retry_after: float


class LimiterUnavailableError(Exception):
    """The store cannot be reached (Redis down)."""


class RateLimitedError(Exception):
    """A limit is reached: answered 429 with message and Retry-After (whole seconds)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Limiter(Protocol):
    """Counters that start at the first hit and vanish window_seconds later."""

    async def hit(self, key: str, *, window_seconds: float) -> Hit:
        """Count one attempt for key."""
        ...

    async def undo(self, key: str) -> None:
        """Take back one attempt (it turned out not to count)."""
        ...

    async def reset(self, key: str) -> None:
        """Forget key's count."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
