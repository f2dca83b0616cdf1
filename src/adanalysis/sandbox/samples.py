"""The bundled sample video ads and their catalog (samples/catalog.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
HOOK_TYPES = frozenset(
    {
        "question",
        "statistic",
        "bold_claim",
        "pain_point",
        "command",
        "story",
        "social_proof",
        "other",
    }
)


@dataclass(frozen=True)
class SampleVideo:
    """One bundled ad video and what it is known to say."""

    file: str
    video_id: str
    title: str
    script: str
    hook_type: str
    cta: str
    offer: str | None
    keywords: tuple[str, ...]
    duration_seconds: float

    @property
    def path(self) -> Path:
        """Absolute path of the MP4."""
        return SAMPLES_DIR / self.file


@lru_cache
def load_samples() -> tuple[SampleVideo, ...]:
    """The catalog, read once per process."""
    raw = json.loads((SAMPLES_DIR / "catalog.json").read_text())
    return tuple(
        SampleVideo(
            file=entry["file"],
            video_id=entry["video_id"],
            title=entry["title"],
            script=entry["script"],
            hook_type=entry["hook_type"],
            cta=entry["cta"],
            offer=entry["offer"],
            keywords=tuple(entry["keywords"]),
            duration_seconds=float(entry["duration_seconds"]),
        )
        for entry in raw["samples"]
    )
