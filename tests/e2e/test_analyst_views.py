"""The analyst's screens in a real browser against a real server on the sandbox."""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adanalysis.sandbox.openai_fake import FakeOpenAIConfig
from adanalysis.sandbox.samples import load_samples
from tests.e2e.conftest import JOB_TIMEOUT_MS, PASSWORD, register

API = "/api/v1/ad_analysis"
SAMPLES = len(load_samples())
APP_PAGES = ("/", "/ads", "/compare", "/history", "/connection")


def _api_user(server: str) -> tuple[str, dict[str, str]]:
    """A new user with sandbox credentials, signed in through the API: (email, headers)."""
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    r = httpx.post(f"{server}/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    token = httpx.post(
        f"{server}/api/v1/auth/token", data={"username": email, "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.put(
        f"{server}{API}/credentials",
        headers=headers,
        json={"access_token": "sandbox", "account_id": "act_1234567890"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return email, headers


def _wait(server: str, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_MS / 1000
    while True:
        job = httpx.get(f"{server}{API}/job-status/{job_id}", headers=headers).json()
        if job["status"] in {"completed", "failed", "cancelled"}:
            return dict(job)
        assert time.monotonic() < deadline, job
        time.sleep(0.3)


@pytest.fixture(scope="module")
def analysed(server: str) -> Iterator[dict[str, Any]]:
    """A user whose account was analysed twice (the second run skips everything)."""
    email, headers = _api_user(server)
    jobs = []
    for _ in range(2):
        r = httpx.post(f"{server}{API}/start-analysis/", headers=headers, timeout=30)
        assert r.status_code == 202, r.text
        jobs.append(_wait(server, headers, r.json()["job_id"]))
    assert [j["status"] for j in jobs] == ["completed", "completed"]
    yield {"email": email, "headers": headers, "first": jobs[0], "rerun": jobs[1]}


def _signed_in(browser: Any, headers: dict[str, str], **context_args: Any) -> Any:
    """A browser context (a device) already signed in with the user's token."""
    context = browser.new_context(**({"viewport": {"width": 1280, "height": 900}} | context_args))
    token = headers["Authorization"].removeprefix("Bearer ")
    context.add_init_script(f"localStorage.setItem('adanalysis.token', '{token}')")
    return context


def test_open_a_past_job_and_follow_a_failed_videos_reason(
    browser: Any, server: str, shots: Path, analysed: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    context = _signed_in(browser, analysed["headers"])
    page = context.new_page()
    page.goto(server + "/history")
    rows = page.get_by_test_id("job-history").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).get_by_test_id("job-outcome")).to_have_text(
        f"{SAMPLES} already analysed, 0 new, 1 failed"
    )
    expect(rows.nth(1).get_by_test_id("job-outcome")).to_have_text(f"{SAMPLES} new, 1 failed")
    page.screenshot(path=shots / "11-history.png")
    rows.nth(1).click()
    job_page = page.get_by_test_id("job-page")
    expect(job_page).to_be_visible()
    assert page.url.endswith(f"/jobs/{analysed['first']['_id']}")
    failed = page.locator("[data-outcome=failed]")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("Removed video")
    expect(failed).to_contain_text("no downloadable source")
    expect(failed).to_contain_text("Facebook no longer offers this video")
    expect(page.locator("[data-outcome=analyzed]")).to_have_count(SAMPLES)
    page.screenshot(path=shots / "12-job-page.png", full_page=True)

    # The page is a real address: a reload shows it again.
    page.reload()
    expect(page.locator("[data-outcome=failed]")).to_contain_text("no downloadable source")
    # A single-video ad: a dynamic creative's figures belong to the ad, not to one of its videos.
    # (Results are listed as videos finish, so `.first` would be any of them.)
    analysed_row = page.locator("[data-outcome=analyzed]").filter(has_text="SmileSonic toothbrush")
    analysed_row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Video analysis")).to_be_visible()
    expect(page.get_by_test_id("analysis-card")).to_be_visible()
    expect(page.get_by_test_id("performance")).to_contain_text("Hook rate")
    page.go_back()
    expect(page.get_by_test_id("job-page")).to_be_visible()
    context.close()


def test_filter_sort_and_export_csv(
    browser: Any, server: str, shots: Path, analysed: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    context = _signed_in(browser, analysed["headers"], accept_downloads=True)
    page = context.new_page()
    page.goto(server + "/")
    cards = page.get_by_test_id("analysis-card")
    expect(cards).to_have_count(SAMPLES)

    page.get_by_label("Search transcripts").fill("zebra")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("No analysed video matches these filters.")).to_be_visible()
    page.get_by_label("Search transcripts").fill("smart mug")
    page.get_by_role("button", name="Apply").click()
    expect(cards).to_have_count(SAMPLES)
    page.get_by_label("Sort by").select_option("hook_rate")
    expect(page).to_have_url(f"{server}/?q=smart+mug&sort=hook_rate")
    expected = httpx.get(
        f"{server}{API}/",
        headers=analysed["headers"],
        params={"q": "smart mug", "sort": "hook_rate", "limit": 100},
    ).json()
    titles = [a["ad_names"][0] for a in expected]
    expect(cards.locator("h3")).to_have_text(titles)
    rates = [a["performance"]["hook_rate"] for a in expected if a["performance"]]
    assert rates == sorted(rates, reverse=True) and len(rates) >= 8
    page.screenshot(path=shots / "13-filtered-sorted.png")

    with page.expect_download() as info:
        page.get_by_role("button", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename == "analyses.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    assert [row["ad_names"].split(" | ")[0] for row in table] == titles
    assert all(row["transcript"] and row["hook.type"] for row in table)
    assert {"score", "offer", "call_to_action.text", "hook_rate", "hold_rate"} <= set(table[0])

    page.get_by_label("Offer").select_option("false")
    expect(page.get_by_text("No analysed video matches these filters.")).to_be_visible()
    page.get_by_role("button", name="Clear").click()
    expect(cards).to_have_count(SAMPLES)
    context.close()


def test_connection_is_checked_and_errors_say_what_to_do(
    browser: Any, server: str, shots: Path
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    register(page, server)
    page.get_by_role("link", name="Connection", exact=True).click()
    error = page.get_by_test_id("connection-error")

    def save(token: str, account: str) -> None:
        page.get_by_label("Access token").fill(token)
        page.get_by_label("Ad account ID").fill(account)
        page.get_by_role("button", name="Save connection").click()

    save("sandbox-expired", "act_1234567890")
    expect(error).to_contain_text("Facebook did not accept this access token")
    page.screenshot(path=shots / "14-connection-bad-token.png")
    save("sandbox", "act_999")
    expect(error).to_contain_text("Facebook has no ad account act_999")
    save("sandbox", "not-an-account")
    expect(error).to_contain_text("Ad account ID: an ad account id is 'act_' followed by digits")
    for raw in ("/api/", "Value error", "String should", "body."):
        expect(error).not_to_contain_text(raw)
    expect(page.get_by_test_id("saved-credentials")).to_have_count(0)

    save("sandbox", "1234567890")
    saved = page.get_by_test_id("saved-credentials")
    expect(saved).to_contain_text("Brewly & Friends (sandbox)")
    expect(saved).to_contain_text("USD")
    expect(saved).to_contain_text("active")
    expect(page.locator(".alert.success")).to_contain_text(
        "Connected to Brewly & Friends (sandbox)"
    )
    page.screenshot(path=shots / "15-connection-saved.png")
    page.close()


def test_ads_view_with_performance_and_the_charts(
    browser: Any, server: str, shots: Path, analysed: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    context = _signed_in(browser, analysed["headers"])
    page = context.new_page()
    page.goto(server + "/ads")
    groups = page.get_by_test_id("ad-group")
    expect(groups.first).to_be_visible()
    coffee = groups.filter(has_text="Brewly coffee - prospecting")
    expect(coffee.get_by_test_id("ad-row")).to_have_count(2)  # two ads share that video
    expect(coffee.get_by_test_id("hook-rate").first).to_have_text(re.compile(r"^\d+\.\d%$"))
    expect(coffee).to_contain_text("$")
    expect(page.get_by_text("Ads without a video")).to_be_visible()
    page.screenshot(path=shots / "16-ads.png", full_page=True)

    page.get_by_role("link", name="Compare", exact=True).click()
    scatter = page.get_by_test_id("scatter-chart")
    expect(scatter.locator("svg.recharts-surface[role=application]")).to_be_visible()
    assert scatter.locator(".recharts-scatter-symbol").count() >= 8
    bars = page.get_by_test_id("hook-type-chart").locator(".recharts-bar-rectangle")
    expect(bars.first).to_be_visible()
    table = page.get_by_test_id("compare-table")
    page.get_by_role("button", name="Score").click()
    expect(table.locator("th").filter(has_text="Score")).to_have_attribute(
        "aria-sort", "descending"
    )
    page.screenshot(path=shots / "17-compare.png", full_page=True)
    context.close()


def test_phone_width_has_no_sideways_scroll(
    browser: Any, server: str, shots: Path, analysed: dict[str, Any]
) -> None:
    context = _signed_in(
        browser, analysed["headers"], viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page = context.new_page()
    pages = [*APP_PAGES, f"/jobs/{analysed['first']['_id']}"]
    for i, path in enumerate(pages):
        page.goto(server + path)
        page.get_by_role("main").wait_for()
        page.wait_for_load_state("networkidle")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        name = path.strip("/").split("/")[0] or "analysis"
        page.screenshot(path=shots / f"2{i}-mobile-{name}.png")
        if page.locator("table").count():
            page.locator("table").first.scroll_into_view_if_needed()
            page.screenshot(path=shots / f"2{i}-mobile-{name}-table.png")
        assert widths[0] <= widths[1], (path, widths)
    context.close()
    signed_out = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = signed_out.new_page()
    page.goto(server + "/")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert page.get_by_role("main").count() == 1
    page.screenshot(path=shots / "20-mobile-sign-in.png", full_page=True)
    signed_out.close()


def test_a_second_device_sees_the_job_start_and_end(
    browser: Any, server: str, shots: Path, fake_openai: tuple[str, FakeOpenAIConfig]
) -> None:
    """Two browser contexts (two devices): B sees A's job start, and its list refreshes at the end."""
    from playwright.sync_api import expect

    config = fake_openai[1]
    # Slow transcriptions keep the job running longer than the web app's discovery poll (5 s),
    # however loaded the machine; they speed up once the phone has seen the job.
    config.transcription_latency_seconds = 8.0
    try:
        _email, headers = _api_user(server)
        phone = _signed_in(browser, headers).new_page()
        laptop = _signed_in(browser, headers).new_page()
        phone.goto(server + "/")
        expect(phone.get_by_text("No analysed videos yet")).to_be_visible()
        laptop.goto(server + "/")
        laptop.get_by_role("button", name="Start analysis").click()
        panel = laptop.get_by_test_id("job-panel")
        expect(panel).to_have_attribute("data-status", "running")
        job_id = panel.locator(".mono").inner_text()
        # The laptop looks elsewhere while the job runs: it gets a toast at the end.
        laptop.get_by_role("link", name="Ads", exact=True).click()

        phone_panel = phone.get_by_test_id("job-panel")
        expect(phone_panel.locator(".mono")).to_have_text(job_id, timeout=15_000)
        config.transcription_latency_seconds = 0.0
        expect(phone.get_by_test_id("live-announcer")).not_to_be_empty()
        phone.screenshot(path=shots / "30-second-device.png")
        expect(phone_panel).to_have_attribute("data-status", "completed", timeout=JOB_TIMEOUT_MS)
        expect(phone.get_by_test_id("analysis-card")).to_have_count(SAMPLES)
        expect(phone.get_by_test_id("live-announcer")).to_contain_text("Analysis completed")

        toast = laptop.get_by_test_id("toast")
        expect(toast).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(toast).to_contain_text("Analysis completed")
        laptop.screenshot(path=shots / "31-toast.png")
        toast.get_by_role("link").click()
        expect(laptop.get_by_test_id("job-page")).to_have_attribute("data-status", "completed")
    finally:
        config.transcription_latency_seconds = 0.0
