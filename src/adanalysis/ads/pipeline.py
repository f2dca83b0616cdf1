"""run_ad_analysis: the work of an ad_analysis job (placeholder until the pipeline lands)."""

from __future__ import annotations

from adanalysis.jobs.registry import JobOutcome, register
from adanalysis.jobs.runtime import JobContext
from adanalysis.jobs.service import AD_ANALYSIS


@register(AD_ANALYSIS)
async def run_ad_analysis(ctx: JobContext) -> JobOutcome:
    """Walk the seed's stages; no analysis engine is wired yet, so nothing is analysed."""
    await ctx.progress(5, "Job started")
    await ctx.progress(10, "Checking previously analyzed videos...")
    await ctx.progress(90, "Finalizing results...")
    return JobOutcome(message="No analysis engine is wired yet: 0 ads analysed.", result_count=0)
