"""Local faster-whisper on the sample ads, and the OpenAI transcriber against the fake server."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from adanalysis.ads.errors import (
    OpenAIAuthError,
    OpenAIError,
    OpenAIQuotaError,
    TranscriptionError,
)
from adanalysis.ads.transcription import (
    LocalWhisperTranscriber,
    OpenAITranscriber,
    Transcript,
    bundled_model_dir,
    make_transcriber,
)
from adanalysis.config import Settings
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig

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
    transcript = await transcriber.transcribe(sample_wavs[name])
    for keyword in catalog[name]["keywords"]:
        assert keyword[:5] in transcript.text.lower()


def test_a_model_name_that_is_not_installed_fails_clearly() -> None:
    # "small" resolves only from the local model cache; with none there, no download is tried.
    transcriber = make_transcriber(Settings(whisper_model="small"))
    assert isinstance(transcriber, LocalWhisperTranscriber)
    with pytest.raises(TranscriptionError) as info:
        transcriber.load()
    assert info.value.fatal
