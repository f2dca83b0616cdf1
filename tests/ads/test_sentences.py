"""Sentence features of the offline analyzer: imperatives, hook kinds, normalised matching."""

from __future__ import annotations

import pytest
from eval.insights.evalset import script_transcript

from adanalysis.ads.heuristics import analyze_transcript
from adanalysis.ads.sentences import classify_hook, imperative
from adanalysis.ads.textmatch import fuzzy_find, normal_words, squash


@pytest.mark.parametrize(
    ("text", "verb"),
    [
        ("Pick up a bag this weekend.", "pick"),
        ("Browse the spring range now.", "browse"),
        ("Grab a trial pack today.", "grab"),
        ("Become a member today.", "become"),
        ("Watch how it works on our site.", "watch"),
        ("Open your free account now.", "open"),
        ("Take twenty percent off with the code SPRING.", "take"),
        ("So just tap the button below.", "tap"),
        ("Don't miss it.", "miss"),
        ("Get started in two minutes.", "get"),
        ("Download Tally and get your first scan free.", "download"),
        ("Shot now.", "shop"),
    ],
)
def test_imperatives(text: str, verb: str) -> None:
    found = imperative(text)
    assert found is not None and found.verb == verb


@pytest.mark.parametrize(
    "text",
    [
        "Open University Online lets you study around work.",
        "Spark is sparkling water with a little caffeine.",
        "Cat hair on the sofa, on your clothes, in your coffee.",
        "Available at Greenway stores nationwide.",
        "Dust mites love an old pillow.",
        "Our tutors work one to one, online.",
    ],
)
def test_not_imperatives(text: str) -> None:
    assert imperative(text) is None


def test_you_can_is_a_soft_imperative() -> None:
    found = imperative("You can find us in every Harlow store.")
    assert found is not None and (found.verb, found.strict) == ("find", False)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Over forty thousand nurses use Steady insoles on every shift.", "social_proof"),
        ("Reviewed five stars by our customers, the mug that stays hot.", "social_proof"),
        ("The day my daughter started school, I cried in the car.", "story"),
        ("This pan will outlast your kitchen.", "bold_claim"),
        ("Eight out of ten runners land on their heel.", "statistic"),
        ("Stop scrolling for a second.", "command"),
        ("Are you still paying for takeout every night?", "question"),
        ("Tired of waking up with a sore back?", "question"),
        ("Your gutters are full of leaves again, and it is only October.", "pain_point"),
        ("Meet Lumen, the desk lamp that follows the sun.", "other"),
        ("Coinstack is a budgeting app for couples.", "other"),
    ],
)
def test_hook_kinds(text: str, kind: str) -> None:
    assert classify_hook(text) == kind


def test_spoken_and_written_numbers_compare_equal() -> None:
    assert normal_words("Twenty five percent off, code SAVE25") == normal_words(
        "25% off, code save 25"
    ) or squash("Twenty five percent off, code SAVE25") == squash("25% off, code save 25")
    assert normal_words("over forty thousand nurses") == ["over", "40000", "nurses"]
    assert normal_words("$10 off") == ["10", "dollars", "off"]
    assert normal_words("four point eight stars") == normal_words("4.8 stars")


def test_fuzzy_find_survives_slips_but_not_other_phrases() -> None:
    assert fuzzy_find("shop now", "Shot now.") > 0
    assert fuzzy_find("use code desk", "Use code desk 15 for 15% off.") == 1.0
    assert fuzzy_find("book a free call", "Visit our store today.") == 0.0


def test_score_is_the_sum_of_its_reasons() -> None:
    card = analyze_transcript(
        script_transcript("Meet Lumen, a desk lamp. It follows the sun. Order yours today.")
    )
    assert card.score == sum(int(r.split(":")[0]) for r in card.score_reasons)
    assert card.hook.type == "other"
    assert "The opening introduces the product without a hook" in card.weaknesses
    assert not any("no recognisable hook" in w.lower() for w in card.weaknesses)
    assert card.core_message == "It follows the sun."


def test_urgency_needs_a_limit_not_just_now() -> None:
    plain = analyze_transcript(script_transcript("Our tea is fresh. It ships fast. Order now."))
    assert plain.urgency is None
    limited = analyze_transcript(
        script_transcript("Our tea is fresh. It ships fast. Order before Sunday to get it free.")
    )
    assert limited.urgency is not None and "sunday" in limited.urgency


def test_a_first_person_superlative_is_a_claim_not_a_story() -> None:
    assert classify_hook("We made the comfiest hoodie on earth.") == "bold_claim"
    assert classify_hook("I lost thirty pounds without giving up pizza.") == "story"


def test_run_on_speech_reports_only_the_asking_clause() -> None:
    # No full stops from the recogniser: the CTA is the clause that asks, timed inside the sentence.
    transcript = script_transcript(
        "I spent years hiding my skin, then a dermatologist told me to treat it, "
        "that's why I made Clearday, try it free for thirty days"
    )
    card = analyze_transcript(transcript)
    assert card.call_to_action.text == "try it free for thirty days"
    start = transcript.segments[0].start
    assert card.call_to_action.timestamp_seconds is not None
    assert card.call_to_action.timestamp_seconds > start + 3
