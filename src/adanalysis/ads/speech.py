"""The speech worker: faster-whisper in a pool's child process; never imported by the API."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)
# What the worker answers instead of a transcript when the file itself is the problem.
NO_AUDIO = "no_audio"
UNREADABLE = "unreadable"


def one_encode_model_class() -> type:
    """A WhisperModel that encodes the first 30 s window once (language detection, decoding)."""
    import numpy as np
    from faster_whisper import WhisperModel

    class OneEncodeWhisperModel(WhisperModel):
        """faster-whisper encodes the first window twice when the language is detected; not here."""

        # For an ad (under 30 s) the encoder pass is most of the CPU time, and faster-whisper
        # runs it once to detect the language and again to decode the same window. The last
        # encoding is kept and handed back when the same window is asked for again, which is
        # exact by construction: the same input array gives the same output.
        _last: tuple[Any, Any] | None = None

        def detect_language(self, audio: Any = None, features: Any = None, **kwargs: Any) -> Any:
            """Detect on the window the decoder will encode (it leaves out the last frame)."""
            if audio is None and features is not None and features.shape[-1] > 1:
                features = features[..., : features.shape[-1] - 1]
            return super().detect_language(audio, features, **kwargs)

        def encode(self, features: Any) -> Any:
            """The encoder's output for this window, reused when the window is the last one."""
            last = self._last
            if last is not None and last[0].shape == features.shape:
                if np.array_equal(last[0], features):
                    return last[1]
            output = super().encode(features)
            self._last = (features, output)
            return output

        def forget(self) -> None:
            """Drop the kept encoding (a few MB) between files."""
            self._last = None

    return OneEncodeWhisperModel


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
        from tqdm import tqdm

        # tqdm's default lock is a multiprocessing semaphore: a child killed on cancel would
        # leave it behind (and a warning at exit). One task at a time needs only a thread lock.
        tqdm.set_lock(threading.RLock())

        # local_files_only: a model name resolves only from the local cache, never a download.
        self.model = one_encode_model_class()(
            model,
            device="cpu",
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        self.beam_size = beam_size
        self.vad_filter = vad_filter

    def load_audio(self, path: str) -> Any:
        """The file's audio as 16 kHz samples, or the error (NO_AUDIO, UNREADABLE) instead."""
        import av
        from faster_whisper.audio import decode_audio

        rate = self.model.feature_extractor.sampling_rate
        try:
            with av.open(path, metadata_errors="ignore") as container:
                if not container.streams.audio:
                    return NO_AUDIO
                stream = container.streams.audio[0]
                duration, unit = stream.duration, stream.time_base
                seconds = duration * unit if duration and unit else None
            # Decoded here, in-process: no ffmpeg child forked from a process running BLAS.
            audio = decode_audio(path, sampling_rate=rate)
        except (av.FFmpegError, IndexError, ValueError) as exc:
            log.warning("could not decode %s: %s", path, exc)
            return UNREADABLE
        if seconds:
            # Drop the encoder padding past the stream's end (AAC adds some), as ffmpeg does:
            # the same samples as before, so the same words.
            audio = audio[: round(seconds * rate)]
        return NO_AUDIO if audio.size == 0 else audio

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        """{"path": a media file} -> its transcript as plain data, or {"error": NO_AUDIO|...}."""
        audio = self.load_audio(request["path"])
        if isinstance(audio, str):
            return {"error": audio}
        try:
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
        finally:
            self.model.forget()
        return {"language": info.language, "duration": info.duration, "segments": segments}
