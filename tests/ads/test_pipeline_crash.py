"""A real server killed with SIGKILL mid-analysis: no speech process outlives it, the job resumes
without redoing saved videos, and the temporary folders (video and audio) the kill strands are
swept by the restart before it resumes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.jobs.support import service_for, services_for
from tests.jobs.test_recovery import ROOT, _free_port, _wait_healthy, wait_until
from tests.processes import alive, children_of, eventually, maps_of

from adanalysis.ads.credentials import save_credentials
from adanalysis.ads.jobs import start_ad_analysis_job
from adanalysis.ads.models import AdAnalysis
from adanalysis.auth.service import create_user
from adanalysis.config import Settings
from adanalysis.crypto import SecretBox
from adanalysis.jobs.models import BackgroundJob
from adanalysis.sandbox.samples import load_samples

SECRET = "crash-test-secret"


def _serve(settings: Settings, port: int, log: Path, model: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ADANALYSIS_DATABASE_URL": settings.sqlalchemy_url,
        "ADANALYSIS_DATA_DIR": str(settings.data_dir),
        "ADANALYSIS_SECRET_KEY": SECRET,
        "ADANALYSIS_SANDBOX": "true",
        "ADANALYSIS_SANDBOX_DOWNLOAD_LATENCY_SECONDS": "0.3",
        "ADANALYSIS_SPEECH_WORKERS": "1",
        "ADANALYSIS_WHISPER_MODEL": str(model),
        "ADANALYSIS_HEARTBEAT_INTERVAL_SECONDS": "0.5",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "adanalysis", "serve", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def _analyses(factory: async_sessionmaker[AsyncSession]) -> dict[str, tuple[str, object]]:
    async with factory() as session:
        rows = (await session.execute(select(AdAnalysis))).scalars().all()
        return {row.video_id: (row.id, row.created_at) for row in rows}


async def test_sigkill_mid_analysis_resumes_without_redoing_videos(
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
    whisper_dir: Path,
) -> None:
    """Videos saved before the kill keep their rows; the rest are done by the second attempt."""
    async with session_factory() as session:
        user = await create_user(session, email="crash@example.com", password="pass-word-1")
        await save_credentials(
            session,
            box=SecretBox(SECRET),
            user_id=user.id,
            access_token="sandbox",
            account_id="act_1234567890",
        )
        started = await start_ad_analysis_job(
            service_for(services_for(session_factory, settings)),
            session,
            user_id=user.id,
            access_token="sandbox",
            account_id="act_1234567890",
        )
        job_id = started.id
    log = tmp_path / "serve.log"
    port = _free_port()
    proc = _serve(settings, port, log, whisper_dir)
    try:
        _wait_healthy(port, proc, log)
        deadline = time.monotonic() + 300  # a bound for busy machines, not a speed target
        # Kill while videos are on disk, so the crash strands some.
        while len(await _analyses(session_factory)) < 2 or not _workdirs(settings):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.05)
        children = children_of(proc.pid)
        speech = [pid for pid in children if "ctranslate2" in maps_of(pid)]
        assert speech, "the speech model runs in a child process"
        # ...and not in the server: no speech library, no BLAS in the process that serves.
        server_maps = maps_of(proc.pid)
        assert "ctranslate2" not in server_maps and "openblas" not in server_maps
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        eventually(lambda: not any(alive(pid) for pid in children), "children die with the server")
        stranded = _workdirs(settings)
        assert stranded and all(job_id in name for name in stranded), stranded
        before = await _analyses(session_factory)
        async with session_factory() as session:
            killed = await session.get(BackgroundJob, job_id)
            assert killed is not None and killed.status == "running"
        assert len(before) < len(load_samples()), "killed too late to test a resume"
        proc = _serve(settings, port, log, whisper_dir)
        _wait_healthy(port, proc, log)
        assert not stranded & _workdirs(settings), "the restart kept the dead run's folders"
        # A bound, not a speed target: the local model is slow on a busy shared machine.
        job = await wait_until(session_factory, job_id, {"completed", "failed"}, timeout=480)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert job.status == "completed", job.error_message
    assert job.attempts == 2
    after = await _analyses(session_factory)
    assert set(after) == {s.video_id for s in load_samples()}
    for video_id, row in before.items():
        assert after[video_id] == row, "an analysis saved before the crash was redone"
    analysed = [r["video_id"] for r in job.results or [] if r["status"] == "analyzed"]
    assert sorted(analysed) == sorted(after), (
        "each video analysed exactly once across both attempts"
    )
    assert job.result_count == len(after)
    assert _workdirs(settings) == set(), "temporary folders left after the job ended"
    async with session_factory() as session:
        rows = (await session.execute(select(AdAnalysis.video_id))).scalars().all()
    assert len(rows) == len(set(rows)), "a video was analysed twice"


def _workdirs(settings: Settings) -> set[str]:
    """The pipeline's temporary folders under the data folder."""
    tmp = settings.data_dir / "tmp"
    return {p.name for p in tmp.glob("adanalysis-*")} if tmp.is_dir() else set()
