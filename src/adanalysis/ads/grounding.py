"""Checking an LLM's insight card against the transcript: what was not said is not shown."""

from __future__ import annotations

import logging

from adanalysis.ads.card import AdInsights, CallToAction, Evidence, Hook
from adanalysis.ads.textmatch import fuzzy_find, normal_words
from adanalysis.ads.transcription import Transcript

log = logging.getLogger(__name__)

# A quote matches the transcript when this alike (normalised letters and digits, 0..1).
QUOTE_MATCH = 0.8


def said(quote: str | None, transcript: Transcript) -> bool:
    """Whether quote (fuzzily, normalised) is in the transcript."""
    return (
        bool(quote and quote.strip())
        and fuzzy_find(quote or "", transcript.text, threshold=QUOTE_MATCH) > 0
    )


def _said_in_substance(claim: str, transcript: Transcript) -> bool:
    """A paraphrase (an offer) is kept when its numbers and most of its words were said."""
    if said(claim, transcript):
        return True
    heard = set(normal_words(transcript.text))
    words = normal_words(claim)
    numbers = [w for w in words if w[:1].isdigit()]
    content = [w for w in words if len(w) >= 4 and not w[:1].isdigit()]
    if any(n not in heard for n in numbers):
        return False
    return bool(content) and sum(w in heard for w in content) / len(content) >= 0.5


def when_said(quote: str, transcript: Transcript) -> float | None:
    """The start of the segment that holds quote (its best match), in seconds."""
    best, start = 0.0, None
    for segment in transcript.segments:
        score = fuzzy_find(quote, segment.text, threshold=QUOTE_MATCH)
        if score > best:
            best, start = score, segment.start
    return start


def ground(card: AdInsights, transcript: Transcript, *, fallback: AdInsights) -> AdInsights:
    """card with every quote checked against transcript; what was not said comes from fallback.

    The call to action, the hook, the evidence and social-proof quotes must be in the transcript
    (fuzzily: speech-recognition slips pass); the offer must keep its numbers and most of its
    words. An unsaid call to action or hook is replaced by fallback's (the offline rules, which only
    quote the transcript); unsaid quotes and offers are dropped.
    """
    dropped: list[str] = []
    update: dict[str, object] = {}
    cta = card.call_to_action
    if cta.text and not said(cta.text, transcript):
        dropped.append("call_to_action")
        cta = fallback.call_to_action
        if cta.text is None:
            # A strength praising the dropped call to action would now contradict the card.
            update["strengths"] = [s for s in card.strengths if "call to action" not in s.lower()]
    elif cta.text:
        # The model's clock is a guess; the transcript's segment is measured.
        at = when_said(cta.text, transcript)
        cta = CallToAction(
            text=cta.text, timestamp_seconds=cta.timestamp_seconds if at is None else at
        )
    update["call_to_action"] = cta
    if not said(card.hook.text, transcript):
        dropped.append("hook")
        update["hook"] = Hook(text=fallback.hook.text, type=card.hook.type)
    evidence = [e for e in card.evidence if said(e.quote, transcript)]
    if len(evidence) < len(card.evidence):
        dropped.append("evidence")
    update["evidence"] = [
        Evidence(quote=e.quote, timestamp_seconds=when_said(e.quote, transcript))
        if e.timestamp_seconds is None
        else e
        for e in evidence
    ]
    proof = [p for p in card.social_proof if said(p, transcript)]
    if len(proof) < len(card.social_proof):
        dropped.append("social_proof")
    update["social_proof"] = proof
    if card.offer and not _said_in_substance(card.offer, transcript):
        dropped.append("offer")
        update["offer"] = fallback.offer
    if card.urgency and not _said_in_substance(card.urgency, transcript):
        dropped.append("urgency")
        update["urgency"] = fallback.urgency
    if dropped:
        # Field names only: the transcript and the answer stay out of the logs.
        log.info("Dropped LLM findings not in the transcript: %s", ", ".join(dropped))
    return card.model_copy(update=update)
