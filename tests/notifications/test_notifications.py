"""Job-end notifications: a real local SMTP server, a failing one, and a signed webhook."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.ads.models import AdAnalysis
from adanalysis.auth.models import User
from adanalysis.config import Settings
from adanalysis.crypto import SecretBox
from adanalysis.jobs.context import JobServices
from adanalysis.jobs.models import BackgroundJob
from adanalysis.jobs.runtime import run_job
from adanalysis.main import create_app
from adanalysis.notifications.addresses import PRIVATE_ADDRESS, refused_reason
from adanalysis.notifications.service import SIGNATURE_HEADER, Notifier, save_settings
from adanalysis.serving import serve_app_in_thread
from tests.conftest import SignedIn, make_settings, sign_up, wait_for_status
from tests.jobs import jobtypes
from tests.jobs.support import new_user_id, service_for, services_for


class Inbox:
    """An aiosmtpd handler that keeps what it receives, or refuses every message."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.attempts = 0
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.refuse:
            return "554 Transaction failed"
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def _notifying_services(
    factory: async_sessionmaker[AsyncSession], settings: Settings
) -> JobServices:
    services = services_for(factory, settings)
    Notifier(settings, factory, SecretBox(settings.resolved_secret_key())).install(
        services.lifecycle
    )
    return services


async def _job_with_analyses(
    factory: async_sessionmaker[AsyncSession], services: JobServices, scores: list[int]
) -> tuple[str, str, str]:
    """A started test job with analysed videos of these scores; (job id, user id, email)."""
    user_id = await new_user_id(factory)
    async with factory() as session:
        job = await service_for(services).start_job(
            session, user_id=user_id, job_type=jobtypes.STEPS, parameters={"steps": 2}
        )
        for i, score in enumerate(scores):
            session.add(
                AdAnalysis(
                    user_id=user_id,
                    account_id="act_1",
                    video_id=f"v{i}",
                    title=f"Video scored {score}",
                    insights={"score": score, "hook": {"type": "question"}},
                    transcriber="t",
                    transcription_model="m",
                    analyzer="a",
                    analysis_model="m",
                    job_id=job.id,
                )
            )
        await session.commit()
        user = await session.get(User, user_id)
        assert user is not None
        return job.id, user_id, user.email


async def test_the_email_reaches_a_real_smtp_server(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, database_url: str, smtp: Any
) -> None:
    inbox, port = smtp
    settings = make_settings(
        database_url,
        tmp_path / "data",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="adanalysis <noreply@example.com>",
        public_url="https://ads.example.com",
    )
    services = await _notifying_services(session_factory, settings)
    job_id, _user_id, email = await _job_with_analyses(session_factory, services, [4, 9, 7, 8])
    assert await run_job(job_id, services) == "completed"
    await services.lifecycle.drain_hooks()

    assert len(inbox.messages) == 1
    recipients, message = inbox.messages[0]
    assert recipients == [email]
    assert message["Subject"] == "Your ad analysis is ready: 2 videos analysed"
    assert message["From"] == "adanalysis <noreply@example.com>"
    body = message.get_payload(decode=True).decode()
    assert "Done 2 steps." in body
    assert f"See the job: https://ads.example.com/jobs/{job_id}" in body
    top = [line.strip() for line in body.splitlines() if line.strip()[:2] in {"1.", "2.", "3."}]
    assert top == [
        "1. Video scored 9 (score 9/10, question hook)",
        "2. Video scored 8 (score 8/10, question hook)",
        "3. Video scored 7 (score 7/10, question hook)",
    ]


async def test_email_off_for_the_user_or_the_deployment(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path, database_url: str, smtp: Any
) -> None:
    inbox, port = smtp
    for smtp_host in (None, "127.0.0.1"):
        settings = make_settings(
            database_url, tmp_path / "data", smtp_host=smtp_host, smtp_port=port
        )
        services = await _notifying_services(session_factory, settings)
        job_id, user_id, _ = await _job_with_analyses(session_factory, services, [])
        if smtp_host is not None:  # SMTP is set up, but this user switched email off
            async with session_factory() as session:
                await save_settings(
                    session,
                    box=SecretBox(settings.resolved_secret_key()),
                    user_id=user_id,
                    email_enabled=False,
                    webhook_url=None,
                )
        assert await run_job(job_id, services) == "completed"
        await services.lifecycle.drain_hooks()
    assert inbox.attempts == 0


async def test_a_failing_smtp_server_neither_fails_nor_delays_the_job(
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A server that takes the connection and never says a word: every send hangs to its timeout.
    silent = socket.create_server(("127.0.0.1", 0))
    refusing, refusing_port = Inbox(refuse=True), _free_port()
    controller = Controller(refusing, hostname="127.0.0.1", port=refusing_port)
    controller.start()
    try:
        for port in (silent.getsockname()[1], refusing_port):
            settings = make_settings(
                database_url,
                tmp_path / "data",
                smtp_host="127.0.0.1",
                smtp_port=port,
                smtp_timeout_seconds=1.0,
                notification_attempts=3,
                notification_retry_base_seconds=0.05,
            )
            services = await _notifying_services(session_factory, settings)
            job_id, _user_id, _ = await _job_with_analyses(session_factory, services, [5])
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="adanalysis.notifications"):
                assert await run_job(job_id, services) == "completed"
                if port != refusing_port:
                    # The job has ended although the mail server has not answered once.
                    assert "attempt 1/3 failed" not in caplog.text
                await services.lifecycle.drain_hooks()
            assert "given up after 3 attempts" in caplog.text
            async with session_factory() as session:
                job = await session.get(BackgroundJob, job_id)
                assert job is not None and job.status == "completed"
        assert refusing.attempts == 3  # retried, then given up
    finally:
        controller.stop()
        silent.close()


class Receiver:
    """A webhook endpoint that fails its first delivery with a 500."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> Response:
            self.calls.append((dict(request.headers), await request.body()))
            return Response(status_code=500 if len(self.calls) == 1 else 204)


async def _finish_a_job_and_read_deliveries(
    app: FastAPI, client: httpx.AsyncClient, user: SignedIn
) -> tuple[str, list[dict[str, Any]]]:
    """Run one job of user's to its end, let the end hooks finish: its id and the webhook log."""
    async with app.state.session_factory() as session:
        job = await app.state.job_service.start_job(
            session, user_id=user.user_id, job_type=jobtypes.STEPS, parameters={}
        )
    await wait_for_status(client, job.id, user.headers, {"completed"})
    await app.state.job_lifecycle.drain_hooks()
    r = await client.get("/api/v1/notifications/webhook-deliveries", headers=user.headers)
    assert r.status_code == 200, r.text
    deliveries: list[dict[str, Any]] = r.json()
    return job.id, deliveries


async def test_webhook_is_signed_retried_after_a_500_and_logged(
    database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    settings = make_settings(
        database_url,
        tmp_path / "data",
        job_modules=["tests.jobs.jobtypes"],
        notification_retry_base_seconds=0.01,
        webhook_allow_private=True,  # the receiver listens on 127.0.0.1
    )
    app = create_app(settings)
    with serve_app_in_thread(receiver.app) as hook_base:
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                user = await sign_up(client)
                url = f"{hook_base}/hook"
                r = await client.put(
                    "/api/v1/notifications/settings",
                    headers=user.headers,
                    json={"email_enabled": True, "webhook_url": url},
                )
                assert r.status_code == 200, r.text
                secret = r.json()["webhook_secret"]
                assert secret.startswith("whsec_") and r.json()["email_available"] is False
                r = await client.get("/api/v1/notifications/settings", headers=user.headers)
                assert r.json()["webhook_url"] == url and r.json()["webhook_secret"] is None

                job_id, log = await _finish_a_job_and_read_deliveries(app, client, user)
                other = await sign_up(client)
                r = await client.get(
                    "/api/v1/notifications/webhook-deliveries", headers=other.headers
                )
                assert r.json() == []

    assert len(receiver.calls) == 2
    for headers, body in receiver.calls:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], expected)
        payload = json.loads(body)
        assert payload["event"] == "job.completed" and payload["job"]["id"] == job_id
    assert receiver.calls[0][1] == receiver.calls[1][1]  # the same delivery, retried
    assert [(d["attempt"], d["status_code"], d["ok"]) for d in log] == [
        (2, 204, True),
        (1, 500, False),
    ]
    assert log[1]["error"] == "HTTP 500" and secret not in json.dumps(log)


async def test_shutdown_does_not_wait_for_a_retry(
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    refusing, port = Inbox(refuse=True), _free_port()
    controller = Controller(refusing, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = make_settings(
            database_url,
            tmp_path / "data",
            smtp_host="127.0.0.1",
            smtp_port=port,
            notification_retry_base_seconds=3600,  # the next try would be an hour away
        )
        services = services_for(session_factory, settings)
        notifier = Notifier(settings, session_factory, SecretBox(settings.resolved_secret_key()))
        notifier.install(services.lifecycle)
        job_id, _, _ = await _job_with_analyses(session_factory, services, [])
        with caplog.at_level(logging.WARNING, logger="adanalysis.notifications"):
            assert await run_job(job_id, services) == "completed"
            while refusing.attempts == 0:  # the first try was made and refused
                await asyncio.sleep(0.05)
            notifier.stop()
            # A liveness bound, not a timing: without stop() this would wait an hour.
            await asyncio.wait_for(services.lifecycle.drain_hooks(), 120)
        assert "given up at shutdown after 1 attempts" in caplog.text
        assert refusing.attempts == 1
    finally:
        controller.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_a_webhook_to_a_private_address_is_refused(url: str) -> None:
    assert await refused_reason(url) == PRIVATE_ADDRESS


async def test_a_webhook_to_a_public_address_is_allowed() -> None:
    assert await refused_reason("https://93.184.216.34/hook") is None


async def test_a_private_webhook_is_logged_as_refused_and_never_called(
    database_url: str, tmp_path: Path
) -> None:
    """By default the server does not call its own network for a user."""
    receiver = Receiver()
    settings = make_settings(
        database_url,
        tmp_path / "data",
        job_modules=["tests.jobs.jobtypes"],
        notification_retry_base_seconds=0.01,
    )
    app = create_app(settings)
    with serve_app_in_thread(receiver.app) as hook_base:
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                user = await sign_up(client)
                r = await client.put(
                    "/api/v1/notifications/settings",
                    headers=user.headers,
                    json={"email_enabled": False, "webhook_url": f"{hook_base}/hook"},
                )
                assert r.status_code == 200, r.text
                _, log = await _finish_a_job_and_read_deliveries(app, client, user)
    assert receiver.calls == []
    assert [(d["attempt"], d["ok"], d["error"]) for d in log] == [(1, False, PRIVATE_ADDRESS)]
