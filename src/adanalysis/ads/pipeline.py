"""run_ad_analysis: the work of an ad_analysis job, through the seed's stages 5 -> 100 %."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from adanalysis.ads import credentials, media, performance, workdirs
from adanalysis.ads import service as analyses_service
from adanalysis.ads.errors import AdAnalysisError, NetworkTimeoutError
from adanalysis.ads.facebook import Ad, GraphClient, VideoSource
from adanalysis.ads.insights import Analyzer, make_analyzer
from adanalysis.ads.models import AdAnalysis
from adanalysis.ads.transcription import (
    LocalWhisperTranscriber,
    Transcriber,
    Transcript,
    make_transcriber,
)
from adanalysis.config import Settings
from adanalysis.crypto import SecretBox
from adanalysis.jobs.context import JobContext
from adanalysis.jobs.errors import JobError
from adanalysis.jobs.registry import JobOutcome
from adanalysis.jobs.wording import plural
from adanalysis.workers import work_owner

log = logging.getLogger(__name__)
# Graph calls in flight while resolving video URLs.
GRAPH_CONCURRENCY = 4
DOWNLOAD_ATTEMPTS = 3
# The bar's share of each stage follows its work: listing ads and looking up video URLs are a
# few API calls, the videos' download, transcription and analysis are nearly all of a job.
ADS_AT, URLS_AT, VIDEOS_AT = 10, 15, 20
VIDEO_SHARES = (10, 45, 15)  # download, transcribe, analyse: from VIDEOS_AT to 90 %


@dataclass
class VideoWork:
    """One video to analyse and the ads that use it."""

    video_id: str
    account_id: str
    ad_ids: list[str] = field(default_factory=list)
    ad_names: list[str] = field(default_factory=list)
    thumbnail_url: str | None = None
    source: VideoSource | None = None


@dataclass
class Engines:
    """The transcriber and analyzer a job uses; built once per process and shared."""

    transcriber: Transcriber
    analyzer: Analyzer


_engines: dict[str, Engines] = {}
# The settings that decide which engines a job gets (the cache key).
ENGINE_SETTINGS = {
    "data_dir",
    "openai_base_url",
    "openai_transcription_model",
    "openai_analysis_model",
    "openai_timeout_seconds",
    "openai_max_retries",
    "whisper_model",
    "whisper_compute_type",
    "whisper_cpu_threads",
    "whisper_beam_size",
    "whisper_vad",
    "transcribe_concurrency",
    "speech_workers",
    "speech_nice",
}


async def engines_for(ctx: JobContext) -> Engines:
    """The engines for these settings, built once per process and shared by its jobs."""
    key = _engine_key(ctx.settings)
    if key not in _engines:
        # Off the event loop: the first build assembles the bundled model (~140 MB of copying).
        transcriber = await asyncio.to_thread(make_transcriber, ctx.settings)
        _engines.setdefault(key, Engines(transcriber, make_analyzer(ctx.settings)))
    return _engines[key]


def _engine_key(settings: Settings) -> str:
    """The engine cache key; the API key enters only as a hash (SecretStr dumps as stars)."""
    secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return f"{digest}:{settings.model_dump_json(include=ENGINE_SETTINGS)}"


async def run_ad_analysis(ctx: JobContext, *, secrets: SecretBox) -> JobOutcome:
    """Fetch the ads, then download, transcribe, analyse and save each new video."""
    # The speech pool serves jobs in turn by this owner (set in the job's own task context).
    work_owner.set(ctx.job_id)
    return await Pipeline(ctx, await engines_for(ctx), secrets=secrets).run()


class Pipeline:
    """One run of the ad analysis for one job."""

    def __init__(self, ctx: JobContext, engines: Engines, *, secrets: SecretBox) -> None:
        self.ctx = ctx
        self.secrets = secrets
        self.settings = ctx.settings
        self.engines = engines
        self.failures: list[AdAnalysisError] = []
        self.total = 0
        self.downloaded = 0
        self.transcribed = 0
        self.analysed = 0

    async def run(self) -> JobOutcome:
        """The stages of the seed, in order."""
        ctx = self.ctx
        await ctx.progress(5, "Job started")
        await ctx.progress(10, "Checking previously analyzed videos...")
        done = await self._analysed_video_ids()
        await self._reconcile_earlier_attempts()
        token = await self._token()
        accounts = self._accounts()
        if isinstance(self.engines.transcriber, LocalWhisperTranscriber):
            # The speech children load the model while the ads are fetched and downloaded.
            self.engines.transcriber.warm_up()
        async with GraphClient.from_settings(self.settings, access_token=token) as graph:
            ads = await self._fetch_ads(graph, accounts)
            await self._fetch_performance(graph, ads)
            work = self._videos_of(ads)
            new = [w for w in work if w.video_id not in done]
            skipped = len(work) - len(new)
            self._note_skipped(work, done)
            if not work:
                await ctx.progress(90, "Finalizing results...")
                return JobOutcome(message=_no_videos(len(ads)), result_count=ctx.result_count)
            ready = await self._resolve_sources(graph, new) if new else []
        self.total = len(new)
        if ready:
            await self._process(ready)
        outcome = self._outcome(skipped)
        await ctx.progress(90, "Finalizing results...")
        return outcome

    async def _analysed_video_ids(self) -> dict[str, tuple[str, str | None]]:
        """video id -> (analysis id, job id) of every video the user has analysed."""
        async with self.ctx.session_factory() as session:
            return await analyses_service.analysed_videos(session, user_id=self.ctx.user_id)

    def _note_skipped(self, work: list[VideoWork], done: dict[str, tuple[str, str | None]]) -> None:
        """List the videos analysed by earlier jobs in the results, so the job page shows them."""
        for item in work:
            prior = done.get(item.video_id)
            if prior is not None and prior[1] != self.ctx.job_id:
                self.ctx.add_result(
                    {
                        "video_id": item.video_id,
                        "status": "skipped",
                        "analysis_id": prior[0],
                        "ad_ids": item.ad_ids,
                        "ad_names": item.ad_names,
                    }
                )

    async def _fetch_performance(self, graph: GraphClient, ads: list[tuple[str, Ad]]) -> None:
        """Store the ads' delivery figures; a failure here costs the figures, not the analysis."""
        if not ads:
            return
        await self.ctx.progress(ADS_AT + 3, "Fetching ad performance...")
        try:
            await performance.refresh_performance(
                self.ctx.session_factory,
                graph,
                settings=self.settings,
                user_id=self.ctx.user_id,
                ads=ads,
            )
        except AdAnalysisError as exc:
            log.info("job %s: ad performance not fetched: %s", self.ctx.job_id, exc.code)
            self.ctx.add_result(
                {
                    "status": "warning",
                    "stage": "performance",
                    "error": exc.message,
                    "code": exc.code,
                }
            )

    async def _reconcile_earlier_attempts(self) -> None:
        """Rebuild the job's results from the analyses it saved: the table is the truth.

        A crash can land between saving an analysis and writing the job row; failure notes of
        an earlier attempt are dropped because those videos are tried again.
        """
        async with self.ctx.session_factory() as session:
            rows = await analyses_service.analyses_of_job(
                session, user_id=self.ctx.user_id, job_id=self.ctx.job_id
            )
        saved = [_analysed_entry(row.video_id, row.id, row.ad_ids, row.ad_names) for row in rows]
        self.ctx.results = saved
        self.ctx.result_count = len(saved)

    async def _token(self) -> str:
        async with self.ctx.session_factory() as session:
            stored = await credentials.read_token(
                session, box=self.secrets, user_id=self.ctx.user_id
            )
        if stored is None:
            raise JobError(
                "Invalid Facebook access token. Please update your credentials.",
                code="facebook_credentials_missing",
            )
        return stored[0]

    def _accounts(self) -> list[str]:
        params = self.ctx.parameters
        accounts = params.get("account_ids") or [params["account_id"]]
        return [str(a) for a in accounts]

    async def _fetch_ads(self, graph: GraphClient, accounts: Sequence[str]) -> list[tuple[str, Ad]]:
        found: list[tuple[str, Ad]] = []
        for i, account in enumerate(accounts, start=1):
            suffix = f" ({i}/{len(accounts)} accounts)" if len(accounts) > 1 else ""
            await self.ctx.progress(
                ADS_AT + 3 * (i - 1) // len(accounts), f"Fetching Facebook ads{suffix}..."
            )
            ads = await graph.list_ads(account, statuses=self.settings.ad_effective_statuses)
            found.extend((account, ad) for ad in ads)
        return found

    @staticmethod
    def _videos_of(ads: list[tuple[str, Ad]]) -> list[VideoWork]:
        """One entry per video, listing every ad that uses it (a video can be in several ads)."""
        by_video: dict[str, VideoWork] = {}
        for account, ad in ads:
            for video_id in ad.video_ids:
                entry = by_video.setdefault(
                    video_id, VideoWork(video_id, account, thumbnail_url=ad.thumbnail_url)
                )
                entry.ad_ids.append(ad.id)
                entry.ad_names.append(ad.name)
        return list(by_video.values())

    async def _resolve_sources(self, graph: GraphClient, work: list[VideoWork]) -> list[VideoWork]:
        """Download URLs for each video, concurrently; a video without one is a warning."""
        await self.ctx.progress(URLS_AT, "Getting video URLs...")
        limit = asyncio.Semaphore(GRAPH_CONCURRENCY)
        resolved = 0

        async def resolve(item: VideoWork) -> None:
            nonlocal resolved
            async with limit:
                self.ctx.check_cancelled()
                try:
                    item.source = await graph.get_video(item.video_id)
                except AdAnalysisError as exc:
                    if exc.fatal:
                        raise
                    self._record_failure(item, exc)
            resolved += 1
            await self.ctx.progress(
                URLS_AT + (VIDEOS_AT - URLS_AT) * resolved // len(work),
                f"Getting video URLs ({resolved}/{len(work)})...",
            )

        await _gather_all(resolve(item) for item in work)
        return [item for item in work if item.source is not None]

    async def _process(self, work: list[VideoWork]) -> None:
        """Download, transcribe and analyse videos concurrently, each stage with its own limit."""
        s = self.settings
        in_flight = self._transcriptions_in_flight()
        stages = _Stages(
            download=asyncio.Semaphore(s.download_concurrency),
            transcribe=asyncio.Semaphore(in_flight),
            analyse=asyncio.Semaphore(s.analyze_concurrency),
            # Bounds the videos on disk at once: downloads must not run far ahead of transcription.
            on_disk=asyncio.Semaphore(s.download_concurrency + in_flight),
        )
        await self._report()
        tmp_root = s.data_dir / "tmp"
        # Only this runner owns the job now: what an interrupted attempt left is garbage.
        await asyncio.to_thread(workdirs.remove_job_workdirs, tmp_root, self.ctx.job_id)
        async with httpx.AsyncClient(timeout=s.download_timeout_seconds) as http:
            await _gather_all(self._one_video(item, stages, http, tmp_root) for item in work)

    def _transcriptions_in_flight(self) -> int:
        """Videos this job hands the transcriber at once."""
        transcriber = self.engines.transcriber
        if isinstance(transcriber, LocalWhisperTranscriber):
            # The pool bounds the CPU for the whole process and serves jobs in turn: its size
            # keeps every child busy when this job runs alone; more would only wait on disk.
            return transcriber.workers
        return self.settings.transcribe_concurrency  # OpenAI uploads: I/O-bound

    async def _one_video(
        self, item: VideoWork, stages: _Stages, http: httpx.AsyncClient, tmp_root: Path
    ) -> None:
        """The whole path of one video; a non-fatal error is recorded and the job goes on."""
        stage = "download"
        try:
            async with stages.on_disk:
                with workdirs.job_workdir(tmp_root, self.ctx.job_id) as workdir:
                    async with stages.download:
                        self.ctx.check_cancelled()
                        media_file = await self._download(item, http, workdir)
                    self.downloaded += 1
                    stage = "transcribe"
                    await self._report()
                    async with stages.transcribe:
                        self.ctx.check_cancelled()
                        transcript = await self.engines.transcriber.transcribe(media_file)
            self.transcribed += 1
            stage = "analyse"
            await self._report()
            async with stages.analyse:
                self.ctx.check_cancelled()
                insights = await self.engines.analyzer.analyze(
                    transcript,
                    ad_name=item.ad_names[0] if item.ad_names else None,
                    duration=_duration(item, transcript),
                )
            await self._save(item, transcript, insights.model_dump(mode="json"))
            self.analysed += 1
            await self._report()
        except AdAnalysisError as exc:
            if exc.fatal:
                raise
            self._record_failure(item, exc)
            log.debug("video %s failed while it was at the %s stage", item.video_id, stage)
            await self._report()

    async def _download(self, item: VideoWork, http: httpx.AsyncClient, workdir: Path) -> Path:
        """The file the transcriber takes: the video itself (local), or a small MP3 (OpenAI)."""
        assert item.source is not None
        video = workdir / "video.mp4"
        # A stalled CDN connection is often fine on the next try; other failures are final.
        retrying = AsyncRetrying(
            stop=stop_after_attempt(DOWNLOAD_ATTEMPTS),
            wait=wait_exponential_jitter(multiplier=0.5, max=5, jitter=0.5),
            retry=retry_if_exception_type(NetworkTimeoutError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await media.download_video(
                    http,
                    item.source.source,
                    video,
                    max_bytes=self.settings.max_video_bytes,
                    timeout=self.settings.download_timeout_seconds,
                )
        if self.engines.transcriber.name != "openai":
            return video  # the speech child decodes it with PyAV: no ffmpeg child needed
        ffmpeg = media.ffmpeg_executable(self.settings.ffmpeg_path)
        audio = await media.compress_audio_for_upload(video, workdir, ffmpeg=ffmpeg)
        video.unlink(missing_ok=True)  # the audio is all later stages need
        return audio

    async def _save(
        self, item: VideoWork, transcript: Transcript, insights: dict[str, Any]
    ) -> None:
        """Store one analysis at once, so a cancel, failure or crash keeps it."""
        source = item.source
        row = AdAnalysis(
            user_id=self.ctx.user_id,
            account_id=item.account_id,
            video_id=item.video_id,
            ad_ids=item.ad_ids,
            ad_names=item.ad_names,
            title=source.title if source else None,
            thumbnail_url=(source.picture if source else None) or item.thumbnail_url,
            duration_seconds=_duration(item, transcript),
            transcript=transcript.text,
            segments=[s.model_dump() for s in transcript.segments],
            language=transcript.language,
            insights=insights,
            transcriber=self.engines.transcriber.name,
            transcription_model=self.engines.transcriber.model,
            analyzer=self.engines.analyzer.name,
            analysis_model=self.engines.analyzer.model,
            job_id=self.ctx.job_id,
        )
        async with self.ctx.session_factory() as session:
            if not await analyses_service.save_analysis(session, analysis=row):
                return  # saved already, by an earlier attempt that died mid-commit
        self.ctx.add_result(
            _analysed_entry(item.video_id, row.id, item.ad_ids, item.ad_names), counts=True
        )

    def _record_failure(self, item: VideoWork, exc: AdAnalysisError) -> None:
        log.info("job %s: video %s failed: %s", self.ctx.job_id, item.video_id, exc.code)
        self.failures.append(exc)
        self.ctx.add_result(
            {
                "video_id": item.video_id,
                "status": "failed",
                "ad_ids": item.ad_ids,
                "ad_names": item.ad_names,
                "error": exc.message,
                "code": exc.code,
            }
        )

    async def _report(self) -> None:
        """Progress over overlapping stages, each weighted by its share of the work (VIDEO_SHARES).

        Counters hold successes; a failed video leaves the denominator, so progress stays where
        the work really is (a job whose every download failed stays near 50 %).
        """
        failed = len(self.failures)
        ok = self.total - failed
        if ok > 0:
            share = [
                min(1.0, done / ok) for done in (self.downloaded, self.transcribed, self.analysed)
            ]
            weighted = sum(w * part for w, part in zip(VIDEO_SHARES, share, strict=True))
            await self.ctx.progress(VIDEOS_AT + int(weighted), self._stage_message(failed))
        else:
            await self.ctx.progress(self.ctx.progress_pct, self._stage_message(failed))

    def _stage_message(self, failed: int) -> str:
        """The earliest stage not finished, counting failed videos as done with it."""
        for verb, done in (
            ("Downloading videos", self.downloaded),
            ("Transcribing videos", self.transcribed),
            ("Analyzing content", self.analysed),
        ):
            if done + failed < self.total:
                return f"{verb} ({done + failed}/{self.total})..."
        return f"Analyzing content ({self.total}/{self.total})..."

    def _outcome(self, skipped: int) -> JobOutcome:
        made = self.ctx.result_count
        failed = len(self.failures)
        # The job fails only when nothing of the account could be analysed, now or before.
        if failed and failed == self.total and not skipped:
            raise _all_failed(self.failures)
        message = f"Analysis completed successfully! Processed {plural(made, 'ad')}."
        if skipped:
            message += f" {plural(skipped, 'video')} analyzed before {_were(skipped)} skipped."
        if failed:
            message += f" {plural(failed, 'video')} could not be analyzed; see the job's results."
        return JobOutcome(message=message, result_count=made)


def _no_videos(ads: int) -> str:
    """The final message when there is no video to look at."""
    if not ads:
        return "Analysis completed successfully! No ads were found in this ad account."
    if ads == 1:
        return "Analysis completed successfully! The one ad found has no video."
    return f"Analysis completed successfully! None of the {ads} ads has a video."


def _were(n: int) -> str:
    return "was" if n == 1 else "were"


@dataclass
class _Stages:
    download: asyncio.Semaphore
    transcribe: asyncio.Semaphore
    analyse: asyncio.Semaphore
    on_disk: asyncio.Semaphore


def _analysed_entry(
    video_id: str, analysis_id: str, ad_ids: list[str], ad_names: list[str]
) -> dict[str, Any]:
    """The job-results entry of one saved analysis."""
    return {
        "video_id": video_id,
        "status": "analyzed",
        "analysis_id": analysis_id,
        "ad_ids": ad_ids,
        "ad_names": ad_names,
    }


def _duration(item: VideoWork, transcript: Transcript) -> float | None:
    if item.source is not None and item.source.length:
        return item.source.length
    return transcript.duration


def _all_failed(failures: list[AdAnalysisError]) -> JobError:
    """The job's error when no video could be analysed: the most common cause."""
    counts = Counter(f.message for f in failures)
    message, _ = counts.most_common(1)[0]
    first = next(f for f in failures if f.message == message)
    return JobError(message, code=first.code)


async def _gather_all(coros: Any) -> None:
    """Run coroutines together; the first fatal error cancels the rest and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            for coro in coros:
                group.create_task(coro)
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
