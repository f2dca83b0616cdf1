"""The Graph API sandbox app and its bundled sample videos."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from adanalysis.sandbox import SandboxConfig, create_graph_sandbox, load_samples
from adanalysis.sandbox.graph import MISSING_SOURCE_VIDEO_ID
from adanalysis.sandbox.samples import HOOK_TYPES, SAMPLES_DIR

ADS = "/v25.0/act_1234567890/ads"
USAGE_HEADERS = ("x-app-usage", "x-ad-account-usage", "x-business-use-case-usage")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_graph_sandbox(SandboxConfig(page_size=4))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as client:
        yield client


def test_samples_exist_small_and_catalog_consistent() -> None:
    samples = load_samples()
    assert len(samples) >= 8
    assert len({s.video_id for s in samples}) == len(samples)
    assert {s.hook_type for s in samples} >= HOOK_TYPES - {"other"}
    assert len({s.cta for s in samples}) >= 6
    assert sum(s.offer is not None for s in samples) >= 4
    for sample in samples:
        assert sample.path.is_file(), sample.file
        assert sample.path.stat().st_size < 300 * 1024
        assert sample.hook_type in HOOK_TYPES
        assert 3 <= len(sample.keywords) <= 4
        assert all(k == k.lower() and k in sample.script.lower() for k in sample.keywords)
        assert sample.cta.lower() in sample.script.lower()
        assert 6 <= sample.duration_seconds <= 17
    listed = {
        entry["file"] for entry in json.loads((SAMPLES_DIR / "catalog.json").read_text())["samples"]
    }
    assert listed == {p.name for p in SAMPLES_DIR.glob("*.mp4")}


async def test_usage_headers_on_every_response(http: httpx.AsyncClient) -> None:
    for response in (
        await http.get(ADS, params={"access_token": "sandbox"}),
        await http.get(ADS, params={"access_token": "nope"}),
        await http.get(f"/videos/{load_samples()[0].video_id}.mp4"),
    ):
        for header in USAGE_HEADERS:
            assert header in response.headers
    buc = json.loads(response.headers["x-business-use-case-usage"])
    entry = buc["1234567890"][0]
    assert entry["type"] == "ads_management" and entry["estimated_time_to_regain_access"] == 0
    assert json.loads(response.headers["x-ad-account-usage"])["acc_id_util_pct"] < 10
    assert set(json.loads(response.headers["x-app-usage"])) == {
        "call_count",
        "total_cputime",
        "total_time",
    }


async def test_paging_has_empty_page_with_next(http: httpx.AsyncClient) -> None:
    params = {
        "fields": "id,name,effective_status",
        "effective_status": '["ACTIVE","PAUSED"]',
    }
    response = await http.get(ADS, params=params, headers={"Authorization": "Bearer sandbox"})
    sizes = []
    while True:
        body = response.json()
        sizes.append(len(body["data"]))
        assert all(set(ad) == {"id", "name", "effective_status"} for ad in body["data"])
        if "next" not in body["paging"]:
            break
        assert body["paging"]["next"].startswith("http://sandbox/v25.0/act_1234567890/ads?")
        response = await http.get(
            body["paging"]["next"], headers={"Authorization": "Bearer sandbox"}
        )
    assert sizes == [4, 4, 0, 3]


async def test_limit_is_honoured(http: httpx.AsyncClient) -> None:
    body = (await http.get(ADS, params={"access_token": "sandbox", "limit": "2"})).json()
    assert len(body["data"]) == 2 and "access_token=sandbox" in body["paging"]["next"]


async def test_errors_have_graph_shape(http: httpx.AsyncClient) -> None:
    cases = {
        "sandbox-expired": (400, 190, 463),
        "unknown": (400, 190, None),
        "sandbox-no-permission": (403, 200, None),
        "sandbox-rate-limited": (400, 80004, 2446079),
    }
    for token, (status, code, subcode) in cases.items():
        response = await http.get(ADS, params={"access_token": token})
        assert response.status_code == status, token
        error = response.json()["error"]
        assert error["code"] == code and error.get("error_subcode") == subcode
        assert {"message", "type", "code", "fbtrace_id", "is_transient"} <= set(error)
    expired = (await http.get(ADS, params={"access_token": "sandbox-expired"})).json()
    assert expired["error"]["message"].startswith(
        "Error validating access token: Session has expired"
    )
    limited = await http.get(ADS, params={"access_token": "sandbox-rate-limited"})
    buc = json.loads(limited.headers["x-business-use-case-usage"])["1234567890"][0]
    assert buc["call_count"] == 100 and buc["estimated_time_to_regain_access"] > 0
    video = await http.get(
        f"/v25.0/{load_samples()[0].video_id}", params={"access_token": "sandbox-rate-limited"}
    )
    assert video.json()["error"]["code"] == 17
    unknown = await http.get("/v25.0/act_999/ads", params={"access_token": "sandbox"})
    assert unknown.json()["error"]["code"] == 100


async def test_flaky_fails_twice_per_path(http: httpx.AsyncClient) -> None:
    statuses = [
        (await http.get(ADS, params={"access_token": "sandbox-flaky"})).status_code
        for _ in range(3)
    ]
    assert statuses == [500, 500, 200]
    first = await http.get(
        f"/v25.0/{load_samples()[0].video_id}", params={"access_token": "sandbox-flaky"}
    )
    assert first.status_code == 500 and first.json()["error"]["is_transient"] is True


async def test_throttled_reports_high_usage(http: httpx.AsyncClient) -> None:
    response = await http.get(ADS, params={"access_token": "sandbox-throttled"})
    assert response.status_code == 200
    buc = json.loads(response.headers["x-business-use-case-usage"])["1234567890"][0]
    assert buc["call_count"] >= 90 and buc["estimated_time_to_regain_access"] == 1


async def test_video_node_and_download(http: httpx.AsyncClient) -> None:
    sample = load_samples()[2]
    node = (
        await http.get(
            f"/v25.0/{sample.video_id}",
            params={"fields": "source,length,title,picture", "access_token": "sandbox"},
        )
    ).json()
    assert node["source"] == f"http://sandbox/videos/{sample.video_id}.mp4"
    assert node["length"] == sample.duration_seconds and node["title"] == sample.title
    download = await http.get(node["source"])
    assert download.headers["content-type"] == "video/mp4"
    assert download.content == sample.path.read_bytes()
    missing = (
        await http.get(
            f"/v25.0/{MISSING_SOURCE_VIDEO_ID}",
            params={"fields": "source,length", "access_token": "sandbox"},
        )
    ).json()
    assert "source" not in missing and missing["id"] == MISSING_SOURCE_VIDEO_ID


async def test_mounted_under_prefix() -> None:
    outer = FastAPI()
    outer.mount("/sandbox/graph", create_graph_sandbox(SandboxConfig(page_size=4)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=outer), base_url="http://host:8000"
    ) as http:
        body = (await http.get(f"/sandbox/graph{ADS}", params={"access_token": "sandbox"})).json()
        assert body["paging"]["next"].startswith("http://host:8000/sandbox/graph/v25.0/")
        video_id = load_samples()[0].video_id
        node = (
            await http.get(
                f"/sandbox/graph/v25.0/{video_id}",
                params={"fields": "source", "access_token": "sandbox"},
            )
        ).json()
        assert node["source"] == f"http://host:8000/sandbox/graph/videos/{video_id}.mp4"
        assert (await http.get(node["source"])).status_code == 200


async def test_extra_ads_have_distinct_videos() -> None:
    app = create_graph_sandbox(SandboxConfig(extra_ads=40, page_size=100))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://s"
    ) as http:
        pages = []
        url: str | None = (
            f'{ADS}?access_token=sandbox&fields=id,creative&effective_status=["ACTIVE"]'
        )
        while url:
            body = (await http.get(url)).json()
            pages.append(body["data"])
            url = body["paging"].get("next")
    ads = [ad for page in pages for ad in page]
    synthetic = [ad["creative"]["video_id"] for ad in ads if ad["id"].startswith("23841000")]
    assert len(synthetic) == len(set(synthetic)) == 40
