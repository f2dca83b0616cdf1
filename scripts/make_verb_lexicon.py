"""Write src/adanalysis/ads/data/verbs.tsv: common English verbs with their past and -s forms.

Run once at development time (needs `pip install lemminflect wordfreq`); the analyzer reads only the
committed file, so nothing is downloaded or installed at run time.
"""

from __future__ import annotations

import gzip
import importlib.resources
import re
from pathlib import Path

from wordfreq import zipf_frequency

OUT = Path(__file__).resolve().parents[1] / "src" / "adanalysis" / "ads" / "data" / "verbs.tsv"
# Zipf frequency of the base form (3 = about once per million words): drops archaic and rare verbs.
MIN_ZIPF = 2.8


def main() -> None:
    """Read lemminflect's inflection table and keep common, lower-case, one-word verbs."""
    table = importlib.resources.files("lemminflect") / "resources" / "infl_lu.csv.gz"
    rows: dict[str, tuple[str, str]] = {}
    with gzip.open(str(table), "rt") as lines:
        for line in lines:
            lemma, pos, *forms = line.rstrip("\n").split(",")
            if pos != "verb" or not re.fullmatch(r"[a-z]+", lemma):
                continue
            if zipf_frequency(lemma, "en") < MIN_ZIPF:
                continue
            # forms: past, past participle (empty = same as past), -ing, -s; "/" separates variants.
            past = {f for f in (forms[0] + "/" + forms[1]).split("/") if f}
            third = {f for f in forms[3].split("/") if f}
            rows[lemma] = (" ".join(sorted(past)), " ".join(sorted(third)))
    body = "".join(f"{lemma}\t{past}\t{third}\n" for lemma, (past, third) in sorted(rows.items()))
    OUT.write_text("# base\tpast forms\t-s forms (from lemminflect, zipf >= 2.8)\n" + body)
    print(f"{len(rows)} verbs -> {OUT}")


if __name__ == "__main__":
    main()
