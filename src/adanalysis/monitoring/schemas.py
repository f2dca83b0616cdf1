"""JSON shapes of the admin job metrics."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class MetricsRange(StrEnum):
    """The period the range-bound figures cover, ending now."""

    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"
    QUARTER = "90d"


class SuccessRate(BaseModel):
    """Completed ÷ (completed + failed) in one window; None when nothing ended."""

    completed: int
    failed: int
    rate: float | None


class SuccessWindows(BaseModel):
    """The success rate over the last day, week and 30 days, whatever the range."""

    day: SuccessRate
    week: SuccessRate
    month: SuccessRate


class DurationBucket(BaseModel):
    """Completed jobs whose duration is below `le_seconds` and not below the bucket before."""

    le_seconds: int | None  # None: the open last bucket
    count: int


class Durations(BaseModel):
    """Durations of the jobs completed in the range, in seconds."""

    count: int
    average_seconds: float | None
    p95_seconds: int | None  # nearest rank
    seconds_per_video: float | None  # total duration ÷ videos analysed, jobs with results
    buckets: list[DurationBucket]


class StageTime(BaseModel):
    """How long one stage took, over the stages that started in the range."""

    stage: str
    count: int
    average_ms: float
    total_ms: int


class HeatCell(BaseModel):
    """Jobs started at one hour (UTC) of one weekday (0 = Monday)."""

    weekday: int
    hour: int
    count: int


class ErrorPattern(BaseModel):
    """Failures with one error code in the range, with the latest message as an example."""

    error_code: str | None
    count: int
    last_at: datetime | None
    example_message: str | None
    example_job_id: str | None


class DayActivity(BaseModel):
    """One UTC day: jobs created and by how many users, and jobs that ended by status."""

    day: str  # YYYY-MM-DD
    created: int
    active_users: int
    completed: int
    failed: int
    cancelled: int
    success_rate: float | None


class Queue(BaseModel):
    """Jobs waiting and running now."""

    pending: int
    running: int
    oldest_pending_at: datetime | None
    oldest_pending_age_seconds: float | None


class JobMetrics(BaseModel):
    """Every job figure of the admin page."""

    range: MetricsRange
    since: datetime
    generated_at: datetime
    success: SuccessWindows
    durations: Durations
    stages: list[StageTime]
    peak_usage: list[HeatCell]
    errors: list[ErrorPattern]
    engagement: list[DayActivity]
    active_users: int
    queue: Queue


class RunningJob(BaseModel):
    """A pending or running job, as the admin's live list shows it."""

    id: str
    user_id: str
    user_email: str | None
    job_type: str
    status: str
    progress: int
    message: str | None
    worker_id: str | None
    created_at: datetime
    started_at: datetime | None
    heartbeat_age_seconds: float | None
    cancel_requested: bool
