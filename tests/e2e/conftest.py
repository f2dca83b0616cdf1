"""Browser-test fixtures: a real server on the sandbox, Debian's chromium, screenshot folder."""

from __future__ import annotations

import os
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
# The environment and folder each running server (by base URL) was started with, for commands
# that must reach the same database (adanalysis users create --admin).
SERVER_ENVS: dict[str, tuple[dict[str, str], Path]] = {}
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
    SERVER_ENVS[base] = (env, data_dir)
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
def shots() -> Path:
    """Where screenshots go: e2e-screenshots/ (gitignored), or ADANALYSIS_E2E_SCREENSHOTS."""
    path = Path(os.environ.get("ADANALYSIS_E2E_SCREENSHOTS") or ROOT / "e2e-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def register(page: Any, base: str) -> str:
    from playwright.sync_api import expect

    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(base + "/")
    page.get_by_role("tab", name="Create account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account", exact=True).click()
    expect(page.get_by_test_id("user-email")).to_have_text(email)
    return email


def connect(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Connection", exact=True).click()
    page.get_by_label("Access token").fill("sandbox")
    page.get_by_label("Ad account ID").fill("act_1234567890")
    page.get_by_role("button", name="Save connection").click()
    saved = page.get_by_test_id("saved-credentials")
    expect(saved).to_contain_text("act_1234567890")
    expect(saved).to_contain_text("...")  # the mask
    page.get_by_role("link", name="Analysis", exact=True).click()


def progress(page: Any) -> int:
    return int(page.get_by_role("progressbar").get_attribute("aria-valuenow") or 0)
