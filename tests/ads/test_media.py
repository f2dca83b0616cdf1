"""Download limits, audio extraction and ffmpeg cancellation."""

from __future__ import annotations

import asyncio
import logging
import os
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adanalysis.ads import media
from adanalysis.ads.errors import MediaError, NetworkTimeoutError
from adanalysis.ads.media import (
    NO_AUDIO_MESSAGE,
    compress_audio_for_upload,
    download_video,
    extract_audio,
    ffmpeg_executable,
    probe_duration,
    temporary_workdir,
)
from adanalysis.serving import serve_app_in_thread

URL = "https://video.example.com/v/clip.mp4?token=SECRET-TOKEN"


def client_for(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def chunks(n: int, size: int, *, fail: Exception | None = None) -> AsyncIterator[bytes]:
    for i in range(n):
        if fail is not None and i == 1:
            raise fail
        yield b"v" * size


async def test_download_writes_the_file(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "video/mp4"}, content=b"x" * 5000)

    dest = tmp_path / "v.mp4"
    async with client_for(handler) as client:
        written = await download_video(client, URL, dest, max_bytes=10_000, timeout=5)
    assert written == 5000 == dest.stat().st_size


async def test_download_rejects_a_large_content_length(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "video/mp4"}, content=b"x" * (3 << 20))

    dest = tmp_path / "v.mp4"
    async with client_for(handler) as client:
        with pytest.raises(MediaError, match="Video is larger than the 1 MB limit"):
            await download_video(client, URL, dest, max_bytes=1 << 20, timeout=5)
    assert not dest.exists()


async def test_download_stops_a_stream_that_grows_past_the_limit(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # No Content-Length: only the streamed size can catch it.
        return httpx.Response(
            200, headers={"content-type": "application/octet-stream"}, content=chunks(10, 500)
        )

    dest = tmp_path / "v.mp4"
    async with client_for(handler) as client:
        with pytest.raises(MediaError, match="larger than") as info:
            await download_video(client, URL, dest, max_bytes=1200, timeout=5)
    assert info.value.fatal is False
    assert not dest.exists()


async def test_download_rejects_a_non_video(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/html"}, content=b"<html>")

    dest = tmp_path / "v.mp4"
    async with client_for(handler) as client:
        with pytest.raises(MediaError, match="did not return a video"):
            await download_video(client, URL, dest, max_bytes=10_000, timeout=5)
    assert not dest.exists()


async def test_download_timeout_is_non_fatal_leaves_no_file_and_logs_no_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        stream = chunks(5, 1000, fail=httpx.ReadTimeout("stalled", request=request))
        return httpx.Response(200, headers={"content-type": "video/mp4"}, content=stream)

    dest = tmp_path / "v.mp4"
    caplog.set_level(logging.DEBUG)
    async with client_for(handler) as client:
        with pytest.raises(NetworkTimeoutError) as info:
            await download_video(client, URL, dest, max_bytes=10_000, timeout=5)
    assert info.value.message == "Network timeout while downloading videos. Please try again."
    assert info.value.fatal is False
    assert not dest.exists()
    assert "clip.mp4" in caplog.text
    assert "SECRET-TOKEN" not in caplog.text


async def test_download_real_timeout_against_a_stalling_server(tmp_path: Path) -> None:
    async def stalling_app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"video/mp4"), (b"content-length", b"100000")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"v" * 1000, "more_body": True})
        await asyncio.sleep(1.5)  # stalls mid-body

    dest = tmp_path / "v.mp4"
    with serve_app_in_thread(stalling_app) as base_url:
        async with httpx.AsyncClient() as client:
            with pytest.raises(NetworkTimeoutError):
                await download_video(
                    client, f"{base_url}/v.mp4?token=x", dest, max_bytes=200_000, timeout=0.3
                )
    assert not dest.exists()


async def test_extract_audio_is_16khz_mono(tmp_path: Path, ffmpeg: str, samples_dir: Path) -> None:
    out = await extract_audio(
        samples_dir / "coffee_question.mp4", tmp_path / "a.wav", ffmpeg=ffmpeg
    )
    with wave.open(str(out)) as wav:
        assert wav.getframerate() == 16000
        assert wav.getnchannels() == 1
        assert wav.getnframes() / 16000 > 5


async def test_compressed_upload_audio_is_small(
    tmp_path: Path, ffmpeg: str, samples_dir: Path
) -> None:
    out = await compress_audio_for_upload(
        samples_dir / "coffee_question.mp4", tmp_path, ffmpeg=ffmpeg
    )
    assert out.suffix == ".mp3"
    assert 0 < out.stat().st_size < 100_000
    duration = await probe_duration(out, ffmpeg=ffmpeg)
    assert duration is not None and duration > 5


async def test_extract_audio_reports_a_missing_audio_track(
    tmp_path: Path, ffmpeg: str, silent_video: Path
) -> None:
    with pytest.raises(MediaError) as info:
        await extract_audio(silent_video, tmp_path / "a.wav", ffmpeg=ffmpeg)
    assert info.value.message == NO_AUDIO_MESSAGE
    assert not (tmp_path / "a.wav").exists()


async def test_cancel_kills_ffmpeg(
    tmp_path: Path, ffmpeg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "never.mp4"
    os.mkfifo(fifo)  # ffmpeg blocks opening it: a stand-in for a long extraction
    started: list[asyncio.subprocess.Process] = []
    real_exec = asyncio.create_subprocess_exec

    async def spy(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        proc = await real_exec(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(media.asyncio, "create_subprocess_exec", spy)
    task = asyncio.create_task(extract_audio(fifo, tmp_path / "a.wav", ffmpeg=ffmpeg))
    while not started:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    proc = started[0]
    assert proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_temporary_workdir_is_always_removed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), temporary_workdir(tmp_path) as work:
        (work / "f").write_text("x")
        raise RuntimeError("boom")
    assert not work.exists()


def test_ffmpeg_executable_prefers_the_configured_path() -> None:
    assert ffmpeg_executable("/opt/ffmpeg") == "/opt/ffmpeg"
    assert Path(ffmpeg_executable()).exists()
