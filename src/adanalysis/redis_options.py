"""Redis clients that survive a Redis restart: a pooled connection that broke is retried once."""

from __future__ import annotations

from typing import Any

from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def reconnecting() -> dict[str, Any]:
    """Options: after a restart, a command on a broken pooled connection retries on a new one."""
    return {
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
