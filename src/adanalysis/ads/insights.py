"""The analysis of one ad's transcript: OpenAI structured outputs, or offline heuristics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

import openai

from adanalysis.ads.card import AdInsights
from adanalysis.ads.errors import AnalysisError
from adanalysis.ads.grounding import ground
from adanalysis.ads.heuristics import analyze_transcript
from adanalysis.ads.openai_errors import OpenAIEngine
from adanalysis.ads.transcription import Transcript

if TYPE_CHECKING:
    from adanalysis.config import Settings

log = logging.getLogger(__name__)


class Analyzer(Protocol):
    """Turns a transcript into AdInsights."""

    name: str  # "openai" | "heuristic"
    model: str

    async def analyze(
        self, transcript: Transcript, *, ad_name: str | None = None, duration: float | None = None
    ) -> AdInsights:
        """The insights for one ad."""
        ...


SYSTEM_PROMPT = """You are an expert direct-response video ad analyst.
You get the timestamped transcript of one Facebook video ad. Analyse only what is in it; never
invent an offer, social proof or call to action that is not said. Use null or empty lists when
something is absent. Timestamps are seconds from the start of the video. The hook is what is said
in about the first 3 seconds. Score the ad from 0 to 100 for its likely effectiveness and give the
reasons for the score. Quote the transcript in the evidence."""


def format_transcript(transcript: Transcript) -> str:
    """The transcript as "[start-end] text" lines (the fake server parses this format back)."""
    if not transcript.segments:
        return transcript.text
    return "\n".join(f"[{s.start:.2f}-{s.end:.2f}] {s.text}" for s in transcript.segments)


def user_prompt(transcript: Transcript, *, ad_name: str | None, duration: float | None) -> str:
    """The user message for one ad."""
    lines = []
    if ad_name:
        lines.append(f"Ad name: {ad_name}")
    if duration is not None:
        lines.append(f"Video duration: {duration:.1f} seconds")
    if transcript.language:
        lines.append(f"Language: {transcript.language}")
    lines += ["Transcript:", format_transcript(transcript)]
    return "\n".join(lines)


class OpenAIAnalyzer(OpenAIEngine):
    """OpenAI chat completions with structured outputs (strict JSON schema of AdInsights)."""

    default_model = "gpt-4o-mini"

    async def analyze(
        self, transcript: Transcript, *, ad_name: str | None = None, duration: float | None = None
    ) -> AdInsights:
        """Ask the model for AdInsights; a refusal or cut-off answer fails only this video."""
        if not transcript.text.strip():
            # Nothing to pay the model for: the heuristics describe a silent ad honestly.
            return analyze_transcript(transcript, ad_name=ad_name, duration=duration)
        messages: Any = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": user_prompt(transcript, ad_name=ad_name, duration=duration),
            },
        ]

        async def call() -> Any:
            return await self._client.chat.completions.parse(
                model=self.model, messages=messages, response_format=AdInsights
            )

        try:
            completion = await self._call(call, fallback=AnalysisError, action="analyse")
        except AnalysisError as exc:
            cause = exc.__cause__
            if isinstance(cause, openai.LengthFinishReasonError):
                raise AnalysisError("The AI analysis of this ad was cut short.") from cause
            if isinstance(cause, openai.ContentFilterFinishReasonError):
                raise AnalysisError("The AI content filter blocked the analysis of this ad.") from (
                    cause
                )
            raise
        message = completion.choices[0].message
        if message.refusal:
            raise AnalysisError("The AI declined to analyse this ad.")
        if message.parsed is None:
            raise AnalysisError("The AI returned no analysis for this ad.")
        parsed: AdInsights = message.parsed
        # The model may quote what was never said: checked against the transcript, with the
        # offline rules (a few ms, pure Python) standing in for whatever does not hold.
        offline = analyze_transcript(transcript, ad_name=ad_name, duration=duration)
        return ground(parsed, transcript, fallback=offline)


class HeuristicAnalyzer:
    """Offline rules over the transcript and its timestamps; no network, no model."""

    name = "heuristic"
    model = "rules-v2"

    async def analyze(
        self, transcript: Transcript, *, ad_name: str | None = None, duration: float | None = None
    ) -> AdInsights:
        """The insights the rules can honestly compute."""
        return analyze_transcript(transcript, ad_name=ad_name, duration=duration)


def make_analyzer(settings: Settings) -> Analyzer:
    """OpenAI when an API key is set, else the heuristic analyzer."""
    if settings.openai_api_key is not None:
        return OpenAIAnalyzer.from_settings(settings, model=settings.openai_analysis_model)
    return HeuristicAnalyzer()
