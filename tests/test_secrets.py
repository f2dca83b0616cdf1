"""After a whole analysis with a known Facebook token, the token is nowhere but encrypted at rest.

A real `adanalysis serve` (its own logging, DEBUG level, uvicorn access lines) runs the job
against the Graph sandbox and a fake OpenAI. Searched afterwards: every log line, every HTTP
and WebSocket answer, every database row, every file the run wrote (and, while it ran, the
temporary folders). The embedded mode has no broker; the Celery mode's messages are not
covered here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.sync.client import connect

from adanalysis.config import Settings
from adanalysis.crypto import SecretBox
from adanalysis.sandbox.graph import SandboxConfig, create_graph_sandbox
from adanalysis.sandbox.openai_fake import FakeOpenAIConfig, create_openai_fake
from adanalysis.serving import serve_app_in_thread
from tests.jobs.test_recovery import ROOT, _free_port, _wait_healthy

API = "/api/v1/ad_analysis"
SECRET_KEY = "secrets-test-secret-key"
PASSWORD = "correct-horse-9"


def _serve(
    settings: Settings, port: int, log: Path, graph_url: str, openai_url: str, openai_key: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ADANALYSIS_DATABASE_URL": settings.sqlalchemy_url,
        "ADANALYSIS_DATA_DIR": str(settings.data_dir),
        "ADANALYSIS_SECRET_KEY": SECRET_KEY,
        "ADANALYSIS_GRAPH_API_URL": graph_url,
        "ADANALYSIS_OPENAI_API_KEY": openai_key,
        "ADANALYSIS_OPENAI_BASE_URL": f"{openai_url}/v1",
        "ADANALYSIS_LOG_LEVEL": "DEBUG",
        # Production logging: one JSON object a line, with the job bound on job work.
        "ADANALYSIS_ENVIRONMENT": "production",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "adanalysis", "serve", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)


class FileWatch:
    """Reads every file under a folder now and then while the run goes on."""

    def __init__(self, root: Path, needles: list[bytes]) -> None:
        self.root, self.needles = root, needles
        self.found: list[str] = []
        self.files_seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FileWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.scan()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.scan()

    def scan(self) -> None:
        # os.walk, not rglob: a job's folder removed mid-scan is skipped instead of raising
        # (which ended this watch's thread for the rest of the run).
        for folder, _subfolders, names in os.walk(self.root):
            for name in names:
                path = Path(folder) / name
                try:
                    data = path.read_bytes()
                except OSError:
                    continue  # removed while we looked
                self.files_seen.add(str(path.relative_to(self.root)))
                self.found += [f"{path}: {n!r}" for n in self.needles if n in data]


async def _all_rows(factory: async_sessionmaker[AsyncSession]) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as strings."""
    async with factory() as session:
        metadata = MetaData()
        await session.run_sync(lambda s: metadata.reflect(bind=s.connection()))
        dump: dict[str, list[dict[str, Any]]] = {}
        for table in metadata.sorted_tables:
            rows = (await session.execute(select(table))).mappings().all()
            dump[table.name] = [{k: str(v) for k, v in row.items()} for row in rows]
        return dump


async def test_the_facebook_token_is_only_ever_stored_encrypted(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    token = f"EAAKnown{uuid.uuid4().hex}Token"
    openai_key = f"sk-known-{uuid.uuid4().hex}"
    graph_app = create_graph_sandbox(SandboxConfig(extra_tokens=frozenset({token})))
    log = tmp_path / "serve.log"
    answers: list[str] = []
    with (
        serve_app_in_thread(graph_app) as graph_url,
        serve_app_in_thread(create_openai_fake(FakeOpenAIConfig())) as openai_url,
        FileWatch(settings.data_dir, [token.encode(), openai_key.encode()]) as files,
    ):
        port = _free_port()
        proc = _serve(settings, port, log, graph_url, openai_url, openai_key)
        try:
            _wait_healthy(port, proc, log)
            bearer = await _full_run(f"http://127.0.0.1:{port}", token, answers)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    logged = log.read_text()
    assert "job " in logged and "ended completed" in logged, "the run did not happen"
    assert "GET /api/v1/ad_analysis/jobs/?access_token=[redacted]" in logged
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    ends = [line for line in lines if "ended completed" in line["event"]]
    assert ends, "no JSON line for the job's end"
    for ended in ends:
        assert ended["job_id"] and ended["user_id"] and ended["job_type"] == "ad_analysis"
        assert ended["stage"], "the stage the job was in is bound on its lines"
        job_lines = [line for line in lines if line.get("job_id") == ended["job_id"]]
        assert len(job_lines) >= 2
        assert all(line["user_id"] == ended["user_id"] for line in job_lines)
    for secret, name in ((token, "Facebook token"), (openai_key, "OpenAI key"), (bearer, "JWT")):
        assert secret not in logged, f"the {name} is in the server log"
    for answer in answers:
        assert token not in answer and openai_key not in answer, answer[:500]

    rows = await _all_rows(session_factory)
    text = json.dumps(rows)
    assert token not in text and openai_key not in text
    (creds,) = rows["facebook_credentials"]
    assert SecretBox(SECRET_KEY).decrypt(creds["token_encrypted"]) == token, "stored encrypted"
    assert rows["background_jobs"], "no job ran"
    for job in rows["background_jobs"]:
        assert "'access_token': 'EAAKnow...'" in job["parameters"], job["parameters"]
    assert len(rows["ad_analyses"]) == 9, "the analysis did not run through"

    assert files.found == []
    assert any(name.startswith("tmp/adanalysis-") for name in files.files_seen), (
        "the watch never saw the temporary files: nothing was checked while the job ran"
    )


async def _full_run(base: str, token: str, answers: list[str]) -> str:
    """Sign up, save the token, run an analysis watched live, read everything back."""
    ws_base = base.replace("http://", "ws://")
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
            r = await client.request(method, url, **kwargs)
            answers.append(f"{method} {url} {r.status_code} {dict(r.headers)} {r.text}")
            return r

        email = "secret-keeper@example.com"
        await call("POST", "/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        r = await call("POST", "/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        bearer = r.json()["access_token"]
        h = {"Authorization": f"Bearer {bearer}"}
        r = await call(
            "PUT",
            f"{API}/credentials",
            headers=h,
            json={"access_token": token, "account_id": "act_1234567890"},
        )
        assert r.status_code == 200 and r.json()["access_token"] == "EAAKnow..."
        r = await call("POST", f"{API}/start-analysis/", headers=h)
        job_id = r.json()["job_id"]
        live = await asyncio.to_thread(_watch_live, f"{ws_base}{API}/ws/jobs/{job_id}", bearer)
        answers.extend(live)
        assert '"completed"' in live[-1], live[-1]
        await call("GET", f"{API}/job-status/{job_id}", headers=h)
        await call("GET", f"{API}/jobs/", headers=h)
        # A client that puts a token in a URL: the access log line must not keep it.
        await call("GET", f"{API}/jobs/", headers=h, params={"access_token": token})
        analyses = (await call("GET", f"{API}/", headers=h, params={"limit": 100})).json()
        for analysis in analyses:
            await call("GET", f"{API}/{analysis['_id']}", headers=h)
        await call("GET", f"{API}/credentials", headers=h)
        await call("POST", f"{API}/analyze/", headers=h)
        await call("GET", "/api/v1/auth/me", headers=h)
        return str(bearer)


def _watch_live(url: str, bearer: str) -> list[str]:
    """Every message of the job's WebSocket until it closes."""
    messages: list[str] = []
    deadline = time.monotonic() + 300
    with connect(f"{url}?token={bearer}", open_timeout=30) as ws:
        while time.monotonic() < deadline:
            try:
                message = ws.recv(timeout=300)
            except Exception:  # closed: the job ended
                break
            messages.append(str(message))
            if json.loads(message).get("status") in {"completed", "failed", "cancelled"}:
                break
    return messages
