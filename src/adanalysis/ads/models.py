"""Tables of the ad domain: a user's Facebook credentials and the analyses made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from adanalysis.db import Base, UTCDateTime, utcnow
from adanalysis.ids import new_object_id


class FacebookCredentials(Base):
    """One user's Facebook token (encrypted) and default ad account."""

    __tablename__ = "facebook_credentials"

    user_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(String(64))
    token_encrypted: Mapped[str] = mapped_column(Text)
    token_mask: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AdAnalysis(Base):
    """The transcript and insights of one video of a user's ads."""

    __tablename__ = "ad_analyses"
    __table_args__ = (
        UniqueConstraint("user_id", "video_id", name="uq_ad_analyses_user_video"),
        Index("ix_ad_analyses_user_created", "user_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_object_id)
    user_id: Mapped[str] = mapped_column(String(24), ForeignKey("users.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    video_id: Mapped[str] = mapped_column(String(64))
    ad_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    ad_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    title: Mapped[str | None] = mapped_column(Text)
    thumbnail_url: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    transcript: Mapped[str] = mapped_column(Text, default="")
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(16))
    insights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    transcriber: Mapped[str] = mapped_column(String(64))
    transcription_model: Mapped[str] = mapped_column(String(128))
    analyzer: Mapped[str] = mapped_column(String(64))
    analysis_model: Mapped[str] = mapped_column(String(128))
    # The job that made it; plain column, not a foreign key: analyses outlive job cleanup.
    job_id: Mapped[str | None] = mapped_column(String(24), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
