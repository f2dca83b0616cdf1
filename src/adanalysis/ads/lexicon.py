"""English word classes for the offline analyzer: a verb lexicon and the small closed classes."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Verbs:
    """Common English verbs: base forms, past forms and third-person -s forms."""

    base: frozenset[str]
    past: frozenset[str]
    third: frozenset[str]


@lru_cache(maxsize=1)
def verbs() -> Verbs:
    """The verb lexicon shipped in ads/data/verbs.tsv (made by scripts/make_verb_lexicon.py)."""
    text = (importlib.resources.files("adanalysis.ads") / "data" / "verbs.tsv").read_text()
    base, past, third = set(), set(), set()
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        lemma, pasts, thirds = line.split("\t")
        base.add(lemma)
        past.update(pasts.split())
        third.update(thirds.split())
    # Newer verbs ("text us") the lexicon lacks; words far likelier to be function words ("over",
    # "down") are not taken as verbs; auxiliaries' past and -s forms.
    base.update(ACTION_VERBS)
    base.difference_update(PARTICLES | PREPOSITIONS | DETERMINERS | OBJECT_PRONOUNS)
    past.update({"was", "were", "had", "did"})
    third.update({"is", "has", "does"})
    return Verbs(frozenset(base), frozenset(past), frozenset(third))


DETERMINERS = frozenset(
    "a an the this that these those your our my his her their its some any every each all "
    "another no more both".split()
)
OBJECT_PRONOUNS = frozenset(
    "it them us me him her yours ours one ones everything something anything yourself "
    "someone".split()
)
PARTICLES = frozenset("up down in out on off over back away around through along ahead".split())
PREPOSITIONS = frozenset(
    "at to for with from by in on into onto of about after before under over via".split()
)
WH_WORDS = frozenset("how what why where when who which whether".split())
# Words after which an action is still being asked for: "Book online", "Shop now".
ACTION_ADVERBS = frozenset(
    "now today tonight online here below instantly again more together free early".split()
)
# Words that open a sentence before its imperative: "So grab...", "Just tap...", "Today, book...".
DISCOURSE_MARKERS = frozenset(
    "so just now and or then today tonight simply please also but go come hey well quick".split()
)
# Base verbs that are other words far more often at the start of an ad sentence.
NOT_IMPERATIVE = frozenset(
    "like well even still only near last second present mean no yes please welcome thank "
    "thanks".split()
)
# Verbs whose imperative asks the viewer to act on the offer (buy, sign up, get in touch, go
# somewhere, look something up); their imperative counts as a call to action more than others.
ACTION_VERBS = frozenset(
    "shop buy order get grab pick take claim try download subscribe book reserve join sign "
    "register apply start open become request call phone ring text email message visit head go "
    "tap click swipe find browse see watch learn check discover explore ask meet drive walk "
    "follow save add use set swap switch upgrade enrol enroll unlock redeem enter schedule "
    "donate give gift treat come stop pop contact chat fill send reach hit score snag stock "
    "preorder".split()
)
PEOPLE_NOUNS = frozenset(
    "people customers users members families homes households parents mums moms dads nurses "
    "doctors dentists vets teachers runners riders drivers investors shoppers buyers readers "
    "fans women men kids students businesses companies shops stores teams clients patients "
    "owners travellers travelers guests subscribers listeners viewers chefs cooks athletes "
    "gamers brands creators professionals experts reviewers moms".split()
)
NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty "
    "forty fifty sixty seventy eighty ninety hundred thousand million billion half dozen "
    "quarter".split()
)
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)
