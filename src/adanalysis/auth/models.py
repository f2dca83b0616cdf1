"""The user table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from adanalysis.db import Base, UTCDateTime, utcnow
from adanalysis.ids import new_object_id


class User(Base):
    """A person who signs in and owns jobs, credentials and analyses."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=new_object_id)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Premium users' jobs go first when the runner is saturated.
    is_premium: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
