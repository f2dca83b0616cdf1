"""The `adanalysis` command: serve, worker, beat, migrate, cleanup, users."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Annotated

import typer

from adanalysis.config import Settings, get_settings

app = typer.Typer(
    help="adanalysis: AI analysis of Facebook video ads.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(users_app, name="users")
sandbox_app = typer.Typer(
    help="The offline Graph API sandbox (demo and tests).", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - the documented password of the offline demo user
SANDBOX_TOKEN = "sandbox"  # noqa: S105 - the sandbox's documented valid token
SANDBOX_ACCOUNT = "act_1234567890"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = True,
) -> None:
    """Run the API server (and, in the embedded mode, the job runner)."""
    import uvicorn

    from adanalysis.logging_setup import configure_logging
    from adanalysis.main import create_app

    settings = get_settings()
    if "public_url" not in settings.model_fields_set:
        public_host = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104
        settings = settings.model_copy(update={"public_url": f"http://{public_host}:{port}"})
    configure_logging(settings.log_level, json_logs=settings.json_logs)
    if migrate_first:
        run_migrations(settings.sqlalchemy_url)
    if settings.sandbox:
        from adanalysis.sandbox.mount import mount_sandbox, sandbox_settings

        settings = sandbox_settings(settings)
    api = create_app(settings, freeze_after_start=True)
    if settings.sandbox:
        mount_sandbox(api, settings)
    uvicorn.run(
        api,
        host=host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=5,
        # The app reads X-Forwarded-For itself, from ADANALYSIS_TRUSTED_PROXIES only; uvicorn's
        # default would believe any local peer's header and rewrite the client address.
        proxy_headers=False,
    )


def worker_settings(settings: Settings, *, concurrency: int, per_machine: int) -> Settings:
    """An `adanalysis worker` process's settings: Celery, its concurrency, its share of cores."""
    from adanalysis.workers import available_cores

    settings = settings.model_copy(update={"executor": "celery"})
    if concurrency:
        settings = settings.model_copy(update={"worker_concurrency": concurrency})
    if settings.sandbox:
        from adanalysis.sandbox.mount import sandbox_settings

        # The sandbox Graph API is served by the API processes, at PUBLIC_URL.
        settings = sandbox_settings(settings)
    if settings.speech_workers == 0:
        # N worker processes on one machine share its cores instead of each taking them all.
        speech = max(1, available_cores() // per_machine)
        settings = settings.model_copy(update={"speech_workers": speech})
    return settings


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(help="Jobs run at once (0: ADANALYSIS_WORKER_CONCURRENCY)", min=0)
    ] = 0,
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues (default: premium, then normal)")
    ] = None,
    per_machine: Annotated[
        int,
        typer.Option(
            help="Worker processes on this machine: the speech pool gets cores / N processes",
            min=1,
        ),
    ] = 1,
) -> None:
    """Run jobs from the Celery queue (scale-out; start as many as you like, on any machine)."""
    import os
    import socket
    import uuid
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    from celery.signals import worker_shutting_down

    from adanalysis.bootstrap import job_runtime
    from adanalysis.jobs.context import JobServices
    from adanalysis.jobs.executors.celery import CeleryExecutor, make_celery_app, queue_names
    from adanalysis.jobs.executors.worker import Worker
    from adanalysis.logging_setup import configure_logging

    settings = worker_settings(get_settings(), concurrency=concurrency, per_machine=per_machine)
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def open_services() -> AsyncIterator[JobServices]:
        async with job_runtime(settings, worker_kind="worker") as runtime:
            yield runtime.services

    runner = Worker(open_services, max_running_per_user=settings.max_running_jobs_per_user)
    celery_app = make_celery_app(settings, worker=runner)
    runner.start()
    assert runner.services is not None
    executor = CeleryExecutor(celery_app, settings, events=runner.services.lifecycle.events)
    runner.dispatch = executor.dispatch
    # A warm shutdown (SIGTERM) gives running jobs back at once instead of waiting for them.
    worker_shutting_down.connect(lambda **_: runner.stop_jobs(), weak=False)
    hostname = f"adanalysis-{os.getpid()}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    argv = [
        "worker",
        "--pool=threads",
        f"--concurrency={settings.resolved_worker_concurrency}",
        f"--queues={queues or ','.join(queue_names(settings))}",
        f"--hostname={hostname}",
        f"--loglevel={settings.log_level}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    try:
        celery_app.worker_main(argv)
    finally:
        runner.close()


@app.command()
def beat() -> None:
    """Keep the scale-out job table healthy: reaper, lost-publish re-dispatch, daily cleanup."""
    from adanalysis.bootstrap import job_runtime
    from adanalysis.jobs.executors.celery import CeleryExecutor, make_celery_app
    from adanalysis.jobs.maintenance import Maintenance, maintain_forever
    from adanalysis.logging_setup import configure_logging

    settings = get_settings().model_copy(update={"executor": "celery"})
    configure_logging(settings.log_level)

    async def go() -> None:
        async with job_runtime(settings, worker_kind="beat") as runtime:
            executor = CeleryExecutor(make_celery_app(settings), settings, events=runtime.events)
            maintenance = Maintenance(runtime.services, dispatch=executor.dispatch)
            await maintenance.reap()
            await maintenance.redispatch_pending(idle_seconds=settings.stale_after_seconds)
            await maintain_forever(maintenance)

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        pass


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    run_migrations(get_settings().sqlalchemy_url)
    typer.echo("Database is up to date.")


@app.command()
def cleanup(
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, help="Age in days (default: ADANALYSIS_CLEANUP_DAYS)"),
    ] = None,
) -> None:
    """Delete finished jobs older than N days (active jobs are kept)."""
    from adanalysis.bootstrap import job_runtime
    from adanalysis.jobs.maintenance import Maintenance

    settings = get_settings()
    days = days or settings.cleanup_days

    async def go() -> int:
        async with job_runtime(settings, worker_kind="cli") as runtime:
            return await Maintenance(runtime.services, dispatch=_no_dispatch).cleanup(days=days)

    from adanalysis.jobs.wording import plural

    removed = asyncio.run(go())
    typer.echo(f"Removed {plural(removed, 'finished job')} older than {plural(days, 'day')}.")


@users_app.command("create")
def users_create(
    email: str,
    password: Annotated[str | None, typer.Option(help="Prompted for when omitted")] = None,
    admin: Annotated[bool, typer.Option("--admin")] = False,
    premium: Annotated[bool, typer.Option("--premium")] = False,
) -> None:
    """Create a user."""
    from pydantic import ValidationError

    from adanalysis.auth.schemas import RegisterRequest
    from adanalysis.auth.service import EmailTakenError, create_user
    from adanalysis.db import open_database

    if password is None:
        password = getpass.getpass("Password: ")
    try:
        body = RegisterRequest(email=email, password=password)
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(e["msg"] for e in exc.errors())) from None

    async def go() -> str:
        async with open_database(get_settings().sqlalchemy_url) as (_engine, factory):
            async with factory() as session:
                user = await create_user(
                    session,
                    email=body.email,
                    password=body.password,
                    is_admin=admin,
                    is_premium=premium,
                )
                return user.id

    try:
        user_id = asyncio.run(go())
    except EmailTakenError:
        typer.echo(f"A user with email {email} already exists.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Created user {email} ({user_id}).")


@app.command()
def analyze(
    account: Annotated[str | None, typer.Option(help="Ad account, act_<digits>")] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="ADANALYSIS_FB_TOKEN", help="Facebook token (saved, encrypted)"),
    ] = None,
    email: Annotated[str, typer.Option(help="Whose analyses these are")] = "cli@example.com",
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Use the offline sandbox account")
    ] = False,
) -> None:
    """Analyse an ad account in the terminal, with a progress bar and a summary table."""
    from rich.console import Console

    from adanalysis.ads.schemas import normalise_account_id
    from adanalysis.ads.terminal import analyze_in_terminal

    try:
        account_id = normalise_account_id(account.strip()) if account else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--account") from None
    settings = get_settings()
    run_migrations(settings.sqlalchemy_url)
    console = Console()
    if sandbox:
        account_id, token = account_id or SANDBOX_ACCOUNT, token or SANDBOX_TOKEN
        from adanalysis.sandbox.graph import create_graph_sandbox
        from adanalysis.serving import serve_app_in_thread

        # The sandbox Graph API on a local port for this run only.
        with serve_app_in_thread(create_graph_sandbox()) as url:
            local = settings.model_copy(update={"graph_api_url": url})
            code = asyncio.run(
                analyze_in_terminal(
                    local, email=email, account_id=account_id, token=token, console=console
                )
            )
    else:
        code = asyncio.run(
            analyze_in_terminal(
                settings, email=email, account_id=account_id, token=token, console=console
            )
        )
    raise typer.Exit(code)


@sandbox_app.command("demo-user")
def sandbox_demo_user() -> None:
    """Create the demo user with sandbox credentials (idempotent) and say how to sign in."""
    from adanalysis.ads.credentials import save_credentials
    from adanalysis.auth.service import create_user, get_user_by_email
    from adanalysis.crypto import SecretBox
    from adanalysis.db import open_database

    settings = get_settings()

    async def go() -> None:
        async with open_database(settings.sqlalchemy_url) as (_engine, factory):
            async with factory() as session:
                user = await get_user_by_email(session, email=DEMO_EMAIL)
                if user is None:
                    user = await create_user(session, email=DEMO_EMAIL, password=DEMO_PASSWORD)
                await save_credentials(
                    session,
                    box=SecretBox(settings.resolved_secret_key()),
                    user_id=user.id,
                    access_token=SANDBOX_TOKEN,
                    account_id=SANDBOX_ACCOUNT,
                )

    asyncio.run(go())
    typer.echo(
        f"Demo user ready: sign in as {DEMO_EMAIL} / {DEMO_PASSWORD} "
        f"(sandbox ad account {SANDBOX_ACCOUNT}, token '{SANDBOX_TOKEN}')."
    )


async def _no_dispatch(_job: object) -> None:
    """Commands that only tidy the job table run nothing."""


def run_migrations(url: str) -> None:
    """Alembic upgrade head against url."""
    from alembic import command
    from alembic.config import Config

    migrations = Path(__file__).parent / "migrations"
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")
