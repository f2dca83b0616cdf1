"""An LLM's card is checked against the transcript: what was not said is dropped or replaced."""

from __future__ import annotations

import logging

import pytest
from eval.insights.evalset import EvalAd, dev_ads, script_transcript

from adanalysis.ads.card import CallToAction, Evidence
from adanalysis.ads.grounding import ground, said, when_said
from adanalysis.ads.heuristics import analyze_transcript
from adanalysis.ads.insights import OpenAIAnalyzer
from adanalysis.sandbox.openai_fake import (
    HALLUCINATED_CTA,
    HALLUCINATED_PROOF,
    HALLUCINATED_QUOTE,
    FakeOpenAIConfig,
)

SCRIPT = (
    "Ever wonder why your bread goes stale by Tuesday? Crumbly bakes it to last a week. "
    "Over forty thousand families already have. Order a loaf today and get twenty percent off."
)


def test_said_is_fuzzy_and_normalised() -> None:
    transcript = script_transcript(SCRIPT)
    assert said("order a loaf today", transcript)
    assert said("Order a loaf to day and get 20% off", transcript)
    assert not said("Visit crumbly dot com", transcript)
    assert not said("", transcript)
    assert when_said("get twenty percent off", transcript) == transcript.segments[3].start


def test_ground_drops_what_was_not_said_and_keeps_what_was() -> None:
    transcript = script_transcript(SCRIPT)
    offline = analyze_transcript(transcript)
    llm = offline.model_copy(
        update={
            "call_to_action": CallToAction(text="Sign up at crumbly dot com", timestamp_seconds=3),
            "evidence": [
                Evidence(quote="Crumbly bakes it to last a week.", timestamp_seconds=None),
                Evidence(quote="Loved by chefs in Paris", timestamp_seconds=1.0),
            ],
            "social_proof": ["Over forty thousand families already have.", "Loved by chefs"],
            "offer": "Free delivery on your first three loaves",
            "urgency": "Ends at midnight",
        }
    )
    checked = ground(llm, transcript, fallback=offline)
    # The invented CTA gives way to the one the rules found in the transcript.
    assert checked.call_to_action == offline.call_to_action
    assert checked.call_to_action.text is not None
    assert "Order a loaf today" in checked.call_to_action.text
    assert [e.quote for e in checked.evidence] == ["Crumbly bakes it to last a week."]
    assert checked.evidence[0].timestamp_seconds == transcript.segments[1].start
    assert checked.social_proof == ["Over forty thousand families already have."]
    assert checked.offer == offline.offer
    assert checked.urgency == offline.urgency is None


def test_ground_keeps_a_paraphrased_offer_and_retimes_the_cta() -> None:
    transcript = script_transcript(SCRIPT)
    offline = analyze_transcript(transcript)
    llm = offline.model_copy(
        update={
            "offer": "20% off a loaf",
            "call_to_action": CallToAction(text="Order a loaf today", timestamp_seconds=99.0),
        }
    )
    checked = ground(llm, transcript, fallback=offline)
    assert checked.offer == "20% off a loaf"
    assert checked.call_to_action.timestamp_seconds == transcript.segments[3].start


def test_ground_without_any_cta_removes_the_praise_for_one() -> None:
    transcript = script_transcript("Our lamp is made of oak. It glows warm at night.")
    offline = analyze_transcript(transcript)
    assert offline.call_to_action.text is None
    llm = offline.model_copy(
        update={
            "call_to_action": CallToAction(text="Buy now", timestamp_seconds=4.0),
            "strengths": ["Has a clear call to action", "Warm tone"],
        }
    )
    checked = ground(llm, transcript, fallback=offline)
    assert checked.call_to_action.text is None
    assert checked.strengths == ["Warm tone"]


@pytest.mark.parametrize("ad", dev_ads()[:12], ids=lambda a: a.id)
async def test_openai_hallucinations_never_reach_the_card(
    fake_openai: tuple[FakeOpenAIConfig, str], ad: EvalAd, caplog: pytest.LogCaptureFixture
) -> None:
    config, base_url = fake_openai
    config.fault = "hallucinate"
    caplog.set_level(logging.INFO, logger="adanalysis.ads.grounding")
    transcript = script_transcript(ad.script)
    engine = OpenAIAnalyzer(api_key="sk-test", base_url=base_url, timeout=10)
    card = await engine.analyze(transcript)
    assert config.requests["chat"] == 1
    assert card.call_to_action.text != HALLUCINATED_CTA
    assert card.call_to_action == analyze_transcript(transcript).call_to_action
    assert HALLUCINATED_QUOTE not in [e.quote for e in card.evidence]
    assert HALLUCINATED_PROOF not in card.social_proof
    assert card.offer is None or "MEGA90" not in card.offer
    assert "call_to_action" in caplog.text
    # Only field names are logged, never what was said.
    assert "megadeals" not in caplog.text.lower()


async def test_openai_answer_that_holds_is_kept(fake_openai: tuple[FakeOpenAIConfig, str]) -> None:
    _, base_url = fake_openai
    transcript = script_transcript(SCRIPT)
    card = await OpenAIAnalyzer(api_key="sk-test", base_url=base_url, timeout=10).analyze(
        transcript
    )
    assert card == analyze_transcript(transcript)
