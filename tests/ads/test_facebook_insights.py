"""The Graph client's insights edge and account node, against the in-process sandbox."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from tests.ads.test_facebook import Sleeps

from adanalysis.ads.errors import (
    FacebookAuthError,
    FacebookError,
    FacebookPermissionError,
    FacebookRateLimitError,
)
from adanalysis.ads.facebook import GraphClient, Period
from adanalysis.sandbox import SANDBOX_TOKEN, SandboxConfig, create_graph_sandbox
from adanalysis.sandbox.graph import SECOND_ACCOUNT_ID
from adanalysis.sandbox.samples import load_samples

ACCOUNT = "act_1234567890"


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(sleeps: Sleeps) -> Callable[..., GraphClient]:
    def make(token: str = SANDBOX_TOKEN, **kwargs: object) -> GraphClient:
        return GraphClient(
            access_token=token,
            base_url="http://sandbox",
            version="v25.0",
            transport=httpx.ASGITransport(app=create_graph_sandbox(SandboxConfig())),
            sleep=sleeps,
            **kwargs,  # type: ignore[arg-type]
        )

    return make


async def test_account_node(make_client: Callable[..., GraphClient]) -> None:
    """Name, currency and status in words, with or without the act_ prefix."""
    async with make_client() as graph:
        info = await graph.get_account("1234567890")
        second = await graph.get_account(SECOND_ACCOUNT_ID)
    assert info.id == ACCOUNT and info.currency == "USD" and info.status == "ACTIVE"
    assert info.name and "sandbox" in info.name
    assert second.currency == "EUR"


async def test_unknown_account_node(make_client: Callable[..., GraphClient]) -> None:
    async with make_client() as graph:
        with pytest.raises(FacebookError):
            await graph.get_account("act_999")


async def test_insights_every_delivering_ad_in_one_paged_edge(
    make_client: Callable[..., GraphClient],
) -> None:
    """Every ACTIVE/PAUSED ad has a row over three pages of 5; rates are believable."""
    async with make_client(page_size=5) as graph:
        rows = await graph.ad_insights(ACCOUNT, period=Period())
        again = await graph.ad_insights(ACCOUNT, period=Period())
    assert len(rows) == 11 and len({r.ad_id for r in rows}) == 11
    assert rows == again, "the sandbox's figures are deterministic"
    video_rows = [r for r in rows if r.video_3s_plays is not None]
    assert len(video_rows) == 10, "the image-only ad has no video plays"
    for row in video_rows:
        assert row.impressions and row.impressions > 1000
        assert row.hook_rate is not None and 0.05 < row.hook_rate < 0.5
        assert row.hold_rate is not None and 0 < row.hold_rate < row.hook_rate
        assert row.ctr is not None and 0.5 < row.ctr < 3
        assert row.spend is not None and row.spend > 0 and row.currency == "USD"
        assert row.date_start and row.date_stop and row.date_start < row.date_stop


async def test_insights_time_range_scales_with_days(
    make_client: Callable[..., GraphClient],
) -> None:
    async with make_client() as graph:
        week = await graph.ad_insights(
            ACCOUNT, period=Period(since="2025-05-01", until="2025-05-07")
        )
        month = await graph.ad_insights(
            ACCOUNT, period=Period(since="2025-05-01", until="2025-05-30")
        )
    assert week[0].date_start == "2025-05-01" and week[0].date_stop == "2025-05-07"
    assert sum(r.impressions or 0 for r in month) > 3 * sum(r.impressions or 0 for r in week)


async def test_question_hooks_hold_better_in_the_sandbox(
    make_client: Callable[..., GraphClient],
) -> None:
    """The sandbox has a pattern to find: the question hook out-hooks the command hook."""
    async with make_client() as graph:
        rows = {r.ad_name: r for r in await graph.ad_insights(ACCOUNT, period=Period())}
    question = rows["Brewly coffee - prospecting"].hook_rate
    command = rows["FreshBox meal kits"].hook_rate
    assert question is not None and command is not None and question > command
    assert {s.video_id: s for s in load_samples()}["1200000000000001"].hook_type == "question"


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("sandbox-expired", FacebookAuthError),
        ("sandbox-no-permission", FacebookPermissionError),
        ("sandbox-rate-limited", FacebookRateLimitError),
        ("not-a-token", FacebookAuthError),
    ],
)
async def test_fault_tokens_apply_to_insights(
    make_client: Callable[..., GraphClient], token: str, error: type[Exception]
) -> None:
    async with make_client(token) as graph:
        with pytest.raises(error):
            await graph.ad_insights(ACCOUNT, period=Period())


async def test_flaky_insights_are_retried(
    make_client: Callable[..., GraphClient], sleeps: Sleeps
) -> None:
    async with make_client("sandbox-flaky") as graph:
        rows = await graph.ad_insights(ACCOUNT, period=Period())
    assert len(rows) == 11 and len(sleeps.calls) == 2


async def test_throttled_usage_slows_the_insights_calls(
    make_client: Callable[..., GraphClient], sleeps: Sleeps
) -> None:
    """The usage headers of the insights pages count: a nearly spent quota pauses the next call."""
    async with make_client("sandbox-throttled", page_size=5) as graph:
        await graph.ad_insights(ACCOUNT, period=Period())
    assert len(sleeps.calls) == 2 and all(s > 0 for s in sleeps.calls), sleeps.calls


async def test_rate_limit_on_insights_names_the_wait(
    make_client: Callable[..., GraphClient],
) -> None:
    async with make_client("sandbox-rate-limited") as graph:
        with pytest.raises(FacebookRateLimitError) as info:
            await graph.ad_insights(ACCOUNT, period=Period())
    assert "15 minutes" in info.value.message
