"""Local faster-whisper on the sample ads, and the OpenAI transcriber against the fake server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from tests.processes import eventually

from adanalysis.ads.errors import (
    MediaError,
    OpenAIAuthError,
    OpenAIError,
    OpenAIQuotaError,
    TranscriptionError,
)
from adanalysis.ads.media import NO_AUDIO_MESSAGE
from adanalysis.ads.transcription import (
    CRASHED_MESSAGE,
    UNREADABLE_MESSAGE,
    LocalWhisperTranscriber,
    OpenAITranscriber,
    Transcript,
    bundled_model_dir,
    make_transcriber,
    speech_layout,
)
from adanalysis.config import Settings
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig
from adanalysis.workers import work_owner

API_KEY = "sk-test-SUPERSECRET-0123456789"


def openai_transcriber(base_url: str, **kwargs: Any) -> OpenAITranscriber:
    return OpenAITranscriber(
        api_key=API_KEY, base_url=base_url, timeout=10, retry_initial_delay=0.01, **kwargs
    )


def test_bundled_model_is_assembled_once(model_data_dir: Path) -> None:
    first = bundled_model_dir(model_data_dir)
    stamp = (first / "model.bin").stat().st_mtime_ns
    assert bundled_model_dir(model_data_dir) == first
    assert (first / "model.bin").stat().st_mtime_ns == stamp
    assert {"config.json", "tokenizer.json", "vocabulary.json"} <= {p.name for p in first.iterdir()}


def test_local_transcripts_contain_the_catalog_keywords(
    local_transcripts: dict[str, Transcript], catalog: dict[str, dict[str, Any]]
) -> None:
    for name, transcript in local_transcripts.items():
        text = transcript.text.lower()
        for keyword in catalog[name]["keywords"]:
            # A stem: the base model may say "dentist" for "dentists".
            assert keyword.lower()[:5] in text, (name, keyword, transcript.text)
        assert transcript.language == "en"
        assert transcript.segments
        for seg in transcript.segments:
            assert 0 <= seg.start < seg.end
        assert transcript.segments[-1].end == pytest.approx(
            catalog[name]["duration_seconds"], abs=3
        )


def test_make_transcriber_picks_openai_or_local(model_data_dir: Path) -> None:
    local = make_transcriber(Settings(data_dir=model_data_dir))
    assert isinstance(local, LocalWhisperTranscriber)
    assert (local.name, local.model) == ("local", "whisper-base")
    assert (local.workers, local.cpu_threads) == speech_layout(Settings())
    remote = make_transcriber(Settings(data_dir=model_data_dir, openai_api_key=SecretStr(API_KEY)))
    assert isinstance(remote, OpenAITranscriber)
    assert (remote.name, remote.model) == ("openai", "whisper-1")


async def test_openai_transcription_succeeds(
    fake_openai: tuple[FakeOpenAIConfig, str], sample_wavs: dict[str, Path]
) -> None:
    config, base_url = fake_openai
    config.set_transcript("Did you know coffee can taste better? Shop now.")
    result = await openai_transcriber(base_url).transcribe(next(iter(sample_wavs.values())))
    assert result.text == "Did you know coffee can taste better? Shop now."
    assert [s.text for s in result.segments] == [
        "Did you know coffee can taste better?",
        "Shop now.",
    ]
    assert result.segments[1].start > 0
    assert config.requests["transcriptions"] == 1


async def test_insufficient_quota_is_fatal_and_not_retried(
    fake_openai: tuple[FakeOpenAIConfig, str],
    sample_wavs: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, base_url = fake_openai
    config.fault = "insufficient_quota"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(OpenAIQuotaError) as info:
        await openai_transcriber(base_url).transcribe(next(iter(sample_wavs.values())))
    assert info.value.message == "OpenAI API quota exceeded. Please check your API limits."
    assert info.value.fatal
    assert config.requests["transcriptions"] == 1
    assert API_KEY not in caplog.text
    assert "SUPERSECRET" not in caplog.text


async def test_rate_limit_is_retried_then_succeeds(
    fake_openai: tuple[FakeOpenAIConfig, str],
    sample_wavs: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, base_url = fake_openai
    config.fault = "rate_limit_then_ok"
    config.rate_limit_failures = 2
    caplog.set_level(logging.DEBUG)
    result = await openai_transcriber(base_url).transcribe(next(iter(sample_wavs.values())))
    assert result.text
    assert config.requests["transcriptions"] == 3
    assert "SUPERSECRET" not in caplog.text


async def test_persistent_server_errors_give_up_after_the_retries(
    fake_openai: tuple[FakeOpenAIConfig, str], sample_wavs: dict[str, Path]
) -> None:
    config, base_url = fake_openai
    config.fault = "server_error"
    with pytest.raises(OpenAIError) as info:
        await openai_transcriber(base_url, max_retries=2).transcribe(
            next(iter(sample_wavs.values()))
        )
    assert info.value.message == "Could not reach OpenAI. Please try again."
    assert config.requests["transcriptions"] == 3


async def test_invalid_key_is_an_auth_error(
    fake_openai: tuple[FakeOpenAIConfig, str], sample_wavs: dict[str, Path]
) -> None:
    config, base_url = fake_openai
    config.fault = "invalid_key"
    with pytest.raises(OpenAIAuthError) as info:
        await openai_transcriber(base_url).transcribe(next(iter(sample_wavs.values())))
    assert info.value.message == "Invalid OpenAI API key. Please check your configuration."
    assert config.requests["transcriptions"] == 1


async def test_unreachable_server_is_an_openai_error(sample_wavs: dict[str, Path]) -> None:
    transcriber = openai_transcriber("http://127.0.0.1:9/v1", max_retries=1)
    with pytest.raises(OpenAIError, match="Could not reach OpenAI"):
        await transcriber.transcribe(next(iter(sample_wavs.values())))


def test_transcription_knobs_come_from_settings(model_data_dir: Path) -> None:
    default = make_transcriber(Settings(data_dir=model_data_dir))
    assert isinstance(default, LocalWhisperTranscriber)
    assert (default.beam_size, default.vad_filter) == (
        Settings().whisper_beam_size,
        Settings().whisper_vad,
    )
    tuned = make_transcriber(
        Settings(
            data_dir=model_data_dir, whisper_beam_size=5, whisper_vad=not Settings().whisper_vad
        )
    )
    assert isinstance(tuned, LocalWhisperTranscriber)
    assert (tuned.beam_size, tuned.vad_filter) == (5, not Settings().whisper_vad)


async def test_vad_transcription_works_offline(
    whisper_dir: Path, sample_wavs: dict[str, Path], catalog: dict[str, dict[str, Any]]
) -> None:
    # The VAD model ships inside faster-whisper: nothing is fetched.
    name = "coffee_question.mp4"
    transcriber = LocalWhisperTranscriber(whisper_dir, vad_filter=True, beam_size=1)
    try:
        transcript = await transcriber.transcribe(sample_wavs[name])
    finally:
        transcriber.pool().stop()
    for keyword in catalog[name]["keywords"]:
        assert keyword[:5] in transcript.text.lower()


async def test_a_model_name_that_is_not_installed_fails_clearly() -> None:
    # "small" resolves only from the local model cache; with none there, no download is tried.
    transcriber = make_transcriber(Settings(whisper_model="small", speech_workers=1))
    assert isinstance(transcriber, LocalWhisperTranscriber)
    try:
        with pytest.raises(TranscriptionError) as info:
            await transcriber.transcribe(Path("anything.mp4"))
    finally:
        transcriber.pool().stop()
    assert info.value.fatal


@pytest.mark.parametrize(
    ("cores", "workers", "threads", "layout"),
    [
        (2, 0, 0, (2, 1)),  # the default: one child per core, one thread each
        (8, 0, 0, (8, 1)),
        (2, 1, 0, (1, 2)),  # one child gets every core's thread
        (8, 3, 0, (3, 2)),
        (2, 2, 4, (2, 4)),  # explicit threads win
        (1, 0, 0, (1, 1)),
    ],
)
def test_the_speech_pool_is_sized_from_the_cores(
    cores: int, workers: int, threads: int, layout: tuple[int, int]
) -> None:
    settings = Settings(speech_workers=workers, whisper_cpu_threads=threads)
    assert speech_layout(settings, cores=cores) == layout


async def test_a_video_without_sound_fails_with_the_no_audio_message(
    local_transcriber: LocalWhisperTranscriber, silent_video: Path
) -> None:
    with pytest.raises(MediaError) as info:
        await local_transcriber.transcribe(silent_video)
    assert info.value.message == NO_AUDIO_MESSAGE
    assert not info.value.fatal


async def test_a_damaged_file_fails_that_video_only(
    local_transcriber: LocalWhisperTranscriber, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 1000)
    with pytest.raises(MediaError) as info:
        await local_transcriber.transcribe(damaged)
    assert info.value.message == UNREADABLE_MESSAGE
    assert not info.value.fatal


async def test_a_model_that_cannot_load_fails_the_job_with_advice(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"not a model")
    broken = LocalWhisperTranscriber(tmp_path, workers=1, cpu_threads=1)
    try:
        with pytest.raises(TranscriptionError) as info:
            await broken.transcribe(Path("anything.mp4"))
    finally:
        broken.pool().stop()
    assert info.value.message == (
        "The local speech model could not be loaded. Please check the installation."
    )
    assert info.value.fatal


async def test_a_speech_child_killed_by_the_system_fails_only_that_video(
    local_transcriber: LocalWhisperTranscriber, samples_dir: Path
) -> None:
    """As when the kernel kills a child for memory: that video fails, a new child takes over."""
    pool = local_transcriber.pool()
    work_owner.set("job-oom")
    task = asyncio.create_task(local_transcriber.transcribe(samples_dir / "coffee_question.mp4"))

    def busy() -> int | None:
        return next((w.pid for w in pool.states() if w.owner == "job-oom"), None)

    await asyncio.to_thread(eventually, lambda: busy() is not None, "a child transcribes")
    pid = busy()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(TranscriptionError) as info:
        await task
    assert info.value.message == CRASHED_MESSAGE
    assert not info.value.fatal
    again = await local_transcriber.transcribe(samples_dir / "coffee_question.mp4")
    assert "coffee" in again.text.lower()
