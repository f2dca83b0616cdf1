"""The labelled eval ads, their split and audio, and a timed transcript made from a script."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from adanalysis.ads.textmatch import fuzzy_find
from adanalysis.ads.transcription import Segment, Transcript

HERE = Path(__file__).resolve().parent
AUDIO_DIR = HERE / "audio"
# A natural voice-over pace for scripts read without audio.
WORDS_PER_SECOND = 2.6


@dataclass(frozen=True)
class EvalAd:
    """One labelled script."""

    id: str
    vertical: str
    script: str
    hook_type: str
    ctas: tuple[str, ...]
    offer: bool
    urgency: bool
    held_out: bool
    audio: Path
    voice: str
    seconds: float

    def cta_right(self, reported: str | None) -> bool:
        """One labelled phrase inside the reported CTA (fuzzy); none when the ad asks nothing."""
        if not self.ctas:
            return reported is None
        return reported is not None and any(fuzzy_find(c, reported) > 0 for c in self.ctas)


def load_eval_ads() -> list[EvalAd]:
    """Every labelled ad, with its split and its audio file."""
    raw = tomllib.loads((HERE / "ads.toml").read_text())["ad"]
    held_out = set(json.loads((HERE / "split.json").read_text())["held_out"])
    manifest = json.loads((AUDIO_DIR / "manifest.json").read_text())
    return [
        EvalAd(
            id=a["id"],
            vertical=a["vertical"],
            script=a["script"],
            hook_type=a["hook_type"],
            ctas=tuple(a["ctas"]),
            offer=a["offer"],
            urgency=a["urgency"],
            held_out=a["id"] in held_out,
            audio=AUDIO_DIR / manifest[a["id"]]["file"],
            voice=manifest[a["id"]]["voice"],
            seconds=manifest[a["id"]]["seconds"],
        )
        for a in raw
    ]


def dev_ads() -> list[EvalAd]:
    """The ads rules may be tuned on."""
    return [a for a in load_eval_ads() if not a.held_out]


def script_transcript(script: str, words_per_second: float = WORDS_PER_SECOND) -> Transcript:
    """A transcript of script, one segment per sentence, timed at a voice-over pace."""
    segments, start = [], 0.3
    for sentence in re.split(r"(?<=[.!?])\s+", script.strip()):
        end = start + len(sentence.split()) / words_per_second
        segments.append(Segment(start=round(start, 2), end=round(end, 2), text=sentence))
        start = end + 0.2
    return Transcript(text=script, language="en", duration=round(start, 2), segments=segments)
