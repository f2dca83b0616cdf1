"""Request and response shapes of the ad-analysis endpoints."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import JsonDict

# The rules below are enforced by validators (for their messages) and published in the OpenAPI
# document as patterns, so what the schema accepts is exactly what the API accepts.
ACCOUNT_ID_PATTERN = r"^(?:act_)?[0-9]{1,32}$"
_ACCOUNT = re.compile(ACCOUNT_ID_PATTERN)
# Printable ASCII, no spaces: how Facebook issues tokens.
ACCESS_TOKEN_PATTERN = r"^[!-~]+$"  # noqa: S105 - a pattern, not a secret
_ACCOUNT_SCHEMA: JsonDict = {"pattern": ACCOUNT_ID_PATTERN}


def normalise_account_id(value: str) -> str:
    """'act_<digits>' from 'act_<digits>' or '<digits>'; ValueError otherwise."""
    match = _ACCOUNT.fullmatch(value)
    if not match:
        raise ValueError("an ad account id is 'act_' followed by digits, e.g. act_1234567890")
    return f"act_{value.removeprefix('act_')}"


class CredentialsIn(BaseModel):
    """A Facebook token and the ad account to analyse by default."""

    model_config = ConfigDict(extra="forbid")

    access_token: str = Field(
        min_length=1, max_length=4096, json_schema_extra={"pattern": ACCESS_TOKEN_PATTERN}
    )
    account_id: str = Field(max_length=64, json_schema_extra=_ACCOUNT_SCHEMA)

    @field_validator("access_token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        if any(c.isspace() for c in value):
            raise ValueError("the access token must be one word with no spaces")
        if not (value.isascii() and value.isprintable()):
            # Facebook tokens are letters, digits and a few signs; anything else is a paste error.
            raise ValueError("the access token must be printable ASCII, as Facebook issues it")
        return value

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        return normalise_account_id(value)


class CredentialsOut(BaseModel):
    """Stored credentials, with the token masked, and what Facebook said about the account."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    account_id: str
    access_token: str = Field(validation_alias="token_mask")
    account_name: str | None = None
    account_currency: str | None = None
    account_status: str | None = None
    updated_at: datetime


class PerformanceOut(BaseModel):
    """Delivery over the performance period: one ad's, or summed over a video's ads."""

    model_config = ConfigDict(from_attributes=True)

    spend: float | None
    currency: str | None
    impressions: int | None
    clicks: int | None
    ctr: float | None = Field(description="Clicks per 100 impressions")
    video_3s_plays: int | None
    thruplays: int | None
    hook_rate: float | None = Field(description="3-second plays / impressions, 0-1")
    hold_rate: float | None = Field(description="ThruPlays / impressions, 0-1")
    date_start: str | None
    date_stop: str | None


class StartAnalysisRequest(BaseModel):
    """Optional overrides for one analysis: another account, or several at once."""

    # The schema says what the validator below enforces: not both fields at once.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "not": {
                "properties": {"account_id": {"type": "string"}, "account_ids": {"type": "array"}},
                "required": ["account_id", "account_ids"],
            }
        },
    )

    account_id: str | None = Field(default=None, max_length=64, json_schema_extra=_ACCOUNT_SCHEMA)
    account_ids: (
        list[Annotated[str, Field(max_length=64, json_schema_extra=_ACCOUNT_SCHEMA)]] | None
    ) = Field(default=None, min_length=1, max_length=20)

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return None if value is None else normalise_account_id(value)

    @field_validator("account_ids")
    @classmethod
    def _accounts(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return list(dict.fromkeys(normalise_account_id(v) for v in value))

    @model_validator(mode="after")
    def _one_or_other(self) -> StartAnalysisRequest:
        if self.account_id is not None and self.account_ids is not None:
            raise ValueError("give either account_id or account_ids, not both")
        return self


class AdAnalysisOut(BaseModel):
    """One analysed video."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: str = Field(serialization_alias="_id", validation_alias="id")
    account_id: str
    video_id: str
    ad_ids: list[str]
    ad_names: list[str]
    title: str | None
    thumbnail_url: str | None
    duration_seconds: float | None
    transcript: str
    segments: list[dict[str, Any]]
    language: str | None
    insights: dict[str, Any]
    transcriber: str
    transcription_model: str
    analyzer: str
    analysis_model: str
    job_id: str | None
    created_at: datetime
    performance: PerformanceOut | None = Field(
        default=None, description="Summed over the ads whose first video this is"
    )


class AnalysisBrief(BaseModel):
    """The analysis of an ad's video, in the few fields the ads view compares."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: str = Field(serialization_alias="_id", validation_alias="id")
    video_id: str
    title: str | None
    thumbnail_url: str | None
    hook_type: str | None
    hook_text: str | None
    score: int | None
    has_offer: bool | None
    words_per_minute: float | None
    cta_seconds: float | None
    job_id: str | None
    created_at: datetime


class AdOut(BaseModel):
    """An ad, its performance over the period and the analysis of its video."""

    id: str = Field(serialization_alias="_id")
    ad_id: str
    ad_name: str
    status: str | None
    account_id: str
    video_id: str | None
    video_ids: list[str]
    period: str
    fetched_at: datetime
    performance: PerformanceOut | None
    analysis: AnalysisBrief | None


class HookTypeSummary(BaseModel):
    """Ads of one hook type taken together (rates weighted by impressions)."""

    hook_type: str
    ads: int
    impressions: int
    spend: float
    hook_rate: float | None
    hold_rate: float | None
    ctr: float | None
    average_score: float | None


class ComparisonOut(BaseModel):
    """Creative choices against results, across the user's ads with performance."""

    period: str
    ads: list[AdOut]
    by_hook_type: list[HookTypeSummary]


class DeletedOut(BaseModel):
    """How many rows a delete removed."""

    deleted: int
