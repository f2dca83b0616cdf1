"""Ad analysis job wall time, concurrent pipeline against one video at a time, same run."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from adanalysis.ads.credentials import save_credentials
from adanalysis.ads.facebook import GraphClient
from adanalysis.ads.jobs import AD_ANALYSIS
from adanalysis.ads.pipeline import Pipeline, VideoWork, engines_for
from adanalysis.auth.service import create_user
from adanalysis.bootstrap import build_job_registry
from adanalysis.cli import run_migrations
from adanalysis.config import Settings
from adanalysis.crypto import SecretBox, mask_secret
from adanalysis.db import open_database
from adanalysis.jobs.context import JobContext, JobServices
from adanalysis.jobs.events import LocalJobEvents
from adanalysis.jobs.lifecycle import JobLifecycle
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.jobs.registry import JobOutcome, JobType
from adanalysis.jobs.runtime import run_job
from adanalysis.jobs.service import BackgroundJobService
from adanalysis.sandbox.graph import (
    SANDBOX_ACCOUNT_ID,
    SANDBOX_TOKEN,
    SandboxConfig,
    create_graph_sandbox,
)
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig, create_openai_fake
from adanalysis.serving import serve_app_in_thread

GRAPH_LATENCY = 0.2
DOWNLOAD_LATENCY = 0.5
TRANSCRIBE_LATENCY = 1.0
ANALYSE_LATENCY = 1.0
# The fixed ACTIVE/PAUSED ads hold 9 analysable videos (+1 whose source is gone); 31 synthetic
# ads, each with its own video, bring the analysable videos to 40.
EXTRA_ADS = 31
EXPECTED_VIDEOS = 40
SECRET = "bench-secret-key-not-for-production"  # noqa: S105
STAGES = ("download_concurrency", "transcribe_concurrency", "analyze_concurrency")
DEFAULTS = {stage: Settings.model_fields[stage].default for stage in STAGES}
ONES = {"download_concurrency": 1, "transcribe_concurrency": 1, "analyze_concurrency": 1}
ONE_AT_A_TIME = "bench_ad_analysis_one_at_a_time"


class OneAtATimePipeline(Pipeline):
    """The real pipeline with each video's whole path (download to save) run alone."""

    # Stage limits of 1 are not enough: video 2 downloads while video 1 is transcribed.

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._alone = asyncio.Lock()

    async def _one_video(
        self, item: VideoWork, stages: Any, http: httpx.AsyncClient, tmp_root: Path
    ) -> None:
        """The inherited path of one video, holding the pipeline-wide lock throughout."""
        async with self._alone:
            await super()._one_video(item, stages, http, tmp_root)


async def run_one_at_a_time(ctx: JobContext) -> JobOutcome:
    """The ad_analysis job, one video at a time: claim, progress and finish stay the real ones."""
    return await OneAtATimePipeline(ctx, await engines_for(ctx), secrets=SecretBox(SECRET)).run()


@dataclass(frozen=True)
class Mode:
    """A way of running the same job."""

    name: str
    job_type: str
    concurrency: dict[str, int]
    note: str


CONCURRENT = Mode("concurrent", AD_ANALYSIS, DEFAULTS, "default stage limits")
SEQUENTIAL = Mode("sequential", ONE_AT_A_TIME, ONES, "one video at a time (baseline)")
STAGES_AT_1 = Mode("stages=1", AD_ANALYSIS, ONES, "stage limits 1, stages still overlap")


@dataclass
class Workload:
    """What the job will see, counted once (untimed) through the same Graph client."""

    ads_listed: int
    ads_with_video: int
    distinct_videos: int


@dataclass
class Measured:
    """One job run end to end."""

    mode: str
    seconds: float
    status: str
    result_count: int
    videos_failed: int
    transcriptions: int
    chats: int


class _NoopExecutor:
    """Lets BackgroundJobService create the job row; the benchmark runs the job itself."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def submit(self, job_id: str, *, priority: int = 0, user_id: str = "") -> None:
        """Run nothing: run_job is called by the benchmark so it can time it."""

    async def cancel(self, job_id: str) -> None:
        """Nothing runs here to cancel."""

    async def ready(self) -> bool:
        """Always."""
        return True


@contextmanager
def servers(fake: FakeOpenAIConfig) -> Iterator[tuple[str, str]]:
    """Graph sandbox and fake OpenAI on real local ports, each in its own thread and loop."""
    sandbox = SandboxConfig(
        latency_seconds=GRAPH_LATENCY,
        download_latency_seconds=DOWNLOAD_LATENCY,
        extra_ads=EXTRA_ADS,
    )
    with ExitStack() as stack:
        graph_url = stack.enter_context(serve_app_in_thread(create_graph_sandbox(sandbox)))
        openai_url = stack.enter_context(serve_app_in_thread(create_openai_fake(fake)))
        yield graph_url, openai_url


def make_settings(
    data_dir: Path, db_url: str, graph_url: str, openai_url: str, concurrency: dict[str, int]
) -> Settings:
    """Settings for one mode; only the pipeline concurrency differs between modes."""
    return Settings(
        data_dir=data_dir,
        database_url=db_url,
        secret_key=SECRET,
        graph_api_url=graph_url,
        # An OpenAI key + base URL makes make_transcriber/make_analyzer build the OpenAI engines.
        openai_api_key="bench-key",
        openai_base_url=f"{openai_url}/v1",
        # Default throttle, as in production: progress writes are part of the measured work.
        progress_min_interval_seconds=1.0,
        **concurrency,
    )


async def census(settings: Settings) -> Workload:
    """List the account's ads the way the pipeline does, so the table says what was measured."""
    async with GraphClient.from_settings(settings, access_token=SANDBOX_TOKEN) as graph:
        ads = await graph.list_ads(SANDBOX_ACCOUNT_ID, statuses=settings.ad_effective_statuses)
    with_video = [ad for ad in ads if ad.video_ids]
    videos = {v for ad in with_video for v in ad.video_ids}
    return Workload(len(ads), len(with_video), len(videos))


async def run_mode(mode: Mode, settings: Settings, fake: FakeOpenAIConfig) -> Measured:
    """A fresh user (so nothing counts as analysed before), one job, timed from claim to end."""
    registry = build_job_registry(settings, secrets=SecretBox(SECRET))
    registry.register(JobType(ONE_AT_A_TIME, run_one_at_a_time))
    lifecycle = JobLifecycle(events=LocalJobEvents())
    async with open_database(settings.sqlalchemy_url) as (_engine, factory):
        service = BackgroundJobService(
            lifecycle=lifecycle, registry=registry, executor=_NoopExecutor()
        )
        async with factory() as session:
            user = await create_user(
                session,
                email=f"bench-{uuid.uuid4().hex[:8]}@example.com",
                password=secrets.token_urlsafe(16),
            )
            await save_credentials(
                session,
                box=SecretBox(SECRET),
                user_id=user.id,
                access_token=SANDBOX_TOKEN,
                account_id=SANDBOX_ACCOUNT_ID,
            )
            # The parameters start_ad_analysis_job would store, under this mode's job type.
            job = await service.start_job(
                session,
                user_id=user.id,
                job_type=mode.job_type,
                parameters={
                    "access_token": mask_secret(SANDBOX_TOKEN),
                    "account_id": SANDBOX_ACCOUNT_ID,
                },
            )
            job_id = job.id
        services = JobServices(
            session_factory=factory,
            settings=settings,
            lifecycle=lifecycle,
            registry=registry,
            worker_id=f"bench-{mode.name}",
        )
        fake.requests.clear()
        started = time.perf_counter()
        await run_job(job_id, services)
        seconds = time.perf_counter() - started
        async with factory() as session:
            job = await session.get(BackgroundJob, job_id)
            assert job is not None
        results = job.results or []
        return Measured(
            mode=mode.name,
            seconds=seconds,
            status=str(job.status),
            result_count=job.result_count or 0,
            videos_failed=sum(1 for r in results if r.get("status") == "failed"),
            transcriptions=fake.requests["transcriptions"],
            chats=fake.requests["chat"],
        )


async def measure(
    data_dir: Path, db_url: str, modes: list[Mode]
) -> tuple[Workload, list[Measured]]:
    """Every mode against the same servers, in the order given."""
    fake = FakeOpenAIConfig(
        transcription_latency_seconds=TRANSCRIBE_LATENCY, chat_latency_seconds=ANALYSE_LATENCY
    )
    measured = []
    with servers(fake) as (graph_url, openai_url):
        workload = await census(make_settings(data_dir, db_url, graph_url, openai_url, {}))
        for mode in modes:
            settings = make_settings(data_dir, db_url, graph_url, openai_url, mode.concurrency)
            measured.append(await run_mode(mode, settings, fake))
    return workload, measured


def report(workload: Workload, modes: list[Mode], measured: list[Measured]) -> bool:
    """Print the table and the speed-up; False when a run did not do the expected work."""
    print(
        f"workload: sandbox {SANDBOX_ACCOUNT_ID}, 13 fixed + {EXTRA_ADS} synthetic ads; "
        f"latency: Graph {GRAPH_LATENCY * 1000:.0f} ms/call, download "
        f"{DOWNLOAD_LATENCY * 1000:.0f} ms/video, transcribe {TRANSCRIBE_LATENCY:.1f} s, "
        f"analyse {ANALYSE_LATENCY:.1f} s"
    )
    print(
        f"job sees: {workload.ads_listed} ads listed (ACTIVE/PAUSED), "
        f"{workload.ads_with_video} with a video, {workload.distinct_videos} distinct videos "
        f"({workload.distinct_videos - EXPECTED_VIDEOS} without a downloadable source)"
    )
    for mode in modes:
        conc = mode.concurrency
        print(
            f"{mode.name:<10} download={conc['download_concurrency']} "
            f"transcribe={conc['transcribe_concurrency']} analyze={conc['analyze_concurrency']}"
            f"  ({mode.note})"
        )
    print()
    header = ("mode", "wall s", "status", "videos analysed", "failed", "stt", "chat")
    print("{:<11} {:>8} {:<10} {:>15} {:>6} {:>4} {:>4}".format(*header))
    ok = True
    for m in measured:
        print(
            f"{m.mode:<11} {m.seconds:>8.1f} {m.status:<10} {m.result_count:>15} "
            f"{m.videos_failed:>6} {m.transcriptions:>4} {m.chats:>4}"
        )
        if m.status != JobStatus.COMPLETED or m.result_count != EXPECTED_VIDEOS:
            print(f"  ! {m.mode}: expected completed with {EXPECTED_VIDEOS} videos analysed")
            ok = False
    print(
        "(failed = videos the job recorded as failed, expected: the one without a source; "
        "stt/chat = requests the fake OpenAI served)"
    )
    by_mode = {m.mode: m for m in measured}
    speed_up = by_mode["sequential"].seconds / by_mode["concurrent"].seconds
    print(f"\nspeed-up: {speed_up:.1f}x (sequential / concurrent)")
    if STAGES_AT_1.name in by_mode:
        ratio = by_mode[STAGES_AT_1.name].seconds / by_mode["concurrent"].seconds
        print(f"          {ratio:.1f}x (stages=1 / concurrent)")
    return ok


def main() -> int:
    """Migrate a temporary SQLite database, measure the modes, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--with-stages-at-1",
        action="store_true",
        help="also time stage limits of 1 without serialising videos (adds ~45 s)",
    )
    args = parser.parse_args()
    # Concurrent first: any cold-start cost (imports, ffmpeg, disk cache) then lands on it,
    # which can only understate the speed-up, never inflate it.
    modes = [CONCURRENT, SEQUENTIAL] + ([STAGES_AT_1] if args.with_stages_at_1 else [])
    with tempfile.TemporaryDirectory(prefix="adanalysis-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        run_migrations(db_url)
        workload, measured = asyncio.run(measure(data_dir, db_url, modes))
    return 0 if report(workload, modes, measured) else 1


if __name__ == "__main__":
    sys.exit(main())
