"""/metrics with several processes: each worker writes its values, the server sums them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adanalysis.config import Settings

ROOT = Path(__file__).resolve().parents[2]


async def test_metrics_sum_the_jobs_of_every_worker_process(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: httpx.AsyncClient
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.monitoring.one_job_process",
                settings.sqlalchemy_url,
                str(tmp_path / f"data{i}"),
            ],
            env=env,
            cwd=ROOT,
        )
        for i in range(2)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    assert len(list(shared.glob("counter_*.db"))) == 2, "one file of values per process"

    # This server reads the shared folder instead of its own memory.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    r = await client.get("/metrics")
    assert r.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }
    steps = (("job_type", "test_steps"),)
    assert samples[("adanalysis_jobs_started_total", steps)] == 2
    finished = (("job_type", "test_steps"), ("status", "completed"))
    assert samples[("adanalysis_jobs_finished_total", finished)] == 2
    assert samples[("adanalysis_job_duration_seconds_count", finished)] == 2
    assert samples[("adanalysis_queue_jobs", (("status", "pending"),))] == 0
