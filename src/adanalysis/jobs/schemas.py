"""The seed's JSON shapes for jobs (`_id`, statuses, timestamps)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from adanalysis.jobs.models import JobStatus


class JobDocument(BaseModel):
    """A whole job, as `GET job-status/{job_id}` returns it."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: str = Field(serialization_alias="_id", validation_alias="id")
    user_id: str
    job_type: str
    status: JobStatus
    progress: int
    message: str | None
    error_message: str | None
    error_code: str | None
    parameters: dict[str, Any]
    result_count: int | None
    results: list[Any] | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    estimated_duration_seconds: int | None
    actual_duration_seconds: int | None
    attempts: int
    max_attempts: int
    priority: int
    cancel_requested_at: datetime | None


class JobSummary(BaseModel):
    """A job in the history list."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: str = Field(serialization_alias="_id", validation_alias="id")
    job_type: str
    status: JobStatus
    progress: int
    message: str | None
    error_message: str | None
    error_code: str | None
    parameters: dict[str, Any]
    result_count: int | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    estimated_duration_seconds: int | None
    actual_duration_seconds: int | None
    # How many of the job's results have each `status` (analyzed, skipped, failed...): the
    # history has no room for the list, and never reads it (see summarise_results).
    result_summary: dict[str, int]


# A page of the history, serialised in one call.
SUMMARY_LIST = TypeAdapter(list[JobSummary])


def summarise_results(results: list[Any] | None) -> dict[str, int]:
    """How many results have each `status`; written beside `results` whenever they change."""
    counts: dict[str, int] = {}
    for item in results or []:
        key = item.get("status") if isinstance(item, dict) else None
        if isinstance(key, str):
            counts[key] = counts.get(key, 0) + 1
    return counts


class JobStarted(BaseModel):
    """The 202 answer to a start request."""

    job_id: str
    status: JobStatus
    message: str
    estimated_duration_seconds: int


class JobConflict(BaseModel):
    """The 409 answer: another job of that type is active; attach to it."""

    detail: str
    # Absent only when the other job ended at that very moment: then simply retry.
    job_id: str | None
    status: JobStatus | None


class MessageOut(BaseModel):
    """A plain message."""

    message: str


class ErrorOut(BaseModel):
    """An error with a human-readable detail."""

    detail: str


Responses = dict[int | str, dict[str, Any]]


def error_responses(**by_code: str) -> Responses:
    """OpenAPI error responses: error_responses(e404="No such job") documents a 404."""
    return {
        int(code[1:]): {"model": ErrorOut, "description": text} for code, text in by_code.items()
    }
