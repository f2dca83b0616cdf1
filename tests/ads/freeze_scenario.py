"""The conditions that froze the server, in rounds, under uvloop; run by test_no_freeze.py.

Each round is three jobs at once: each converts its clip with ffmpeg and transcribes it with the
production local transcriber, while child processes keep being started (ffmpeg probes) on the
same event loop. Before the speech pool, the model ran in this process's threads and a fork made
while its BLAS threads were busy deadlocked the event loop inside OpenBLAS's fork handler.

A round that does not end within ROUND_BOUND seconds dumps every thread's stack and exits 1
(faulthandler's own thread: it works even when the event loop is stuck in C).

Usage: python -m tests.ads.freeze_scenario ROUNDS MODEL_DIR WORK_DIR
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import sys
import time
from pathlib import Path

import uvloop

from adanalysis.ads import media
from adanalysis.ads.transcription import Transcriber, Transcript, make_transcriber
from adanalysis.config import Settings

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "adanalysis" / "sandbox" / "samples"
CLIP_SECONDS = 5
JOBS = 3
# A freeze detector, far above a round's normal time (seconds on a loaded CI machine).
ROUND_BOUND = 90
SPEECH_LIBRARIES = ("numpy", "ctranslate2", "faster_whisper", "av", "onnxruntime")


async def make_clips(work: Path, ffmpeg: str) -> list[Path]:
    """Short clips of the sample ads, so a round takes seconds, not minutes."""
    clips = []
    for i, video in enumerate(sorted(SAMPLES.glob("*.mp4"))[:6]):
        clip = work / f"clip{i}.mp4"
        cut = ["-t", str(CLIP_SECONDS), "-c", "copy", str(clip)]
        code, stderr = await media._run_ffmpeg(
            [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(video), *cut]
        )
        assert code == 0, stderr
        clips.append(clip)
    return clips


async def one_round(
    index: int, transcriber: Transcriber, clips: list[Path], work: Path, ffmpeg: str
) -> tuple[list[Transcript], int, float]:
    """Three jobs at once plus a stream of child processes; returns transcripts, forks, lag."""
    done = asyncio.Event()

    async def job(j: int) -> Transcript:
        clip = clips[(index * JOBS + j) % len(clips)]
        wav = await media.extract_audio(clip, work / f"job{j}.wav", ffmpeg=ffmpeg)
        return await transcriber.transcribe(wav)

    async def fork_storm() -> int:
        started = 0
        while not done.is_set():
            await media.probe_duration(clips[0], ffmpeg=ffmpeg)
            started += 1
            await asyncio.sleep(0.1)  # a steady stream that does not starve the transcriptions
        return started

    async def lag_probe() -> float:
        """The longest the event loop took to wake a 10 ms sleep (printed, not asserted)."""
        worst = 0.0
        loop = asyncio.get_running_loop()
        while not done.is_set():
            t = loop.time()
            await asyncio.sleep(0.01)
            worst = max(worst, loop.time() - t - 0.01)
        return worst

    storm = asyncio.create_task(fork_storm())
    lag = asyncio.create_task(lag_probe())
    try:
        transcripts = await asyncio.gather(*(job(j) for j in range(JOBS)))
    finally:
        done.set()
    return list(transcripts), await storm, await lag


async def main(rounds: int, model: Path, work: Path) -> None:
    ffmpeg = media.ffmpeg_executable()
    work.mkdir(parents=True, exist_ok=True)
    clips = await make_clips(work, ffmpeg)
    # The production engine. Two children of one thread each, whatever the machine, so every
    # CI box runs the same thing.
    settings = Settings(
        data_dir=work, whisper_model=str(model), speech_workers=2, whisper_cpu_threads=1
    )
    transcriber = make_transcriber(settings)
    assert transcriber.name == "local"
    for index in range(rounds):
        faulthandler.dump_traceback_later(ROUND_BOUND, exit=True)
        started = time.monotonic()
        transcripts, forks, lag = await one_round(index, transcriber, clips, work, ffmpeg)
        faulthandler.cancel_dump_traceback_later()
        words = [len(t.text.split()) for t in transcripts]
        took = time.monotonic() - started
        print(
            f"round {index + 1}/{rounds} ok in {took:.1f} s: words {words}, "
            f"{forks} children started meanwhile, worst loop lag {lag * 1000:.0f} ms",
            flush=True,
        )
    maps = Path("/proc/self/maps").read_text()
    report = {
        "loaded": [m for m in SPEECH_LIBRARIES if m in sys.modules],
        "mapped": sorted({lib for lib in ("openblas", "ctranslate2") if lib in maps}),
        "cores": os.cpu_count(),
    }
    print("api process:", json.dumps(report), flush=True)
    # The speech children are stopped by the pool's exit handler (kept out of this file so it
    # also runs, unchanged, against the code from before the pool: that is how it fails there).


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
