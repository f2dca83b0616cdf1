"""A fake OpenAI-compatible server (transcriptions, chat completions) with fault injection."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adanalysis.ads.heuristics import analyze_transcript
from adanalysis.ads.transcription import Segment, Transcript

Fault = Literal[
    "insufficient_quota", "rate_limit_then_ok", "server_error", "refusal", "invalid_key"
]
FAULT_HEADER = "x-fake-fault"

DEFAULT_SEGMENTS: tuple[tuple[float, float, str], ...] = (
    (0.0, 3.2, "Tired of coffee that tastes burnt by noon?"),
    (3.2, 8.4, "Meet BrewBuddy, the smart mug that keeps your coffee at the perfect temperature."),
    (8.4, 11.6, "Over twenty thousand customers rated us five stars."),
    (11.6, 15.0, "Order today and get thirty percent off with code BREW30."),
    (15.0, 17.5, "Limited time only. Shop now."),
)


@dataclass
class FakeOpenAIConfig:
    """What the fake answers; mutable so a test can flip faults while the server runs."""

    segments: list[tuple[float, float, str]] = field(default_factory=lambda: list(DEFAULT_SEGMENTS))
    language: str = "english"
    fault: Fault | None = None
    # For rate_limit_then_ok: how many 429s to send before answering normally.
    rate_limit_failures: int = 2
    transcription_latency_seconds: float = 0.0
    chat_latency_seconds: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    _rate_limited: Counter[str] = field(default_factory=Counter)

    def set_transcript(self, text: str, *, seconds_per_word: float = 0.4) -> None:
        """Answer transcriptions with text, one segment per sentence, timed by word count."""
        start, self.segments = 0.0, []
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
            end = start + max(len(sentence.split()), 1) * seconds_per_word
            self.segments.append((round(start, 2), round(end, 2), sentence))
            start = end

    def reset(self) -> None:
        """Back to a healthy server with zero counts."""
        self.fault = None
        self.requests.clear()
        self._rate_limited.clear()


def _error(status: int, message: str, type_: str, code: str | None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def _fault_response(config: FakeOpenAIConfig, fault: str | None, endpoint: str) -> Any:
    if fault == "invalid_key":
        # Unlike the real API, never echo any part of the key back.
        return _error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )
    if fault == "insufficient_quota":
        return _error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )
    if fault == "server_error":
        return _error(500, "The server had an error processing your request.", "server_error", None)
    if (
        fault == "rate_limit_then_ok"
        and config._rate_limited[endpoint] < config.rate_limit_failures
    ):
        config._rate_limited[endpoint] += 1
        return _error(429, "Rate limit reached for requests.", "requests", "rate_limit_exceeded")
    return None


_LINE = re.compile(r"^\[(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\]\s*(.*)$")


def _transcript_from_prompt(prompt: str) -> tuple[Transcript, str | None]:
    """The transcript and ad name back from the analyzer's user message ("[start-end] text")."""
    segments = []
    ad_name = None
    for line in prompt.splitlines():
        if line.startswith("Ad name: "):
            ad_name = line.removeprefix("Ad name: ").strip()
        match = _LINE.match(line.strip())
        if match:
            start, end, text = match.groups()
            segments.append(Segment(start=float(start), end=float(end), text=text))
    if segments:
        text = " ".join(s.text for s in segments)
    else:
        text = prompt.split("Transcript:", 1)[-1].strip()
    return Transcript(text=text, language="en", duration=None, segments=segments), ad_name


def create_openai_fake(config: FakeOpenAIConfig | None = None) -> FastAPI:
    """The fake server app; config (kept on app.state.config) drives its answers."""
    cfg = config or FakeOpenAIConfig()
    app = FastAPI(title="Fake OpenAI")
    app.state.config = cfg

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Any:
        cfg.requests["transcriptions"] += 1
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _error(400, "No file uploaded.", "invalid_request_error", None)
        await upload.read()
        if cfg.transcription_latency_seconds:
            await asyncio.sleep(cfg.transcription_latency_seconds)
        failed = _fault_response(
            cfg, request.headers.get(FAULT_HEADER) or cfg.fault, "transcriptions"
        )
        if failed is not None:
            return failed
        segments = [
            {
                "id": i,
                "seek": 0,
                "start": start,
                "end": end,
                "text": " " + text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.2,
                "compression_ratio": 1.3,
                "no_speech_prob": 0.01,
            }
            for i, (start, end, text) in enumerate(cfg.segments)
        ]
        return {
            "task": "transcribe",
            "language": cfg.language,
            "duration": cfg.segments[-1][1] if cfg.segments else 0.0,
            "text": " ".join(text for _, _, text in cfg.segments),
            "segments": segments,
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        cfg.requests["chat"] += 1
        body = await request.json()
        if cfg.chat_latency_seconds:
            await asyncio.sleep(cfg.chat_latency_seconds)
        fault = request.headers.get(FAULT_HEADER) or cfg.fault
        failed = _fault_response(cfg, fault, "chat")
        if failed is not None:
            return failed
        prompt = "\n".join(
            str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user"
        )
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if fault == "refusal":
            message["refusal"] = "I'm sorry, I can't help with that request."
        else:
            transcript, ad_name = _transcript_from_prompt(prompt)
            message["content"] = analyze_transcript(transcript, ad_name=ad_name).model_dump_json()
        return {
            "id": f"chatcmpl-fake-{cfg.requests['chat']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "choices": [
                {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": len(prompt) // 4,
                "completion_tokens": 400,
                "total_tokens": len(prompt) // 4 + 400,
            },
        }

    return app
