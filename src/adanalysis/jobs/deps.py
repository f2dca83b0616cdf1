"""Dependency aliases for the job system."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from adanalysis.jobs.service import BackgroundJobService


async def get_job_service(request: Request) -> BackgroundJobService:
    """The app's job service."""
    service: BackgroundJobService = request.app.state.job_service
    return service


JobServiceDep = Annotated[BackgroundJobService, Depends(get_job_service)]
