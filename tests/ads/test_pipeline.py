"""The ad-analysis pipeline end to end: sandbox Graph API, real videos, local Whisper, insights."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.ads.running import Running, start
from tests.conftest import make_settings, sign_up, wait_for_status
from tests.processes import alive, eventually

from adanalysis.ads.pipeline import ADS_AT, VIDEO_SHARES, VIDEOS_AT
from adanalysis.ads.transcription import LocalWhisperTranscriber, make_transcriber
from adanalysis.config import Settings
from adanalysis.sandbox.graph import MISSING_SOURCE_VIDEO_ID, SandboxConfig, create_graph_sandbox
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig
from adanalysis.sandbox.samples import load_samples
from adanalysis.serving import serve_app_in_thread

API = "/api/v1/ad_analysis"
SAMPLES = {s.video_id: s for s in load_samples()}


async def test_pipeline_end_to_end_then_skips_everything(pipeline_settings: Settings) -> None:
    """Real transcripts and insights of every sample; the second run analyses nothing again."""
    async with Running(pipeline_settings) as run:
        job_id = await start(run.client, run.user)
        progress: list[tuple[int, str]] = []
        while True:
            job = (
                await run.client.get(f"{API}/job-status/{job_id}", headers=run.user.headers)
            ).json()
            progress.append((job["progress"], job["message"]))
            if job["status"] in {"completed", "failed", "cancelled"}:
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "completed", job
        assert job["result_count"] == len(SAMPLES)
        assert job["message"].startswith(
            f"Analysis completed successfully! Processed {len(SAMPLES)} ads."
        )
        assert "1 video could not be analyzed" in job["message"]
        failed = [r for r in job["results"] if r["status"] == "failed"]
        assert [r["video_id"] for r in failed] == [MISSING_SOURCE_VIDEO_ID]
        percents = [p for p, _ in progress]
        assert percents == sorted(percents), "progress never goes backwards"
        assert any(m.startswith("Transcribing videos (") for _, m in progress)

        analyses = await run.analyses()
        assert {a["video_id"] for a in analyses} == set(SAMPLES)
        for analysis in analyses:
            sample = SAMPLES[analysis["video_id"]]
            words = analysis["transcript"].lower()
            for keyword in sample.keywords:
                assert keyword[:5] in words, (sample.file, keyword, words)
            assert analysis["segments"] and analysis["segments"][0]["start"] < 1.0
            insights = analysis["insights"]
            assert insights["hook"]["type"] == sample.hook_type, (sample.file, insights["hook"])
            cta = (insights["call_to_action"]["text"] or "").lower()
            assert sample.cta.lower() in cta, (sample.file, insights["call_to_action"])
            assert analysis["transcriber"] == "local" and analysis["analyzer"] == "heuristic"
            assert analysis["job_id"] == job_id
        shared = next(a for a in analyses if a["video_id"] == load_samples()[0].video_id)
        assert len(shared["ad_ids"]) == 2, "one video used by two ads is analysed once, for both"
        one = (await run.client.get(f"{API}/{analyses[0]['_id']}", headers=run.user.headers)).json()
        assert one["_id"] == analyses[0]["_id"]

        second = (await run.client.post(f"{API}/start-analysis/", headers=run.user.headers)).json()[
            "job_id"
        ]
        again = await wait_for_status(run.client, second, run.user.headers, {"completed", "failed"})
        assert again["status"] == "completed", again
        assert again["result_count"] == 0
        assert (
            f"all {len(SAMPLES)} videos were analyzed before" not in again["message"]
        )  # one had no source
        assert len(await run.analyses()) == len(SAMPLES)
        other = await sign_up(run.client)
        assert (
            await run.client.get(f"{API}/{analyses[0]['_id']}", headers=other.headers)
        ).status_code == 404
        assert (await run.client.get(f"{API}/", headers=other.headers)).json() == []


async def test_cancel_mid_transcription_kills_the_speech_child_and_keeps_finished_videos(
    pipeline_settings: Settings,
) -> None:
    """Cancelled while transcribing: the child doing it is killed at once and replaced."""
    settings = pipeline_settings.model_copy(update={"speech_workers": 1})
    transcriber = make_transcriber(settings)
    assert isinstance(transcriber, LocalWhisperTranscriber)
    pool = transcriber.pool()  # the process's speech pool the job uses

    def transcribing(job_id: str) -> int | None:
        return next((w.pid for w in pool.states() if w.owner == job_id), None)

    async with Running(settings) as run:
        job_id = await start(run.client, run.user)
        for _ in range(1200):
            job = (
                await run.client.get(f"{API}/job-status/{job_id}", headers=run.user.headers)
            ).json()
            if (job["result_count"] or 0) >= 1 and transcribing(job_id):
                break
            await asyncio.sleep(0.05)
        pid = transcribing(job_id)
        assert pid is not None, job
        assert (
            await run.client.delete(f"{API}/job/{job_id}", headers=run.user.headers)
        ).status_code == 200
        # The CPU is freed by killing the child, not by waiting for its file to finish (the
        # time this takes, ~0.1 s, is measured by bench/speech_pool.py, not asserted here).
        await asyncio.to_thread(eventually, lambda: not alive(pid), "the speech child is killed")
        job = await wait_for_status(
            run.client, job_id, run.user.headers, {"cancelled", "completed", "failed"}
        )
        assert job["status"] == "cancelled"
        await asyncio.to_thread(
            eventually,
            lambda: [w.pid for w in pool.states()] not in ([], [pid]),
            "a replacement child",
        )
        kept = await run.analyses()
        assert 1 <= len(kept) < len(SAMPLES)
        assert job["result_count"] == len(kept)
        assert not list((settings.data_dir / "tmp").glob("*")), "temporary files are removed"


@pytest.mark.parametrize(
    ("token", "error", "code"),
    [
        (
            "sandbox-expired",
            "Invalid Facebook access token. Please update your credentials.",
            "facebook_invalid_token",
        ),
        (
            "sandbox-rate-limited",
            "Facebook API rate limit exceeded. Please try again in 15 minutes.",
            "facebook_rate_limited",
        ),
        ("sandbox-no-permission", "ads_read", "facebook_permission_denied"),
    ],
)
async def test_facebook_faults_fail_with_the_seed_messages(
    pipeline_settings: Settings, token: str, error: str, code: str
) -> None:
    """Each Graph fault ends the job with its message, at the stage it happened."""
    async with Running(pipeline_settings) as run:
        job_id = await start(run.client, run.user, token=token)
        job = await wait_for_status(run.client, job_id, run.user.headers, {"completed", "failed"})
    assert job["status"] == "failed"
    assert error in job["error_message"]
    assert job["error_code"] == code
    assert job["progress"] == ADS_AT, "it failed while listing the ads"


async def test_flaky_graph_api_is_retried(pipeline_settings: Settings) -> None:
    """Transient Graph failures are retried and the job completes."""
    async with Running(
        pipeline_settings.model_copy(update={"whisper_model": None, "openai_api_key": None})
    ) as run:
        job_id = await start(run.client, run.user, token="sandbox-flaky")
        job = await wait_for_status(
            run.client, job_id, run.user.headers, {"completed", "failed"}, timeout=120
        )
    assert job["status"] == "completed", job["error_message"]


async def test_download_timeouts_fail_with_the_network_message(
    database_url: str, tmp_path: Path, whisper_dir: Path
) -> None:
    """Every download timing out ends the job with the seed's network message."""
    slow = create_graph_sandbox(SandboxConfig(download_latency_seconds=3))
    with serve_app_in_thread(slow) as url:
        settings = make_settings(
            database_url,
            tmp_path / "data",
            graph_api_url=url,
            whisper_model=str(whisper_dir),
            download_timeout_seconds=0.3,
        )
        async with Running(settings) as run:
            job_id = await start(run.client, run.user)
            job = await wait_for_status(
                run.client, job_id, run.user.headers, {"completed", "failed"}, timeout=60
            )
    assert job["status"] == "failed"
    assert job["error_message"] == "Network timeout while downloading videos. Please try again."
    assert VIDEOS_AT <= job["progress"] < VIDEOS_AT + VIDEO_SHARES[0], "in the download stage"


async def test_stalled_download_is_retried(
    database_url: str, tmp_path: Path, fake_openai: tuple[FakeOpenAIConfig, str]
) -> None:
    """A download that stalls once is tried again, and the job completes."""
    flaky_cdn = create_graph_sandbox(SandboxConfig(stalled_downloads=1, stall_seconds=2))
    with serve_app_in_thread(flaky_cdn) as url:
        settings = make_settings(
            database_url,
            tmp_path / "data",
            graph_api_url=url,
            download_timeout_seconds=0.3,
            openai_api_key="sk-test-not-a-real-key",
            openai_base_url=fake_openai[1],
        )
        async with Running(settings) as run:
            job_id = await start(run.client, run.user)
            job = await wait_for_status(
                run.client, job_id, run.user.headers, {"completed", "failed"}, timeout=60
            )
    assert job["status"] == "completed", job["error_message"]
    assert job["result_count"] == len(SAMPLES)


async def test_openai_path_and_quota(
    database_url: str, tmp_path: Path, graph_url: str, fake_openai: tuple[FakeOpenAIConfig, str]
) -> None:
    """With a key, transcripts and insights come from the OpenAI API; no quota fails the job."""
    config, base_url = fake_openai
    settings = make_settings(
        database_url,
        tmp_path / "data",
        graph_api_url=graph_url,
        openai_api_key="sk-test-not-a-real-key",
        openai_base_url=base_url,
    )
    async with Running(settings) as run:
        job_id = await start(run.client, run.user)
        job = await wait_for_status(
            run.client, job_id, run.user.headers, {"completed", "failed"}, timeout=60
        )
        assert job["status"] == "completed", job["error_message"]
        analyses = await run.analyses()
        assert len(analyses) == len(SAMPLES)
        assert {a["transcriber"] for a in analyses} == {"openai"}
        assert {a["analyzer"] for a in analyses} == {"openai"}
        assert config.requests["transcriptions"] == len(SAMPLES)

    config.fault = "insufficient_quota"
    async with Running(settings.model_copy(update={"database_url": database_url})) as run:
        job_id = await start(run.client, run.user)
        job = await wait_for_status(
            run.client, job_id, run.user.headers, {"completed", "failed"}, timeout=60
        )
    assert job["status"] == "failed"
    assert job["error_message"] == "OpenAI API quota exceeded. Please check your API limits."
    assert job["error_code"] == "openai_quota_exceeded"
    assert VIDEOS_AT <= job["progress"] <= VIDEOS_AT + VIDEO_SHARES[0] + VIDEO_SHARES[1]
