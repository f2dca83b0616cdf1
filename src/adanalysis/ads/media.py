"""Bounded streamed video download, and audio conversion with ffmpeg for the OpenAI upload.

ffmpeg is forked from the API process, which is safe because that process runs no BLAS or
speech model (those live in the speech pool's spawned children, which decode with PyAV).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx

from adanalysis.ads.errors import MediaError, NetworkTimeoutError
from adanalysis.monitoring.instruments import external_call, external_error
from adanalysis.workers import available_cores

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_MESSAGE = "Network timeout while downloading videos. Please try again."
NO_AUDIO_MESSAGE = "This video has no audio track"
CHUNK_BYTES = 64 * 1024
# OpenAI's transcription endpoint rejects uploads above 25 MB.
OPENAI_UPLOAD_LIMIT_BYTES = 25 * 1024 * 1024
_ALLOWED_TYPES = ("application/octet-stream", "binary/octet-stream")
_NO_AUDIO_PATTERNS = ("matches no streams", "does not contain any stream", "no audio")
_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


def redact_url(url: str) -> str:
    """The URL without query string or fragment, safe to log (CDN URLs carry signed tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class RedactQueryFilter(logging.Filter):
    """Drops query strings from URLs that httpx logs ("HTTP Request: GET <url>")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, httpx.URL) and a.query for a in record.args
        ):
            record.args = tuple(
                redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


# Video CDN URLs carry signed tokens in the query; httpx logs every request URL at INFO.
if not any(isinstance(f, RedactQueryFilter) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(RedactQueryFilter())


def _remove(path: Path) -> None:
    """Delete path if it exists (one quick syscall, fine on the event loop)."""
    path.unlink(missing_ok=True)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g}"


async def download_video(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 - httpx's per-operation (stall) timeout, not a deadline
) -> int:
    """Stream url into dest (at most max_bytes); return bytes written; no partial file on error."""
    too_large = MediaError(f"Video is larger than the {_mb(max_bytes)} MB limit")
    written = 0
    external_call("download", "video")
    try:
        async with client.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
            if resp.status_code >= 400:
                raise MediaError(f"Video download failed (HTTP {resp.status_code})")
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            if not (ctype.startswith("video/") or ctype in _ALLOWED_TYPES):
                raise MediaError(f"The video URL did not return a video (got {ctype or 'none'})")
            length = resp.headers.get("content-length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise too_large
            async with await anyio.open_file(dest, "wb") as out:
                async for chunk in resp.aiter_bytes(CHUNK_BYTES):
                    written += len(chunk)
                    # Content-Length can be absent or wrong; the streamed size is what counts.
                    if written > max_bytes:
                        raise too_large
                    await out.write(chunk)
    except BaseException as exc:
        _remove(dest)
        if isinstance(exc, Exception):
            external_error("download", type(exc).__name__)
        if isinstance(exc, httpx.TimeoutException):
            log.warning("Download timed out: %s", redact_url(url))
            raise NetworkTimeoutError(DOWNLOAD_TIMEOUT_MESSAGE, fatal=False) from exc
        if isinstance(exc, httpx.TransportError):
            log.warning("Download failed (%s): %s", type(exc).__name__, redact_url(url))
            raise MediaError("Could not download the video. Please try again.") from exc
        raise
    return written


def ffmpeg_executable(configured: str | None = None) -> str:
    """The ffmpeg to run: the configured one, else ffmpeg on PATH, else imageio-ffmpeg's binary."""
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _stderr_tail(stderr: bytes, limit: int = 300) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-3:])[-limit:]


_ffmpeg_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _ffmpeg_slot() -> asyncio.Semaphore:
    """The ffmpeg runs allowed at once in this process: one per core, however many jobs ask."""
    loop = asyncio.get_running_loop()
    slot = _ffmpeg_slots.get(loop)
    if slot is None:
        slot = _ffmpeg_slots[loop] = asyncio.Semaphore(available_cores())
    return slot


async def _run_ffmpeg(args: list[str]) -> tuple[int, bytes]:
    """Run ffmpeg; on cancellation kill it and reap it before re-raising."""
    async with _ffmpeg_slot():
        return await _run_ffmpeg_now(args)


async def _run_ffmpeg_now(args: list[str]) -> tuple[int, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            # Shielded so a second cancel cannot leave a zombie behind.
            await asyncio.shield(proc.wait())
        raise
    return proc.returncode or 0, stderr


async def extract_audio(
    video: Path,
    dest: Path,
    *,
    ffmpeg: str,
    sample_rate: int = 16000,
    codec: str = "pcm_s16le",
    bitrate: str | None = None,
) -> Path:
    """Write video's first audio track to dest, mono at sample_rate Hz; container from suffix."""
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(video)]
    args += ["-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(sample_rate), "-c:a", codec]
    if bitrate:
        args += ["-b:a", bitrate]
    args.append(str(dest))
    try:
        code, stderr = await _run_ffmpeg(args)
    except BaseException:
        _remove(dest)
        raise
    if code != 0:
        _remove(dest)
        tail = _stderr_tail(stderr)
        if any(p in stderr.decode("utf-8", "replace").lower() for p in _NO_AUDIO_PATTERNS):
            raise MediaError(NO_AUDIO_MESSAGE)
        raise MediaError(f"Could not extract the audio ({tail or f'ffmpeg exit {code}'})")
    return dest


async def compress_audio_for_upload(source: Path, dest_dir: Path, *, ffmpeg: str) -> Path:
    """A small mono 16 kHz MP3 of source (24 kb/s is ~2.9 h in 25 MB) for the OpenAI upload."""
    dest = dest_dir / f"{source.stem}.upload.mp3"
    await extract_audio(source, dest, ffmpeg=ffmpeg, codec="libmp3lame", bitrate="24k")
    if dest.stat().st_size > OPENAI_UPLOAD_LIMIT_BYTES:
        _remove(dest)
        raise MediaError("This video is too long to transcribe (audio over 25 MB)")
    return dest


async def probe_duration(media: Path, *, ffmpeg: str) -> float | None:
    """The duration in seconds ffmpeg reports for media, or None when it reports none."""
    _, stderr = await _run_ffmpeg([ffmpeg, "-nostdin", "-hide_banner", "-i", str(media)])
    match = _DURATION_RE.search(stderr.decode("utf-8", "replace"))
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@contextlib.contextmanager
def temporary_workdir(base: Path | None = None, prefix: str = "adanalysis-") -> Iterator[Path]:
    """A fresh temporary directory, removed with everything in it when the block exits."""
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
