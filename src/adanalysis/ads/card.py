"""The insight card of one ad: the AdInsights model both analyzers fill."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

HookType = Literal[
    "question", "statistic", "bold_claim", "pain_point", "command", "story", "social_proof", "other"
]

# No defaults and no numeric bounds in the schema: OpenAI strict structured outputs require every
# field and reject some keywords; bounds are enforced by the validators instead.


class Hook(BaseModel):
    """What the ad says in its first seconds, and the kind of hook it is."""

    text: str = Field(description="The words spoken in roughly the first 3 seconds")
    type: HookType


class CallToAction(BaseModel):
    """The action the ad asks for, and when (seconds from the start) it is said."""

    text: str | None
    timestamp_seconds: float | None


class EmotionalTone(BaseModel):
    """The overall tone; score from -1 (negative) to 1 (positive)."""

    label: str
    score: float

    @field_validator("score")
    @classmethod
    def _clamp(cls, value: float) -> float:
        return max(-1.0, min(1.0, value))


class Evidence(BaseModel):
    """A quote from the transcript that backs a finding."""

    quote: str
    timestamp_seconds: float | None


class AdInsights(BaseModel):
    """The analysis of one ad video's spoken content."""

    hook: Hook
    core_message: str | None = Field(description="The main point of the ad in one sentence")
    offer: str | None = Field(description="The concrete offer (discount, free trial...), if any")
    pain_points: list[str]
    benefits: list[str]
    social_proof: list[str]
    urgency: str | None
    call_to_action: CallToAction
    emotional_tone: EmotionalTone
    words_per_minute: float | None
    speech_in_first_5s: bool
    brand_first_mention_seconds: float | None
    strengths: list[str]
    weaknesses: list[str]
    suggestions: list[str]
    score: int | None = Field(description="Overall effectiveness from 0 to 100")
    score_reasons: list[str]
    evidence: list[Evidence]

    @field_validator("score")
    @classmethod
    def _clamp_score(cls, value: int | None) -> int | None:
        return None if value is None else max(0, min(100, value))
