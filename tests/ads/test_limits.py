"""Shared external limits: Graph API pauses per ad account and the cap on OpenAI calls, in this
process (embedded) and in Redis across workers (real Redis)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from tests.conftest import make_settings

from adanalysis.ads.facebook import GraphClient
from adanalysis.ads.limits import (
    APP_BUDGET,
    LocalCallSlots,
    LocalGraphPauses,
    RedisCallSlots,
    RedisGraphPauses,
    budget_key,
    graph_pauses,
    openai_slots,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required at {REDIS_URL} in CI: {exc}")
        pytest.skip(f"Redis is not running at {REDIS_URL}")
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"adanalysis-test-{uuid.uuid4().hex}:"


def test_budget_is_the_ad_account_in_the_path() -> None:
    assert budget_key("/v25.0/act_123/ads") == "act_123"
    assert budget_key("/v25.0/act_123/insights") == "act_123"
    assert budget_key("/v25.0/987654321") == APP_BUDGET


async def test_local_pause_keeps_the_longer_one() -> None:
    pauses = LocalGraphPauses()
    await pauses.pause("act_1", 60)
    await pauses.pause("act_1", 5)
    assert 55 < await pauses.pause_left("act_1") <= 60
    assert await pauses.pause_left("act_2") == 0


async def test_a_pause_learnt_by_one_worker_holds_for_another(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    worker_a = RedisGraphPauses(lambda: redis_client, prefix=prefix)
    worker_b = RedisGraphPauses(lambda: redis_client, prefix=prefix)
    await worker_a.pause("act_1", 30)
    await worker_b.pause("act_1", 2)  # shorter: the longer pause stays
    assert 25 < await worker_b.pause_left("act_1") <= 30
    assert await worker_b.pause_left("act_2") == 0
    await redis_client.delete(f"{prefix}act_1")


async def test_openai_cap_holds_across_workers(redis_client: aioredis.Redis, prefix: str) -> None:
    key = f"{prefix}openai-slots"
    worker_a = RedisCallSlots(lambda: redis_client, key=key, cap=2, ttl_seconds=60)
    worker_b = RedisCallSlots(lambda: redis_client, key=key, cap=2, ttl_seconds=60)
    release = asyncio.Event()
    inside = 0
    most = 0

    async def call(slots: RedisCallSlots) -> None:
        nonlocal inside, most
        async with slots.slot():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(call(s)) for s in (worker_a, worker_b, worker_a, worker_b)]
    while inside < 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # the other two keep asking meanwhile
    assert inside == 2 and await redis_client.zcard(key) == 2
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert most == 2
    assert await redis_client.zcard(key) == 0


async def test_a_dead_holders_slot_expires(redis_client: aioredis.Redis, prefix: str) -> None:
    key = f"{prefix}openai-slots"
    dead = RedisCallSlots(lambda: redis_client, key=key, cap=1, ttl_seconds=0.3)
    assert await dead._acquire("never-released")
    alive = RedisCallSlots(lambda: redis_client, key=key, cap=1, ttl_seconds=0.3)
    async with asyncio.timeout(10):
        async with alive.slot():
            assert await redis_client.zcard(key) == 1
    await redis_client.delete(key)


async def test_local_slots_cap_calls_in_this_process() -> None:
    slots = LocalCallSlots(1)
    order: list[str] = []

    async def call(name: str) -> None:
        async with slots.slot():
            order.append(f"{name}+")
            await asyncio.sleep(0.01)
            order.append(f"{name}-")

    await asyncio.gather(call("a"), call("b"))
    assert order in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])


class Sleeps:
    """An injected sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _graph(handler: httpx.MockTransport, pauses: RedisGraphPauses, sleeps: Sleeps) -> GraphClient:
    return GraphClient(
        access_token="tok",
        base_url="http://graph",
        version="v25.0",
        transport=handler,
        sleep=sleeps,
        shared_pauses=pauses,
    )


async def test_usage_headers_seen_by_one_client_pause_another_on_the_same_account(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    usage = '{"act_1": [{"type": "ads_management", "call_count": 95, "estimated_time_to_regain_access": 2}]}'

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"x-business-use-case-usage": usage} if "busy" in request.url.path else {}
        return httpx.Response(200, json={"data": []}, headers=headers)

    transport = httpx.MockTransport(answer)
    pauses = RedisGraphPauses(lambda: redis_client, prefix=prefix)
    first, second = Sleeps(), Sleeps()
    async with _graph(transport, pauses, first) as graph:
        await graph._get("act_1/busy", {})
    async with _graph(transport, pauses, second) as graph:  # another job, another worker
        await graph._get("act_1/ads", {})
        await graph._get("act_2/ads", {})
    assert len(second.calls) == 1 and 60 < second.calls[0] <= 120  # act_1 only
    await redis_client.delete(f"{prefix}act_1")


def test_embedded_limits_are_local_and_scale_out_limits_are_in_redis(tmp_path: Path) -> None:
    embedded = make_settings("sqlite://", tmp_path)
    assert isinstance(graph_pauses(embedded), LocalGraphPauses)
    assert isinstance(openai_slots(embedded), LocalCallSlots)
    scaled = make_settings("sqlite://", tmp_path, executor="celery", redis_url=REDIS_URL)
    assert isinstance(graph_pauses(scaled), RedisGraphPauses)
    assert isinstance(openai_slots(scaled), RedisCallSlots)
