"""The ad_analysis job type: its registration, its wording, and how one is started."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adanalysis.ads.pipeline import run_ad_analysis
from adanalysis.crypto import SecretBox, mask_secret
from adanalysis.jobs.context import JobContext
from adanalysis.jobs.models import BackgroundJob
from adanalysis.jobs.registry import JobOutcome, JobRegistry, JobType
from adanalysis.jobs.service import BackgroundJobService
from adanalysis.jobs.wording import JobWording, plural

AD_ANALYSIS = "ad_analysis"


class AdAnalysisWording(JobWording):
    """The job's messages in the terms of ads, videos and analyses."""

    noun = "ad analysis"

    def started(self) -> str:
        """The seed's answer to start-analysis."""
        return "Ad analysis job started successfully. Use the job ID to track progress."

    def kept(self, count: int) -> str:
        """'1 analysis was kept.', '3 analyses were kept.'."""
        return f"{plural(count, 'analysis', 'analyses')} {'was' if count == 1 else 'were'} kept."

    def timed_out(self, *, minutes: int) -> str:
        """The limit message, with advice that fits ads."""
        return (
            f"The analysis took longer than its {minutes}-minute limit and was stopped. "
            "Analyses already made were kept; try again with fewer ads or ad accounts."
        )

    def internal_error(self, *, job_id: str) -> str:
        """A crash, in the product's words."""
        return (
            "The analysis stopped because of an unexpected internal error. Please try again; "
            f"if it keeps failing, contact support with job id {job_id}."
        )

    def resuming(self, *, attempt: int, max_attempts: int) -> str:
        """A requeue after a crash: analysed videos are not redone."""
        return (
            f"Resuming after an interruption (attempt {attempt} of {max_attempts}); "
            "finished videos are kept."
        )


class AdAnalysisJob:
    """Runs ad_analysis jobs with the process's secrets (to read the user's token)."""

    def __init__(self, *, secrets: SecretBox) -> None:
        self.secrets = secrets

    async def __call__(self, ctx: JobContext) -> JobOutcome:
        """Fetch the ads, then download, transcribe, analyse and save each new video."""
        return await run_ad_analysis(ctx, secrets=self.secrets)


def register_ad_jobs(registry: JobRegistry, *, secrets: SecretBox) -> None:
    """Add the ad_analysis job type to registry."""
    registry.register(JobType(AD_ANALYSIS, AdAnalysisJob(secrets=secrets), AdAnalysisWording()))


async def start_ad_analysis_job(
    jobs: BackgroundJobService,
    session: AsyncSession,
    *,
    user_id: str,
    access_token: str,
    account_id: str,
    account_ids: list[str] | None = None,
    priority: int = 0,
) -> BackgroundJob:
    """Start an ad analysis; the job keeps only the token's mask, never the token."""
    parameters: dict[str, Any] = {
        "access_token": mask_secret(access_token),
        "account_id": account_id,
    }
    if account_ids:
        parameters["account_ids"] = account_ids
    return await jobs.start_job(
        session, user_id=user_id, job_type=AD_ANALYSIS, parameters=parameters, priority=priority
    )
