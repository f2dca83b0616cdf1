"""Shared fixtures for the ads tests: sample videos, the local speech model, the fake OpenAI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Nothing in these tests may fetch a model from a hub.
os.environ["HF_HUB_OFFLINE"] = "1"

from tests.conftest import make_settings

from adanalysis.ads.media import ffmpeg_executable
from adanalysis.ads.transcription import (
    LocalWhisperTranscriber,
    Transcript,
    bundled_model_dir,
)
from adanalysis.config import Settings
from adanalysis.sandbox.graph import create_graph_sandbox
from adanalysis.sandbox.openai_fake import (
    FakeOpenAIConfig,
    create_openai_fake,
)
from adanalysis.serving import serve_app_in_thread

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "src" / "adanalysis" / "sandbox" / "samples"
# Three samples whose speech the base model gets right; transcribed once per session.
TRANSCRIBED_SAMPLES = (
    "coffee_question.mp4",
    "budget_app_story.mp4",
    "sales_coaching_statistic.mp4",
)


def load_catalog() -> list[dict[str, Any]]:
    """The sample ads' catalog entries."""
    samples: list[dict[str, Any]] = json.loads((SAMPLES_DIR / "catalog.json").read_text())[
        "samples"
    ]
    return samples


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES_DIR


@pytest.fixture(scope="session")
def catalog() -> dict[str, dict[str, Any]]:
    return {s["file"]: s for s in load_catalog()}


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return ffmpeg_executable()


@pytest.fixture(scope="session")
def silent_video(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Path:
    """A one-second video with no audio track."""
    silent = tmp_path_factory.mktemp("silent") / "silent.mp4"
    black = ["-f", "lavfi", "-i", "color=c=black:s=64x64:d=1", "-c:v", "mpeg4"]
    subprocess.run([ffmpeg, "-loglevel", "error", *black, str(silent)], check=True)
    return silent


@pytest.fixture(scope="session")
def model_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def local_transcriber(model_data_dir: Path) -> LocalWhisperTranscriber:
    return LocalWhisperTranscriber(bundled_model_dir(model_data_dir), workers=2, cpu_threads=1)


@pytest.fixture(scope="session")
def sample_wavs(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> dict[str, Path]:
    """16 kHz mono WAVs of the transcribed samples."""
    out = tmp_path_factory.mktemp("wavs")
    wavs = {}
    for name in TRANSCRIBED_SAMPLES:
        wav = out / f"{Path(name).stem}.wav"
        subprocess.run(
            [
                ffmpeg,
                "-nostdin",
                "-loglevel",
                "error",
                "-i",
                str(SAMPLES_DIR / name),
                "-vn",
                "-ac",
                "1",
                "-ar",
                "16000",
                str(wav),
            ],
            check=True,
        )
        wavs[name] = wav
    return wavs


@pytest.fixture(scope="session")
def local_transcripts(
    local_transcriber: LocalWhisperTranscriber, sample_wavs: dict[str, Path]
) -> dict[str, Transcript]:
    async def run() -> dict[str, Transcript]:
        results = await asyncio.gather(
            *(local_transcriber.transcribe(p) for p in sample_wavs.values())
        )
        return dict(zip(sample_wavs, results, strict=True))

    return asyncio.run(run())


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[tuple[FakeOpenAIConfig, str]]:
    config = FakeOpenAIConfig()
    with serve_app_in_thread(create_openai_fake(config)) as base_url:
        yield config, base_url + "/v1"


@pytest.fixture
def fake_openai(_fake_server: tuple[FakeOpenAIConfig, str]) -> tuple[FakeOpenAIConfig, str]:
    """The running fake OpenAI server's config (reset) and its /v1 base URL."""
    config, base_url = _fake_server
    config.reset()
    return config, base_url


@pytest.fixture(scope="session")
def graph_url() -> Iterator[str]:
    """The Graph API sandbox on a real local port."""
    with serve_app_in_thread(create_graph_sandbox()) as url:
        yield url


@pytest.fixture(scope="session")
def whisper_dir(model_data_dir: Path) -> Path:
    """The bundled Whisper base model, assembled once from its two packages."""
    return bundled_model_dir(model_data_dir)


@pytest.fixture
def pipeline_settings(
    database_url: str, tmp_path: Path, graph_url: str, whisper_dir: Path
) -> Settings:
    """Settings pointing the Graph client at the sandbox and Whisper at the local model."""
    return make_settings(
        database_url,
        tmp_path / "data",
        graph_api_url=graph_url,
        whisper_model=str(whisper_dir),
        graph_max_retries=4,
    )


@pytest.fixture
def openai_settings(
    database_url: str, tmp_path: Path, graph_url: str, fake_openai: tuple[FakeOpenAIConfig, str]
) -> Settings:
    """Fast pipeline settings: the sandbox Graph API and the fake OpenAI server."""
    return make_settings(
        database_url,
        tmp_path / "data",
        graph_api_url=graph_url,
        openai_api_key="sk-test-not-a-real-key",
        openai_base_url=fake_openai[1],
    )
