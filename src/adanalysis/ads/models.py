"""Tables of the ad domain: a user's Facebook credentials and the analyses made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

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
    # What the Graph API said about the account when the credentials were checked.
    account_name: Mapped[str | None] = mapped_column(Text)
    account_currency: Mapped[str | None] = mapped_column(String(8))
    account_status: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AdAnalysis(Base):
    """The transcript and insights of one video of a user's ads."""

    __tablename__ = "ad_analyses"
    __table_args__ = (
        UniqueConstraint("user_id", "video_id", name="uq_ad_analyses_user_video"),
        Index("ix_ad_analyses_user_created", "user_id", "created_at", "id"),
        Index("ix_ad_analyses_user_score", "user_id", "score", "id"),
        Index("ix_ad_analyses_user_hook_type", "user_id", "hook_type", "created_at", "id"),
        Index("ix_ad_analyses_user_job", "user_id", "job_id", "created_at", "id"),
        Index("ix_ad_analyses_user_account", "user_id", "account_id", "created_at", "id"),
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
    # Copies of the insights the lists filter and sort on: JSON fields cannot be indexed portably.
    hook_type: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[int | None] = mapped_column(Integer)
    has_offer: Mapped[bool | None] = mapped_column(Boolean)
    transcriber: Mapped[str] = mapped_column(String(64))
    transcription_model: Mapped[str] = mapped_column(String(128))
    analyzer: Mapped[str] = mapped_column(String(64))
    analysis_model: Mapped[str] = mapped_column(String(128))
    # The job that made it; plain column, not a foreign key: analyses outlive job cleanup.
    job_id: Mapped[str | None] = mapped_column(String(24), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @validates("insights")
    def _copy_filter_fields(self, _key: str, insights: dict[str, Any]) -> dict[str, Any]:
        """Keep hook_type, score and has_offer in step with the insights they come from."""
        self.hook_type, self.score, self.has_offer = filter_fields(insights)
        return insights


def filter_fields(insights: dict[str, Any] | None) -> tuple[str | None, int | None, bool | None]:
    """(hook type, score, has offer) of an insights document; None where it says nothing."""
    if not isinstance(insights, dict) or not insights:
        return None, None, None
    hook = insights.get("hook")
    hook_type = hook.get("type") if isinstance(hook, dict) else None
    score = insights.get("score")
    offer = insights.get("offer")
    return (
        str(hook_type) if hook_type else None,
        int(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
        bool(offer and str(offer).strip()),
    )


class AdPerformance(Base):
    """One ad's delivery figures over one period, as the Graph API insights edge gave them."""

    __tablename__ = "ad_performance"
    __table_args__ = (
        UniqueConstraint("user_id", "ad_id", "period", name="uq_ad_performance_user_ad_period"),
        Index("ix_ad_performance_user_period_video", "user_id", "period", "video_id"),
        Index("ix_ad_performance_user_period_spend", "user_id", "period", "spend", "id"),
        Index("ix_ad_performance_user_period_hook", "user_id", "period", "hook_rate", "id"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_object_id)
    user_id: Mapped[str] = mapped_column(String(24), ForeignKey("users.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(String(64))
    ad_id: Mapped[str] = mapped_column(String(64))
    ad_name: Mapped[str] = mapped_column(Text, default="")
    effective_status: Mapped[str | None] = mapped_column(String(32))
    # The ad's first video (the one its analysis is found by) and all of them.
    video_id: Mapped[str | None] = mapped_column(String(64))
    video_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # "last_30d" (a date preset) or "2025-01-01..2025-01-31" (a time range).
    period: Mapped[str] = mapped_column(String(32))
    date_start: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD, as Facebook says
    date_stop: Mapped[str | None] = mapped_column(String(10))
    currency: Mapped[str | None] = mapped_column(String(8))
    spend: Mapped[float | None] = mapped_column(Float)  # in the account's currency
    impressions: Mapped[int | None] = mapped_column(Integer)
    clicks: Mapped[int | None] = mapped_column(Integer)
    ctr: Mapped[float | None] = mapped_column(Float)  # percent, as Facebook reports it
    video_3s_plays: Mapped[int | None] = mapped_column(Integer)
    thruplays: Mapped[int | None] = mapped_column(Integer)
    hook_rate: Mapped[float | None] = mapped_column(Float)  # 3-second plays / impressions, 0-1
    hold_rate: Mapped[float | None] = mapped_column(Float)  # ThruPlays / impressions, 0-1
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
