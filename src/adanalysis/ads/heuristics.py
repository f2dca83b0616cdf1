"""Offline ad analysis rules: hook, offer, call to action, tone and a score from a transcript."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from adanalysis.ads.insights import (
    AdInsights,
    CallToAction,
    EmotionalTone,
    Evidence,
    Hook,
    HookType,
)
from adanalysis.ads.transcription import Transcript

HOOK_SECONDS = 3.0
# A first sentence that ends by then is taken whole as the hook, so its type can be read.
HOOK_SENTENCE_MAX_SECONDS = 7.0
EARLY_SPEECH_SECONDS = 5.0
LATE_CTA_SECONDS = 3.0

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
    r"fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|twice|triple|double|half"
)
_QUESTION_START = re.compile(
    r"^(do|does|did|are|is|was|were|what|why|how|who|when|where|which|can|could|would|should|"
    r"have|has|ever|want|wanna|need)\b",
    re.I,
)
_SOCIAL_PROOF = re.compile(
    r"\b(customers?|reviews?|rated|five[- ]stars?|5[- ]stars?|trusted by|loved by|best[- ]?selling|"
    r"testimonials?|as seen on|(thousands|millions) of (people|users|customers|families)|"
    r"(\d[\d,.]*|" + _NUMBER_WORDS + r") (happy )?(people|users|customers|families|members))\b",
    re.I,
)
_STORY = re.compile(
    r"\b(last (year|month|week|summer)|years? ago|months? ago|i was|when i|i used to|my (wife|"
    r"husband|mom|dad|friend|story)|one day|once upon)\b",
    re.I,
)
_STATISTIC = re.compile(
    r"(\d|%|\bpercent\b|\bout of (\d+|" + _NUMBER_WORDS + r")\b|\b(" + _NUMBER_WORDS + r")\b)", re.I
)
_COMMAND_START = re.compile(
    r"^(stop|start|imagine|look|try|discover|watch|listen|check|grab|forget|picture|quit|don't|"
    r"do not|get|take|make|cook|save|shop|buy|order|join|tap|click|swipe|say|think|wait|hold)\b",
    re.I,
)
_PAIN = re.compile(
    r"\b(tired|struggl\w*|sick of|hate|problem|pain\w*|frustrat\w*|wast\w*|stuck|annoy\w*|worr\w*|"
    r"stress\w*|sore|aching|ache|hurt\w*|worse|worst|debt|drowning|exhausted|can't|cannot|"
    r"embarrass\w*|fail\w*|lose|losing|lost|expensive|overwhelm\w*)\b",
    re.I,
)
_BOLD = re.compile(
    r"\b(best|only|#1|number one|never|ever|most|world's|revolutionary|guaranteed|fastest|easiest|"
    r"ultimate|perfect|first ever|unbeatable|incredible)\b",
    re.I,
)
_CTA = re.compile(
    r"\b(shop now|buy now|order now|order today|sign up|download|book (a|your|now)|learn more|"
    r"get started|get yours|call (us|now|today)|visit|claim|try (it|us)|start your|subscribe|"
    r"register|apply now|join (now|today|us)|tap (the|below)|click (the|below)|swipe up|"
    r"shop (today|the)|get (it|your) (now|today)|contact us|order (yours|online))\b",
    re.I,
)
_OFFER = re.compile(
    r"(\d+\s*%\s*off|\b(" + _NUMBER_WORDS + r"|\d+)\s+percent off|\bhalf off|\bfree\b|"
    r"\bdiscount\w*|\bbuy one,? get one|\bbogo\b|\bcoupon|\b(promo )?code\b|\bsale\b|"
    r"\b(only|just|for|from)\s+\$\s?\d|\$\s?\d+\s+off)",
    re.I,
)
_URGENCY = re.compile(
    r"\b(today only|limited[- ]time|ends (today|tonight|soon|sunday|friday|this)|hurry|"
    r"while (supplies|stocks?) last|last chance|don't miss|only \d+ left|this (week|month|weekend) "
    r"only|before it's gone|right now|today|tonight|this (week|month|weekend))\b",
    re.I,
)
_BENEFIT = re.compile(
    r"\b(save\w*|faster|easier|better|without|in (just )?(\d+|" + _NUMBER_WORDS + r") (minutes?|"
    r"days?|weeks?)|helps?|so you can|boost\w*|improve\w*|results|never have to|comfort\w*|"
    r"healthy|healthier|fresh|waterproof|lightweight|tracks|see the difference|twice as)\b",
    re.I,
)
_GENERIC_NAME_WORDS = {
    "ad", "ads", "video", "videos", "test", "campaign", "copy", "final", "new", "version", "the",
    "and", "for", "with", "sale", "promo", "summer", "winter", "spring", "fall", "story", "fresh",
    "free", "best", "our", "your", "offer", "launch", "creative", "clip", "reel", "square",
    "vertical", "call", "all", "day", "success", "app", "natural",
}  # fmt: skip


@dataclass(frozen=True)
class Word:
    """One spoken word with its estimated start (seconds), interpolated within its segment."""

    text: str
    start: float | None


@dataclass(frozen=True)
class Sentence:
    """One sentence with the estimated start of its first word."""

    text: str
    start: float | None
    end: float | None


def words_of(transcript: Transcript) -> list[Word]:
    """The words with start times spread over each segment by character position."""
    if not transcript.segments:
        return [Word(w, None) for w in transcript.text.split()]
    words: list[Word] = []
    for seg in transcript.segments:
        text = seg.text.strip()
        span = max(seg.end - seg.start, 0.0)
        for match in re.finditer(r"\S+", text):
            frac = match.start() / max(len(text), 1)
            words.append(Word(match.group(), round(seg.start + frac * span, 2)))
    return words


def sentences_of(words: list[Word]) -> list[Sentence]:
    """Words grouped into sentences at . ! ? (segments can split or join sentences)."""
    sentences: list[Sentence] = []
    current: list[Word] = []
    for i, word in enumerate(words):
        current.append(word)
        if re.search(r"[.!?]$", word.text) or i == len(words) - 1:
            nxt = words[i + 1].start if i + 1 < len(words) else None
            sentences.append(
                Sentence(" ".join(w.text for w in current), current[0].start, nxt or word.start)
            )
            current = []
    return sentences


def classify_hook(text: str) -> HookType:
    """The hook type by rules, checked from most to least specific."""
    clean = text.strip()
    if clean.endswith("?") or _QUESTION_START.search(clean):
        return "question"
    if _SOCIAL_PROOF.search(clean):
        return "social_proof"
    if _STORY.search(clean):
        return "story"
    if _STATISTIC.search(clean):
        return "statistic"
    if _COMMAND_START.search(clean):
        return "command"
    if _PAIN.search(clean):
        return "pain_point"
    if _BOLD.search(clean):
        return "bold_claim"
    return "other"


def _hook(words: list[Word], sentences: list[Sentence]) -> str:
    if not words:
        return ""
    first = sentences[0]
    if first.start is None or (first.end is not None and first.end <= HOOK_SENTENCE_MAX_SECONDS):
        return first.text
    # A long first sentence: only what is said in the first seconds of speech.
    origin = words[0].start or 0.0
    return " ".join(w.text for w in words if (w.start or 0.0) < origin + HOOK_SECONDS)


def _matching(sentences: list[Sentence], pattern: re.Pattern[str]) -> list[Sentence]:
    return [s for s in sentences if pattern.search(s.text)]


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


def _phrase(sentence: Sentence, pattern: re.Pattern[str]) -> str:
    match = pattern.search(sentence.text)
    return match.group(0) if match else sentence.text


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
    hook_text = _hook(words, sentences)
    hook_type = classify_hook(hook_text) if hook_text else "other"
    ctas = _matching(sentences, _CTA)
    # The closing call to action is the one the ad lands on.
    cta = ctas[-1] if ctas else None
    offers = _matching(sentences, _OFFER)
    urgent = _matching(sentences, _URGENCY)
    proof = _matching(sentences, _SOCIAL_PROOF)
    pains = _matching(sentences, _PAIN)
    benefits = [s for s in _matching(sentences, _BENEFIT) if s not in offers and s is not cta]
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
    score = 30

    def rule(ok: bool, points: int, good: str, bad: str | None, tip: str | None = None) -> None:
        nonlocal score
        if ok:
            score += points
            strengths.append(good)
            reasons.append(f"+{points}: {good}")
        elif bad:
            score -= points
            weaknesses.append(bad)
            reasons.append(f"-{points}: {bad}")
            if tip:
                suggestions.append(tip)

    if words:
        rule(
            hook_type != "other",
            10,
            f"Opens with a {hook_type.replace('_', ' ')} hook",
            "The opening has no recognisable hook",
            "Open with a question, a number or a pain point in the first 3 seconds",
        )
        rule(
            speech_early,
            10,
            "Speech starts within the first 5 seconds",
            "No speech in the first 5 seconds",
            "Start speaking in the first seconds; viewers decide fast",
        )
        rule(
            cta is not None,
            15,
            "Has a clear call to action",
            "No clear call to action",
            "End with one clear action, e.g. 'Shop now'",
        )
        if cta is not None and cta.start is not None and duration is not None:
            if cta.start >= duration - LATE_CTA_SECONDS and len(ctas) == 1:
                weaknesses.append("CTA only in the last seconds")
                suggestions.append("Say the call to action earlier as well as at the end")
                score -= 5
                reasons.append("-5: CTA only in the last seconds")
        rule(bool(offers), 10, "Makes a concrete offer", None, None)
        if not offers:
            suggestions.append("Add a concrete offer (discount, free trial, free shipping)")
        rule(bool(urgent), 5, "Creates urgency", None, None)
        rule(bool(proof), 5, "Uses social proof", None, None)
        rule(bool(benefits), 5, "States benefits", None, None)
        if wpm is not None and wpm > 200:
            weaknesses.append("Speech is very fast")
            suggestions.append("Slow down so every word lands")
            score -= 5
            reasons.append("-5: Speech is very fast")
        elif wpm is not None and wpm < 100:
            weaknesses.append("Speech is slow")
            suggestions.append("Tighten the script; short ads need a brisk pace")
            score -= 5
            reasons.append("-5: Speech is slow")
        if _brand_tokens(ad_name):
            if brand_at is None:
                weaknesses.append("The brand or product is never named")
                suggestions.append("Name the brand or product early")
            elif brand_at <= EARLY_SPEECH_SECONDS:
                rule(True, 5, "Names the brand or product early", None)
    else:
        weaknesses.append("No spoken words found")
        suggestions.append("Add a voice-over that states the offer and the call to action")

    evidence: list[Evidence] = []
    if hook_text:
        evidence.append(Evidence(quote=hook_text, timestamp_seconds=words[0].start))
    for sentence in offers[:1] + ([cta] if cta else []):
        evidence.append(Evidence(quote=sentence.text, timestamp_seconds=sentence.start))

    return AdInsights(
        hook=Hook(text=hook_text, type=hook_type),
        core_message=sentences[0].text if sentences else None,
        offer=offers[0].text if offers else None,
        pain_points=[s.text for s in pains[:3]],
        benefits=[s.text for s in benefits[:3]],
        social_proof=[s.text for s in proof[:3]],
        urgency=_phrase(urgent[0], _URGENCY) if urgent else None,
        call_to_action=CallToAction(
            text=cta.text if cta else None, timestamp_seconds=cta.start if cta else None
        ),
        emotional_tone=_tone(transcript.text, wpm),
        words_per_minute=wpm,
        speech_in_first_5s=bool(words) and speech_early,
        brand_first_mention_seconds=brand_at,
        strengths=strengths,
        weaknesses=weaknesses,
        suggestions=suggestions,
        score=score if words else None,
        score_reasons=reasons,
        evidence=evidence,
    )
