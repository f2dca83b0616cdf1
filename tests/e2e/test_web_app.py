"""The web app in a real browser against a real server: sign up, connect, analyse, cancel, resume."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adanalysis.sandbox.openai_fake import FakeOpenAIConfig, create_openai_fake
from adanalysis.serving import serve_app_in_thread

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("ADANALYSIS_E2E_CHROMIUM", "/usr/bin/chromium"))
STATIC_INDEX = ROOT / "src" / "adanalysis" / "static" / "index.html"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-42"
JOB_TIMEOUT_MS = 60_000


def _unavailable(reason: str) -> None:
    """In CI a missing browser is a failure; on a developer machine the test is skipped."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (the e2e web test must run in CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def sync_playwright() -> Any:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: pip install -e '.[dev]'")
    if not STATIC_INDEX.exists():
        _unavailable(f"{STATIC_INDEX} is missing: build the web app (cd web && npm run build)")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[tuple[str, FakeOpenAIConfig]]:
    config = FakeOpenAIConfig()
    with serve_app_in_thread(create_openai_fake(config)) as url:
        yield url, config


@pytest.fixture(scope="module")
def server(
    sync_playwright: Any,
    fake_openai: tuple[str, FakeOpenAIConfig],
    migrated_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """`adanalysis serve` in a subprocess, in sandbox mode, with the fake OpenAI."""
    data_dir = tmp_path_factory.mktemp("e2e-data")
    port = _free_port()
    env = {
        **os.environ,
        "ADANALYSIS_DATA_DIR": str(data_dir),
        "ADANALYSIS_SANDBOX": "true",
        "ADANALYSIS_SECRET_KEY": "x" * 48,
        "ADANALYSIS_OPENAI_API_KEY": "sk-test",
        "ADANALYSIS_OPENAI_BASE_URL": f"{fake_openai[0]}/v1",
        "ADANALYSIS_SANDBOX_DOWNLOAD_LATENCY_SECONDS": "0.5",
        "ADANALYSIS_LOG_LEVEL": "WARNING",
    }
    env.pop("ADANALYSIS_DATABASE_URL", None)
    if os.environ.get("ADANALYSIS_TEST_DB") == "postgresql":
        env["ADANALYSIS_DATABASE_URL"] = migrated_database  # the session's fresh PG database
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "adanalysis", "serve", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited:\n{(data_dir / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{(data_dir / 'server.log').read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(sync_playwright: Any, server: str) -> Iterator[Any]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go (ADANALYSIS_E2E_SCREENSHOTS to keep them somewhere known)."""
    where = os.environ.get("ADANALYSIS_E2E_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _register(page: Any, base: str) -> str:
    from playwright.sync_api import expect

    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(base + "/")
    page.get_by_role("tab", name="Create account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account", exact=True).click()
    expect(page.get_by_test_id("user-email")).to_have_text(email)
    return email


def _connect(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Connection", exact=True).click()
    page.get_by_label("Access token").fill("sandbox")
    page.get_by_label("Ad account ID").fill("act_1234567890")
    page.get_by_role("button", name="Save connection").click()
    saved = page.get_by_test_id("saved-credentials")
    expect(saved).to_contain_text("act_1234567890")
    expect(saved).to_contain_text("...")  # the mask
    page.get_by_role("link", name="Analysis", exact=True).click()


def _progress(page: Any) -> int:
    return int(page.get_by_role("progressbar").get_attribute("aria-valuenow") or 0)


def test_analyse_watch_and_browse_results(browser: Any, server: str, shots: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server + "/")
    expect(page.get_by_role("heading", name="Understand why your video ads work.")).to_be_visible()
    page.screenshot(path=shots / "01-sign-in.png")
    email = _register(page, server)

    # Starting without credentials explains what to do and links to the form.
    page.get_by_role("button", name="Start analysis").click()
    error = page.get_by_test_id("start-error")
    expect(error).to_contain_text("No Facebook credentials saved")
    error.get_by_role("link", name=re.compile("connection form")).click()
    expect(page.get_by_role("heading", name="Facebook connection")).to_be_visible()
    page.get_by_role("button", name="Fill in demo values").click()
    expect(page.get_by_label("Access token")).to_have_value("sandbox")
    _connect(page)
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
        seen_progress.add(_progress(page))
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
        _register(page, server)
        _connect(page)

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
        assert _progress(page) >= 20
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
        _register(page, server)
        _connect(page)
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
