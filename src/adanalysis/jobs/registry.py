"""The job types a process can run, registered explicitly at start-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adanalysis.jobs.wording import JobWording

if TYPE_CHECKING:
    from adanalysis.jobs.context import JobContext


@dataclass
class JobOutcome:
    """What a finished job reports: its final message and counts."""

    message: str
    result_count: int = 0
    results: list[Any] | None = field(default=None)


JobFunction = Callable[["JobContext"], Awaitable[JobOutcome]]


@dataclass(frozen=True)
class JobType:
    """A kind of job: the function that runs it and the words it uses for its states."""

    name: str
    run: JobFunction
    wording: JobWording = field(default_factory=JobWording)


class JobRegistry:
    """Job types by name; one per process, built by whoever starts the process."""

    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}

    def register(self, job_type: JobType, *, replace: bool = False) -> None:
        """Add a job type; a second registration of a name is a mistake unless replace is set."""
        if job_type.name in self._types and not replace:
            raise ValueError(f"job type '{job_type.name}' is already registered")
        self._types[job_type.name] = job_type

    def get(self, name: str) -> JobType | None:
        """The job type called name, if registered."""
        return self._types.get(name)

    def wording(self, name: str) -> JobWording:
        """The words of job type name; generic ones for a type this process does not know."""
        job_type = self._types.get(name)
        return job_type.wording if job_type is not None else JobWording()
