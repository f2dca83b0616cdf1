"""Contradictions inside one insight card: fields that say opposite things about the same ad."""

from __future__ import annotations

import re

from adanalysis.ads.card import AdInsights
from adanalysis.ads.textmatch import squash

_POINTS = re.compile(r"^\s*([+-]\d+)\s*:")
_NO_HOOK = re.compile(r"\bno (recognisable |recognizable |clear )?hook\b", re.I)
_NO_CTA = re.compile(r"\bno (clear )?call to action\b", re.I)
_HAS_CTA = re.compile(r"\bhas a (clear )?call to action\b", re.I)
_ADD_OFFER = re.compile(r"\badd a concrete offer\b", re.I)
_MAKES_OFFER = re.compile(r"\bmakes a concrete offer\b", re.I)


def reason_points(reasons: list[str]) -> list[int] | None:
    """Each reason's signed points ("+10: ..."), or None when a reason carries none."""
    points = [_POINTS.match(r) for r in reasons]
    if not reasons or any(m is None for m in points):
        return None
    return [int(m.group(1)) for m in points if m is not None]


def contradictions(card: AdInsights) -> list[str]:
    """What the card claims against itself; an empty list for a coherent card."""
    found: list[str] = []
    cta = card.call_to_action.text
    if card.hook.text.strip() and any(_NO_HOOK.search(w) for w in card.weaknesses):
        found.append(f"hook {card.hook.type!r} is reported and also 'no hook'")
    if cta and any(_NO_CTA.search(w) for w in card.weaknesses):
        found.append("a call to action is reported and also 'no call to action'")
    if not cta and any(_HAS_CTA.search(s) for s in card.strengths):
        found.append("no call to action is reported but a strength says it has one")
    if cta and card.call_to_action.timestamp_seconds is None and card.words_per_minute is not None:
        found.append("the call to action has no timestamp although the speech is timed")
    if card.offer and any(_ADD_OFFER.search(s) for s in card.suggestions):
        found.append("an offer is reported and also 'add a concrete offer'")
    if not card.offer and any(_MAKES_OFFER.search(s) for s in card.strengths):
        found.append("no offer is reported but a strength says it makes one")
    if card.hook.type == "other" and any("hook" in s.lower() for s in card.strengths):
        found.append("hook type 'other' is praised as a hook")
    if card.core_message and card.hook.text and squash(card.core_message) == squash(card.hook.text):
        found.append("the core message is a copy of the hook")
    points = reason_points(card.score_reasons)
    if card.score is not None and points is not None:
        total = max(0, min(100, sum(points)))
        if total != card.score:
            found.append(f"score {card.score} but its reasons add up to {total}")
    return found
