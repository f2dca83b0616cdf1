"""Request and response shapes of the auth endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

COMMON_PASSWORDS = frozenset(
    {"password", "password1", "12345678", "123456789", "qwertyui", "iloveyou1"}
)


class RegisterRequest(BaseModel):
    """A new account."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=8, max_length=128)

    @field_validator("password")
    @classmethod
    def _strong_enough(cls, value: str) -> str:
        if value.lower() in COMMON_PASSWORDS:
            raise ValueError("this password is too common; choose another")
        if value.isdigit() or value.isalpha():
            raise ValueError("use letters and at least one digit or symbol")
        return value


class UserOut(BaseModel):
    """A user as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    is_admin: bool
    is_premium: bool
    created_at: datetime


class TokenOut(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 scheme name, not a secret
