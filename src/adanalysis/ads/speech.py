"""The speech worker: faster-whisper in a pool's child process; never imported by the API."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)
# What the worker answers instead of a transcript when the file itself is the problem.
NO_AUDIO = "no_audio"
UNREADABLE = "unreadable"


class SpeechWorker:
    """Loads the model once; each call decodes one media file with PyAV and transcribes it."""

    def __init__(
        self,
        *,
        model: str,
        compute_type: str,
        cpu_threads: int,
        beam_size: int = 1,
        vad_filter: bool = False,
    ) -> None:
        from faster_whisper import WhisperModel
        from tqdm import tqdm

        # tqdm's default lock is a multiprocessing semaphore: a child killed on cancel would
        # leave it behind (and a warning at exit). One task at a time needs only a thread lock.
        tqdm.set_lock(threading.RLock())

        # local_files_only: a model name resolves only from the local cache, never a download.
        self.model = WhisperModel(
            model,
            device="cpu",
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        self.beam_size = beam_size
        self.vad_filter = vad_filter

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        """{"path": a media file} -> its transcript as plain data, or {"error": NO_AUDIO|...}."""
        import av
        from faster_whisper.audio import decode_audio

        path = request["path"]
        rate = self.model.feature_extractor.sampling_rate
        try:
            with av.open(path, metadata_errors="ignore") as container:
                if not container.streams.audio:
                    return {"error": NO_AUDIO}
                stream = container.streams.audio[0]
                seconds = stream.duration * stream.time_base if stream.duration else None
            # Decoded here, in-process: no ffmpeg child forked from a process running BLAS.
            audio = decode_audio(path, sampling_rate=rate)
        except (av.FFmpegError, IndexError, ValueError) as exc:
            log.warning("could not decode %s: %s", path, exc)
            return {"error": UNREADABLE}
        if seconds:
            # Drop the encoder padding past the stream's end (AAC adds some), as ffmpeg does:
            # the same samples as before, so the same words.
            audio = audio[: round(seconds * rate)]
        if audio.size == 0:
            return {"error": NO_AUDIO}
        raw_segments, info = self.model.transcribe(
            audio,
            beam_size=self.beam_size,
            vad_filter=self.vad_filter,
            condition_on_previous_text=False,
        )
        # A generator: the decoding happens here.
        segments = [
            {"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text.strip()}
            for s in raw_segments
        ]
        return {"language": info.language, "duration": info.duration, "segments": segments}
