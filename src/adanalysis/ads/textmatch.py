"""Comparing ad phrases with transcripts: normalised words, numbers as digits, fuzzy finds."""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

_UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORDS = set(_UNITS) | set(_TENS) | set(_SCALES)


def _number_value(words: list[str]) -> int:
    total, current = 0, 0
    for word in words:
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        else:
            total += max(current, 1) * _SCALES[word]
            current = 0
    return total + current


def _spoken_numbers_as_digits(words: list[str]) -> list[str]:
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        # "oh" is a digit only inside a run ("oh eight hundred"), never on its own.
        if word in _NUMBER_WORDS and not (word == "oh" and not run):
            run.append(word)
            continue
        if run:
            out.append(str(_number_value(run)))
            run = []
        if word:
            out.append(word)
    return out


def normal_words(text: str) -> list[str]:
    """Lower-case ASCII words, with spoken numbers, "%" and "$N" said the same way as in speech."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    plain = re.sub(r"\$\s?(\d[\d,]*(?:\.\d+)?)", r"\1 dollars", plain)
    plain = re.sub(r"(\d)\s?%", r"\1 percent", plain)
    plain = re.sub(r"(?<=\d),(?=\d{3})", "", plain)
    plain = re.sub(r"(?<=\d)\.(?=\d)", " point ", plain)
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", plain.replace("\u2019", "'"))
    return _spoken_numbers_as_digits(words)


def squash(text: str) -> str:
    """Letters and digits only: "Use code DESK 15!" and "use code desk15" compare equal."""
    return "".join(normal_words(text)).replace("'", "")


def similarity(a: str, b: str) -> float:
    """0..1 likeness of two squashed strings."""
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def fuzzy_find(needle: str, haystack: str, *, threshold: float = 0.8) -> float:
    """How well needle appears in haystack (1.0 exact, 0.0 absent below threshold).

    Windows of the haystack's words a word shorter to a word longer than the needle are compared,
    so speech-recognition slips ("shot now" for "shop now", "desk 15" for "desk15") still match.
    """
    target = squash(needle)
    if not target:
        return 0.0
    words = [w.replace("'", "") for w in normal_words(haystack)]
    if target in "".join(words):
        return 1.0
    size = len(normal_words(needle))
    best = 0.0
    for width in {max(size - 1, 1), size, size + 1}:
        for i in range(max(len(words) - width + 1, 1)):
            window = "".join(words[i : i + width])
            # Cheap bound first: ratio can't beat 2*min/(sum) of the lengths.
            if 2 * min(len(window), len(target)) / (len(window) + len(target)) < threshold:
                continue
            best = max(best, similarity(target, window))
    return best if best >= threshold else 0.0
