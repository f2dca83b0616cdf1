"""Request and response shapes of the auth endpoints."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from adanalysis.validation import BODY_CHARACTER

COMMON_PASSWORDS = frozenset(
    {"password", "password1", "12345678", "123456789", "qwertyui", "iloveyou1"}
)
_ONLY_DIGITS = re.compile(r"[0-9]+")
_ONLY_LETTERS = re.compile(r"[A-Za-z]+")
# Published so the schema accepts what the validator accepts (the common list aside).
PASSWORD_PATTERN = f"^(?![0-9]+$)(?![A-Za-z]+$){BODY_CHARACTER}+$"


class RegisterRequest(BaseModel):
    """A new account."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(
        min_length=8, max_length=128, json_schema_extra={"pattern": PASSWORD_PATTERN}
    )

    @field_validator("password")
    @classmethod
    def _strong_enough(cls, value: str) -> str:
        if value.lower() in COMMON_PASSWORDS:
            raise ValueError("this password is too common; choose another")
        if _ONLY_DIGITS.fullmatch(value) or _ONLY_LETTERS.fullmatch(value):
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


class DeleteAccountRequest(BaseModel):
    """The account's password, so a borrowed session cannot delete the account."""

    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)
