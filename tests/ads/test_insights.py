"""The heuristic analyzer on the sample ads, the AdInsights schema, and the OpenAI analyzer."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from eval.insights.evalset import script_transcript
from openai.lib._pydantic import to_strict_json_schema
from pydantic import SecretStr

from adanalysis.ads.errors import AnalysisError, OpenAIAuthError, OpenAIQuotaError
from adanalysis.ads.heuristics import analyze_transcript
from adanalysis.ads.insights import AdInsights, HeuristicAnalyzer, OpenAIAnalyzer, make_analyzer
from adanalysis.ads.transcription import Segment, Transcript
from adanalysis.config import Settings
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig

API_KEY = "sk-test-SUPERSECRET-0123456789"
CATALOG = json.loads(
    (
        Path(__file__).resolve().parents[2] / "src/adanalysis/sandbox/samples/catalog.json"
    ).read_text()
)["samples"]


def norm(text: str | None) -> str:
    return re.sub(r"[^a-z0-9 ]", "", (text or "").lower())


def analyzer(base_url: str, **kwargs: Any) -> OpenAIAnalyzer:
    return OpenAIAnalyzer(
        api_key=API_KEY, base_url=base_url, timeout=10, retry_initial_delay=0.01, **kwargs
    )


@pytest.mark.parametrize("sample", CATALOG, ids=[s["file"] for s in CATALOG])
async def test_heuristics_on_each_catalog_script(sample: dict[str, Any]) -> None:
    transcript = script_transcript(sample["script"])
    insights = await HeuristicAnalyzer().analyze(
        transcript, ad_name=sample["title"], duration=sample["duration_seconds"]
    )
    assert insights.hook.type == sample["hook_type"]
    assert norm(sample["cta"]) in norm(insights.call_to_action.text)
    assert insights.call_to_action.timestamp_seconds is not None
    assert (insights.offer is None) == (sample["offer"] is None)
    assert insights.speech_in_first_5s
    assert insights.words_per_minute is not None and 100 < insights.words_per_minute < 200
    assert insights.score is not None and 0 <= insights.score <= 100
    assert insights.score_reasons
    assert -1 <= insights.emotional_tone.score <= 1


async def test_heuristics_on_a_real_transcription(
    local_transcripts: dict[str, Transcript], catalog: dict[str, dict[str, Any]]
) -> None:
    for name, transcript in local_transcripts.items():
        sample = catalog[name]
        insights = await HeuristicAnalyzer().analyze(
            transcript, ad_name=sample["title"], duration=sample["duration_seconds"]
        )
        assert insights.hook.type == sample["hook_type"], (name, insights.hook)
        assert norm(sample["cta"]) in norm(insights.call_to_action.text), name
        cta_at = insights.call_to_action.timestamp_seconds
        assert cta_at is not None and cta_at > sample["duration_seconds"] / 2


def test_heuristics_leave_unknowns_empty() -> None:
    silent = analyze_transcript(Transcript(text="", language=None, duration=8.0, segments=[]))
    assert silent.score is None
    assert silent.call_to_action.text is None
    assert not silent.speech_in_first_5s
    assert "No spoken words found" in silent.weaknesses

    late = script_transcript("Our new lamp is made of oak and glass.")
    late = late.model_copy(
        update={"segments": [Segment(start=7.0, end=10.0, text=late.segments[0].text)]}
    )
    insights = analyze_transcript(late, ad_name="Oakline lamp", duration=12.0)
    assert insights.offer is None and insights.urgency is None
    assert insights.call_to_action.text is None
    assert "No clear call to action" in insights.weaknesses
    assert "No speech in the first 5 seconds" in insights.weaknesses
    assert insights.brand_first_mention_seconds is not None
    assert insights.brand_first_mention_seconds >= 7.0


def test_ad_insights_is_a_strict_structured_output_schema() -> None:
    schema = to_strict_json_schema(AdInsights)
    text = json.dumps(schema)
    assert '"default"' not in text
    assert set(schema["required"]) == set(schema["properties"])
    assert schema["additionalProperties"] is False
    for definition in schema["$defs"].values():
        assert set(definition["required"]) == set(definition["properties"])
    assert set(schema["$defs"]["Hook"]["properties"]["type"]["enum"]) >= {
        "question",
        "statistic",
        "other",
    }


def test_make_analyzer_picks_openai_or_heuristic() -> None:
    assert isinstance(make_analyzer(Settings()), HeuristicAnalyzer)
    remote = make_analyzer(Settings(openai_api_key=SecretStr(API_KEY)))
    assert isinstance(remote, OpenAIAnalyzer)
    assert (remote.name, remote.model) == ("openai", "gpt-4o-mini")


async def test_openai_analysis_succeeds(fake_openai: tuple[FakeOpenAIConfig, str]) -> None:
    config, base_url = fake_openai
    sample = CATALOG[0]
    insights = await analyzer(base_url).analyze(
        script_transcript(sample["script"]), ad_name=sample["title"]
    )
    assert isinstance(insights, AdInsights)
    assert insights.hook.type == sample["hook_type"]
    assert norm(sample["cta"]) in norm(insights.call_to_action.text)
    assert config.requests["chat"] == 1


async def test_openai_analysis_skips_silent_ads(fake_openai: tuple[FakeOpenAIConfig, str]) -> None:
    config, base_url = fake_openai
    silent = Transcript(text="", language=None, duration=5.0, segments=[])
    insights = await analyzer(base_url).analyze(silent)
    assert insights.score is None
    assert config.requests["chat"] == 0


async def test_openai_analysis_quota_is_fatal_and_not_retried(
    fake_openai: tuple[FakeOpenAIConfig, str], caplog: pytest.LogCaptureFixture
) -> None:
    config, base_url = fake_openai
    config.fault = "insufficient_quota"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(OpenAIQuotaError) as info:
        await analyzer(base_url).analyze(script_transcript(CATALOG[1]["script"]))
    assert info.value.message == "OpenAI API quota exceeded. Please check your API limits."
    assert config.requests["chat"] == 1
    assert "SUPERSECRET" not in caplog.text


async def test_openai_analysis_retries_a_rate_limit(
    fake_openai: tuple[FakeOpenAIConfig, str],
) -> None:
    config, base_url = fake_openai
    config.fault = "rate_limit_then_ok"
    config.rate_limit_failures = 2
    insights = await analyzer(base_url).analyze(script_transcript(CATALOG[1]["script"]))
    assert insights.hook.type == CATALOG[1]["hook_type"]
    assert config.requests["chat"] == 3


async def test_openai_refusal_fails_only_this_video(
    fake_openai: tuple[FakeOpenAIConfig, str],
) -> None:
    config, base_url = fake_openai
    config.fault = "refusal"
    with pytest.raises(AnalysisError) as info:
        await analyzer(base_url).analyze(script_transcript(CATALOG[2]["script"]))
    assert info.value.fatal is False
    assert config.requests["chat"] == 1


async def test_openai_analysis_invalid_key(fake_openai: tuple[FakeOpenAIConfig, str]) -> None:
    config, base_url = fake_openai
    config.fault = "invalid_key"
    with pytest.raises(OpenAIAuthError) as info:
        await analyzer(base_url).analyze(script_transcript(CATALOG[2]["script"]))
    assert info.value.message == "Invalid OpenAI API key. Please check your configuration."
    assert info.value.fatal
