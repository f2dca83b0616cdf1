"""`adanalysis analyze`: the pipeline in a terminal, with a progress bar and a summary table."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adanalysis.ads import credentials
from adanalysis.ads import pipeline as _pipeline  # noqa: F401  (registers the ad_analysis job)
from adanalysis.ads.service import Filters, list_analyses
from adanalysis.auth.service import create_user, get_user_by_email
from adanalysis.config import Settings
from adanalysis.crypto import SecretBox
from adanalysis.db import create_engine, create_session_factory
from adanalysis.jobs.events import JobEvents
from adanalysis.jobs.models import BackgroundJob
from adanalysis.jobs.recovery import make_worker_id
from adanalysis.jobs.runtime import JobServices, run_job
from adanalysis.jobs.service import ActiveJobExistsError, BackgroundJobService


class _NoDispatch:
    """The terminal runs the job itself, so nothing is handed to an executor."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def submit(self, job_id: str, *, priority: int = 0) -> None:
        """Run here, not elsewhere."""

    async def cancel(self, job_id: str) -> None:
        """Ctrl-C cancels the task directly."""


@contextlib.contextmanager
def sandbox_graph(settings: Settings) -> Iterator[Settings]:
    """Settings whose Graph client talks to a sandbox served on a local port for this run."""
    from adanalysis.sandbox.graph import create_graph_sandbox
    from adanalysis.sandbox.openai_fake import serve_app_in_thread

    with serve_app_in_thread(create_graph_sandbox()) as url:
        yield settings.model_copy(update={"graph_api_url": url})


async def analyze_in_terminal(
    settings: Settings, *, email: str, account_id: str | None, token: str | None, console: Console
) -> int:
    """Run one analysis for the user with email; the exit code."""
    engine = create_engine(settings.sqlalchemy_url)
    factory = create_session_factory(engine)
    box = SecretBox(settings.resolved_secret_key())
    try:
        async with factory() as session:
            user = await get_user_by_email(session, email=email)
            if user is None:
                # A terminal-only user; it can sign in later once given a password.
                user = await create_user(session, email=email, password=secrets.token_urlsafe(24))
            stored = await credentials.get_credentials(session, user_id=user.id)
            account = account_id or (stored.account_id if stored else None)
            if token is not None and account is not None:
                await credentials.save_credentials(
                    session, box=box, user_id=user.id, access_token=token, account_id=account
                )
            clear = await credentials.read_token(session, box=box, user_id=user.id)
            if clear is None or account is None:
                console.print(
                    "[red]No Facebook token or ad account: pass --token and --account.[/]"
                )
                return 2
            service = BackgroundJobService(
                executor=_NoDispatch(), max_attempts=settings.max_attempts
            )
            try:
                job_id = await service.start_ad_analysis_job(
                    session, user_id=user.id, access_token=clear[0], account_id=account
                )
            except ActiveJobExistsError as exc:
                console.print(
                    f"[red]An analysis is already {exc.job.status} for {email} "
                    f"(job {exc.job.id}).[/]"
                )
                return 1
        events = JobEvents()
        services = JobServices(factory, settings, events, make_worker_id("cli"), box)
        await _run_with_progress(job_id, services, console)
        async with factory() as session:
            job = await session.get(BackgroundJob, job_id)
            assert job is not None
            found = await list_analyses(
                session,
                user_id=user.id,
                period=settings.insights_period,
                limit=1000,
                filters=Filters(job_id=job_id),
            )
            rows = [row.analysis for row in found]
        _print_summary(console, job, rows)
        return 0 if job.status == "completed" else 1
    finally:
        await engine.dispose()


async def _run_with_progress(job_id: str, services: JobServices, console: Console) -> None:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("Starting...", total=100)
        async with services.events.subscribe(job_id) as updates:

            async def follow() -> None:
                while True:
                    event: dict[str, Any] = await updates.get()
                    progress.update(
                        bar,
                        completed=event.get("progress", 0),
                        description=str(event.get("message", "")),
                    )

            watcher = asyncio.create_task(follow())
            try:
                await run_job(job_id, services)
            finally:
                watcher.cancel()


def _print_summary(console: Console, job: BackgroundJob, rows: list[Any]) -> None:
    table = Table(title=f"Job {job.id}: {job.status}")
    for column in ("video", "ads", "hook", "call to action", "offer", "wpm", "score"):
        table.add_column(column, overflow="fold")
    for row in rows:
        insights = row.insights or {}
        wpm = insights.get("words_per_minute")
        score = insights.get("score")
        table.add_row(
            row.video_id,
            str(len(row.ad_ids)),
            str((insights.get("hook") or {}).get("type") or "-"),
            str((insights.get("call_to_action") or {}).get("text") or "-"),
            str(insights.get("offer") or "-"),
            f"{wpm:.0f}" if isinstance(wpm, int | float) else "-",
            "-" if score is None else str(score),
        )
    console.print(table)
    console.print(job.error_message or job.message or "")
