"""Graph API client (httpx): ads, their video ids, video sources, error mapping and rate limits."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from adanalysis.ads.errors import (
    FacebookAuthError,
    FacebookError,
    FacebookNotFoundError,
    FacebookPermissionError,
    FacebookRateLimitError,
    FacebookTransientError,
    VideoUnavailableError,
)
from adanalysis.ads.limits import GraphPauses, budget_key, graph_pauses
from adanalysis.monitoring.instruments import GRAPH_USAGE, external_call, external_error

if TYPE_CHECKING:
    from adanalysis.config import Settings

logger = logging.getLogger(__name__)

AD_FIELDS = (
    "id,name,effective_status,created_time,"
    "creative{id,video_id,thumbnail_url,object_story_spec,asset_feed_spec}"
)
VIDEO_FIELDS = "source,length,title,picture"
ACCOUNT_FIELDS = "name,currency,account_status"
INSIGHTS_FIELDS = (
    "ad_id,ad_name,spend,impressions,clicks,ctr,"
    "video_3_sec_watched_actions,video_thruplay_watched_actions,actions,account_currency"
)
# Facebook's account_status codes, in words.
ACCOUNT_STATUSES = {
    1: "ACTIVE",
    2: "DISABLED",
    3: "UNSETTLED",
    7: "PENDING_RISK_REVIEW",
    8: "PENDING_SETTLEMENT",
    9: "IN_GRACE_PERIOD",
    100: "PENDING_CLOSURE",
    101: "CLOSED",
    201: "ANY_ACTIVE",
    202: "ANY_CLOSED",
}

AUTH_MESSAGE = "Invalid Facebook access token. Please update your credentials."
TRANSIENT_MESSAGE = "Network timeout while contacting Facebook. Please try again."
AUTH_CODES = frozenset({102, 104, 190})
# Code 100 with this subcode: "Object with ID ... does not exist, cannot be loaded due to
# missing permissions": a wrong ad account id, or one the token's user cannot read.
NOT_FOUND_SUBCODE = 33
NOT_FOUND_MESSAGE = (
    "Facebook has nothing with this id that your token can read. Check the ad account id "
    "(act_...) and that your Facebook user has access to it."
)
AUTH_SUBCODES = frozenset({*range(458, 468), 492})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
# Above this utilisation (percent) of any quota we pause instead of risking a ban.
USAGE_THRESHOLD_PCT = 90.0
# Pause when a quota is nearly spent but Facebook gives no regain time (seconds).
DEFAULT_USAGE_PAUSE_SECONDS = 30.0
# A longer wait is not slept through: the job fails with Facebook's estimate so the user knows.
MAX_USAGE_PAUSE_SECONDS = 300.0
# Facebook's window for app and account limits is an hour: assume it when it gives no time.
DEFAULT_RATE_LIMIT_MINUTES = 60
_PERMISSION_RE = re.compile(
    r"\b(ads_read|ads_management|business_management|read_insights|pages_[a-z_]+)\b"
)


@dataclass(frozen=True)
class Ad:
    """An ad and the videos its creative uses."""

    id: str
    name: str
    effective_status: str
    created_time: str | None
    video_ids: tuple[str, ...]
    thumbnail_url: str | None


@dataclass(frozen=True)
class VideoSource:
    """Where to download a video from, and what Facebook says about it."""

    video_id: str
    source: str
    length: float | None
    title: str | None
    picture: str | None


@dataclass(frozen=True)
class AccountInfo:
    """What Facebook says about an ad account."""

    id: str
    name: str
    currency: str | None
    status: str  # ACCOUNT_STATUSES word, or the raw code


@dataclass(frozen=True)
class AdInsightsRow:
    """One ad's delivery over a period, from the insights edge (level=ad)."""

    ad_id: str
    ad_name: str
    date_start: str | None
    date_stop: str | None
    currency: str | None
    spend: float | None
    impressions: int | None
    clicks: int | None
    ctr: float | None  # percent
    video_3s_plays: int | None
    thruplays: int | None

    @property
    def hook_rate(self) -> float | None:
        """3-second plays per impression (0-1)."""
        return _rate(self.video_3s_plays, self.impressions)

    @property
    def hold_rate(self) -> float | None:
        """ThruPlays per impression (0-1)."""
        return _rate(self.thruplays, self.impressions)


@dataclass(frozen=True)
class Period:
    """The dates insights cover: a Graph date preset, or a since/until time range."""

    date_preset: str = "last_30d"
    since: str | None = None  # YYYY-MM-DD
    until: str | None = None

    def params(self) -> dict[str, str]:
        """The query parameters that select this period."""
        if self.since and self.until:
            return {"time_range": json.dumps({"since": self.since, "until": self.until})}
        return {"date_preset": self.date_preset}


@dataclass(frozen=True)
class Usage:
    """The highest quota utilisation reported by the usage headers of one response."""

    max_pct: float
    regain_seconds: float  # 0 when Facebook gave no estimate


def extract_video_ids(creative: dict[str, Any]) -> tuple[str, ...]:
    """Video ids of a creative, from every place Facebook puts them; de-duplicated, order kept."""
    found: list[str] = []
    candidates: list[Any] = [creative.get("video_id")]
    story = creative.get("object_story_spec") or {}
    candidates.append((story.get("video_data") or {}).get("video_id"))
    for video in (creative.get("asset_feed_spec") or {}).get("videos") or []:
        if isinstance(video, dict):
            candidates.append(video.get("video_id"))
    for candidate in candidates:
        if candidate and str(candidate) not in found:
            found.append(str(candidate))
    return tuple(found)


def _json_header(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return None


def _pct_values(entry: Any) -> Iterator[float]:
    if not isinstance(entry, dict):
        return
    for key in ("call_count", "total_cputime", "total_time", "acc_id_util_pct"):
        value = entry.get(key)
        if isinstance(value, int | float):
            yield float(value)


def _call_kind(url: httpx.URL | str) -> str:
    """The Graph edge a URL asks for (ads, insights, ...) or 'node', never an id or token."""
    last = httpx.URL(str(url)).path.rstrip("/").rsplit("/", 1)[-1]
    return last if last.isalpha() and last.islower() else "node"


def parse_usage(headers: httpx.Headers) -> Usage:
    """Read X-App-Usage, X-Ad-Account-Usage and X-Business-Use-Case-Usage."""
    pcts: list[float] = []
    regain: list[float] = []
    app = _json_header(headers.get("x-app-usage"))
    pcts.extend(_pct_values(app))
    account = _json_header(headers.get("x-ad-account-usage"))
    pcts.extend(_pct_values(account))
    if isinstance(account, dict) and isinstance(account.get("reset_time_duration"), int | float):
        regain.append(float(account["reset_time_duration"]))  # seconds
    buc = _json_header(headers.get("x-business-use-case-usage"))
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else []:
                pcts.extend(_pct_values(entry))
                minutes = entry.get("estimated_time_to_regain_access")
                if isinstance(minutes, int | float):
                    regain.append(float(minutes) * 60)
    return Usage(max_pct=max(pcts, default=0.0), regain_seconds=max(regain, default=0.0))


def _wait_phrase(minutes: int) -> str:
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    return "1 minute" if minutes <= 1 else f"{minutes} minutes"


def rate_limit_error(usage: Usage) -> FacebookRateLimitError:
    """The user-facing rate-limit error, with the wait Facebook estimated (else an hour)."""
    minutes = -(-int(usage.regain_seconds) // 60) or DEFAULT_RATE_LIMIT_MINUTES
    return FacebookRateLimitError(
        f"Facebook API rate limit exceeded. Please try again in {_wait_phrase(minutes)}.",
        retry_after_seconds=minutes * 60,
    )


def permission_error(message: str) -> FacebookPermissionError:
    """The user-facing permission error, naming the missing permission when Facebook does."""
    match = _PERMISSION_RE.search(message)
    if match:
        return FacebookPermissionError(
            f"Your Facebook token is missing the {match.group(1)} permission. "
            "Please reconnect Facebook and grant it."
        )
    return FacebookPermissionError(
        "Your Facebook token lacks a permission needed to read your ads. "
        "Please reconnect Facebook and grant access."
    )


def map_error(response: httpx.Response) -> FacebookError:
    """The domain error for a failed Graph response."""
    body = _json_header(response.text) if response.content else None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        if response.status_code >= 500:
            return FacebookTransientError(TRANSIENT_MESSAGE)
        return FacebookError(f"Unexpected response from Facebook (HTTP {response.status_code}).")
    code = error.get("code")
    subcode = error.get("error_subcode")
    message = str(error.get("message") or "Facebook API error")
    if code in AUTH_CODES or subcode in AUTH_SUBCODES:
        return FacebookAuthError(AUTH_MESSAGE)
    if code == 100 and subcode == NOT_FOUND_SUBCODE:
        return FacebookNotFoundError(NOT_FOUND_MESSAGE)
    if code == 10 or (isinstance(code, int) and 200 <= code <= 299):
        return permission_error(message)
    if code in RATE_LIMIT_CODES:
        return rate_limit_error(parse_usage(response.headers))
    if code in TRANSIENT_CODES or error.get("is_transient") or response.status_code >= 500:
        return FacebookTransientError(TRANSIENT_MESSAGE)
    return FacebookError(message)


def _strip_token(url: str) -> httpx.URL:
    """A `paging.next` URL without the access token Facebook may have echoed into it."""
    parsed = httpx.URL(url)
    return parsed.copy_remove_param("access_token")


class GraphClient:
    """An async Graph API client; the token travels only in the Authorization header."""

    def __init__(
        self,
        *,
        access_token: str,
        base_url: str,
        version: str,
        timeout: float = 30,
        max_retries: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        page_size: int | None = None,
        shared_pauses: GraphPauses | None = None,
    ) -> None:
        self._version = version.strip("/")
        self._max_retries = max(0, max_retries)
        self._sleep = sleep
        self._page_size = page_size
        # Seconds to wait before the next call because a quota is nearly spent.
        self._pause_seconds = 0.0
        self._pause_lock = asyncio.Lock()
        # Pauses other clients (other jobs, other workers) learnt from Facebook's headers.
        self._shared = shared_pauses
        # Header, not query: httpx logs request URLs, and the token must never reach a log.
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {access_token}"},
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        access_token: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> GraphClient:
        """A client configured from the service settings."""
        return cls(
            access_token=access_token,
            base_url=settings.graph_api_url,
            version=settings.graph_api_version,
            timeout=settings.graph_timeout_seconds,
            max_retries=settings.graph_max_retries,
            transport=transport,
            shared_pauses=graph_pauses(settings),
        )

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def list_ads(self, account_id: str, *, statuses: Sequence[str]) -> list[Ad]:
        """Every ad of the account with one of `statuses`, following all pages."""
        account = account_id if account_id.startswith("act_") else f"act_{account_id}"
        params: dict[str, str] = {
            "fields": AD_FIELDS,
            "effective_status": json.dumps(list(statuses)),
        }
        if self._page_size:
            params["limit"] = str(self._page_size)
        return [
            _parse_ad(raw)
            for raw in await self._all_pages(f"{self._version}/{account}/ads", params)
        ]

    async def get_video(self, video_id: str) -> VideoSource:
        """The download URL and details of a video; VideoUnavailableError when it has none."""
        try:
            body = await self._get(f"{self._version}/{video_id}", {"fields": VIDEO_FIELDS})
        except (
            FacebookAuthError,
            FacebookPermissionError,
            FacebookRateLimitError,
            FacebookTransientError,
        ):
            raise  # about the token or Facebook itself, not this video
        except FacebookError as exc:
            raise VideoUnavailableError(
                f"Video {video_id} is not available from Facebook: {exc.message}"
            ) from exc
        source = body.get("source")
        if not source:
            raise VideoUnavailableError(
                f"Video {video_id} has no downloadable source (it may be deleted or restricted)."
            )
        length = body.get("length")
        return VideoSource(
            video_id=str(body.get("id") or video_id),
            source=str(source),
            length=float(length) if isinstance(length, int | float) else None,
            title=body.get("title"),
            picture=body.get("picture"),
        )

    async def get_account(self, account_id: str) -> AccountInfo:
        """The account's name, currency and status; FacebookError when the token cannot read it."""
        account = account_id if account_id.startswith("act_") else f"act_{account_id}"
        body = await self._get(f"{self._version}/{account}", {"fields": ACCOUNT_FIELDS})
        raw_status = body.get("account_status")
        status = ACCOUNT_STATUSES.get(raw_status, str(raw_status)) if raw_status else "UNKNOWN"
        return AccountInfo(
            id=str(body.get("id") or account),
            name=str(body.get("name") or account),
            currency=body.get("currency"),
            status=status,
        )

    async def ad_insights(self, account_id: str, *, period: Period) -> list[AdInsightsRow]:
        """Every ad's delivery over period, from the account's insights edge at level=ad.

        One paged call per account instead of one per ad: each call counts against the
        account's rate-limit budget, and the usage headers of every page are still honoured.
        """
        account = account_id if account_id.startswith("act_") else f"act_{account_id}"
        params: dict[str, str] = {"level": "ad", "fields": INSIGHTS_FIELDS, **period.params()}
        if self._page_size:
            params["limit"] = str(self._page_size)
        raw_rows = await self._all_pages(f"{self._version}/{account}/insights", params)
        return [_parse_insights(raw) for raw in raw_rows]

    async def _all_pages(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """The `data` of every page of an edge, following `paging.next`."""
        url: httpx.URL | str = path
        found: list[dict[str, Any]] = []
        while True:
            body = await self._get(url, params)
            found.extend(raw for raw in body.get("data") or [] if isinstance(raw, dict))
            # An empty page can still have `next`: only a missing `next` ends the listing.
            next_url = (body.get("paging") or {}).get("next")
            if not next_url:
                return found
            url, params = _strip_token(next_url), {}

    async def _get(self, url: httpx.URL | str, params: dict[str, str]) -> dict[str, Any]:
        """One GET with retries of transient failures; returns the JSON body."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_retries + 1),
            wait=wait_exponential_jitter(multiplier=1, max=30, jitter=1),
            retry=retry_if_exception_type(FacebookTransientError),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: logger.warning(
                "Facebook call failed transiently (attempt %d), retrying", state.attempt_number
            ),
        )
        async for attempt in retrying:
            with attempt:
                return await self._get_once(url, params)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get_once(self, url: httpx.URL | str, params: dict[str, str]) -> dict[str, Any]:
        budget = budget_key(httpx.URL(str(url)).path)
        await self._wait_for_quota(budget)
        external_call("graph", _call_kind(url))
        try:
            # params={} would wipe the query string of a `paging.next` URL (httpx replaces it).
            response = await self._http.get(url, params=params or None)
        except httpx.TransportError as exc:  # timeouts, refused or dropped connections
            logger.warning("Facebook call failed: %s", type(exc).__name__)
            external_error("graph", "transport")
            raise FacebookTransientError(TRANSIENT_MESSAGE) from exc
        await self._note_usage(response, budget)
        if response.is_success:
            try:
                body = response.json()
            except ValueError as exc:
                raise FacebookError("Unexpected response from Facebook (invalid JSON).") from exc
            if isinstance(body, dict):
                return body
            raise FacebookError("Unexpected response from Facebook (not a JSON object).")
        error = map_error(response)
        external_error("graph", type(error).__name__)
        logger.info(
            "Facebook call to %s failed: HTTP %d, %s",
            response.request.url.path,
            response.status_code,
            type(error).__name__,
        )
        raise error

    async def _note_usage(self, response: httpx.Response, budget: str) -> None:
        usage = parse_usage(response.headers)
        GRAPH_USAGE.set(usage.max_pct)
        if usage.max_pct <= USAGE_THRESHOLD_PCT:
            return
        pause = usage.regain_seconds or DEFAULT_USAGE_PAUSE_SECONDS
        logger.warning(
            "Facebook API usage at %.0f%%; pausing %.0f s before the next call",
            usage.max_pct,
            pause,
        )
        self._pause_seconds = max(self._pause_seconds, pause)
        if self._shared is not None:
            await self._shared.pause(budget, pause)

    async def _wait_for_quota(self, budget: str) -> None:
        # Concurrent callers queue on the lock, so one pause covers them all.
        async with self._pause_lock:
            pause, self._pause_seconds = self._pause_seconds, 0.0
            if self._shared is not None:
                pause = max(pause, await self._shared.pause_left(budget))
            if pause > MAX_USAGE_PAUSE_SECONDS:
                raise rate_limit_error(Usage(max_pct=100.0, regain_seconds=pause))
            if pause > 0:
                await self._sleep(pause)


def _parse_ad(raw: dict[str, Any]) -> Ad:
    creative = raw.get("creative") or {}
    return Ad(
        id=str(raw.get("id")),
        name=str(raw.get("name") or ""),
        effective_status=str(raw.get("effective_status") or ""),
        created_time=raw.get("created_time"),
        video_ids=extract_video_ids(creative) if isinstance(creative, dict) else (),
        thumbnail_url=creative.get("thumbnail_url") if isinstance(creative, dict) else None,
    )


def _rate(part: int | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole


def _number(value: Any) -> float | None:
    """Facebook sends figures as strings ("12.34"); None when absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _count(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _action_total(actions: Any, *types: str) -> int | None:
    """The summed value of an action list's entries of the given types (all when none given)."""
    if not isinstance(actions, list):
        return None
    values = [
        _count(a.get("value"))
        for a in actions
        if isinstance(a, dict) and (not types or a.get("action_type") in types)
    ]
    found = [v for v in values if v is not None]
    return sum(found) if found else None


def _parse_insights(raw: dict[str, Any]) -> AdInsightsRow:
    plays = _action_total(raw.get("video_3_sec_watched_actions"))
    if plays is None:  # older API versions report 3-second plays only as the video_view action
        plays = _action_total(raw.get("actions"), "video_view")
    return AdInsightsRow(
        ad_id=str(raw.get("ad_id")),
        ad_name=str(raw.get("ad_name") or ""),
        date_start=raw.get("date_start"),
        date_stop=raw.get("date_stop"),
        currency=raw.get("account_currency"),
        spend=_number(raw.get("spend")),
        impressions=_count(raw.get("impressions")),
        clicks=_count(raw.get("clicks")),
        ctr=_number(raw.get("ctr")),
        video_3s_plays=plays,
        thruplays=_action_total(raw.get("video_thruplay_watched_actions")),
    )
