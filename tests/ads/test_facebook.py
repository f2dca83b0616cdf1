"""GraphClient against the in-process Graph API sandbox."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from adanalysis.ads.errors import (
    FacebookAuthError,
    FacebookNotFoundError,
    FacebookPermissionError,
    FacebookRateLimitError,
    FacebookTransientError,
    VideoUnavailableError,
)
from adanalysis.ads.facebook import GraphClient, extract_video_ids, parse_usage, rate_limit_error
from adanalysis.config import Settings
from adanalysis.sandbox import SANDBOX_TOKEN, SandboxConfig, create_graph_sandbox, load_samples
from adanalysis.sandbox.graph import MISSING_SOURCE_VIDEO_ID

ACCOUNT = "act_1234567890"
ACTIVE_PAUSED = ["ACTIVE", "PAUSED"]
SAMPLE_IDS = [s.video_id for s in load_samples()]


class Sleeps:
    """An injected sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(sleeps: Sleeps) -> Callable[..., GraphClient]:
    def make(
        token: str = SANDBOX_TOKEN,
        config: SandboxConfig | None = None,
        **kwargs: object,
    ) -> GraphClient:
        transport = httpx.ASGITransport(app=create_graph_sandbox(config))
        return GraphClient(
            access_token=token,
            base_url="http://sandbox",
            version="v25.0",
            transport=transport,
            sleep=sleeps,
            **kwargs,  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
async def client(make_client: Callable[..., GraphClient]) -> AsyncIterator[GraphClient]:
    async with make_client() as graph:
        yield graph


def test_extract_video_ids_from_every_place() -> None:
    creative = {
        "video_id": "1",
        "object_story_spec": {"video_data": {"video_id": "2"}},
        "asset_feed_spec": {"videos": [{"video_id": "3"}, {"video_id": "1"}, {"video_id": "4"}]},
    }
    assert extract_video_ids(creative) == ("1", "2", "3", "4")
    assert extract_video_ids({"object_story_spec": {"link_data": {"image_hash": "x"}}}) == ()
    assert extract_video_ids({}) == ()


async def test_list_ads_active_and_paused(client: GraphClient) -> None:
    ads = await client.list_ads(ACCOUNT, statuses=ACTIVE_PAUSED)
    by_name = {ad.name: ad for ad in ads}
    assert {ad.effective_status for ad in ads} == {"ACTIVE", "PAUSED"}
    assert len(ads) == 11
    assert by_name["Brewly coffee - prospecting"].video_ids == (SAMPLE_IDS[0],)
    assert by_name["Brewly coffee - retargeting"].video_ids == (SAMPLE_IDS[0],)
    assert by_name["SmileSonic toothbrush"].video_ids == (SAMPLE_IDS[1],)  # object_story_spec
    assert by_name["Shoes and insoles - dynamic creative"].video_ids == (
        SAMPLE_IDS[2],
        SAMPLE_IDS[3],
    )  # asset_feed_spec
    assert by_name["Natural skin care"].video_ids == (SAMPLE_IDS[6],)  # both places, once
    assert by_name["Spring sale - image only"].video_ids == ()
    assert by_name["Budget app story"].effective_status == "PAUSED"
    all_videos = {v for ad in ads for v in ad.video_ids}
    assert set(SAMPLE_IDS) <= all_videos
    assert all(ad.thumbnail_url and ad.created_time for ad in ads)


async def test_status_filter(client: GraphClient) -> None:
    active = await client.list_ads(ACCOUNT, statuses=["ACTIVE"])
    assert len(active) == 10 and {ad.effective_status for ad in active} == {"ACTIVE"}
    gone = await client.list_ads("1234567890", statuses=["ARCHIVED", "DELETED"])
    assert sorted(ad.effective_status for ad in gone) == ["ARCHIVED", "DELETED"]


async def test_paging_follows_empty_page(make_client: Callable[..., GraphClient]) -> None:
    calls: list[httpx.Request] = []
    config = SandboxConfig(page_size=3, extra_ads=40)
    transport = httpx.ASGITransport(app=create_graph_sandbox(config))

    async def record(request: httpx.Request) -> None:
        calls.append(request)

    graph = GraphClient(
        access_token="sandbox", base_url="http://sandbox", version="v25.0", transport=transport
    )
    graph._http.event_hooks["request"].append(record)
    async with graph:
        ads = await graph.list_ads(ACCOUNT, statuses=["ACTIVE"])
    assert len(ads) == 50
    assert len({ad.id for ad in ads}) == 50
    assert len(calls) == 17 + 1  # 17 pages of 3, plus the empty page before the last
    synthetic = {v for ad in ads if ad.name.startswith("Synthetic") for v in ad.video_ids}
    assert len(synthetic) == 40


async def test_page_size_sent_as_limit(make_client: Callable[..., GraphClient]) -> None:
    async with make_client(page_size=2) as graph:
        ads = await graph.list_ads(ACCOUNT, statuses=ACTIVE_PAUSED)
    assert len(ads) == 11


async def test_get_video_and_download(client: GraphClient) -> None:
    sample = load_samples()[0]
    video = await client.get_video(sample.video_id)
    assert video.video_id == sample.video_id
    assert video.length == pytest.approx(sample.duration_seconds)
    assert video.title == sample.title
    assert video.picture
    response = await client._http.get(video.source)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.content == sample.path.read_bytes()


async def test_video_without_source_is_unavailable(client: GraphClient) -> None:
    with pytest.raises(VideoUnavailableError) as info:
        await client.get_video(MISSING_SOURCE_VIDEO_ID)
    assert info.value.fatal is False
    with pytest.raises(VideoUnavailableError):
        await client.get_video("999")


async def test_unknown_account(client: GraphClient) -> None:
    """Graph's 100/33 ('does not exist or missing permissions') is the user's to fix."""
    with pytest.raises(FacebookNotFoundError) as info:
        await client.list_ads("act_42", statuses=ACTIVE_PAUSED)
    assert "Check the ad account id" in info.value.message
    assert info.value.code == "facebook_object_not_found"


@pytest.mark.parametrize("token", ["sandbox-expired", "garbage-token"])
async def test_bad_tokens(make_client: Callable[..., GraphClient], token: str) -> None:
    async with make_client(token) as graph:
        with pytest.raises(FacebookAuthError) as info:
            await graph.list_ads(ACCOUNT, statuses=ACTIVE_PAUSED)
        with pytest.raises(FacebookAuthError):
            await graph.get_video(SAMPLE_IDS[0])
    assert info.value.message == "Invalid Facebook access token. Please update your credentials."


async def test_no_permission(make_client: Callable[..., GraphClient]) -> None:
    async with make_client("sandbox-no-permission") as graph:
        with pytest.raises(FacebookPermissionError) as info:
            await graph.list_ads(ACCOUNT, statuses=ACTIVE_PAUSED)
    assert info.value.message == (
        "Your Facebook token is missing the ads_read permission. "
        "Please reconnect Facebook and grant it."
    )


async def test_rate_limited(make_client: Callable[..., GraphClient], sleeps: Sleeps) -> None:
    async with make_client("sandbox-rate-limited") as graph:
        with pytest.raises(FacebookRateLimitError) as info:
            await graph.list_ads(ACCOUNT, statuses=ACTIVE_PAUSED)
        with pytest.raises(FacebookRateLimitError):
            await graph.get_video(SAMPLE_IDS[0])
    assert info.value.message == (
        "Facebook API rate limit exceeded. Please try again in 15 minutes."
    )
    assert info.value.retry_after_seconds == 15 * 60


def test_rate_limit_default_wording() -> None:
    error = rate_limit_error(parse_usage(httpx.Headers()))
    assert error.message == "Facebook API rate limit exceeded. Please try again in 1 hour."
    assert error.retry_after_seconds == 3600


async def test_flaky_succeeds_after_retries(
    make_client: Callable[..., GraphClient], sleeps: Sleeps
) -> None:
    async with make_client("sandbox-flaky") as graph:
        ads = await graph.list_ads(ACCOUNT, statuses=ACTIVE_PAUSED)
        video = await graph.get_video(SAMPLE_IDS[0])
    assert len(ads) == 11 and video.source
    assert len(sleeps.calls) == 4  # two failures on the ads path, two on the video path
    assert all(0 < s <= 31 for s in sleeps.calls)


async def test_flaky_gives_up(make_client: Callable[..., GraphClient], sleeps: Sleeps) -> None:
    async with make_client("sandbox-flaky", max_retries=1) as graph:
        with pytest.raises(FacebookTransientError) as info:
            await graph.get_video(SAMPLE_IDS[0])
    assert info.value.message == "Network timeout while contacting Facebook. Please try again."
    assert len(sleeps.calls) == 1


async def test_network_errors_are_retried(sleeps: Sleeps) -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectTimeout("timed out", request=request)

    graph = GraphClient(
        access_token="t",
        base_url="http://sandbox",
        version="v25.0",
        max_retries=3,
        transport=httpx.MockTransport(handler),
        sleep=sleeps,
    )
    async with graph:
        with pytest.raises(FacebookTransientError):
            await graph.get_video("1")
    assert attempts == 4 and len(sleeps.calls) == 3


async def test_throttled_usage_slows_down(
    make_client: Callable[..., GraphClient], sleeps: Sleeps
) -> None:
    async with make_client("sandbox-throttled", config=SandboxConfig(page_size=5)) as graph:
        ads = await graph.list_ads(ACCOUNT, statuses=ACTIVE_PAUSED)
        await graph.get_video(SAMPLE_IDS[0])
    assert len(ads) == 11
    # 4 ads pages (5 + 5 + empty + 1) and a video: a 60 s pause before each call after the first.
    assert sleeps.calls == [60.0] * 4


async def test_token_never_logged(
    make_client: Callable[..., GraphClient], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sandbox-flaky"
    caplog.set_level(logging.DEBUG)
    async with make_client(secret, config=SandboxConfig(page_size=4)) as graph:
        await graph.list_ads(ACCOUNT, statuses=ACTIVE_PAUSED)
        await graph.get_video(SAMPLE_IDS[0])
    async with make_client("sandbox-throttled-secret-xyz") as graph:
        with pytest.raises(FacebookAuthError):
            await graph.list_ads(ACCOUNT, statuses=ACTIVE_PAUSED)
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log URLs
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in text
    assert "secret-xyz" not in text


async def test_next_url_token_is_stripped(sleeps: Sleeps) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if "after" in request.url.params:
            return httpx.Response(200, json={"data": [], "paging": {}})
        next_url = "http://sandbox/v25.0/act_1/ads?access_token=leak&after=abc&limit=2"
        return httpx.Response(200, json={"data": [], "paging": {"next": next_url}})

    graph = GraphClient(
        access_token="t",
        base_url="http://sandbox",
        version="v25.0",
        transport=httpx.MockTransport(handler),
        sleep=sleeps,
    )
    async with graph:
        assert await graph.list_ads("1", statuses=["ACTIVE"]) == []
    assert len(seen) == 2 and "leak" not in seen[1] and "after=abc" in seen[1]


def test_from_settings() -> None:
    settings = Settings(graph_api_url="http://example/graph", graph_max_retries=2)
    graph = GraphClient.from_settings(settings, access_token="t")
    assert graph._max_retries == 2
    assert str(graph._http.base_url) == "http://example/graph/"


async def test_long_regain_time_fails_instead_of_sleeping() -> None:
    """Usage near the limit with a long regain estimate ends the job with that estimate, unslept."""
    usage = '{"1": [{"type": "ads_management", "call_count": 96, "estimated_time_to_regain_access": 30}]}'
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        body = {"data": [], "paging": {"next": "https://graph.example/v25.0/act_1/ads?after=x"}}
        return httpx.Response(200, json=body, headers={"X-Business-Use-Case-Usage": usage})

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    graph = GraphClient(
        access_token="t",
        base_url="https://graph.example",
        version="v25.0",
        transport=httpx.MockTransport(answer),
        sleep=sleep,
    )
    async with graph:
        with pytest.raises(FacebookRateLimitError) as err:
            await graph.list_ads("act_1", statuses=["ACTIVE"])
    assert err.value.message == "Facebook API rate limit exceeded. Please try again in 30 minutes."
    assert len(calls) == 1 and slept == []
