"""Run every benchmark module in bench/ and exit non-zero if any of them fails."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# Files in bench/ that are not benchmarks.
NOT_BENCHMARKS = {"run_all.py", "__init__.py"}


def benchmark_modules() -> list[Path]:
    """The benchmark scripts, in a stable order."""
    return sorted(
        p
        for p in BENCH_DIR.glob("*.py")
        if p.name not in NOT_BENCHMARKS and not p.name.startswith("_")
    )


def main() -> int:
    """Run each benchmark in its own process so one cannot disturb another's timings."""
    modules = benchmark_modules()
    if not modules:
        print("no benchmarks found in", BENCH_DIR)
        return 1
    failed: list[str] = []
    for module in modules:
        print(f"=== {module.stem} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.run([sys.executable, str(module)], check=False).returncode
        elapsed = time.perf_counter() - started
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"=== {module.stem}: {status} in {elapsed:.1f} s ===\n", flush=True)
        if code != 0:
            failed.append(module.stem)
    print(f"{len(modules) - len(failed)}/{len(modules)} benchmarks passed")
    if failed:
        print("failed:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
