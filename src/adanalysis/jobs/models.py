"""The background_jobs table: the source of truth for every job."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from adanalysis.db import Base, UTCDateTime, utcnow
from adanalysis.ids import new_object_id


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"  # created, waiting for a runner
    RUNNING = "running"  # a runner is executing it
    COMPLETED = "completed"  # finished successfully
    FAILED = "failed"  # ended with an error
    CANCELLED = "cancelled"  # stopped at the user's request


ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)
FINAL_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
_ACTIVE_SQL = text("status IN ('pending', 'running')")
ONE_ACTIVE_INDEX = "uq_background_jobs_one_active"


class BackgroundJob(Base):
    """One background job, with the seed's fields plus what reliability needs."""

    __tablename__ = "background_jobs"
    __table_args__ = (
        # One active job per user and type: the database answers the race, not a read-then-write.
        Index(
            ONE_ACTIVE_INDEX,
            "user_id",
            "job_type",
            unique=True,
            sqlite_where=_ACTIVE_SQL,
            postgresql_where=_ACTIVE_SQL,
        ),
        Index("ix_background_jobs_user_created", "user_id", "created_at", "id"),
        Index("ix_background_jobs_status", "status"),
        # The job metrics read these instead of the table (monitoring/metrics.py): ends by
        # status and time with what the duration figures need, starts by time and user, and
        # the newest failure of each error code.
        Index(
            "ix_background_jobs_status_completed",
            "status",
            "completed_at",
            "actual_duration_seconds",
            "result_count",
        ),
        Index("ix_background_jobs_created_user", "created_at", "user_id"),
        Index("ix_background_jobs_error_completed", "error_code", "completed_at"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_object_id)
    user_id: Mapped[str] = mapped_column(String(24), ForeignKey("users.id", ondelete="CASCADE"))
    job_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent, 0-100
    message: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))

    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result_count: Mapped[int | None] = mapped_column(Integer)
    results: Mapped[list[Any] | None] = mapped_column(JSON)
    # Counts of results by status, written with results: the history lists it without `results`.
    result_summary: Mapped[dict[str, int] | None] = mapped_column(JSON)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    estimated_duration_seconds: Mapped[int | None] = mapped_column(Integer)
    actual_duration_seconds: Mapped[int | None] = mapped_column(Integer)

    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher runs first
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker_id: Mapped[str | None] = mapped_column(String(128))


class JobStageTiming(Base):
    """When one stage of one job attempt started and ended (written by the progress path)."""

    __tablename__ = "job_stage_timings"
    __table_args__ = (
        Index("ix_job_stage_timings_job_open", "job_id", "ended_at"),
        Index("ix_job_stage_timings_started_stage", "started_at", "stage", "duration_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("background_jobs.id", ondelete="CASCADE")
    )
    # The progress message with its numbers taken out: "Transcribing videos (#/#)...".
    stage: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
