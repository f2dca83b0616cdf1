"""Job types and the async functions that run them; domains register themselves here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adanalysis.jobs.runtime import JobContext


@dataclass
class JobOutcome:
    """What a finished job reports: its final message and counts."""

    message: str
    result_count: int = 0
    results: list[Any] | None = field(default=None)


JobFunction = Callable[["JobContext"], Awaitable[JobOutcome]]
_registry: dict[str, JobFunction] = {}


def register(job_type: str) -> Callable[[JobFunction], JobFunction]:
    """Decorator: run the function for jobs of job_type."""

    def decorate(fn: JobFunction) -> JobFunction:
        _registry[job_type] = fn
        return fn

    return decorate


def get_job_function(job_type: str) -> JobFunction | None:
    """The function registered for job_type."""
    return _registry.get(job_type)


def registered_types() -> list[str]:
    """Every registered job type."""
    return sorted(_registry)
