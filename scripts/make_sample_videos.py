"""Synthesize the bundled sample video ads (espeak-ng speech, solid colour) and catalog.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import imageio_ffmpeg

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "src" / "adanalysis" / "sandbox" / "samples"
# Whisper base transcribes espeak-ng best when it is slowish and American.
VOICE = "en-us"
WORDS_PER_MINUTE = "140"
# Gap between words (units of 10 ms): clearer word boundaries for short CTAs.
WORD_GAP = "4"
# Silence after the last word, so the CTA is not cut by the end of the file (seconds).
TAIL_SECONDS = 0.6


@dataclass(frozen=True)
class Sample:
    """One scripted ad."""

    file: str
    video_id: str
    title: str
    script: str
    hook_type: str
    cta: str
    offer: str | None
    keywords: list[str]
    color: str


SAMPLES = [
    Sample(
        file="coffee_question.mp4",
        video_id="1200000000000001",
        title="Brewly fresh coffee",
        script=(
            "Did you know your morning coffee could taste twice as good? "
            "We roast fresh beans and ship them to your door. "
            "Get fifty percent off your first bag. Shop now."
        ),
        hook_type="question",
        cta="Shop now",
        offer="50% off",
        keywords=["coffee", "morning", "beans"],
        color="0x6f4e37",
    ),
    Sample(
        file="toothbrush_statistic.mp4",
        video_id="1200000000000002",
        title="SmileSonic toothbrush",
        script=(
            "Nine out of ten dentists say most people brush for less than two minutes. "
            "Our smart toothbrush times it for you. "
            "Start your thirty day free trial. Order now."
        ),
        hook_type="statistic",
        cta="Order now",
        offer="free trial",
        keywords=["brush", "minutes", "trial"],
        color="0x3fa7d6",
    ),
    Sample(
        file="shoes_bold_claim.mp4",
        video_id="1200000000000003",
        title="Cloud running shoes",
        script=(
            "This is the most comfortable running shoe ever made. "
            "The soft foam sole feels like running on a cloud. "
            "Free shipping on every order this month. Shop now."
        ),
        hook_type="bold_claim",
        cta="Shop now",
        offer="free shipping",
        keywords=["running", "comfortable", "shipping"],
        color="0xe4572e",
    ),
    Sample(
        file="insoles_pain_point.mp4",
        video_id="1200000000000004",
        title="All day comfort insoles",
        script=(
            "Nothing is worse than aching feet after a long day at work. "
            "Our memory foam insoles give you comfort all day. "
            "Buy one, get one free. Order now."
        ),
        hook_type="pain_point",
        cta="Order now",
        offer="buy one get one free",
        keywords=["feet", "work", "comfort"],
        color="0x76b041",
    ),
    Sample(
        file="mealkit_command.mp4",
        video_id="1200000000000005",
        title="FreshBox meal kits",
        script=(
            "Stop wasting money on takeout. "
            "Cook healthy dinners at home in fifteen minutes with our meal kits. "
            "Your first box is free. Sign up today."
        ),
        hook_type="command",
        cta="Sign up today",
        offer="first box free",
        keywords=["money", "takeout", "healthy"],
        color="0x17bebb",
    ),
    Sample(
        file="budget_app_story.mp4",
        video_id="1200000000000006",
        title="Budget app success story",
        script=(
            "Last year, Sarah was drowning in credit card debt. "
            "Then she found a budget app that tracks every dollar. "
            "Now she saves five hundred dollars a month. Download the app."
        ),
        hook_type="story",
        cta="Download the app",
        offer=None,
        keywords=["sarah", "credit", "debt", "dollars"],
        color="0x2e294e",
    ),
    Sample(
        file="skincare_social_proof.mp4",
        video_id="1200000000000007",
        title="Natural skin care",
        script=(
            "Over one million customers trust our natural skin care. "
            "See the difference in just one week. "
            "Use code glow for twenty percent off. Shop now."
        ),
        hook_type="social_proof",
        cta="Shop now",
        offer="20% off",
        keywords=["million", "customers", "natural"],
        color="0xffc914",
    ),
    Sample(
        file="sales_coaching_statistic.mp4",
        video_id="1200000000000008",
        title="Sales coaching call",
        script=(
            "Companies that answer new leads within five minutes close twice as many deals. "
            "Our coaches show your sales team how. "
            "Get a free consultation. Book a call."
        ),
        hook_type="statistic",
        cta="Book a call",
        offer="free consultation",
        keywords=["companies", "sales", "team"],
        color="0x9b5de5",
    ),
    Sample(
        file="backpack_other.mp4",
        video_id="1200000000000009",
        title="Summit travel backpack",
        script=(
            "Meet the new Summit backpack. "
            "It is waterproof, lightweight and built for your next adventure. "
            "Free shipping this week only. Learn more."
        ),
        hook_type="other",
        cta="Learn more",
        offer="free shipping",
        keywords=["waterproof", "lightweight", "adventure"],
        color="0x555b6e",
    ),
]


def ensure_espeak() -> str:
    """The espeak-ng binary, installed from Debian when missing and we are root."""
    found = shutil.which("espeak-ng")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("espeak-ng is missing: run `sudo apt-get install -y espeak-ng`")
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "espeak-ng"], check=True)
    found = shutil.which("espeak-ng")
    if not found:
        sys.exit("espeak-ng could not be installed")
    return found


def wav_seconds(path: Path) -> float:
    """Duration of a WAV file in seconds."""
    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


def render(sample: Sample, espeak: str, ffmpeg: str, workdir: Path) -> float:
    """Write one MP4 and return its duration in seconds."""
    wav = workdir / f"{sample.video_id}.wav"
    subprocess.run(
        [
            espeak,
            "-v",
            VOICE,
            "-s",
            WORDS_PER_MINUTE,
            "-g",
            WORD_GAP,
            "-w",
            str(wav),
            sample.script,
        ],
        check=True,
    )
    duration = round(wav_seconds(wav) + TAIL_SECONDS, 2)
    out = SAMPLES_DIR / sample.file
    subprocess.run(
        [
            ffmpeg, "-y", "-hide_banner", "-loglevel", "error",
            "-f", "lavfi", "-i", f"color=c={sample.color}:s=320x180:r=10",
            "-i", str(wav),
            "-t", f"{duration}",
            "-af", f"apad=pad_dur={TAIL_SECONDS}",
            "-c:v", "libx264", "-preset", "veryslow", "-tune", "stillimage", "-crf", "40",
            "-pix_fmt", "yuv420p", "-g", "100", "-threads", "1",
            "-c:a", "aac", "-b:a", "32k", "-ac", "1", "-ar", "22050",
            # bitexact and no metadata: re-running the script gives the same bytes.
            "-map_metadata", "-1", "-fflags", "+bitexact",
            "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-movflags", "+faststart",
            str(out),
        ],
        check=True,
    )  # fmt: skip
    return duration


def main() -> None:
    """Render every sample and write the catalog."""
    espeak = ensure_espeak()
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    SAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    catalog = []
    with tempfile.TemporaryDirectory() as tmp:
        for sample in SAMPLES:
            duration = render(sample, espeak, ffmpeg, Path(tmp))
            entry = asdict(sample)
            del entry["color"]
            entry["duration_seconds"] = duration
            catalog.append(entry)
            size = (SAMPLES_DIR / sample.file).stat().st_size
            print(f"{sample.file}: {duration:.1f} s, {size / 1024:.0f} KB")
    (SAMPLES_DIR / "catalog.json").write_text(json.dumps({"samples": catalog}, indent=2) + "\n")


if __name__ == "__main__":
    main()
