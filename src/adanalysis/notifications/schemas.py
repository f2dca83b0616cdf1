"""JSON shapes of the notification settings and the webhook delivery log."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# An http(s) URL of printable ASCII, no spaces (the schema says so; pydantic checks it).
WEBHOOK_URL_PATTERN = r"^https?://[!-~]+$"


class NotificationSettingsIn(BaseModel):
    """What the user chooses: email on job end, and a webhook URL (null: none)."""

    # Strict: "false" is not a boolean (the schema says boolean, so must the server).
    model_config = ConfigDict(extra="forbid", strict=True)

    email_enabled: bool = True
    webhook_url: str | None = Field(default=None, max_length=2048, pattern=WEBHOOK_URL_PATTERN)
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
