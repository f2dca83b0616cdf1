"""Speech pool layouts here: one child with a thread per core, or one child per core."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from adanalysis.ads.transcription import (
    LocalWhisperTranscriber,
    bundled_model_dir,
    default_speech_workers,
)
from adanalysis.workers import WorkerPool, available_cores, stop_shared_pools

SAMPLES = sorted(
    (Path(__file__).resolve().parents[1] / "src/adanalysis/sandbox/samples").glob("*.mp4")
)
ALONE_REPEATS = 3


def rss_mb(pid: int | None) -> float:
    """Resident memory of pid in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_ready(pool: WorkerPool, workers: int) -> None:
    """Until every child has loaded the model."""
    while len(pool.states()) < workers or not all(s.ready for s in pool.states()):
        time.sleep(0.02)


async def measure(model: Path, workers: int, threads: int) -> dict[str, float]:
    """Start-up, one video alone (median of a few), and all the samples at once."""
    transcriber = LocalWhisperTranscriber(model, workers=workers, cpu_threads=threads)
    pool = transcriber.pool()
    t = time.monotonic()
    pool.start()
    await asyncio.to_thread(wait_ready, pool, workers)
    ready = time.monotonic() - t
    memory = sum(rss_mb(s.pid) for s in pool.states()) / workers
    alone = []
    for _ in range(ALONE_REPEATS):
        t = time.monotonic()
        await transcriber.transcribe(SAMPLES[0])
        alone.append(time.monotonic() - t)
    t = time.monotonic()
    await asyncio.gather(*(transcriber.transcribe(v) for v in SAMPLES))
    batch = time.monotonic() - t
    await asyncio.to_thread(stop_shared_pools)
    return {"ready": ready, "rss": memory, "alone": statistics.median(alone), "batch": batch}


async def main() -> int:
    cores = available_cores()
    layouts = sorted({(1, cores), (cores, 1)})
    with tempfile.TemporaryDirectory(prefix="adanalysis-bench-layout-") as tmp:
        model = bundled_model_dir(Path(tmp))
        results = {layout: await measure(model, *layout) for layout in layouts}
    print(f"{cores} cores; {len(SAMPLES)} sample videos (12-16 s each); bundled base model, int8")
    print(f"{'layout':<22} {'ready s':>8} {'MB/child':>9} {'1 video s':>10} {'all s':>7}")
    for (workers, threads), r in results.items():
        print(
            f"{workers} child x {threads} thread{'s' if threads > 1 else '':<3}      "
            f"{r['ready']:8.1f} {r['rss']:9.0f} {r['alone']:10.2f} {r['batch']:7.1f}"
        )
    one, per_core = results[(1, cores)], results[(cores, 1)]
    print(
        f"\nall videos, one child per core vs one child: {one['batch'] / per_core['batch']:.2f}x "
        f"faster; one video alone: {per_core['alone'] / one['alone']:.2f}x slower"
    )
    print(f"default for {cores} cores: {default_speech_workers(cores)} children")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
