"""The server never freezes: speech work runs while children are forked, under uvloop, 20 rounds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import BACKEND

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 20


@pytest.mark.skipif(BACKEND != "sqlite", reason="uses no database: runs once, in the SQLite pass")
def test_speech_work_never_freezes_the_event_loop(whisper_dir: Path, tmp_path: Path) -> None:
    """Three jobs transcribing while ffmpeg children start, 20 rounds in a row, none stuck.

    Before the speech pool this froze in the first round or two: the event loop's thread
    blocked for good in OpenBLAS's fork handler (see freeze_scenario.py). Each round is
    bounded inside the scenario (a stack dump and exit 1 if it hangs), so a freeze fails fast.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)  # the conditions users run in, without the hand-set workaround
    args = [str(ROUNDS), str(whisper_dir), str(tmp_path / "work")]
    scenario = subprocess.run(
        [sys.executable, "-m", "tests.ads.freeze_scenario", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=ROUNDS * 120,
    )
    output = scenario.stdout + scenario.stderr
    assert scenario.returncode == 0, output[-6000:]
    rounds = [line for line in scenario.stdout.splitlines() if line.startswith("round ")]
    assert len(rounds) == ROUNDS, output[-6000:]
    for line in rounds:
        words = json.loads(line.split("words ", 1)[1].split("]", 1)[0] + "]")
        assert all(n >= 5 for n in words), line  # each job really transcribed its clip
    report = json.loads(scenario.stdout.split("api process:", 1)[1].splitlines()[0])
    # The process that serves the API loaded no speech model and no BLAS library at all.
    assert report["loaded"] == [], report
    assert report["mapped"] == [], report
