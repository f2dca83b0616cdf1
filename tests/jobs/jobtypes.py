"""Job types used by the job-system tests; they do what their parameters say."""

from __future__ import annotations

import asyncio

from adanalysis.jobs.context import JobContext
from adanalysis.jobs.errors import JobError
from adanalysis.jobs.registry import JobOutcome, JobRegistry, JobType

STEPS = "test_steps"
STARTED: list[str] = []


async def run_steps(ctx: JobContext) -> JobOutcome:
    """Walk `steps` progress steps of `delay` seconds, recording a result per step."""
    STARTED.append(ctx.job_id)
    steps = int(ctx.parameters.get("steps", 3))
    delay = float(ctx.parameters.get("delay", 0.01))
    start = len(ctx.results)  # resumed jobs keep what earlier attempts recorded
    for i in range(start, steps):
        await ctx.progress(10 + 80 * i // steps, f"Step ({i + 1}/{steps})...")
        await asyncio.sleep(delay)
        ctx.add_result({"step": i + 1, "attempt": ctx.attempt}, counts=True)
        if ctx.parameters.get("fail_at") == i + 1:
            raise JobError("Step failed on purpose. Please try again.", code="test_failure")
        if ctx.parameters.get("crash_at") == i + 1:
            raise RuntimeError("secret internal detail")
    return JobOutcome(message=f"Done {steps} steps.", result_count=ctx.result_count)


def register_jobs(registry: JobRegistry) -> None:
    """Add the test job types (ADANALYSIS_JOB_MODULES=["tests.jobs.jobtypes"] in subprocesses)."""
    registry.register(JobType(STEPS, run_steps))
