"""The rate-limit counters table (the embedded default's store)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from adanalysis.db import Base, UTCDateTime


class RateLimitCounter(Base):
    """Attempts counted for one key until window_ends_at; expired rows are pruned."""

    __tablename__ = "rate_limit_counters"

    # A hash of what is counted (account, address...), so no raw input is stored.
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
