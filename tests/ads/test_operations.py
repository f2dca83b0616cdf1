"""Operating a real run: /metrics after an analysis job, parsed with prometheus_client."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.ads.running import Running, start
from tests.conftest import wait_for_status

from adanalysis.config import Settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _sum(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of name whose labels include labels."""
    return sum(
        value
        for (n, series), value in samples.items()
        if n == name and set(labels.items()) <= set(series)
    )


async def test_metrics_show_the_job_that_just_ran(openai_settings: Settings) -> None:
    async with Running(openai_settings) as run:
        before = await _scrape(run.client)
        job_id = await start(run.client, run.user)
        job = await wait_for_status(run.client, job_id, run.user.headers, {"completed", "failed"})
        assert job["status"] == "completed", job
        await run.app.state.job_lifecycle.drain_hooks()
        after = await _scrape(run.client)

    def delta(name: str, **labels: str) -> float:
        return _sum(after, name, **labels) - _sum(before, name, **labels)

    ad = {"job_type": "ad_analysis"}
    assert delta("adanalysis_jobs_started_total", **ad) == 1
    assert delta("adanalysis_jobs_finished_total", **ad, status="completed") == 1
    assert delta("adanalysis_jobs_finished_total", **ad, status="failed") == 0
    assert delta("adanalysis_job_duration_seconds_count", **ad, status="completed") == 1
    assert delta("adanalysis_videos_analysed_total", **ad) == job["result_count"] > 0
    assert delta("adanalysis_job_stage_duration_seconds_count") >= 3
    assert delta("adanalysis_external_calls_total", provider="graph") >= 2
    assert (
        delta("adanalysis_external_calls_total", provider="download", kind="video")
        == (job["result_count"])
    )
    assert delta("adanalysis_external_calls_total", provider="openai") >= job["result_count"]
    assert ("adanalysis_graph_usage_percent", ()) in after
    assert _get(after, "adanalysis_queue_jobs", status="pending") == 0
    assert _get(after, "adanalysis_queue_jobs", status="running") == 0
    assert ("adanalysis_websocket_clients", ()) in after
