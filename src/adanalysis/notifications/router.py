"""The user's notification settings and webhook delivery log."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from adanalysis.auth.deps import CurrentUser
from adanalysis.crypto import SecretBox
from adanalysis.db import SessionDep
from adanalysis.jobs.schemas import error_responses
from adanalysis.notifications import service
from adanalysis.notifications.schemas import (
    NotificationSettingsIn,
    NotificationSettingsOut,
    WebhookDeliveryOut,
)

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
_401 = error_responses(e401="Not signed in")


def _out(
    request: Request, *, email_enabled: bool, webhook_url: str | None, secret: str | None = None
) -> NotificationSettingsOut:
    return NotificationSettingsOut(
        email_enabled=email_enabled,
        email_available=service.email_configured(request.app.state.settings),
        webhook_url=webhook_url,
        webhook_secret=secret,
        signature_header=service.SIGNATURE_HEADER,
    )


@router.get("/settings", response_model=NotificationSettingsOut, responses=_401)
async def get_notification_settings(
    request: Request, user: CurrentUser, session: SessionDep
) -> NotificationSettingsOut:
    """Whether you get an email when a job ends, and your webhook."""
    row = await service.get_settings(session, user_id=user.id)
    if row is None:
        return _out(request, email_enabled=True, webhook_url=None)
    return _out(request, email_enabled=row.email_enabled, webhook_url=row.webhook_url)


@router.put("/settings", response_model=NotificationSettingsOut, responses=_401)
async def put_notification_settings(
    body: NotificationSettingsIn, request: Request, user: CurrentUser, session: SessionDep
) -> NotificationSettingsOut:
    """Save your choices; a new webhook URL gets a signing secret, shown in this answer only."""
    box: SecretBox = request.app.state.secret_box
    row, secret = await service.save_settings(
        session,
        box=box,
        user_id=user.id,
        email_enabled=body.email_enabled,
        webhook_url=body.webhook_url,
        rotate_secret=body.rotate_secret,
    )
    return _out(
        request, email_enabled=row.email_enabled, webhook_url=row.webhook_url, secret=secret
    )


@router.get("/webhook-deliveries", response_model=list[WebhookDeliveryOut], responses=_401)
async def webhook_deliveries(
    user: CurrentUser, session: SessionDep, limit: int = Query(50, ge=1, le=200)
) -> list[WebhookDeliveryOut]:
    """Your latest webhook delivery attempts, newest first."""
    rows = await service.list_deliveries(session, user_id=user.id, limit=limit)
    return [WebhookDeliveryOut.model_validate(row) for row in rows]
