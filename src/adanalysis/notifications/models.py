"""Tables of notifications: each user's choices and the log of webhook deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adanalysis.db import Base, UTCDateTime, utcnow
from adanalysis.ids import new_object_id


class NotificationSettings(Base):
    """One user's notification choices: email on job end, and an optional signed webhook."""

    __tablename__ = "notification_settings"

    user_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # The HMAC key of the webhook's signature, encrypted like the Facebook token.
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One attempt to deliver one job's end to a user's webhook."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_user_created", "user_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_object_id)
    user_id: Mapped[str] = mapped_column(String(24), ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(24))
    event: Mapped[str] = mapped_column(String(32))  # the job's end: completed, failed, cancelled
    url: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None when no answer came
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
