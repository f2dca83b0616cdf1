"""`adanalysis analyze`: the pipeline in a terminal, with a progress bar and a summary table."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adanalysis.ads import credentials
from adanalysis.ads.jobs import start_ad_analysis_job
from adanalysis.ads.service import list_analyses
from adanalysis.auth.service import create_user, get_user_by_email
from adanalysis.bootstrap import job_runtime
from adanalysis.config import Settings
from adanalysis.jobs.context import JobServices
from adanalysis.jobs.errors import ActiveJobExistsError
from adanalysis.jobs.events import job_topic
from adanalysis.jobs.models import BackgroundJob
from adanalysis.jobs.runtime import run_job
from adanalysis.jobs.service import BackgroundJobService


class _NoDispatch:
    """The terminal runs the job itself, so nothing is handed to an executor."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def submit(self, job_id: str, *, priority: int = 0, user_id: str = "") -> None:
        """Run here, not elsewhere."""

    async def cancel(self, job_id: str) -> None:
        """Ctrl-C cancels the task directly."""


async def analyze_in_terminal(
    settings: Settings, *, email: str, account_id: str | None, token: str | None, console: Console
) -> int:
    """Run one analysis for the user with email; the exit code."""
    async with job_runtime(settings, worker_kind="cli") as runtime:
        box = runtime.secrets
        factory = runtime.services.session_factory
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
                lifecycle=runtime.lifecycle,
                registry=runtime.registry,
                executor=_NoDispatch(),
                max_attempts=settings.max_attempts,
            )
            try:
                job = await start_ad_analysis_job(
                    service, session, user_id=user.id, access_token=clear[0], account_id=account
                )
            except ActiveJobExistsError as exc:
                console.print(
                    f"[red]An analysis is already {exc.job.status} for {email} "
                    f"(job {exc.job.id}).[/]"
                )
                return 1
        await _run_with_progress(job.id, runtime.services, console)
        async with factory() as session:
            ended = await session.get(BackgroundJob, job.id)
            assert ended is not None
            rows = await list_analyses(session, user_id=user.id, limit=1000, job_id=job.id)
        _print_summary(console, ended, rows)
        return 0 if ended.status == "completed" else 1


async def _run_with_progress(job_id: str, services: JobServices, console: Console) -> None:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("Starting...", total=100)
        async with services.lifecycle.events.subscribe(job_topic(job_id)) as updates:

            async def follow() -> None:
                while True:
                    document = (await updates.get()).document
                    progress.update(
                        bar,
                        completed=document.get("progress", 0),
                        description=str(document.get("message", "")),
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
