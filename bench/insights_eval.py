"""Insights accuracy on the labelled eval set: local speech recognition + analyzer, and text alone.

For each ad of eval/insights (dev and held-out splits) the card is scored per field: call to action
named (one labelled phrase inside the reported CTA, fuzzy with speech recognition), hook type,
offer yes/no, urgency yes/no, and contradictions inside the card. "text" feeds the script itself
(no speech recognition); "asr" transcribes the committed audio with faster-whisper in this process,
so the two columns tell transcription loss from rule loss. The ratio printed is asr/text.

--grid measures the transcription knobs (beam 1/5, VAD off/on): word error rate, field accuracy and
seconds per ad, against beam 1 without VAD measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Nothing here may fetch a model from a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.insights.evalset import EvalAd, load_eval_ads, script_transcript  # noqa: E402

from adanalysis.ads.card import AdInsights  # noqa: E402
from adanalysis.ads.coherence import contradictions  # noqa: E402
from adanalysis.ads.heuristics import analyze_transcript  # noqa: E402
from adanalysis.ads.textmatch import normal_words  # noqa: E402
from adanalysis.ads.transcription import (  # noqa: E402
    LocalWhisperTranscriber,
    Transcript,
    bundled_model_dir,
)

FIELDS = ("cta", "hook", "offer", "urgency", "coherent")
CACHE_DIR = ROOT / "data" / "eval-cache"

Analyze = Callable[[Transcript, float | None], AdInsights]


@dataclass
class Scored:
    """One ad's card and what it got right."""

    ad: EvalAd
    card: AdInsights
    ok: dict[str, bool]
    problems: list[str]
    analyze_ms: float


@dataclass
class Run:
    """All ads of one split in one mode."""

    scored: list[Scored] = field(default_factory=list)
    asr_seconds: list[float] = field(default_factory=list)
    wer: list[float] = field(default_factory=list)


def score(ad: EvalAd, transcript: Transcript, analyze: Analyze, duration: float | None) -> Scored:
    """The card for transcript and its per-field marks."""
    started = time.perf_counter()
    card = analyze(transcript, duration)
    elapsed = (time.perf_counter() - started) * 1000
    problems = contradictions(card)
    ok = {
        "cta": ad.cta_right(card.call_to_action.text),
        "hook": card.hook.type == ad.hook_type,
        "offer": bool(card.offer) == ad.offer,
        "urgency": bool(card.urgency) == ad.urgency,
        "coherent": not problems,
    }
    return Scored(ad, card, ok, problems, elapsed)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference length (normalised words)."""
    ref, hyp = normal_words(reference), normal_words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(len(ref), 1)


class Speech:
    """Local faster-whisper with one set of knobs, its transcripts cached on disk by ad."""

    def __init__(self, model: Path, label: str, beam: int, vad: bool, fresh: bool) -> None:
        self.transcriber = LocalWhisperTranscriber(
            model, beam_size=beam, vad_filter=vad, model_label=label
        )
        self.cache = CACHE_DIR / f"{label}-beam{beam}-vad{int(vad)}"
        self.fresh = fresh
        self.loaded = False

    def transcribe(self, ad: EvalAd) -> tuple[Transcript, float]:
        """The transcript of ad's audio and the seconds it took (when first made)."""
        path = self.cache / f"{ad.id}.json"
        if path.exists() and not self.fresh:
            stored = json.loads(path.read_text())
            return Transcript.model_validate(stored["transcript"]), stored["seconds"]
        if not self.loaded:
            # Load time is not transcription time: a first, untimed run starts the speech child.
            asyncio.run(self.transcriber.transcribe(ad.audio))
            self.loaded = True
        started = time.perf_counter()
        transcript = asyncio.run(self.transcriber.transcribe(ad.audio))
        seconds = time.perf_counter() - started
        self.cache.mkdir(parents=True, exist_ok=True)
        body = {"transcript": transcript.model_dump(), "seconds": seconds}
        path.write_text(json.dumps(body))
        return transcript, seconds


def run_text(ads: list[EvalAd], analyze: Analyze) -> Run:
    """Score the scripts themselves."""
    run = Run()
    for ad in ads:
        transcript = script_transcript(ad.script)
        run.scored.append(score(ad, transcript, analyze, transcript.duration))
    return run


def run_asr(ads: list[EvalAd], analyze: Analyze, speech: Speech) -> Run:
    """Score the transcripts of the audio."""
    run = Run()
    for ad in ads:
        transcript, seconds = speech.transcribe(ad)
        run.asr_seconds.append(seconds)
        run.wer.append(word_error_rate(ad.script, transcript.text))
        run.scored.append(score(ad, transcript, analyze, ad.seconds))
    return run


def accuracy(run: Run, name: str) -> tuple[int, int]:
    """Right answers and ads for one field."""
    return sum(s.ok[name] for s in run.scored), len(run.scored)


def cell(run: Run | None, name: str) -> str:
    """ "n/N pct" for a table cell."""
    if run is None or not run.scored:
        return "-"
    right, total = accuracy(run, name)
    return f"{right}/{total} {100 * right / total:5.1f}%"


def print_table(runs: dict[str, Run]) -> None:
    """Per-field accuracy, one column per split and mode, plus asr/text ratios."""
    columns = list(runs)
    print(f"{'field':<10}" + "".join(f"{c:>20}" for c in columns))
    for name in FIELDS:
        print(f"{name:<10}" + "".join(f"{cell(runs[c], name):>20}" for c in columns))
    extra = "contradictions (total)"
    print(
        f"{extra:<10}"
        + "".join(f"{sum(len(s.problems) for s in runs[c].scored):>20}" for c in columns)
    )
    for split in ("dev", "held-out"):
        text, asr = runs.get(f"{split} text"), runs.get(f"{split} asr")
        if text and asr and text.scored and asr.scored:
            ratios = []
            for name in FIELDS:
                t, a = accuracy(text, name)[0], accuracy(asr, name)[0]
                ratios.append(f"{name} {a / t:.2f}" if t else f"{name} -")
            print(f"{split} asr/text ratio: " + ", ".join(ratios))
    for name, run in runs.items():
        if run.scored:
            ms = statistics.mean(s.analyze_ms for s in run.scored)
            line = f"{name}: analyzer {ms:.2f} ms/ad"
            if run.asr_seconds:
                audio = statistics.mean(s.ad.seconds for s in run.scored)
                asr = statistics.mean(run.asr_seconds)
                wer = statistics.mean(run.wer)
                line += f", transcription {asr:.2f} s/ad ({audio:.1f} s of audio), WER {wer:.3f}"
            print(line)


def print_misses(name: str, run: Run) -> None:
    """Every wrong field of every ad, with what was expected and what came back."""
    print(f"\nmisses, {name}:")
    for s in run.scored:
        card = s.card
        got = {
            "cta": f"{card.call_to_action.text!r} (expected one of {list(s.ad.ctas)})",
            "hook": f"{card.hook.type} for {card.hook.text!r} (expected {s.ad.hook_type})",
            "offer": f"{card.offer!r} (expected {'an offer' if s.ad.offer else 'none'})",
            "urgency": f"{card.urgency!r} (expected {'urgency' if s.ad.urgency else 'none'})",
            "coherent": "; ".join(s.problems),
        }
        for field_name in FIELDS:
            if not s.ok[field_name]:
                print(f"  {s.ad.id} [{s.ad.voice}] {field_name}: {got[field_name]}")


def heuristic(transcript: Transcript, duration: float | None) -> AdInsights:
    """The offline analyzer."""
    return analyze_transcript(transcript, duration=duration)


def llm_analyzer(stack: contextlib.ExitStack, fake: str | None) -> Analyze:
    """The OpenAI-compatible analyzer from ADANALYSIS_OPENAI_* settings, or on the fake server."""
    from adanalysis.ads.insights import OpenAIAnalyzer
    from adanalysis.config import Settings

    settings = Settings()
    if fake is not None:
        from pydantic import SecretStr

        from adanalysis.sandbox.openai_fake import FakeOpenAIConfig, create_openai_fake
        from adanalysis.serving import serve_app_in_thread

        config = FakeOpenAIConfig(fault="hallucinate" if fake == "hallucinate" else None)
        url = stack.enter_context(serve_app_in_thread(create_openai_fake(config)))
        settings = Settings(openai_api_key=SecretStr("sk-fake"), openai_base_url=url + "/v1")
    if settings.openai_api_key is None:
        sys.exit(
            "--llm needs ADANALYSIS_OPENAI_API_KEY (and optionally ADANALYSIS_OPENAI_BASE_URL)"
        )
    engine = OpenAIAnalyzer.from_settings(settings, model=settings.openai_analysis_model)
    # One loop for every call: the client's connections belong to it.
    runner = stack.enter_context(asyncio.Runner())

    def analyze(transcript: Transcript, duration: float | None) -> AdInsights:
        return runner.run(engine.analyze(transcript, duration=duration))

    return analyze


def model_dir(args: argparse.Namespace) -> tuple[Path, str]:
    """The faster-whisper model directory and its label."""
    if args.model:
        return Path(args.model), Path(args.model).name
    data = Path(tempfile.gettempdir()) / "adanalysis-eval"
    return bundled_model_dir(data), "whisper-base"


INTRO_SECONDS = 5.0


def intro_check(ads: list[EvalAd], model: Path, label: str) -> None:
    """Timestamps after a 5 s music-like intro (tone + noise): does speech start at ~5 s?"""
    import subprocess

    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        wavs = []
        for ad in ads:
            wav = Path(tmp) / f"{ad.id}.wav"
            subprocess.run(
                [
                    ffmpeg, "-y", "-loglevel", "error",
                    "-f", "lavfi", "-t", str(INTRO_SECONDS),
                    "-i", "sine=frequency=220:sample_rate=16000,volume=0.15",
                    "-f", "lavfi", "-t", str(INTRO_SECONDS),
                    "-i", "anoisesrc=color=pink:sample_rate=16000:amplitude=0.05",
                    "-i", str(ad.audio),
                    "-filter_complex", "[0][1]amix=inputs=2[intro];[intro][2]concat=n=2:v=0:a=1",
                    "-ac", "1", "-ar", "16000", str(wav),
                ],
                check=True,
            )  # fmt: skip
            wavs.append(wav)
        print(f"  after a {INTRO_SECONDS:.0f} s tone+noise intro ({len(ads)} ads):")
        for vad in (False, True):
            transcriber = LocalWhisperTranscriber(model, vad_filter=vad, model_label=label)
            starts = [asyncio.run(transcriber.transcribe(w)).segments[0].start for w in wavs]
            right = sum(abs(s - INTRO_SECONDS) <= 1.0 for s in starts)
            shown = ", ".join(f"{s:.1f}" for s in starts)
            print(
                f"  VAD {'on ' if vad else 'off'}: speech timed within 1 s of its start "
                f"{right}/{len(ads)} (first segment at {shown} s)"
            )


def grid(ads: list[EvalAd], args: argparse.Namespace) -> None:
    """Beam 1/5 x VAD off/on: WER and field accuracy on every ad, time on a few, interleaved."""
    model, label = model_dir(args)
    knobs = ((1, False), (1, True), (5, False), (5, True))
    speeches = {k: Speech(model, label, k[0], k[1], args.fresh) for k in knobs}
    results = {k: run_asr(ads, heuristic, speech) for k, speech in speeches.items()}
    # Time apart from accuracy: the same ads, each knob in turn, so a busy machine slows all alike.
    timed: dict[tuple[int, bool], list[float]] = {k: [] for k in knobs}
    for speech in speeches.values():
        speech.fresh = True
    for ad in ads[: args.time_ads]:
        for knob, speech in speeches.items():
            timed[knob].append(speech.transcribe(ad)[1])
    base = statistics.median(timed[(1, False)])
    print(f"{label}, {len(ads)} ads (time: median of {args.time_ads}, interleaved)")
    print("  knobs            WER    cta    hook   offer   s/ad (x beam 1, VAD off)")
    for (beam, vad), run in results.items():
        secs = statistics.median(timed[(beam, vad)])
        marks = "  ".join(cell(run, n).split()[1] for n in ("cta", "hook", "offer"))
        print(
            f"  beam {beam}, VAD {'on ' if vad else 'off'}  {statistics.mean(run.wer):.3f}  "
            f"{marks}  {secs:.2f} (x{secs / base:.2f})"
        )
    intro_check(ads[: args.time_ads], model, label)


def main() -> int:
    """Score the eval set and print the table (and the misses)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=("dev", "held-out", "all"), default="all")
    parser.add_argument("--mode", choices=("text", "asr", "both"), default="both")
    parser.add_argument("--model", help="a faster-whisper model directory (default: bundled base)")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: settings)")
    parser.add_argument("--vad", choices=("on", "off"), default=None, help="default: settings")
    parser.add_argument("--grid", action="store_true", help="measure beam 1/5 x VAD off/on")
    parser.add_argument("--fresh", action="store_true", help="transcribe again, ignore the cache")
    parser.add_argument("--time-ads", type=int, default=8, help="--grid: ads timed per knob")
    parser.add_argument("--llm", action="store_true", help="the configured OpenAI analyzer")
    parser.add_argument(
        "--fake-llm",
        choices=("ok", "hallucinate"),
        help="the OpenAI analyzer against the bundled fake server (checks the grounding path)",
    )
    parser.add_argument("--no-misses", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()

    ads = load_eval_ads()
    splits = ("dev", "held-out") if args.split == "all" else (args.split,)
    chosen = [a for a in ads if ("held-out" if a.held_out else "dev") in splits]
    if args.grid:
        grid(chosen, args)
        return 0
    from adanalysis.config import Settings

    settings = Settings()
    beam = args.beam if args.beam is not None else settings.whisper_beam_size
    vad = settings.whisper_vad if args.vad is None else args.vad == "on"
    stack = contextlib.ExitStack()
    analyze = llm_analyzer(stack, args.fake_llm) if args.llm or args.fake_llm else heuristic
    speech = None
    if args.mode != "text":
        model, label = model_dir(args)
        speech = Speech(model, label, beam, vad, args.fresh)
        print(f"speech: {label}, beam {beam}, VAD {'on' if vad else 'off'}")
    runs: dict[str, Run] = {}
    for split in splits:
        subset = [a for a in chosen if ("held-out" if a.held_out else "dev") == split]
        if args.mode != "asr":
            runs[f"{split} text"] = run_text(subset, analyze)
        if speech is not None:
            runs[f"{split} asr"] = run_asr(subset, analyze, speech)
    print_table(runs)
    if not args.no_misses:
        for name, run in runs.items():
            print_misses(name, run)
    if args.json:
        summary = {
            name: {f: accuracy(run, f) for f in FIELDS} for name, run in runs.items() if run.scored
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
