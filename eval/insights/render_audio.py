"""Voice every eval script with Debian speech engines into small committed Opus files.

Each ad gets one of several voices (espeak-ng variants, flite voices, festival voices) by a seeded
shuffle, so speech-recognition errors of many kinds are part of the evaluation. The engines are
installed from Debian when missing (as root), like scripts/make_sample_videos.py does for espeak-ng.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unicodedata
import wave
from pathlib import Path

import imageio_ffmpeg

HERE = Path(__file__).resolve().parent
AUDIO_DIR = HERE / "audio"
SEED = 13
PACKAGES = ("espeak-ng", "flite", "festival", "festvox-kallpc16k", "festvox-us-slt-hts")
# 16 kHz mono Opus at 16 kb/s: what Whisper hears anyway, about 30 KB per ad.
BITRATE = "16k"

# name -> the command that writes a WAV of the text file to the output path.
VOICES: dict[str, list[str]] = {
    "espeak-en-us": ["espeak-ng", "-v", "en-us", "-s", "150", "-f", "{text}", "-w", "{wav}"],
    "espeak-en-gb-rp": [
        "espeak-ng", "-v", "en-gb-x-rp", "-s", "150", "-f", "{text}", "-w", "{wav}"
    ],
    "espeak-en-us-f3": ["espeak-ng", "-v", "en-us+f3", "-s", "145", "-f", "{text}", "-w", "{wav}"],
    "espeak-en-scotland": [
        "espeak-ng", "-v", "en-gb-scotland", "-s", "150", "-f", "{text}", "-w", "{wav}"
    ],
    "flite-kal16": ["flite", "-voice", "kal16", "-f", "{text}", "-o", "{wav}"],
    "flite-slt": ["flite", "-voice", "slt", "-f", "{text}", "-o", "{wav}"],
    "flite-rms": ["flite", "-voice", "rms", "-f", "{text}", "-o", "{wav}"],
    "flite-awb": ["flite", "-voice", "awb", "-f", "{text}", "-o", "{wav}"],
    "festival-kal": ["text2wave", "-eval", "(voice_kal_diphone)", "{text}", "-o", "{wav}"],
    "festival-slt-hts": [
        "text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "{text}", "-o", "{wav}"
    ],
}  # fmt: skip


def load_ads() -> list[dict[str, object]]:
    """The labelled ads."""
    ads: list[dict[str, object]] = tomllib.loads((HERE / "ads.toml").read_text())["ad"]
    return ads


def assign_voices(ids: list[str]) -> dict[str, str]:
    """Each ad's voice: a seeded shuffle of the ids dealt round the voices."""
    order = sorted(ids)
    random.Random(SEED).shuffle(order)
    names = list(VOICES)
    return {ad_id: names[i % len(names)] for i, ad_id in enumerate(order)}


def ensure_engines() -> None:
    """Install the speech engines from Debian when one is missing and we are root."""
    if (
        all(shutil.which(b) for b in ("espeak-ng", "flite", "text2wave"))
        and Path("/usr/share/festival/voices/us/cmu_us_slt_arctic_hts").is_dir()
    ):
        return
    if os.geteuid() != 0:
        sys.exit(f"speech engines missing: run `sudo apt-get install -y {' '.join(PACKAGES)}`")
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", *PACKAGES],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def wav_seconds(path: Path) -> float:
    """Duration of a WAV file in seconds."""
    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


def render(script: str, voice: str, out: Path, ffmpeg: str, workdir: Path) -> float:
    """Speak script with voice into out (Opus); return the duration in seconds."""
    text = workdir / "script.txt"
    # flite and festival read bytes as Latin-1 letters: give them plain ASCII ("café" -> "cafe").
    plain = unicodedata.normalize("NFKD", script).encode("ascii", "ignore").decode()
    text.write_text(plain + "\n")
    wav = workdir / "speech.wav"
    command = [a.format(text=text, wav=wav) for a in VOICES[voice]]
    subprocess.run(command, check=True, capture_output=True)
    seconds = wav_seconds(wav)
    subprocess.run(
        [
            ffmpeg, "-y", "-hide_banner", "-loglevel", "error", "-i", str(wav),
            "-af", "apad=pad_dur=0.5", "-ac", "1", "-ar", "16000",
            "-c:a", "libopus", "-b:a", BITRATE, "-application", "voip",
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
            str(out),
        ],
        check=True,
    )  # fmt: skip
    return round(seconds + 0.5, 2)


def main() -> None:
    """Render every ad (or only those missing with --missing) and write audio/manifest.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--missing", action="store_true", help="only ads without an audio file")
    args = parser.parse_args()
    ensure_engines()
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    ads = load_ads()
    voices = assign_voices([str(a["id"]) for a in ads])
    AUDIO_DIR.mkdir(exist_ok=True)
    manifest_path = AUDIO_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for ad in ads:
            ad_id = str(ad["id"])
            out = AUDIO_DIR / f"{ad_id}.opus"
            if args.missing and out.exists() and ad_id in manifest:
                continue
            seconds = render(str(ad["script"]), voices[ad_id], out, ffmpeg, Path(tmp))
            manifest[ad_id] = {"file": out.name, "voice": voices[ad_id], "seconds": seconds}
            print(f"{ad_id}: {voices[ad_id]}, {seconds:.1f} s, {out.stat().st_size / 1024:.0f} KB")
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")


if __name__ == "__main__":
    main()
