"""The offline analyzer on the eval set: dev-split answers, and card invariants everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from eval.insights.evalset import EvalAd, dev_ads, load_eval_ads, script_transcript

from adanalysis.ads.card import AdInsights
from adanalysis.ads.coherence import contradictions, reason_points
from adanalysis.ads.grounding import said
from adanalysis.ads.heuristics import analyze_transcript
from adanalysis.ads.textmatch import fuzzy_find, squash
from adanalysis.ads.transcription import Transcript

DEV = dev_ads()
ALL = load_eval_ads()


def assert_coherent(card: AdInsights, transcript: Transcript) -> None:
    """What every card must hold, whatever the ad."""
    assert contradictions(card) == []
    points = reason_points(card.score_reasons)
    assert points is not None and card.score == sum(points)
    assert not (
        card.hook.type == "other"
        and any("no" in w.lower() and "hook" in w.lower() for w in card.weaknesses)
    )
    if card.call_to_action.text is not None:
        assert said(card.call_to_action.text, transcript)
        assert card.call_to_action.timestamp_seconds is not None
    for evidence in card.evidence:
        assert said(evidence.quote, transcript), evidence
        assert evidence.timestamp_seconds is not None
    if card.core_message is not None:
        assert squash(card.core_message) != squash(card.hook.text)


def test_the_split_is_the_recorded_one() -> None:
    assert len(ALL) >= 80
    assert len(DEV) == len(ALL) - 32
    assert len({a.vertical for a in ALL}) >= 10
    assert {a.hook_type for a in ALL} == {
        "question", "statistic", "bold_claim", "pain_point", "command", "story", "social_proof",
        "other",
    }  # fmt: skip


@pytest.mark.parametrize("ad", DEV, ids=[a.id for a in DEV])
def test_dev_ad_fields(ad: EvalAd) -> None:
    card = analyze_transcript(script_transcript(ad.script))
    assert ad.cta_right(card.call_to_action.text), card.call_to_action
    assert card.hook.type == ad.hook_type, card.hook
    assert bool(card.offer) == ad.offer, card.offer
    assert bool(card.urgency) == ad.urgency, card.urgency


@pytest.mark.parametrize("ad", ALL, ids=[a.id for a in ALL])
def test_every_card_is_coherent(ad: EvalAd) -> None:
    transcript = script_transcript(ad.script)
    assert_coherent(analyze_transcript(transcript, duration=transcript.duration), transcript)


def test_sample_cards_are_coherent(catalog: dict[str, dict[str, Any]]) -> None:
    for sample in catalog.values():
        transcript = script_transcript(sample["script"])
        card = analyze_transcript(
            transcript, ad_name=sample["title"], duration=sample["duration_seconds"]
        )
        assert_coherent(card, transcript)
        assert card.core_message is not None


def test_real_transcriptions_give_coherent_cards(
    local_transcripts: dict[str, Transcript], catalog: dict[str, dict[str, Any]]
) -> None:
    for name, transcript in local_transcripts.items():
        card = analyze_transcript(
            transcript, ad_name=catalog[name]["title"], duration=catalog[name]["duration_seconds"]
        )
        assert_coherent(card, transcript)


def test_a_misheard_call_to_action_is_still_found() -> None:
    # "Shop now" heard as "Shot now": the verb is repaired before a CTA word, the quote is not.
    transcript = script_transcript(
        "Our linen sheets stay cool all night. Every set is woven in Portugal. Shot now."
    )
    card = analyze_transcript(transcript)
    assert card.call_to_action.text == "Shot now."
    assert fuzzy_find("shop now", card.call_to_action.text, threshold=0.75)
