"""Offline ad analysis from sentence-level features of the transcript.

Each field is read from whole sentences: the call to action is the imperative sentence (a base verb
from the verb lexicon opening a verb phrase) that asks most clearly and latest; the hook type comes
from the first sentence's form (a question, a count of people, a narrated moment...); offers and
urgency are patterns over normalised words (spoken numbers as digits). Pure Python, a few ms per ad.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from adanalysis.ads.card import (
    AdInsights,
    CallToAction,
    EmotionalTone,
    Evidence,
    Hook,
    HookType,
)
from adanalysis.ads.lexicon import MONTHS, WEEKDAYS
from adanalysis.ads.sentences import (
    Imperative,
    Sentence,
    Word,
    classify_hook,
    imperative,
    sentences_of,
    words_of,
)
from adanalysis.ads.textmatch import normal_words
from adanalysis.ads.transcription import Transcript

__all__ = ["analyze_transcript", "classify_hook"]

HOOK_SECONDS = 3.0
# A first sentence that ends by then is taken whole as the hook.
HOOK_SENTENCE_MAX_SECONDS = 7.0
EARLY_SPEECH_SECONDS = 5.0
LATE_CTA_SECONDS = 3.0
BASE_SCORE = 30
# A candidate call to action needs this much (see _cta_weight).
CTA_THRESHOLD = 3.0

_DAYS = "|".join(sorted(WEEKDAYS | MONTHS))
_TIME_LIMIT = (
    rf"(today|tonight|tomorrow|midnight|noon|the end of|end of|the \d+(st|nd|rd|th)?|{_DAYS}|"
    rf"this (week|weekend|month)|next (week|month)|\d+ (days?|hours?))"
)
# Urgency wherever it is said.
_URGENCY = re.compile(
    r"\b((today|tonight|this week|this weekend|this month|weekend) only|"
    r"limited (time|edition|stock|spots|places|run|numbers)|for a limited|"
    r"while (stocks?|supplies) last|(sells?|selling|sold) out|fill(s|ing)? up|last chance|"
    r"(don't|dont|do not) miss|hurry|only \d+ (left|spots|places|seats)|almost gone|running out|"
    r"ends? (soon|today|tonight)|"
    rf"(ends?|ending|expires?|closes?|close|finishes|runs out) (on |at |this |in )?{_TIME_LIMIT})\b"
)
# Urgency only when said of the offer or the action asked for.
_DEADLINE = re.compile(
    rf"\b((until|till|by|through|before|during) (the )?{_TIME_LIMIT}|for ({_DAYS})|"
    r"before (it's|its|it is|they're|they are|this|these|the|we|stock|"
    r"the \w+ (sets?|runs?|ends?))|during (the )?(\w+ ){1,3}(month|week|sale|season)|"
    r"for (the )?(holidays|season|summer|winter|spring))\b"
)
_OFFER = re.compile(
    r"\b(\d+ percent off|percent off|risk[- ]free|\d+ (dollars|pounds|euros) off|half (price|off)|"
    r"off your|save \d+|and save|for the price of|buy \d+ get|\d+ for \d+|codes?|coupon|voucher|"
    r"discount\w*|on us|bonus|we('ll| will) (add|give|throw in|send)|cashback|cash back|"
    r"trial|sample|deal|sale|first (\w+ ){0,2}(for|is|are) (just |only )?(\d|1|half|on us|free)|"
    r"for (just |only )?(1|one) (dollar|pound|euro)|gift with|complimentary|no charge)\b"
)
_FREE = re.compile(r"(?<![-\w])free\b(?! (of|from|day|time|hands|will|spirit)\b)", re.I)
_CTA_CUE = re.compile(
    r"\b(now|today|tonight|this (week|weekend|month)|online|link|button|below|site|website|app|"
    r"store|shop|dot com|com|code|free|percent|off|yours|your first|trial|quote|demo|number|"
    r"bio|profile|page|call|order|book|account|\d+ minutes?|\d+ seconds?)\b"
)
_BENEFIT = re.compile(
    r"\b(save\w*|faster|easier|better|without|in (just )?\d+ (minutes?|days?|weeks?|seconds?)|"
    r"helps?|so you can|boost\w*|improve\w*|results|never have to|comfort\w*|healthy|healthier|"
    r"fresh|waterproof|lightweight|tracks|see the difference|twice as|keeps?|lasts?|protect\w*)\b"
)
_PROOF = re.compile(
    r"\b(customers?|reviews?|rated|\d+ stars?|trusted by|loved by|recommended by|voted|"
    r"best ?selling|testimonials?|as seen on|(\d{3,}) (happy )?(people|users|customers|families|"
    r"members|homes|nurses|runners|investors|shops|parents))\b"
)
_PAIN = re.compile(
    r"\b(tired|struggl\w*|sick of|hate|problem|pain\w*|frustrat\w*|wast\w*|stuck|annoy\w*|"
    r"worr\w*|stress\w*|sore|aching|ache|hurt\w*|worse|worst|debt|drowning|exhausted|"
    r"embarrass\w*|overwhelm\w*|ruin\w*|tears)\b"
)
_GENERIC_NAME_WORDS = {
    "ad", "ads", "video", "videos", "test", "campaign", "copy", "final", "new", "version", "the",
    "and", "for", "with", "sale", "promo", "summer", "winter", "spring", "fall", "story", "fresh",
    "free", "best", "our", "your", "offer", "launch", "creative", "clip", "reel", "square",
    "vertical", "call", "all", "day", "success", "app", "natural",
}  # fmt: skip


@dataclass(frozen=True)
class Read:
    """One sentence with what the rules found in it."""

    sentence: Sentence
    index: int
    position: float  # where the sentence ends, as a share of the ad's words (0..1)
    norm: str  # normalised words joined by spaces
    asks: Imperative | None
    offer: bool
    urgency: str | None


def _norm(text: str) -> str:
    return " ".join(normal_words(text))


def _offer_in(text: str, norm: str) -> bool:
    return bool(_OFFER.search(norm) or _FREE.search(text))


def _read(sentence: Sentence, index: int, position: float) -> Read:
    norm = _norm(sentence.text)
    asks = imperative(sentence.text)
    offer = _offer_in(sentence.text, norm)
    urgency = _URGENCY.search(norm)
    if urgency is None and (asks is not None or offer):
        urgency = _DEADLINE.search(norm)
    found = urgency.group(0) if urgency else None
    return Read(sentence, index, position, norm, asks, offer, found)


def _cta_weight(read: Read) -> float:
    """How clearly and how late a sentence asks for the action (0 when it does not)."""
    asks = read.asks
    if asks is None:
        return 0.0
    weight = 2.0 if asks.action else 0.0
    weight += 1.0 if _CTA_CUE.search(read.norm) else 0.0
    weight += 0.5 if asks.strict else 0.0
    weight -= 0.5 if asks.clause else 0.0
    # Later is likelier: ads land on their call to action. By words, not sentences, so a
    # transcript without full stops ("..., try it free for 30 days") still ends on its ask.
    weight += 1.5 * read.position
    return weight


def _call_to_action(reads: list[Read]) -> tuple[Read | None, int]:
    """The sentence that asks for the action, and how many sentences ask."""
    count = len(reads)
    # The opening is the hook; it is the CTA only in a one- or two-sentence ad.
    pool = reads[1:] if count > 2 else reads
    scored = [(_cta_weight(r), r.index, r) for r in pool]
    asking = [item for item in scored if item[0] >= CTA_THRESHOLD]
    if not asking:
        return None, 0
    return max(asking, key=lambda item: (item[0], item[1]))[2], len(asking)


def _asked(read: Read) -> tuple[str, float | None]:
    """The words that ask (from the asking clause on) and when they start, estimated."""
    sentence, offset = read.sentence, read.asks.offset if read.asks else 0
    if offset == 0 or sentence.start is None or sentence.end is None:
        return sentence.text, sentence.start
    share = offset / max(len(sentence.text), 1)
    return sentence.text[offset:], round(
        sentence.start + share * (sentence.end - sentence.start), 2
    )


def _hook(words: list[Word], sentences: list[Sentence]) -> str:
    if not words:
        return ""
    first = sentences[0]
    if first.start is None or (first.end is not None and first.end <= HOOK_SENTENCE_MAX_SECONDS):
        return first.text
    # A long first sentence: only what is said in the first seconds of speech.
    origin = words[0].start or 0.0
    return " ".join(w.text for w in words if (w.start or 0.0) < origin + HOOK_SECONDS)


def _core_message(reads: list[Read], cta: Read | None) -> Read | None:
    """The ad's main claim: the first sentence after the hook that is not the CTA or its offer."""
    for read in reads[1:]:
        if read is cta or (read.offer and read.asks is not None):
            continue
        if len(read.norm.split()) >= 4:
            return read
    rest = [r for r in reads[1:] if r is not cta]
    return rest[0] if rest else None


def _claim_of_hook(hook: Sentence) -> str | None:
    """In a short ad the claim shares the hook's sentence: its longest clause after the first."""
    clauses = [c.strip() for c in re.split(r"[,;:]\s+", hook.text)[1:] if len(c.split()) >= 4]
    return max(clauses, key=len) if clauses else None


def _words_per_minute(transcript: Transcript, n_words: int) -> float | None:
    segs = [s for s in transcript.segments if s.text.strip()]
    if not segs or n_words == 0:
        return None
    spoken = sum(max(s.end - s.start, 0.0) for s in segs)
    return round(n_words / (spoken / 60.0), 1) if spoken > 0 else None


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _tone(text: str, wpm: float | None) -> EmotionalTone:
    if not text.strip():
        return EmotionalTone(label="none", score=0.0)
    compound = float(_vader().polarity_scores(text)["compound"])
    label = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
    sentences = max(len(re.findall(r"[.!?]+", text)), 1)
    if text.count("!") / sentences >= 0.3 or (wpm is not None and wpm >= 180):
        label += ", energetic"
    return EmotionalTone(label=label, score=round(compound, 3))


def _brand_tokens(ad_name: str | None) -> list[str]:
    if not ad_name:
        return []
    tokens = re.findall(r"[A-Za-z][A-Za-z']+", ad_name)
    return [t.lower() for t in tokens if len(t) >= 3 and t.lower() not in _GENERIC_NAME_WORDS]


def _brand_first_mention(words: list[Word], ad_name: str | None) -> float | None:
    tokens = _brand_tokens(ad_name)
    for word in words:
        bare = re.sub(r"[^a-z']", "", word.text.lower())
        if bare and any(bare == t or bare.rstrip("s") == t.rstrip("s") for t in tokens):
            return word.start
    return None


def _phrase_of_urgency(reads: list[Read]) -> Read | None:
    return next((r for r in reads if r.urgency), None)


def analyze_transcript(
    transcript: Transcript, *, ad_name: str | None = None, duration: float | None = None
) -> AdInsights:
    """AdInsights from rules; what cannot be computed honestly stays empty or None."""
    words = words_of(transcript)
    sentences = sentences_of(words)
    if duration is None:
        duration = transcript.duration or (
            transcript.segments[-1].end if transcript.segments else None
        )
    total = max(sum(len(s.text.split()) for s in sentences), 1)
    reads, said = [], 0
    for i, sentence in enumerate(sentences):
        said += len(sentence.text.split())
        reads.append(_read(sentence, i, said / total))
    hook_text = _hook(words, sentences)
    first = sentences[0].text if sentences else ""
    negative = min(float(_vader().polarity_scores(first)["compound"]), 0.0) if first else 0.0
    hook_type: HookType = classify_hook(first, negative=negative) if first else "other"
    cta, asking = _call_to_action(reads)
    offers = [r for r in reads if r.offer]
    urgent = _phrase_of_urgency(reads)
    proof = [r for r in reads if _PROOF.search(r.norm)]
    pains = [r for r in reads if _PAIN.search(r.norm)]
    benefits = [r for r in reads[1:] if _BENEFIT.search(r.norm) and not r.offer and r is not cta]
    core = _core_message(reads, cta)
    wpm = _words_per_minute(transcript, len(words))
    speech_early = any(
        s.start < EARLY_SPEECH_SECONDS and s.text.strip() for s in transcript.segments
    )
    if not transcript.segments and words:
        speech_early = True  # no timings: assume speech starts the ad
    brand_at = _brand_first_mention(words, ad_name)

    strengths: list[str] = []
    weaknesses: list[str] = []
    suggestions: list[str] = []
    reasons: list[str] = []

    def points(value: int, why: str) -> None:
        reasons.append(f"{value:+d}: {why}")

    if words:
        points(BASE_SCORE, "Base score for an ad with speech")
        if hook_type != "other":
            strengths.append(f"Opens with a {hook_type.replace('_', ' ')} hook")
            points(10, strengths[-1])
        else:
            weaknesses.append("The opening introduces the product without a hook")
            suggestions.append(
                "Open with a question, a number, a story or a pain point in the first 3 seconds"
            )
        if speech_early:
            strengths.append("Speech starts within the first 5 seconds")
            points(10, strengths[-1])
        else:
            weaknesses.append("No speech in the first 5 seconds")
            suggestions.append("Start speaking in the first seconds; viewers decide fast")
            points(-10, weaknesses[-1])
        if cta is not None:
            strengths.append("Has a clear call to action")
            points(15, strengths[-1])
            start = _asked(cta)[1]
            if start is not None and duration is not None and asking == 1:
                if start >= duration - LATE_CTA_SECONDS:
                    weaknesses.append("CTA only in the last seconds")
                    suggestions.append("Say the call to action earlier as well as at the end")
                    points(-5, weaknesses[-1])
        else:
            weaknesses.append("No clear call to action")
            suggestions.append("End with one clear action, e.g. 'Shop now'")
            points(-15, weaknesses[-1])
        if offers:
            strengths.append("Makes a concrete offer")
            points(10, strengths[-1])
        else:
            suggestions.append("Add a concrete offer (discount, free trial, free shipping)")
        for found, good in (
            (urgent is not None, "Creates urgency"),
            (bool(proof), "Uses social proof"),
            (bool(benefits), "States benefits"),
        ):
            if found:
                strengths.append(good)
                points(5, good)
        if wpm is not None and wpm > 200:
            weaknesses.append("Speech is very fast")
            suggestions.append("Slow down so every word lands")
            points(-5, weaknesses[-1])
        elif wpm is not None and wpm < 100:
            weaknesses.append("Speech is slow")
            suggestions.append("Tighten the script; short ads need a brisk pace")
            points(-5, weaknesses[-1])
        if _brand_tokens(ad_name):
            if brand_at is None:
                weaknesses.append("The brand or product is never named")
                suggestions.append("Name the brand or product early")
            elif brand_at <= EARLY_SPEECH_SECONDS:
                strengths.append("Names the brand or product early")
                points(5, strengths[-1])
    else:
        weaknesses.append("No spoken words found")
        suggestions.append("Add a voice-over that states the offer and the call to action")

    evidence: list[Evidence] = []
    if hook_text:
        evidence.append(Evidence(quote=hook_text, timestamp_seconds=words[0].start))
    cta_text, cta_at = _asked(cta) if cta else (None, None)
    for read in (core, offers[0] if offers else None, urgent):
        if read is not None and all(e.quote != read.sentence.text for e in evidence):
            evidence.append(
                Evidence(quote=read.sentence.text, timestamp_seconds=read.sentence.start)
            )
    if cta_text and all(e.quote != cta_text for e in evidence):
        evidence.append(Evidence(quote=cta_text, timestamp_seconds=cta_at))
    score = sum(int(r.split(":", 1)[0]) for r in reasons)

    return AdInsights(
        hook=Hook(text=hook_text, type=hook_type),
        core_message=core.sentence.text
        if core
        else (_claim_of_hook(sentences[0]) if sentences else None),
        offer=offers[0].sentence.text if offers else None,
        pain_points=[r.sentence.text for r in pains[:3]],
        benefits=[r.sentence.text for r in benefits[:3]],
        social_proof=[r.sentence.text for r in proof[:3]],
        urgency=urgent.urgency if urgent else None,
        call_to_action=CallToAction(text=cta_text, timestamp_seconds=cta_at),
        emotional_tone=_tone(transcript.text, wpm),
        words_per_minute=wpm,
        speech_in_first_5s=bool(words) and speech_early,
        brand_first_mention_seconds=brand_at,
        strengths=strengths,
        weaknesses=weaknesses,
        suggestions=suggestions,
        score=max(0, min(100, score)) if words else None,
        score_reasons=reasons,
        evidence=evidence,
    )
