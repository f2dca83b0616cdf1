"""The fake OpenAI server: its shapes, fault injection, request counts and latency."""

from __future__ import annotations

import time

import httpx
import pytest

from adanalysis.ads.insights import AdInsights
from adanalysis.sandbox.openai_fake import (
    FAULT_HEADER,
    FakeOpenAIConfig,
    create_openai_fake,
)
from adanalysis.serving import serve_app_in_thread

CHAT_BODY = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Analyse."},
        {
            "role": "user",
            "content": "Ad name: Brewly coffee\nTranscript:\n[0.00-3.00] Did you know coffee "
            "could taste better?\n[3.00-4.50] Shop now.",
        },
    ],
    "response_format": {"type": "json_schema", "json_schema": {"name": "AdInsights"}},
}


def client_for(config: FakeOpenAIConfig) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_openai_fake(config))
    return httpx.AsyncClient(transport=transport, base_url="http://fake")


async def test_transcription_returns_verbose_json() -> None:
    config = FakeOpenAIConfig()
    async with client_for(config) as client:
        resp = await client.post(
            "/v1/audio/transcriptions",
            files={"file": ("a.mp3", b"ID3fake", "audio/mpeg")},
            data={"model": "whisper-1", "response_format": "verbose_json"},
        )
    assert resp.status_code == 200
    body = resp.json()
    assert body["text"].startswith("Tired of coffee")
    assert body["segments"][0]["start"] == 0.0
    assert body["duration"] == body["segments"][-1]["end"]
    assert config.requests["transcriptions"] == 1


async def test_chat_returns_ad_insights_from_the_prompt() -> None:
    async with client_for(FakeOpenAIConfig()) as client:
        resp = await client.post("/v1/chat/completions", json=CHAT_BODY)
    message = resp.json()["choices"][0]["message"]
    insights = AdInsights.model_validate_json(message["content"])
    assert insights.hook.type == "question"
    assert insights.call_to_action.text == "Shop now."
    assert insights.call_to_action.timestamp_seconds == 3.0


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("insufficient_quota", 429, "insufficient_quota"),
        ("invalid_key", 401, "invalid_api_key"),
        ("server_error", 500, None),
    ],
)
async def test_faults_by_header(fault: str, status: int, code: str | None) -> None:
    async with client_for(FakeOpenAIConfig()) as client:
        resp = await client.post(
            "/v1/chat/completions", json=CHAT_BODY, headers={FAULT_HEADER: fault}
        )
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == code


async def test_rate_limit_then_ok_and_refusal() -> None:
    config = FakeOpenAIConfig(fault="rate_limit_then_ok", rate_limit_failures=2)
    async with client_for(config) as client:
        codes = [
            (await client.post("/v1/chat/completions", json=CHAT_BODY)).status_code
            for _ in range(3)
        ]
        assert codes == [429, 429, 200]
        config.fault = "refusal"
        message = (await client.post("/v1/chat/completions", json=CHAT_BODY)).json()["choices"][0][
            "message"
        ]
    assert message["content"] is None and message["refusal"]
    assert config.requests["chat"] == 4


def test_serve_in_thread_with_latency() -> None:
    config = FakeOpenAIConfig(chat_latency_seconds=0.3)
    with serve_app_in_thread(create_openai_fake(config)) as base_url:
        started = time.monotonic()
        resp = httpx.post(f"{base_url}/v1/chat/completions", json=CHAT_BODY, timeout=5)
        elapsed = time.monotonic() - started
    assert resp.status_code == 200
    assert elapsed >= 0.3
    assert config.requests["chat"] == 1
