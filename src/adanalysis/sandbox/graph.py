"""A Graph API sandbox over the bundled sample videos: ads, video sources, usage headers, faults."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from adanalysis.ads.facebook import extract_video_ids
from adanalysis.sandbox.samples import SampleVideo, load_samples

# The tokens below are public sandbox fixtures, not secrets.
SANDBOX_TOKEN = "sandbox"  # noqa: S105
SANDBOX_ACCOUNT_ID = "act_1234567890"
# A second brand's account, for batch analyses of several accounts in one job.
SECOND_ACCOUNT_ID = "act_2234567890"
SECOND_ACCOUNT_VIDEOS = 3
# Tokens that make the sandbox misbehave the way Facebook does.
EXPIRED_TOKEN = "sandbox-expired"  # noqa: S105
RATE_LIMITED_TOKEN = "sandbox-rate-limited"  # noqa: S105
FLAKY_TOKEN = "sandbox-flaky"  # noqa: S105
NO_PERMISSION_TOKEN = "sandbox-no-permission"  # noqa: S105
THROTTLED_TOKEN = "sandbox-throttled"  # noqa: S105
VALID_TOKENS = frozenset({SANDBOX_TOKEN, FLAKY_TOKEN, THROTTLED_TOKEN})
FLAKY_FAILURES_PER_PATH = 2
# Minutes the rate-limited token reports in estimated_time_to_regain_access.
RATE_LIMIT_REGAIN_MINUTES = 15
MISSING_SOURCE_VIDEO_ID = "1200000000000099"
DEFAULT_STATUSES = ("ACTIVE", "PAUSED", "PENDING_REVIEW", "DISAPPROVED", "WITH_ISSUES")
ACCOUNTS = {
    SANDBOX_ACCOUNT_ID: {"name": "Brewly & Friends (sandbox)", "currency": "USD"},
    SECOND_ACCOUNT_ID: {"name": "Second brand (sandbox)", "currency": "EUR"},
}
# Ads with these statuses delivered in the period and so have insights rows.
DELIVERING = ("ACTIVE", "PAUSED")
# 3-second plays per impression by hook type: the pattern the comparison view should reveal.
HOOK_RATE_BY_HOOK = {
    "question": 0.36,
    "story": 0.33,
    "pain_point": 0.31,
    "statistic": 0.29,
    "social_proof": 0.28,
    "bold_claim": 0.26,
    "command": 0.23,
    "other": 0.21,
}
_ACCOUNT_NUMBER = SANDBOX_ACCOUNT_ID.removeprefix("act_")


@dataclass
class SandboxConfig:
    """Knobs for demos and benchmarks."""

    latency_seconds: float = 0  # added to every Graph call
    download_latency_seconds: float = 0  # added before a video download starts
    # The first N downloads of each video stall this long first (a flaky CDN); 0 = never.
    stalled_downloads: int = 0
    stall_seconds: float = 5.0
    extra_ads: int = 0  # synthetic ACTIVE ads, each with its own video id
    page_size: int = 25  # default `limit` of the ads edge, as on Facebook
    # Accepted like the plain sandbox token: tests that look for a token of their own.
    extra_tokens: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Video:
    video_id: str
    sample: SampleVideo
    has_source: bool = True


class GraphApiError(Exception):
    """An error the sandbox answers in Graph's JSON shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int,
        type_: str = "OAuthException",
        subcode: int | None = None,
        transient: bool = False,
        usage: str = "low",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "message": message,
            "type": type_,
            "code": code,
            "fbtrace_id": "A" + secrets.token_urlsafe(16),
            "is_transient": transient,
        }
        if subcode is not None:
            self.body["error_subcode"] = subcode
        self.usage = usage


def _usage_headers(level: str) -> dict[str, str]:
    """X-App-Usage, X-Ad-Account-Usage and X-Business-Use-Case-Usage at a usage level."""
    pct, regain = {
        "low": (3, 0),
        "throttled": (95, 1),
        "limited": (100, RATE_LIMIT_REGAIN_MINUTES),
    }[level]
    app = {"call_count": pct, "total_cputime": max(1, pct // 3), "total_time": max(1, pct // 3)}
    account = {
        "acc_id_util_pct": float(pct),
        "reset_time_duration": regain * 60,  # seconds
        "ads_api_access_tier": "development_access",
    }
    buc = {
        _ACCOUNT_NUMBER: [
            {
                "type": "ads_management",
                "call_count": pct,
                "total_cputime": max(1, pct // 3),
                "total_time": max(1, pct // 3),
                "estimated_time_to_regain_access": regain,  # minutes
                "ads_api_access_tier": "development_access",
            }
        ]
    }
    return {
        "X-App-Usage": json.dumps(app, separators=(",", ":")),
        "X-Ad-Account-Usage": json.dumps(account, separators=(",", ":")),
        "X-Business-Use-Case-Usage": json.dumps(buc, separators=(",", ":")),
    }


def _creative(
    n: int, *, video_id: str | None = None, story: str | None = None, feed: list[str] | None = None
) -> dict[str, Any]:
    creative: dict[str, Any] = {"id": f"23850000000000{n:02d}"}
    if video_id:
        creative["video_id"] = video_id
    if story:
        creative["object_story_spec"] = {
            "page_id": "100000000000001",
            "video_data": {"video_id": story, "call_to_action": {"type": "SHOP_NOW"}},
        }
    if feed:
        creative["asset_feed_spec"] = {"videos": [{"video_id": v} for v in feed]}
    if not (video_id or story or feed):
        creative["object_story_spec"] = {
            "page_id": "100000000000001",
            "link_data": {
                "image_hash": "5f4dcc3b5aa765d61d8327deb882cf99",
                "link": "https://example.com",
            },
        }
    return creative


def _catalog_ads(samples: tuple[SampleVideo, ...]) -> list[dict[str, Any]]:
    """The fixed ads: every way a creative holds a video, plus the awkward cases."""
    v = [s.video_id for s in samples]
    rows: list[tuple[str, str, dict[str, Any]]] = [
        ("Brewly coffee - prospecting", "ACTIVE", _creative(1, video_id=v[0])),
        ("SmileSonic toothbrush", "ACTIVE", _creative(2, story=v[1])),
        ("Shoes and insoles - dynamic creative", "ACTIVE", _creative(3, feed=[v[2], v[3]])),
        ("FreshBox meal kits", "ACTIVE", _creative(4, video_id=v[4])),
        ("Brewly coffee - retargeting", "ACTIVE", _creative(5, video_id=v[0])),
        ("Budget app story", "PAUSED", _creative(6, story=v[5])),
        ("Natural skin care", "ACTIVE", _creative(7, video_id=v[6], story=v[6])),
        ("Sales coaching", "ACTIVE", _creative(8, story=v[7])),
        ("Summit backpack", "ACTIVE", _creative(9, video_id=v[8])),
        ("Spring sale - image only", "ACTIVE", _creative(10)),
        ("Removed video", "ACTIVE", _creative(11, video_id=MISSING_SOURCE_VIDEO_ID)),
        ("Skin care - last season", "ARCHIVED", _creative(12, video_id=v[6])),
        ("Sales coaching - old", "DELETED", _creative(13, story=v[7])),
    ]
    ads = []
    for n, (name, status, creative) in enumerate(rows, start=1):
        ads.append(
            {
                "id": f"238400000000{n:04d}",
                "name": name,
                "effective_status": status,
                "created_time": f"2025-05-{28 - n:02d}T10:00:00+0000",
                "creative": creative,
            }
        )
    return ads


class _World:
    """The sandbox's ads and videos, built once per app."""

    def __init__(self, config: SandboxConfig) -> None:
        samples = load_samples()
        self.videos: dict[str, _Video] = {s.video_id: _Video(s.video_id, s) for s in samples}
        self.videos[MISSING_SOURCE_VIDEO_ID] = _Video(
            MISSING_SOURCE_VIDEO_ID, samples[0], has_source=False
        )
        self.ads = _catalog_ads(samples)
        for i in range(config.extra_ads):
            video_id = f"13000000{i:08d}"
            self.videos[video_id] = _Video(video_id, samples[i % len(samples)])
            self.ads.append(
                {
                    "id": f"23841000{i:08d}",
                    "name": f"Synthetic ad {i + 1}",
                    "effective_status": "ACTIVE",
                    "created_time": "2025-04-01T10:00:00+0000",
                    "creative": {
                        "id": f"23851000{i:08d}",
                        "video_id": video_id,
                        "thumbnail_url": None,
                    },
                }
            )
        self.second_account_ads: list[dict[str, Any]] = []
        for i, sample in enumerate(samples[:SECOND_ACCOUNT_VIDEOS]):
            video_id = f"14000000{i:08d}"
            self.videos[video_id] = _Video(video_id, sample)
            self.second_account_ads.append(
                {
                    "id": f"23842000{i:08d}",
                    "name": f"Second brand - {sample.title}",
                    "effective_status": "ACTIVE",
                    "created_time": "2025-03-01T10:00:00+0000",
                    "creative": {"id": f"23852000{i:08d}", "video_id": video_id},
                }
            )

    def ads_of(self, account_id: str) -> list[dict[str, Any]] | None:
        """The ads of an account (with or without the act_ prefix), None when unknown."""
        account = account_id if account_id.startswith("act_") else f"act_{account_id}"
        if account == SANDBOX_ACCOUNT_ID:
            return self.ads
        if account == SECOND_ACCOUNT_ID:
            return self.second_account_ads
        return None


def _top_level_fields(fields: str | None) -> set[str]:
    """Names in a Graph `fields` expression, ignoring nested `{...}` selections."""
    names: set[str] = set()
    depth = 0
    current = ""
    for char in fields or "":
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.add(current.strip())
            current = ""
        elif depth == 0:
            current += char
    names.add(current.strip())
    names.discard("")
    return names


def _select(obj: dict[str, Any], fields: str | None) -> dict[str, Any]:
    wanted = _top_level_fields(fields) | {"id"}
    return {key: value for key, value in obj.items() if key in wanted}


def _encode_cursor(page: int) -> str:
    return base64.urlsafe_b64encode(f"page:{page}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("page:"))
    except ValueError as exc:
        raise GraphApiError(400, "(#100) Invalid cursor", code=100, type_="OAuthException") from exc


def _unsupported(object_id: str) -> GraphApiError:
    return GraphApiError(
        400,
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation. Please read the Graph "
        "API documentation at https://developers.facebook.com/docs/graph-api",
        code=100,
        subcode=33,
        type_="GraphMethodException",
    )


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() in {"bearer", "oauth"} and value:
        return value.strip()
    return request.query_params.get("access_token")


def create_graph_sandbox(config: SandboxConfig | None = None) -> FastAPI:
    """A FastAPI app that answers like graph.facebook.com for the sandbox account."""
    config = config or SandboxConfig()
    world = _World(config)
    # Requests seen per path for the flaky token; per app so tests start clean.
    flaky_hits: defaultdict[str, int] = defaultdict(int)
    downloads: defaultdict[str, int] = defaultdict(int)
    app = FastAPI(title="Graph API sandbox", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(GraphApiError)
    async def graph_error(request: Request, exc: GraphApiError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.body}, status_code=exc.status, headers=_usage_headers(exc.usage)
        )

    async def graph_call(request: Request, response: Response) -> None:
        """Latency, token checks and faults shared by every Graph endpoint."""
        if config.latency_seconds:
            await asyncio.sleep(config.latency_seconds)
        token = _token(request)
        if token is None:
            raise GraphApiError(
                400, "An access token is required to request this resource.", code=104
            )
        if token == EXPIRED_TOKEN:
            raise GraphApiError(
                400,
                "Error validating access token: Session has expired on Sunday, 01-Jun-25 "
                "10:00:00 PDT. The current time is Monday, 02-Jun-25 10:00:00 PDT.",
                code=190,
                subcode=463,
            )
        if token == NO_PERMISSION_TOKEN:
            raise GraphApiError(403, "(#200) Requires ads_read permission", code=200)
        if token == RATE_LIMITED_TOKEN:
            on_account = request.url.path.endswith(("/ads", "/insights"))
            raise GraphApiError(
                400,
                "There have been too many calls to this ad-account. Wait a bit and try again."
                if on_account
                else "(#17) User request limit reached",
                code=80004 if on_account else 17,
                subcode=2446079,
                usage="limited",
            )
        if token not in VALID_TOKENS and token not in config.extra_tokens:
            raise GraphApiError(
                400, "Invalid OAuth access token - Cannot parse access token", code=190
            )
        if token == FLAKY_TOKEN:
            flaky_hits[request.url.path] += 1
            if flaky_hits[request.url.path] <= FLAKY_FAILURES_PER_PATH:
                raise GraphApiError(
                    500,
                    "An unexpected error has occurred. Please retry your request later.",
                    code=2,
                    transient=True,
                )
        level = "throttled" if token == THROTTLED_TOKEN else "low"
        response.headers.update(_usage_headers(level))

    @app.get("/videos/{video_id}.mp4", name="video_file")
    async def video_file(video_id: str) -> Response:
        """The MP4 behind a video's `source`, streamed from the bundled samples."""
        video = world.videos.get(video_id)
        headers = _usage_headers("low")
        if video is None or not video.has_source:
            return Response(status_code=404, headers=headers)
        downloads[video_id] += 1
        if downloads[video_id] <= config.stalled_downloads:
            await asyncio.sleep(config.stall_seconds)
        if config.download_latency_seconds:
            await asyncio.sleep(config.download_latency_seconds)
        return FileResponse(video.sample.path, media_type="video/mp4", headers=headers)

    @app.get("/thumbnails/{object_id}.svg", name="thumbnail")
    async def thumbnail(object_id: str) -> Response:
        """A placeholder thumbnail."""
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="180">'
            '<rect width="100%" height="100%" fill="#3b5998"/></svg>'
        )
        return Response(svg, media_type="image/svg+xml", headers=_usage_headers("low"))

    @app.get("/{version}/{account_id}/ads", dependencies=[Depends(graph_call)])
    async def list_ads(
        request: Request,
        version: str,
        account_id: str,
        fields: str | None = None,
        effective_status: str | None = None,
        limit: Annotated[int | None, Query(ge=1)] = None,
        after: str | None = None,
    ) -> dict[str, Any]:
        """The ads edge of the sandbox account, cursor-paged with one empty page before the last."""
        account_ads = world.ads_of(account_id)
        if account_ads is None:
            raise _unsupported(account_id)
        statuses = _parse_statuses(effective_status)
        matching = [ad for ad in account_ads if ad["effective_status"] in statuses]
        size = limit or config.page_size
        chunks = [matching[i : i + size] for i in range(0, len(matching), size)]
        # Facebook sometimes returns an empty page that still has `next`; clients must go on.
        pages = [*chunks[:-1], [], *chunks[-1:]] if chunks else [[]]
        page, paging = _paged(request, pages, after)
        return {
            "data": [_with_thumbnail(request, _select(ad, fields)) for ad in page],
            "paging": paging,
        }

    @app.get("/{version}/{account_id}/insights", dependencies=[Depends(graph_call)])
    async def insights(
        request: Request,
        version: str,
        account_id: str,
        level: str = "account",
        fields: str | None = None,
        date_preset: str | None = None,
        time_range: str | None = None,
        limit: Annotated[int | None, Query(ge=1)] = None,
        after: str | None = None,
    ) -> dict[str, Any]:
        """The account's insights edge at level=ad: believable figures, the same on every call."""
        account_ads = world.ads_of(account_id)
        if account_ads is None:
            raise _unsupported(account_id)
        if level != "ad":
            raise GraphApiError(400, "(#100) The sandbox serves level=ad only", code=100)
        since, until = _period_dates(date_preset, time_range)
        currency = ACCOUNTS[_act(account_id)]["currency"]
        rows = [
            # Facebook sends the period's dates on every row, asked for or not.
            _select(
                _insights_row(world, ad, since, until, currency), f"{fields},date_start,date_stop"
            )
            for ad in account_ads
            if ad["effective_status"] in DELIVERING
        ]
        size = limit or config.page_size
        pages = [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]
        page, paging = _paged(request, pages, after)
        return {"data": page, "paging": paging}

    @app.get("/{version}/{object_id}", dependencies=[Depends(graph_call)])
    async def get_object(
        request: Request, version: str, object_id: str, fields: str | None = None
    ) -> dict[str, Any]:
        """An ad account node (name, currency, status) or a video node (source, length...)."""
        if object_id.startswith("act_"):
            account = ACCOUNTS.get(object_id)
            if account is None:
                raise _unsupported(object_id)
            return _select({"id": object_id, "account_status": 1, **account}, fields)
        video = world.videos.get(object_id)
        if video is None:
            raise _unsupported(object_id)
        node: dict[str, Any] = {
            "id": video.video_id,
            "length": video.sample.duration_seconds,
            "title": video.sample.title,
            "picture": str(request.url_for("thumbnail", object_id=video.video_id)),
        }
        if video.has_source:
            node["source"] = str(request.url_for("video_file", video_id=video.video_id))
        return _select(node, fields)

    def _with_thumbnail(request: Request, ad: dict[str, Any]) -> dict[str, Any]:
        creative = ad.get("creative")
        if not creative:
            return ad
        thumb = str(request.url_for("thumbnail", object_id=creative["id"]))
        return {**ad, "creative": {**creative, "thumbnail_url": thumb}}

    return app


def _parse_statuses(raw: str | None) -> set[str]:
    if raw is None:
        return set(DEFAULT_STATUSES)
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = raw.split(",")
    if not isinstance(parsed, list) or not all(isinstance(s, str) for s in parsed):
        raise GraphApiError(
            400,
            "(#100) Param effective_status must be an array of strings",
            code=100,
        )
    return {s.strip().upper() for s in parsed}


def _act(account_id: str) -> str:
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def _period_dates(date_preset: str | None, time_range: str | None) -> tuple[date, date]:
    """The first and last day a preset or a time range covers (presets end yesterday)."""
    if time_range:
        try:
            spec = json.loads(time_range)
            return date.fromisoformat(spec["since"]), date.fromisoformat(spec["until"])
        except (ValueError, KeyError, TypeError) as exc:
            raise GraphApiError(400, "(#100) Param time_range is not valid", code=100) from exc
    days = {"yesterday": 1, "last_7d": 7, "last_14d": 14, "last_30d": 30, "last_90d": 90}
    preset = date_preset or "last_30d"
    if preset not in days and preset != "maximum":
        raise GraphApiError(400, f"(#100) date_preset must be one of {sorted(days)}", code=100)
    yesterday = date.today() - timedelta(days=1)
    return yesterday - timedelta(days=days.get(preset, 365) - 1), yesterday


def _insights_row(
    world: _World, ad: dict[str, Any], since: date, until: date, currency: str
) -> dict[str, Any]:
    """One ad's figures, seeded by its id so every call (and every test run) agrees."""
    rng = random.Random(hashlib.sha256(ad["id"].encode()).digest())
    days = max(1, (until - since).days + 1)
    paused = ad["effective_status"] == "PAUSED"
    impressions = int(rng.uniform(900, 2200) * days * (0.35 if paused else 1.0))
    ctr = rng.uniform(0.7, 2.4)
    cpm = rng.uniform(7.0, 14.0)
    row: dict[str, Any] = {
        "ad_id": ad["id"],
        "ad_name": ad["name"],
        "date_start": since.isoformat(),
        "date_stop": until.isoformat(),
        "account_currency": currency,
        "impressions": str(impressions),
        "clicks": str(round(impressions * ctr / 100)),
        "ctr": f"{ctr:.6f}",
        "spend": f"{impressions / 1000 * cpm:.2f}",
    }
    video_ids = extract_video_ids(ad.get("creative") or {})
    videos = [world.videos[v] for v in video_ids if v in world.videos]
    if videos:
        hook = HOOK_RATE_BY_HOOK.get(videos[0].sample.hook_type, 0.22)
        hook_rate = max(0.05, hook + rng.uniform(-0.04, 0.04))
        hold_rate = hook_rate * rng.uniform(0.25, 0.4) * (1.2 if hook >= 0.31 else 1.0)
        plays = round(impressions * hook_rate)
        row["video_3_sec_watched_actions"] = [{"action_type": "video_view", "value": str(plays)}]
        row["video_thruplay_watched_actions"] = [
            {"action_type": "video_view", "value": str(round(impressions * hold_rate))}
        ]
        row["actions"] = [
            {"action_type": "video_view", "value": str(plays)},
            {"action_type": "link_click", "value": row["clicks"]},
        ]
    return row


def _paged(
    request: Request, pages: list[list[dict[str, Any]]], after: str | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The page an `after` cursor points at, and Graph's paging object (cursors, next, previous)."""
    index = _decode_cursor(after) if after else 0
    page = pages[index] if 0 <= index < len(pages) else []
    paging: dict[str, Any] = {
        "cursors": {"before": _encode_cursor(index), "after": _encode_cursor(index + 1)}
    }
    if index + 1 < len(pages):
        paging["next"] = str(request.url.include_query_params(after=_encode_cursor(index + 1)))
    if index > 0:
        paging["previous"] = str(
            request.url.remove_query_params("after").include_query_params(
                before=_encode_cursor(index)
            )
        )
    return page, paging
