"""A runner's claim and end of its job, and the read after an end: direct on PostgreSQL.

Every job is claimed once and ended once, so these writes are most of what the job system costs
per job. Through a session, the ORM and SQLAlchemy's pool they cost about 9 ms of CPU per no-op
job, three times what Celery itself spends on a task (bench/celery_throughput.py). On PostgreSQL
they run as prepared statements on a plain asyncpg pool (db_direct.py), built from the
lifecycle's own guards and values and announced through JobLifecycle.emit like its other
writes; elsewhere (SQLite) they are the lifecycle's session writes.
"""

from __future__ import annotations

import functools
from typing import Any

import asyncpg
from sqlalchemy import Integer, String, bindparam, cast, extract, func, select, update

from adanalysis.db import UTCDateTime, utcnow
from adanalysis.db_direct import PG_DIALECT, Compiled, Prepared, compile_statement, fetch_on
from adanalysis.jobs.context import JobServices
from adanalysis.jobs.errors import InvalidTransitionError, JobDeferredError
from adanalysis.jobs.events import JobEventKind
from adanalysis.jobs.lifecycle import (
    Transition,
    claim_values,
    end_values,
    guard,
    lock_user_of,
    running_jobs_of,
)
from adanalysis.jobs.maintenance import PendingJob
from adanalysis.jobs.models import BackgroundJob, JobStageTiming, JobStatus
from adanalysis.jobs.reads import DOCUMENT_COLUMNS
from adanalysis.jobs.schemas import JobDocument

_J = BackgroundJob
_T = JobStageTiming
# Bind names of their own: SQLAlchemy keeps a column's name for the value an UPDATE sets.
_JOB: Any = bindparam("b_job", type_=String)
_WORKER: Any = bindparam("b_worker", type_=String)
_NOW: Any = bindparam("b_now", type_=UTCDateTime())
_USER: Any = bindparam("b_user", type_=String)
_CAP: Any = bindparam("b_cap", type_=Integer)
_END_TRANSITION = {
    JobStatus.COMPLETED: Transition.COMPLETE,
    JobStatus.FAILED: Transition.FAIL,
    JobStatus.CANCELLED: Transition.CANCEL_RUNNING,
}


def _compiled(statement: Any) -> Compiled:
    return compile_statement(statement, PG_DIALECT)


def _claim_statement(*, capped: bool) -> Compiled:
    where = [*guard(Transition.CLAIM, _JOB), _J.cancel_requested_at.is_(None)]
    if capped:
        where.append(running_jobs_of(_USER) < _CAP)
    return _compiled(
        update(_J).where(*where).values(**claim_values(_WORKER, _NOW)).returning(*DOCUMENT_COLUMNS)
    )


_CLAIM = _claim_statement(capped=False)
_CLAIM_CAPPED = _claim_statement(capped=True)
_LOCK_USER = _compiled(lock_user_of(_JOB))
_STATE = _compiled(select(_J.status, _J.user_id).where(_J.id == _JOB))
_STATE_AND_RUNNING = _compiled(
    select(_J.status, _J.user_id, running_jobs_of(_J.user_id).label("running")).where(_J.id == _JOB)
)
# The pending job of a user to run next (highest priority, then oldest).
_NEXT_PENDING = Prepared(
    select(_J.id, _J.priority)
    .where(_J.user_id == _USER, _J.status == JobStatus.PENDING)
    .where(_J.cancel_requested_at.is_(None))
    .order_by(_J.priority.desc(), _J.created_at)
    .limit(1)
)


@functools.cache
def _end_statement(transition: Transition, keys: tuple[str, ...]) -> Compiled:
    """The end writing keys, closing the job's open stage in the same statement."""
    columns = _J.__table__.c
    ended = (
        update(_J)
        .where(*guard(transition, _JOB), _J.worker_id == _WORKER)
        .values({key: bindparam(f"v_{key}", type_=columns[key].type) for key in keys})
        .returning(*DOCUMENT_COLUMNS)
        .cte("ended")
    )
    # Milliseconds in SQL here (this statement is PostgreSQL's only), as stages.leave_stage does.
    elapsed_ms = func.round(extract("epoch", _NOW - _T.started_at) * 1000)
    closed = (
        update(_T)
        .where(_T.job_id == ended.c.id, _T.ended_at.is_(None))
        .values(ended_at=_NOW, duration_ms=cast(func.greatest(0, elapsed_ms), Integer))
        .cte("closed")
    )
    return _compiled(select(*ended.c).add_cte(closed))


async def claim(
    services: JobServices, *, job_id: str, max_running_per_user: int | None = None
) -> JobDocument:
    """pending -> running for this runner, as JobLifecycle.claim (same guards, same errors)."""
    direct = services.direct
    if direct is None:
        async with services.session_factory() as session:
            claimed = await services.lifecycle.claim(
                session,
                job_id=job_id,
                worker_id=services.worker_id,
                max_running_per_user=max_running_per_user,
            )
        return JobDocument.model_validate(claimed)
    params = {"b_job": job_id, "b_worker": services.worker_id, "b_now": utcnow()}
    if max_running_per_user is None:
        rows = await direct.fetch(_CLAIM, params)
        if not rows:
            raise await _refused(services, job_id, Transition.CLAIM)
    else:
        params["b_cap"] = max_running_per_user

        async def capped(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            # The user's lock, then the claim counting their running jobs in a fresh snapshot.
            lock = await fetch_on(conn, _LOCK_USER, params)
            if not lock:
                raise InvalidTransitionError(job_id, Transition.CLAIM, None)
            params["b_user"] = lock[0]["user_id"]
            claimed = await fetch_on(conn, _CLAIM_CAPPED, params)
            if not claimed:
                (state,) = await fetch_on(conn, _STATE_AND_RUNNING, params)
                if state["status"] == JobStatus.PENDING and state["running"] >= params["b_cap"]:
                    raise JobDeferredError(job_id)
                raise InvalidTransitionError(
                    job_id, Transition.CLAIM, JobStatus(state["status"]), owner_id=state["user_id"]
                )
            return claimed

        rows = await direct.in_transaction(capped)
    job = JobDocument.model_validate(rows[0])
    await services.lifecycle.emit(JobEventKind.CLAIMED, job)
    return job


async def end(
    services: JobServices, status: JobStatus, *, job_id: str, **final: Any
) -> JobDocument:
    """running -> status (completed, failed, cancelled) for this runner, as the lifecycle's."""
    lifecycle = services.lifecycle
    direct = services.direct
    if direct is None:
        write = {
            JobStatus.COMPLETED: lifecycle.complete,
            JobStatus.FAILED: lifecycle.fail,
            JobStatus.CANCELLED: lifecycle.cancel_running,
        }[status]
        async with services.session_factory() as session:
            ended = await write(session, job_id=job_id, worker_id=services.worker_id, **final)
        return JobDocument.model_validate(ended)
    now = utcnow()
    values = end_values(status, final, now)
    transition = _END_TRANSITION[status]
    params = {f"v_{key}": value for key, value in values.items()}
    params.update(b_job=job_id, b_worker=services.worker_id, b_now=now)
    rows = await direct.fetch(_end_statement(transition, tuple(sorted(values))), params)
    if not rows:
        raise await _refused(services, job_id, transition)
    job = JobDocument.model_validate(rows[0])
    await lifecycle.emit(JobEventKind(status.value), job)
    return job


async def next_pending_of(services: JobServices, user_id: str) -> PendingJob | None:
    """The pending job of user_id to run next (highest priority, then oldest), if any."""
    rows = await _NEXT_PENDING.rows(
        {"b_user": user_id}, direct=services.direct, sessions=services.session_factory
    )
    if not rows:
        return None
    return PendingJob(rows[0]["id"], rows[0]["priority"], user_id)


async def _refused(
    services: JobServices, job_id: str, transition: Transition
) -> InvalidTransitionError:
    """The error for a write that matched no row, naming the job's actual state."""
    assert services.direct is not None
    rows = await services.direct.fetch(_STATE, {"b_job": job_id})
    if not rows:
        return InvalidTransitionError(job_id, transition, None)
    return InvalidTransitionError(
        job_id, transition, JobStatus(rows[0]["status"]), owner_id=rows[0]["user_id"]
    )
