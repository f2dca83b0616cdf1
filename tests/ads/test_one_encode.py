"""The speech child encodes an ad's first window once, and transcribes it exactly as before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Run in a child: the test process itself must not load the speech libraries (BLAS threads
# in a process that later forks are what froze the server).
COMPARE = """
import json, sys
from faster_whisper import WhisperModel
from adanalysis.ads.speech import SpeechWorker

model_dir, paths = sys.argv[1], sys.argv[2:]
stock = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=1)
worker = SpeechWorker(model=model_dir, compute_type="int8", cpu_threads=1, vad_filter=True)
encodes = []
real_encode = WhisperModel.encode
WhisperModel.encode = lambda self, features: encodes.append(1) or real_encode(self, features)
out = []
for path in paths:
    audio = worker.load_audio(path)  # the same samples for both
    segments, info = stock.transcribe(audio, beam_size=1, vad_filter=True,
                                      condition_on_previous_text=False)
    expected = [[round(s.start, 2), round(s.end, 2), s.text.strip()] for s in segments]
    encodes.clear()
    got = worker({"path": path})
    if "error" in got:
        out.append({"error": got["error"]})
        continue
    out.append({
        "expected": [info.language, expected],
        "got": [got["language"], [[s["start"], s["end"], s["text"]] for s in got["segments"]]],
        "duration": got["duration"],
        "encodes": len(encodes),
    })
print(json.dumps(out))
"""


def test_a_short_ad_is_encoded_once_with_the_same_transcript(
    whisper_dir: Path, samples_dir: Path
) -> None:
    videos = sorted(samples_dir.glob("*.mp4"))[:3]
    done = subprocess.run(
        [sys.executable, "-c", COMPARE, str(whisper_dir), *map(str, videos)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(whisper_dir)},
        check=True,
    )
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) == 3
    for result in results:
        assert result["duration"] < 30  # one window: the case the double encoding hit
        # Same language, same segments, same timestamps as stock faster-whisper.
        assert result["got"] == result["expected"]
        assert result["got"][1], "a sample ad has speech"
        # Stock faster-whisper encodes this window twice (language detection, then decoding).
        assert result["encodes"] == 1
