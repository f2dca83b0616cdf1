"""The web app in a real browser against a real server: sign up, connect, analyse, cancel, resume."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx

from adanalysis.sandbox.openai_fake import FakeOpenAIConfig
from tests.e2e.conftest import JOB_TIMEOUT_MS, PASSWORD, connect, progress, register


def test_analyse_watch_and_browse_results(browser: Any, server: str, shots: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server + "/")
    expect(page.get_by_role("heading", name="Understand why your video ads work.")).to_be_visible()
    page.screenshot(path=shots / "01-sign-in.png")
    email = register(page, server)

    # Starting without credentials explains what to do and links to the form.
    page.get_by_role("button", name="Start analysis").click()
    error = page.get_by_test_id("start-error")
    expect(error).to_contain_text("No Facebook ad account is connected yet")
    expect(error).not_to_contain_text("/api/")
    error.get_by_role("link", name=re.compile("connection form")).click()
    expect(page.get_by_role("heading", name="Facebook connection")).to_be_visible()
    page.get_by_role("button", name="Fill in demo values").click()
    expect(page.get_by_label("Access token")).to_have_value("sandbox")
    connect(page)
    expect(page.get_by_test_id("start-error")).to_have_count(0)
    page.screenshot(path=shots / "02-connected.png")

    page.get_by_role("button", name="Start analysis").click()
    panel = page.get_by_test_id("job-panel")
    expect(panel).to_be_visible()
    seen_progress: set[int] = set()
    seen_messages: set[str] = set()
    deadline = time.monotonic() + JOB_TIMEOUT_MS / 1000
    while panel.get_attribute("data-status") not in {"completed", "failed", "cancelled"}:
        assert time.monotonic() < deadline, f"job did not finish; saw {seen_progress}"
        seen_progress.add(progress(page))
        seen_messages.add(page.get_by_test_id("job-message").inner_text())
        if len(seen_progress) == 3:
            page.screenshot(path=shots / "03-running.png")
        page.wait_for_timeout(100)
    page.screenshot(path=shots / "04-completed.png", full_page=True)
    assert panel.get_attribute("data-status") == "completed", page.get_by_test_id(
        "job-message"
    ).inner_text()
    assert any(0 < p < 100 for p in seen_progress), seen_progress
    assert any(
        re.search(r"Downloading|Transcribing|Analyzing|Fetching|Getting", m) for m in seen_messages
    ), seen_messages
    expect(page.get_by_test_id("job-message")).to_contain_text("Analysis completed successfully")
    expect(page.get_by_test_id("job-progress")).to_have_text("100%")

    # The analyses list refreshed by itself.
    cards = page.get_by_test_id("analysis-card")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 2
    expect(cards.filter(has_text="Shop now").first).to_be_visible()
    cards.first.get_by_text("Transcript").click()
    page.screenshot(path=shots / "05-analyses.png", full_page=True)
    cards.first.screenshot(path=shots / "05b-card.png")

    page.get_by_role("link", name="History", exact=True).click()
    history = page.get_by_test_id("job-history")
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history.locator("tbody tr").first).to_have_attribute("data-status", "completed")
    expect(history).to_contain_text("act_1234567890")
    page.screenshot(path=shots / "06-history.png")

    # Sign out and back in: the work is still there.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("wrong-password-1")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_test_id("user-email")).to_have_text(email)
    expect(page.get_by_test_id("analysis-card").first).to_be_visible()
    context.close()


def test_resume_after_reload_and_cancel(
    browser: Any, server: str, shots: Path, fake_openai: tuple[str, FakeOpenAIConfig]
) -> None:
    from playwright.sync_api import expect

    config = fake_openai[1]
    config.transcription_latency_seconds = 1.5  # long enough to reload and cancel mid-job
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        register(page, server)
        connect(page)

        page.get_by_role("button", name="Start analysis").click()
        panel = page.get_by_test_id("job-panel")
        expect(panel).to_have_attribute("data-status", "running")
        job_id = panel.locator(".mono").inner_text()
        page.wait_for_function(
            "() => +document.querySelector('[role=progressbar]').getAttribute('aria-valuenow') >= 20"
        )

        # Leave and come back: the page finds the running job again.
        page.reload()
        expect(panel).to_be_visible()
        expect(panel.locator(".mono")).to_have_text(job_id)
        expect(panel).to_have_attribute("data-status", "running")
        assert progress(page) >= 20
        page.screenshot(path=shots / "07-resumed.png")

        # A second tab shows the same job, and a second start attaches to it (409).
        other = context.new_page()
        other.goto(server + "/")
        expect(other.get_by_test_id("job-panel").locator(".mono")).to_have_text(job_id)

        panel.get_by_role("button", name="Cancel").click()
        expect(panel).to_have_attribute("data-status", "cancelled", timeout=JOB_TIMEOUT_MS)
        expect(panel).to_contain_text("Cancelled")
        expect(other.get_by_test_id("job-panel")).to_have_attribute("data-status", "cancelled")
        page.screenshot(path=shots / "08-cancelled.png")

        page.get_by_role("link", name="History", exact=True).click()
        row = page.locator(f"tr[data-job-id='{job_id}']")
        expect(row).to_have_attribute("data-status", "cancelled")
        context.close()
    finally:
        config.transcription_latency_seconds = 0.0


def test_start_attaches_to_a_job_started_elsewhere(
    browser: Any, server: str, fake_openai: tuple[str, FakeOpenAIConfig]
) -> None:
    """A 409 on start shows the running job instead of an error; without WebSocket, it polls."""
    from playwright.sync_api import expect

    config = fake_openai[1]
    config.transcription_latency_seconds = 1.5
    try:
        context = browser.new_context()
        context.add_init_script("delete window.WebSocket")
        page = context.new_page()
        register(page, server)
        connect(page)
        token = page.evaluate("() => localStorage.getItem('adanalysis.token')")
        started = httpx.post(
            f"{server}/api/v1/ad_analysis/start-analysis/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        # This tab has not looked for jobs since it loaded: its start gets the 409.
        page.get_by_role("button", name="Start analysis").click()
        panel = page.get_by_test_id("job-panel")
        expect(panel.locator(".mono")).to_have_text(job_id)
        expect(page.get_by_text("already in progress")).to_be_visible()
        expect(panel).to_contain_text("polling")
        expect(page.get_by_test_id("job-progress")).not_to_have_text("0%")
        panel.get_by_role("button", name="Cancel").click()
        expect(panel).to_have_attribute("data-status", "cancelled", timeout=JOB_TIMEOUT_MS)
        context.close()
    finally:
        config.transcription_latency_seconds = 0.0
