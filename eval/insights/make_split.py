"""Draw the held-out split of the insights eval set once, by a seeded random draw."""

from __future__ import annotations

import json
import random
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 13
HELD_OUT_SIZE = 32


def draw(ids: list[str]) -> list[str]:
    """The held-out ids: a seeded draw over the sorted ids, so anyone can re-draw the same set."""
    return sorted(random.Random(SEED).sample(sorted(ids), HELD_OUT_SIZE))


def main() -> None:
    """Write split.json next to this file."""
    ads = tomllib.loads((HERE / "ads.toml").read_text())["ad"]
    held_out = draw([a["id"] for a in ads])
    split = {"seed": SEED, "held_out": held_out}
    (HERE / "split.json").write_text(json.dumps(split, indent=2) + "\n")
    print(f"{len(held_out)} held out of {len(ads)}")


if __name__ == "__main__":
    main()
