"""Job-end notifications: an on_job_end hook that emails the user and calls their webhook.

The lifecycle runs the hook in a task of its own after the end is committed, so a slow or
failing mail server or webhook never fails or delays the job; each delivery is retried with
exponential backoff and then given up (logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable

import aiosmtplib
import httpx
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adanalysis.ads.models import AdAnalysis
from adanalysis.auth.models import User
from adanalysis.config import Settings
from adanalysis.crypto import SecretBox
from adanalysis.db_direct import DirectPool, Prepared
from adanalysis.jobs.events import JobEvent
from adanalysis.jobs.lifecycle import JobLifecycle
from adanalysis.notifications.addresses import refused_reason
from adanalysis.notifications.messages import JobEnd, TopAd
from adanalysis.notifications.models import NotificationSettings, WebhookDelivery

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Adanalysis-Signature"
DELIVERY_HEADER = "X-Adanalysis-Delivery"
TOP_ADS = 3
# What a user chose to be told when a job ends (no row: the defaults).
_CHOICES = Prepared(
    select(
        NotificationSettings.email_enabled,
        NotificationSettings.webhook_url,
        NotificationSettings.webhook_secret_encrypted,
    ).where(NotificationSettings.user_id == bindparam("b_user"))
)


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: 'sha256=' + the hex HMAC-SHA256 of body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def new_webhook_secret() -> str:
    """A fresh HMAC key for a user's webhook."""
    return "whsec_" + secrets.token_urlsafe(32)


def email_configured(settings: Settings) -> bool:
    """Whether this deployment can send email."""
    return bool(settings.smtp_host)


async def get_settings(session: AsyncSession, *, user_id: str) -> NotificationSettings | None:
    """The user's notification choices, if they saved any."""
    return await session.get(NotificationSettings, user_id)


async def save_settings(
    session: AsyncSession,
    *,
    box: SecretBox,
    user_id: str,
    email_enabled: bool,
    webhook_url: str | None,
    rotate_secret: bool = False,
) -> tuple[NotificationSettings, str | None]:
    """Save the user's choices; the new webhook secret when one was made (shown once)."""
    row = await session.get(NotificationSettings, user_id)
    if row is None:
        row = NotificationSettings(user_id=user_id)
        session.add(row)
    row.email_enabled = email_enabled
    fresh_secret = None
    if webhook_url is None:
        row.webhook_url, row.webhook_secret_encrypted = None, None
    else:
        if rotate_secret or row.webhook_secret_encrypted is None or row.webhook_url != webhook_url:
            fresh_secret = new_webhook_secret()
            row.webhook_secret_encrypted = box.encrypt(fresh_secret)
        row.webhook_url = webhook_url
    await session.commit()
    return row, fresh_secret


async def list_deliveries(
    session: AsyncSession, *, user_id: str, limit: int = 50
) -> list[WebhookDelivery]:
    """The user's latest webhook delivery attempts, newest first."""
    result = await session.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.user_id == user_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    return list(result.scalars())


class Notifier:
    """Sends the notifications of ended jobs; subscribe it with install()."""

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        box: SecretBox,
        *,
        reads: async_sessionmaker[AsyncSession] | None = None,
        direct: DirectPool | None = None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        # What a job's end reads (choices, user, results): autocommit, one round trip each.
        self.reads = reads or session_factory
        # PostgreSQL: the read every job's end makes (the user's choices) goes straight to asyncpg.
        self.direct = direct
        self.box = box
        self._stopping = asyncio.Event()

    def install(self, lifecycle: JobLifecycle) -> None:
        """Notify on every job end."""
        lifecycle.on_job_end(self.on_job_end)

    async def on_job_end(self, event: JobEvent) -> None:
        """Email and webhook for one ended job, as the user chose; each retried on its own."""
        rows = await _CHOICES.rows(
            {"b_user": event.user_id}, direct=self.direct, sessions=self.reads
        )
        choices = rows[0] if rows else None
        email = email_configured(self.settings) and (choices is None or choices["email_enabled"])
        webhook = None
        if choices is not None and choices["webhook_url"] and choices["webhook_secret_encrypted"]:
            webhook = choices["webhook_url"], choices["webhook_secret_encrypted"]
        if not email and webhook is None:
            return  # nothing to send: no more reads for this job's end
        async with self.reads() as session:
            user = await session.get(User, event.user_id)
            if user is None:
                return  # the account was deleted
            end = await self._job_end(session, event)
        deliveries: list[Awaitable[None]] = []
        if email:
            deliveries.append(self._email(end, user.email))
        if webhook is not None:
            url, sealed = webhook
            secret = self.box.decrypt(sealed)
            if secret is not None:
                deliveries.append(self._webhook(end, event.user_id, url, secret))
        await asyncio.gather(*deliveries)

    async def _job_end(self, session: AsyncSession, event: JobEvent) -> JobEnd:
        document = event.document
        rows = await session.execute(
            select(AdAnalysis.id, AdAnalysis.title, AdAnalysis.ad_names, AdAnalysis.score)
            .add_columns(AdAnalysis.hook_type)
            .where(
                AdAnalysis.user_id == event.user_id,
                AdAnalysis.job_id == event.job_id,
                AdAnalysis.score.is_not(None),
            )
            .order_by(AdAnalysis.score.desc(), AdAnalysis.id)
            .limit(TOP_ADS)
        )
        top = [
            TopAd(
                title=title or (names[0] if names else "Untitled video"),
                score=score,
                hook_type=hook_type,
                analysis_id=analysis_id,
            )
            for analysis_id, title, names, score, hook_type in rows
        ]
        return JobEnd(
            job_id=event.job_id,
            job_type=str(document.get("job_type", "")),
            status=str(document.get("status", "")),
            message=str(document.get("message") or ""),
            error_message=document.get("error_message"),
            result_count=int(document.get("result_count") or 0),
            top_ads=top,
            link=f"{self.settings.public_url.rstrip('/')}/jobs/{event.job_id}",
        )

    async def _email(self, end: JobEnd, to: str) -> None:
        settings = self.settings
        message = end.email(sender=settings.smtp_from, to=to)
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None

        async def send(_attempt: int) -> None:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password,
                start_tls=settings.smtp_starttls,
                use_tls=settings.smtp_tls,
                timeout=settings.smtp_timeout_seconds,
            )

        await self._retried(send, f"email for job {end.job_id}")

    async def _webhook(self, end: JobEnd, user_id: str, url: str, secret: str) -> None:
        body = json.dumps(end.payload(), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}

        async def post(attempt: int) -> None:
            status_code, error = None, None
            refused = None if self.settings.webhook_allow_private else await refused_reason(url)
            try:
                if refused is not None:
                    error = refused
                else:
                    async with httpx.AsyncClient(
                        timeout=self.settings.webhook_timeout_seconds
                    ) as c:
                        response = await c.post(
                            url, content=body, headers={**headers, DELIVERY_HEADER: end.job_id}
                        )
                    status_code = response.status_code
                    if not response.is_success:
                        error = f"HTTP {status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            async with self.session_factory() as session:
                session.add(
                    WebhookDelivery(
                        user_id=user_id,
                        job_id=end.job_id,
                        event=end.status,
                        url=url,
                        attempt=attempt,
                        status_code=status_code,
                        ok=error is None,
                        error=error,
                    )
                )
                await session.commit()
            if error is not None and refused is None:  # a refused address stays refused
                raise WebhookFailedError(error)

        await self._retried(post, f"webhook for job {end.job_id}")

    async def _retried(self, send: Callable[[int], Awaitable[None]], what: str) -> None:
        """send(attempt) until it succeeds or the attempts run out, backing off between tries."""
        attempts = self.settings.notification_attempts
        for attempt in range(1, attempts + 1):
            try:
                await send(attempt)
                return
            except Exception as exc:
                # The exception's class only: a server's text can echo addresses or secrets.
                log.warning(
                    "%s: attempt %d/%d failed (%s)", what, attempt, attempts, type(exc).__name__
                )
            if attempt == attempts:
                log.error("%s given up after %d attempts", what, attempts)
                return
            delay = self.settings.notification_retry_base_seconds * 2 ** (attempt - 1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                # The process is shutting down: its end must not wait minutes for a retry.
                log.error("%s given up at shutdown after %d attempts", what, attempt)
                return

    def stop(self) -> None:
        """Stop retrying: deliveries still failing give up instead of waiting (shutdown)."""
        self._stopping.set()


class WebhookFailedError(Exception):
    """The webhook did not answer 2xx."""
