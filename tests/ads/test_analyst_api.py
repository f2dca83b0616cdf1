"""The analyst's API: job results, ads with performance, filters, sorts, CSV, connection check."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.ads.running import API, Running, start
from tests.conftest import SignedIn, make_settings, sign_up, wait_for_status

from adanalysis.ads.models import AdAnalysis, AdPerformance
from adanalysis.config import Settings
from adanalysis.db import utcnow
from adanalysis.jobs.events import job_topic
from adanalysis.jobs.models import BackgroundJob, JobStatus
from adanalysis.sandbox.graph import MISSING_SOURCE_VIDEO_ID
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig
from adanalysis.sandbox.samples import load_samples

PERIOD = "last_30d"


async def test_job_results_performance_and_rerun(openai_settings: Settings) -> None:
    """A job lists each video's outcome; ads get dated performance; a re-run lists skipped ones."""
    async with Running(openai_settings) as run:
        h = run.user.headers
        job_id = await start(run.client, run.user)
        job = await wait_for_status(run.client, job_id, h, {"completed", "failed"})
        assert job["status"] == "completed", job
        failed = [r for r in job["results"] if r["status"] == "failed"]
        assert [r["video_id"] for r in failed] == [MISSING_SOURCE_VIDEO_ID]
        assert failed[0]["ad_names"] == ["Removed video"]
        assert "no downloadable source" in failed[0]["error"]
        analysed = [r for r in job["results"] if r["status"] == "analyzed"]
        assert len(analysed) == len(load_samples()) and all(r["ad_names"] for r in analysed)

        ads = (await run.client.get(f"{API}/ads/", headers=h, params={"limit": 100})).json()
        assert len(ads) == 11, "every ACTIVE or PAUSED ad, with or without a video"
        by_name = {a["ad_name"]: a for a in ads}
        coffee = by_name["Brewly coffee - prospecting"]
        assert coffee["status"] == "ACTIVE" and coffee["period"] == PERIOD
        perf = coffee["performance"]
        assert perf["impressions"] > 1000 and perf["currency"] == "USD"
        assert perf["hook_rate"] == pytest.approx(perf["video_3s_plays"] / perf["impressions"])
        assert perf["hold_rate"] == pytest.approx(perf["thruplays"] / perf["impressions"])
        assert (
            coffee["analysis"]["hook_type"] and coffee["analysis"]["video_id"] == coffee["video_id"]
        )
        assert coffee["analysis"]["score"] is not None
        image = by_name["Spring sale - image only"]
        assert image["video_id"] is None and image["analysis"] is None
        assert image["performance"]["hook_rate"] is None
        # Two ads share the coffee video: the analysis sums their delivery.
        retarget = by_name["Brewly coffee - retargeting"]
        assert retarget["video_id"] == coffee["video_id"]
        analyses = (await run.client.get(f"{API}/", headers=h, params={"q": "SMART mug"})).json()
        assert len(analyses) == len(load_samples())
        assert (await run.client.get(f"{API}/", headers=h, params={"q": "zebra"})).json() == []
        summed = next(a for a in analyses if a["video_id"] == coffee["video_id"])["performance"]
        assert summed["impressions"] == perf["impressions"] + retarget["performance"]["impressions"]

        other_user = await sign_up(run.client)
        second = (await run.client.post(f"{API}/start-analysis/", headers=h)).json()["job_id"]
        again = await wait_for_status(run.client, second, h, {"completed", "failed"})
        statuses = [r["status"] for r in again["results"]]
        assert statuses.count("skipped") == len(load_samples())
        assert statuses.count("failed") == 1 and "analyzed" not in statuses
        skipped = next(r for r in again["results"] if r["status"] == "skipped")
        ok = await run.client.get(f"{API}/{skipped['analysis_id']}", headers=h)
        assert ok.status_code == 200 and ok.json()["performance"]["impressions"] > 0
        assert (
            await run.client.get(f"{API}/{skipped['analysis_id']}", headers=other_user.headers)
        ).status_code == 404
        history = (await run.client.get(f"{API}/jobs/", headers=h)).json()
        assert history[0]["result_summary"] == {"skipped": len(load_samples()), "failed": 1}
        assert history[1]["result_summary"] == {"analyzed": len(load_samples()), "failed": 1}
        assert "results" not in history[0]
        # Re-fetched, not duplicated: one row per ad and period.
        assert (
            len((await run.client.get(f"{API}/ads/", headers=h, params={"limit": 100})).json())
            == 11
        )

        other = await sign_up(run.client)
        assert (await run.client.get(f"{API}/ads/", headers=other.headers)).json() == []
        r = await run.client.get(
            f"{API}/ads/", headers=other.headers, params={"before": coffee["_id"]}
        )
        assert r.status_code == 404
        comparison = (await run.client.get(f"{API}/ads/comparison", headers=other.headers)).json()
        assert comparison["ads"] == [] and comparison["by_hook_type"] == []


async def test_progress_gives_the_video_stages_most_of_the_bar(
    openai_settings: Settings, fake_openai: tuple[FakeOpenAIConfig, str]
) -> None:
    """Listing ads and looking up URLs take a few percent; the bar is not at 50 % before work."""
    fake_openai[0].transcription_latency_seconds = 0.3
    async with Running(openai_settings) as run:
        job_id = await start(run.client, run.user)
        seen: list[tuple[int, str]] = []
        events = run.app.state.events
        async with events.subscribe(job_topic(job_id)) as queue, asyncio.timeout(120):
            while True:
                event = (await queue.get()).document
                seen.append((event.get("progress", 0), event.get("message") or ""))
                if event.get("status") in {"completed", "failed", "cancelled"}:
                    break
    before_videos = [
        p for p, m in seen if not m.startswith(("Downloading", "Transcribing", "Analyzing"))
    ]
    assert max(p for p, m in seen if m.startswith("Getting video URLs")) <= 20
    assert any(m == "Fetching ad performance..." for _, m in seen)
    first_download = next(p for p, m in seen if m.startswith("Downloading"))
    assert first_download <= 25, seen
    assert max(before_videos[:-2]) <= 20, seen
    assert seen[-1][0] == 100


async def _rows(
    session_factory: async_sessionmaker[AsyncSession], user_id: str, job_id: str
) -> list[AdAnalysis]:
    """Six analyses with known insights and performance, created a minute apart."""
    base = utcnow() - timedelta(hours=1)
    specs: list[dict[str, Any]] = [
        {"hook": "question", "score": 82, "offer": "50% off", "spend": 120.0, "rate": 0.36},
        {"hook": "command", "score": 41, "offer": None, "spend": 300.0, "rate": 0.22},
        {"hook": "question", "score": 67, "offer": "free trial", "spend": None, "rate": None},
        {"hook": "story", "score": 55, "offer": None, "spend": 80.5, "rate": 0.31},
        {
            "hook": "statistic",
            "score": None,
            "offer": '=HYPERLINK("x")',
            "spend": 10.0,
            "rate": 0.3,
        },
        {"hook": "bold_claim", "score": 90, "offer": "", "spend": 45.0, "rate": 0.27},
    ]
    rows = []
    async with session_factory() as session:
        for i, spec in enumerate(specs):
            row = AdAnalysis(
                user_id=user_id,
                account_id="act_1" if i < 4 else "act_2",
                video_id=f"v{i}",
                ad_ids=[f"ad{i}"],
                ad_names=[f"Ad {i}"],
                title=f"Video {i}",
                duration_seconds=15.0,
                transcript=f"Spoken words number {i}. " + ("coffee beans" if i % 2 == 0 else "tea"),
                segments=[],
                language="en",
                insights={
                    "hook": {"text": f"-hook {i}", "type": spec["hook"]},
                    "score": spec["score"],
                    "offer": spec["offer"],
                    "call_to_action": {"text": "Shop now", "timestamp_seconds": 10.0 + i},
                    "emotional_tone": {"label": "positive", "score": -0.2},
                    "words_per_minute": 150.0 + i,
                    "strengths": ["clear", "short"],
                    "evidence": [{"quote": "buy", "timestamp_seconds": 3.5}],
                },
                transcriber="openai",
                transcription_model="whisper-1",
                analyzer="openai",
                analysis_model="gpt",
                job_id=job_id if i % 2 == 0 else None,
                created_at=base + timedelta(minutes=i),
            )
            session.add(row)
            if spec["spend"] is not None:
                impressions = 10_000
                session.add(
                    AdPerformance(
                        user_id=user_id,
                        account_id=row.account_id,
                        ad_id=f"ad{i}",
                        ad_name=f"Ad {i}",
                        effective_status="ACTIVE",
                        video_id=f"v{i}",
                        video_ids=[f"v{i}"],
                        period=PERIOD,
                        spend=spec["spend"],
                        impressions=impressions,
                        clicks=100 + i,
                        ctr=1.0,
                        video_3s_plays=round(impressions * spec["rate"]),
                        thruplays=1000,
                        hook_rate=spec["rate"],
                        hold_rate=0.1,
                    )
                )
            rows.append(row)
        await session.commit()
    return rows


def _ids(body: list[dict[str, Any]]) -> list[str]:
    return [a["video_id"] for a in body]


async def _all_pages(
    client: httpx.AsyncClient, user: SignedIn, path: str, **params: Any
) -> list[Any]:
    """Every page of a list, following X-Next-Before with pages of 2."""
    found: list[Any] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"before": cursor} if cursor else {})}
        r = await client.get(path, headers=user.headers, params=query)
        assert r.status_code == 200, r.text
        found += r.json()
        cursor = r.headers.get("x-next-before")
        if not cursor:
            return found


async def test_filters_sorts_and_pages(
    client: httpx.AsyncClient,
    user: SignedIn,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Each filter narrows, each sort orders (nulls last), and pages join up without gaps."""
    job_id = "a" * 24
    await _rows(session_factory, user.user_id, job_id)

    async def ids(**params: Any) -> list[str]:
        r = await client.get(f"{API}/", headers=user.headers, params={"limit": 100, **params})
        assert r.status_code == 200, r.text
        return _ids(r.json())

    assert await ids() == ["v5", "v4", "v3", "v2", "v1", "v0"]
    assert await ids(account_id="2") == ["v5", "v4"]
    assert await ids(job_id=job_id) == ["v4", "v2", "v0"]
    assert await ids(hook_type="question") == ["v2", "v0"]
    assert await ids(min_score=60) == ["v5", "v2", "v0"]
    assert await ids(min_score=50, max_score=70) == ["v3", "v2"]
    assert await ids(has_offer=True) == ["v4", "v2", "v0"]
    assert await ids(has_offer=False) == ["v5", "v3", "v1"]
    assert await ids(q="COFFEE") == ["v4", "v2", "v0"]
    assert await ids(q="100%") == []
    assert await ids(hook_type="question", has_offer=True, q="coffee") == ["v2", "v0"]
    assert await ids(sort="score") == ["v5", "v0", "v2", "v3", "v1", "v4"]
    assert await ids(sort="score", order="asc") == ["v1", "v3", "v2", "v0", "v5", "v4"]
    assert await ids(sort="spend") == ["v1", "v0", "v3", "v5", "v4", "v2"]
    assert await ids(sort="hook_rate") == ["v0", "v3", "v4", "v5", "v1", "v2"]
    assert await ids(sort="date", order="asc") == ["v0", "v1", "v2", "v3", "v4", "v5"]
    for sort in ("date", "score", "spend", "hook_rate"):
        for order in ("desc", "asc"):
            paged = _ids(await _all_pages(client, user, f"{API}/", sort=sort, order=order))
            assert paged == await ids(sort=sort, order=order), (sort, order)
    ads = await _all_pages(client, user, f"{API}/ads/", sort="spend")
    assert [a["ad_id"] for a in ads] == ["ad1", "ad0", "ad3", "ad5", "ad4"]
    ads = await _all_pages(client, user, f"{API}/ads/", sort="score", has_offer="true")
    assert [a["ad_id"] for a in ads] == ["ad0", "ad4"]
    ads = await _all_pages(client, user, f"{API}/ads/", account_id="act_2", sort="hook_rate")
    assert [a["ad_id"] for a in ads] == ["ad4", "ad5"]
    first = ads[0]
    assert first["analysis"]["words_per_minute"] == 154.0
    assert first["analysis"]["cta_seconds"] == 14.0
    assert first["performance"]["ctr"] == pytest.approx(104 / 10_000 * 100)

    comparison = (await client.get(f"{API}/ads/comparison", headers=user.headers)).json()
    assert len(comparison["ads"]) == 5
    groups = comparison["by_hook_type"]
    assert groups[0]["hook_type"] == "question"
    assert [g["hook_rate"] for g in groups] == sorted(
        [g["hook_rate"] for g in groups], reverse=True
    )

    for bad in (
        {"hook_type": "shouting"},
        {"min_score": 101},
        {"sort": "random"},
        {"order": "up"},
        {"account_id": "act_x"},
        {"format": "xml"},
    ):
        r = await client.get(f"{API}/", headers=user.headers, params=bad)
        assert r.status_code == 422, (bad, r.text)
    # A range that cannot match is a valid question with an empty answer, not an error.
    assert await ids(min_score=70, max_score=20) == []


async def test_csv_export_streams_every_field_guarded(
    client: httpx.AsyncClient,
    user: SignedIn,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The current view as CSV: all rows (not one page), transcript, insights, no formulas."""
    await _rows(session_factory, user.user_id, "b" * 24)
    r = await client.get(
        f"{API}/",
        headers={**user.headers, "Accept": "text/csv"},
        params={"sort": "score", "limit": 1, "account_id": "act_1"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [row["video_id"] for row in table] == ["v0", "v2", "v3", "v1"]
    row = table[0]
    for column in (
        "transcript",
        "hook.text",
        "hook.type",
        "score",
        "offer",
        "call_to_action.timestamp_seconds",
        "emotional_tone.score",
        "words_per_minute",
        "strengths",
        "evidence",
        "score_reasons",
        "brand_first_mention_seconds",
        "spend",
        "hook_rate",
        "hold_rate",
    ):
        assert column in row, column
    assert row["transcript"].startswith("Spoken words number 0")
    assert row["hook.text"] == "'-hook 0", "a leading minus could start a formula"
    assert row["emotional_tone.score"] == "-0.2", "numbers are left as numbers"
    assert row["strengths"] == "clear | short"
    assert row["evidence"] == "buy (3.5 s)"
    assert float(row["hook_rate"]) == pytest.approx(0.36)

    r = await client.get(f"{API}/", headers=user.headers, params={"format": "csv", "q": "tea"})
    table = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [row["video_id"] for row in table] == ["v5", "v3", "v1"]
    r = await client.get(
        f"{API}/", headers=user.headers, params={"format": "csv", "hook_type": "statistic"}
    )
    (row,) = csv.DictReader(io.StringIO(r.text.lstrip("\ufeff")))
    assert row["offer"] == '\'=HYPERLINK("x")'

    r = await client.get(
        f"{API}/ads/", headers=user.headers, params={"format": "csv", "sort": "spend"}
    )
    ads = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [a["ad_id"] for a in ads] == ["ad1", "ad0", "ad3", "ad5", "ad4"]
    assert ads[0]["transcript"] and ads[0]["status"] == "ACTIVE" and ads[0]["spend"] == "300.0"

    other = await sign_up(client)
    r = await client.get(f"{API}/", headers=other.headers, params={"format": "csv"})
    assert r.text.lstrip("\ufeff").strip().count("\n") == 0, "only the header for another user"
    assert (await client.get(f"{API}/", params={"format": "csv"})).status_code == 401


@pytest.fixture
def checked_settings(database_url: str, tmp_path: Path, graph_url: str) -> Settings:
    return make_settings(
        database_url, tmp_path / "data", graph_api_url=graph_url, validate_credentials=True
    )


@pytest.mark.parametrize(
    ("token", "account", "status", "words"),
    [
        ("sandbox", "1234567890", 200, None),
        ("sandbox-expired", "act_1234567890", 400, "did not accept this access token"),
        ("made-up-token", "act_1234567890", 400, "did not accept this access token"),
        ("sandbox", "act_123", 400, "no ad account act_123"),
        ("sandbox-no-permission", "act_1234567890", 400, "ads_read permission"),
        ("sandbox-rate-limited", "act_1234567890", 503, "try again in 15 minutes"),
    ],
)
async def test_connection_is_checked_when_saved(
    checked_settings: Settings, token: str, account: str, status: int, words: str | None
) -> None:
    """Saving asks Facebook; a bad token or account is refused in a sentence and not saved."""
    async with Running(checked_settings) as run:
        r = await run.client.put(
            f"{API}/credentials",
            headers=run.user.headers,
            json={"access_token": token, "account_id": account},
        )
        assert r.status_code == status, r.text
        saved = await run.client.get(f"{API}/credentials", headers=run.user.headers)
        if words is None:
            body = r.json()
            assert body["account_id"] == "act_1234567890"
            assert body["account_name"] == "Brewly & Friends (sandbox)"
            assert body["account_currency"] == "USD" and body["account_status"] == "ACTIVE"
            assert saved.json()["account_name"] == body["account_name"]
        else:
            detail = r.json()["detail"]
            assert words in detail and "/api/" not in detail
            assert token not in detail or token == "sandbox"
            assert saved.status_code == 404


async def test_estimate_comes_from_the_users_past_jobs(
    client: httpx.AsyncClient,
    user: SignedIn,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Per video and per engine: 2 videos to retry at 20 s each plus the 4 s fixed part."""
    now = utcnow()
    async with session_factory() as session:
        # A first run: 10 videos (8 analysed, 2 failed) in 204 s with the local engine.
        first = BackgroundJob(
            user_id=user.user_id,
            job_type="ad_analysis",
            status=JobStatus.COMPLETED,
            parameters={"account_id": "act_1234567890"},
            results=[{"status": "analyzed"}] * 8 + [{"status": "failed"}] * 2,
            actual_duration_seconds=204,
            created_at=now - timedelta(hours=2),
        )
        # A run on another account with nothing new to analyse took 4 s: the fixed part.
        rerun = BackgroundJob(
            user_id=user.user_id,
            job_type="ad_analysis",
            status=JobStatus.COMPLETED,
            parameters={"account_id": "act_999"},
            results=[{"status": "skipped"}] * 5,
            actual_duration_seconds=4,
            created_at=now - timedelta(hours=1),
        )
        session.add_all([first, rerun])
        await session.flush()
        for i in range(8):
            session.add(
                AdAnalysis(
                    user_id=user.user_id,
                    account_id="act_1234567890",
                    video_id=f"v{i}",
                    insights={},
                    transcriber="local",
                    transcription_model="base",
                    analyzer="heuristic",
                    analysis_model="rules",
                    job_id=first.id,
                )
            )
        await session.commit()
    await client.put(
        f"{API}/credentials",
        headers=user.headers,
        json={"access_token": "sandbox", "account_id": "act_1234567890"},
    )
    r = await client.post(f"{API}/start-analysis/", headers=user.headers)
    assert r.status_code == 202
    # 4 s fixed + (204 - 4) / 10 = 20 s per video x (10 listed - 8 analysed) = 44 s.
    assert r.json()["estimated_duration_seconds"] == 44
    job = (await client.get(f"{API}/job-status/{r.json()['job_id']}", headers=user.headers)).json()
    assert job["estimated_duration_seconds"] == 44


async def test_app_pages_serve_the_web_app(client: httpx.AsyncClient) -> None:
    """Reloading /jobs/<id> or /ads gets the app; the API, docs and health stay themselves."""
    for path in ("/", "/jobs/" + "a" * 24, "/ads", "/compare", "/history", "/connection"):
        r = await client.get(path)
        assert r.status_code == 200 and '<div id="root">' in r.text, path
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/jobs")).status_code == 404
