"""A job type that does nothing: for benchmarks and smoke checks of a deployment's plumbing.

Enable it with ADANALYSIS_JOB_MODULES='["adanalysis.jobs.noop"]' on the workers.
"""

from __future__ import annotations

from adanalysis.jobs.context import JobContext
from adanalysis.jobs.registry import JobOutcome, JobRegistry, JobType

NOOP = "noop"


async def run_noop(ctx: JobContext) -> JobOutcome:
    """End at once."""
    return JobOutcome(message="Nothing to do.")


def register_jobs(registry: JobRegistry) -> None:
    """Add the noop job type."""
    registry.register(JobType(NOOP, run_noop))
