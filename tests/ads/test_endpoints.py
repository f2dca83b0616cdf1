"""Analyses endpoints, batch jobs over several accounts, the legacy endpoint, live updates, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.ads.running import API, Running, start
from tests.conftest import wait_for_status

from adanalysis.config import Settings
from adanalysis.sandbox.graph import SECOND_ACCOUNT_ID, SECOND_ACCOUNT_VIDEOS
from adanalysis.sandbox.samples import load_samples

ROOT = Path(__file__).resolve().parents[2]


async def test_batch_of_accounts_in_one_job(openai_settings: Settings) -> None:
    """`account_ids` analyses every account in one job, each analysis tagged with its account."""
    async with Running(openai_settings) as run:
        await start(run.client, run.user)  # saves credentials; let this first job finish
        r = await run.client.get(f"{API}/jobs/", headers=run.user.headers)
        first = r.json()[0]["_id"]
        await wait_for_status(run.client, first, run.user.headers, {"completed"})
        r = await run.client.post(
            f"{API}/start-analysis/",
            headers=run.user.headers,
            json={"account_ids": ["act_1234567890", SECOND_ACCOUNT_ID.removeprefix("act_")]},
        )
        assert r.status_code == 202
        job = await wait_for_status(
            run.client, r.json()["job_id"], run.user.headers, {"completed", "failed"}
        )
        assert job["status"] == "completed", job["error_message"]
        assert job["parameters"]["account_ids"] == ["act_1234567890", SECOND_ACCOUNT_ID]
        assert job["result_count"] == SECOND_ACCOUNT_VIDEOS, (
            "the first account's videos were done before"
        )
        second = (
            await run.client.get(
                f"{API}/", headers=run.user.headers, params={"account_id": SECOND_ACCOUNT_ID}
            )
        ).json()
        assert len(second) == SECOND_ACCOUNT_VIDEOS
        assert {a["account_id"] for a in second} == {SECOND_ACCOUNT_ID}


async def test_analyses_paging_and_isolation(openai_settings: Settings) -> None:
    """Newest first with a cursor, a job filter, 404 for others' analyses and bad ids."""
    async with Running(openai_settings) as run:
        job_id = await start(run.client, run.user)
        await wait_for_status(run.client, job_id, run.user.headers, {"completed"})
        all_rows = (
            await run.client.get(f"{API}/", headers=run.user.headers, params={"limit": 100})
        ).json()
        assert len(all_rows) == len(load_samples())
        r = await run.client.get(f"{API}/", headers=run.user.headers, params={"limit": 4})
        page = r.json()
        r2 = await run.client.get(
            f"{API}/",
            headers=run.user.headers,
            params={"limit": 100, "before": r.headers["x-next-before"]},
        )
        assert [a["_id"] for a in page + r2.json()] == [a["_id"] for a in all_rows]
        by_job = (
            await run.client.get(f"{API}/", headers=run.user.headers, params={"job_id": job_id})
        ).json()
        assert len(by_job) == len(all_rows)
        assert (
            await run.client.get(f"{API}/{'0' * 24}", headers=run.user.headers)
        ).status_code == 404
        assert (
            await run.client.get(f"{API}/not-an-id", headers=run.user.headers)
        ).status_code == 404
        bad = await run.client.get(
            f"{API}/", headers=run.user.headers, params={"account_id": "act_x"}
        )
        assert bad.status_code == 422
        assert (await run.client.get(f"{API}/")).status_code == 401


async def test_legacy_analyze_runs_the_same_job(openai_settings: Settings) -> None:
    """The deprecated endpoint waits for a real job and returns its analyses, flagged deprecated."""
    async with Running(openai_settings) as run:
        await run.client.put(
            f"{API}/credentials",
            headers=run.user.headers,
            json={"access_token": "sandbox", "account_id": "act_1234567890"},
        )
        r = await run.client.post(f"{API}/analyze/", headers=run.user.headers)
        assert r.status_code == 200, r.text
        assert r.headers["deprecation"] == "true"
        assert len(r.json()) == len(load_samples())
        jobs = (await run.client.get(f"{API}/jobs/", headers=run.user.headers)).json()
        assert [j["status"] for j in jobs] == ["completed"]
        spec = (await run.client.get("/openapi.json")).json()
        assert spec["paths"][f"{API}/analyze/"]["post"]["deprecated"] is True


async def test_legacy_analyze_answers_user_errors_4xx_and_outages_503(
    openai_settings: Settings,
) -> None:
    """The user's own token or account is a 400 with the seed's message, not a 502."""
    cases = [
        # (token, account, status, message)
        ("sandbox-expired", "act_1234567890", 400, "Invalid Facebook access token."),
        ("sandbox-no-permission", "act_1234567890", 400, "permission"),
        ("sandbox", "act_999", 400, "Check the ad account id"),
        ("sandbox-rate-limited", "act_1234567890", 503, "Facebook API rate limit exceeded."),
    ]
    async with Running(openai_settings) as run:
        r = await run.client.post(f"{API}/analyze/", headers=run.user.headers)
        assert r.status_code == 400 and "No Facebook credentials" in r.json()["detail"]
        for token, account, status, message in cases:
            r = await run.client.put(
                f"{API}/credentials",
                headers=run.user.headers,
                json={"access_token": token, "account_id": account},
            )
            assert r.status_code == 200
            r = await run.client.post(f"{API}/analyze/", headers=run.user.headers)
            assert r.status_code == status, (token, r.status_code, r.text)
            assert message in r.json()["detail"], (token, r.text)
            assert r.headers["deprecation"] == "true"


def test_legacy_status_of_each_way_a_job_ends() -> None:
    from adanalysis.ads.router import legacy_status

    assert legacy_status("cancelled", None) == 409
    assert legacy_status("failed", "facebook_invalid_token") == 400
    assert legacy_status("failed", "facebook_credentials_missing") == 400
    assert legacy_status("failed", "network_timeout") == 503
    assert legacy_status("failed", "internal_error") == 502
    assert legacy_status("failed", None) == 502


def test_websocket_streams_progress_to_the_end(openai_settings: Settings) -> None:
    """The WebSocket sends the job, then its updates, ending with the final status."""
    from adanalysis.main import create_app

    with TestClient(create_app(openai_settings)) as client:
        email, password = "ws@example.com", "s3cure-pass"
        client.post("/api/v1/auth/register", json={"email": email, "password": password})
        token = client.post(
            "/api/v1/auth/token", data={"username": email, "password": password}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        client.put(
            f"{API}/credentials",
            headers=headers,
            json={"access_token": "sandbox", "account_id": "act_1234567890"},
        )
        job_id = client.post(f"{API}/start-analysis/", headers=headers).json()["job_id"]
        events = []
        with client.websocket_connect(f"{API}/ws/jobs/{job_id}?token={token}") as ws:
            while True:
                event = ws.receive_json()
                events.append(event)
                if event["status"] in {"completed", "failed", "cancelled"}:
                    break
        assert events[0]["_id"] == job_id
        assert events[-1]["status"] == "completed"
        assert events[-1]["completed_at"] and events[-1]["actual_duration_seconds"] is not None
        progress = [e["progress"] for e in events]
        assert progress == sorted(progress)
        with pytest.raises(Exception):  # noqa: B017 - starlette raises WebSocketDisconnect
            with client.websocket_connect(f"{API}/ws/jobs/{job_id}?token=bad") as ws:
                ws.receive_json()


def test_cli_analyze_on_the_sandbox(tmp_path: Path, whisper_dir: Path, settings: Settings) -> None:
    """`adanalysis analyze --sandbox` runs the pipeline in the terminal and prints a summary."""
    env = {
        **os.environ,
        "ADANALYSIS_DATABASE_URL": settings.sqlalchemy_url,
        "ADANALYSIS_DATA_DIR": str(tmp_path / "data"),
        "ADANALYSIS_WHISPER_MODEL": str(whisper_dir),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "200",
    }
    cmd = [sys.executable, "-m", "adanalysis", "analyze", "--sandbox"]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Processed {len(load_samples())} ads." in done.stdout
    assert "Shop now" in done.stdout
    bad = subprocess.run(
        [*cmd, "--account", "nope"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "act_" in bad.stderr
