"""JSON shapes of the notification settings and the webhook delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("the webhook URL must start with http:// or https://")
    return value


class NotificationSettingsIn(BaseModel):
    """What the user chooses: email on job end, and a webhook URL (null: none)."""

    email_enabled: bool = True
    webhook_url: Annotated[str | None, AfterValidator(_http_url)] = Field(
        default=None, max_length=2048
    )
    rotate_secret: bool = False  # make a new signing secret for the same URL


class NotificationSettingsOut(BaseModel):
    """The user's choices; the webhook secret appears once, when it is made."""

    email_enabled: bool
    email_available: bool  # whether this deployment sends email at all
    webhook_url: str | None
    webhook_secret: str | None = None  # only in the answer that created it
    signature_header: str


class WebhookDeliveryOut(BaseModel):
    """One delivery attempt."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    job_id: str
    event: str
    url: str
    attempt: int
    status_code: int | None
    ok: bool
    error: str | None
    created_at: datetime
