"""Sentence-level features of ad speech: timed words and sentences, imperatives, hook kinds."""

from __future__ import annotations

import re
from dataclasses import dataclass

from adanalysis.ads.card import HookType
from adanalysis.ads.lexicon import (
    ACTION_ADVERBS,
    ACTION_VERBS,
    DETERMINERS,
    DISCOURSE_MARKERS,
    NOT_IMPERATIVE,
    NUMBER_WORDS,
    OBJECT_PRONOUNS,
    PARTICLES,
    PEOPLE_NOUNS,
    PREPOSITIONS,
    WH_WORDS,
    verbs,
)
from adanalysis.ads.textmatch import normal_words
from adanalysis.ads.transcription import Transcript


@dataclass(frozen=True)
class Word:
    """One spoken word with its estimated start (seconds), interpolated within its segment."""

    text: str
    start: float | None
    ends_segment: bool = False


@dataclass(frozen=True)
class Sentence:
    """One sentence with the estimated start of its first word."""

    text: str
    start: float | None
    end: float | None


@dataclass(frozen=True)
class Imperative:
    """A sentence (or clause) that asks the listener to do something."""

    verb: str  # base form, after repairing a speech-recognition slip ("shot now" -> "shop")
    strict: bool  # the verb opens the sentence or clause, rather than "you can ..."
    action: bool  # the verb is one of buying, signing up, getting in touch or going somewhere
    clause: bool  # found at the start of a later clause, not of the sentence
    offset: int = 0  # where in the text the asking clause starts


def words_of(transcript: Transcript) -> list[Word]:
    """The words with start times spread over each segment by character position."""
    if not transcript.segments:
        return [Word(w, None) for w in transcript.text.split()]
    words: list[Word] = []
    for seg in transcript.segments:
        text = seg.text.strip()
        span = max(seg.end - seg.start, 0.0)
        matches = list(re.finditer(r"\S+", text))
        for i, match in enumerate(matches):
            frac = match.start() / max(len(text), 1)
            at = round(seg.start + frac * span, 2)
            words.append(Word(match.group(), at, ends_segment=i == len(matches) - 1))
    return words


# A segment that ends on one of these (or a comma) goes on in the next segment.
_RUNS_ON = frozenset(
    "a an the and or but to of for with from by in on at your our my their its is are was "
    "that this so as if than then".split()
)


def _ends_sentence(word: Word) -> bool:
    if re.search(r"[.!?]$", word.text):
        return word.text.lower() not in {"dr.", "st.", "mr.", "mrs.", "ms."}
    # Speech recognition may drop the full stops; a segment boundary then marks the sentence.
    bare = word.text.lower().strip("\"'")
    return word.ends_segment and not word.text.endswith(",") and bare not in _RUNS_ON


def sentences_of(words: list[Word]) -> list[Sentence]:
    """Words grouped into sentences at . ! ? (segments can split or join sentences)."""
    sentences: list[Sentence] = []
    current: list[Word] = []
    for i, word in enumerate(words):
        current.append(word)
        if _ends_sentence(word) or i == len(words) - 1:
            nxt = words[i + 1].start if i + 1 < len(words) else None
            sentences.append(
                Sentence(" ".join(w.text for w in current), current[0].start, nxt or word.start)
            )
            current = []
    return sentences


def tokens(text: str) -> list[str]:
    """The words of text with their case, apostrophes kept ("don't"), punctuation dropped."""
    return re.findall(r"[A-Za-z0-9$%]+(?:'[A-Za-z]+)*", text.replace("\u2019", "'"))


def _edit_distance_one(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _is_ing_of_verb(word: str) -> bool:
    if not word.endswith("ing") or len(word) < 5:
        return False
    stem = word[:-3]
    base = verbs().base
    return stem in base or stem + "e" in base or (stem[-1:] == stem[-2:-1] and stem[:-1] in base)


_FINITE = frozenset(
    {"is", "are", "was", "were", "has", "have", "can", "will", "lets", "let's", "'s"}
)


def _object_follows(low: list[str], orig: list[str], j: int, verb: str) -> bool:
    """Whether what follows the verb at j reads as its object or complement, not as a predicate."""
    if j + 1 >= len(low):
        return True
    nxt = low[j + 1]
    if (
        nxt in DETERMINERS
        or nxt in OBJECT_PRONOUNS
        or nxt in PARTICLES
        or nxt in PREPOSITIONS
        or nxt in WH_WORDS
        or nxt in ACTION_ADVERBS
        or nxt in NUMBER_WORDS
        or nxt[:1].isdigit()
        or nxt.startswith("$")
    ):
        return True
    if nxt == "and" and j + 2 < len(low) and low[j + 2] in verbs().base:
        return True  # "Subscribe and save"
    if _is_ing_of_verb(nxt):
        return True  # "Stop scrolling"
    v = verbs()
    if orig[j + 1][:1].isupper() and nxt != "i":
        # A name after the verb is its object ("Download Tally") unless the name goes on to be
        # the subject of a verb ("Open University Online lets you...").
        for k in range(j + 2, min(j + 6, len(low))):
            if low[k] in v.third or low[k] in _FINITE or low[k] in v.past:
                return False
            if not orig[k][:1].isupper():
                break
        return True
    if verb == "get" and nxt in v.past:
        return True  # "Get started", "Get matched"
    if verb in ACTION_VERBS:
        # "Use code HOME", "Shop puzzle feeders now": an action verb before a noun is still asked.
        return not (nxt in v.third or nxt in _FINITE or nxt in v.past)
    return False


def _verb_at(low: list[str], orig: list[str], j: int) -> tuple[str, bool] | None:
    """The base verb at j (repaired if a slip of an action verb) when it opens a verb phrase."""
    if j >= len(low):
        return None
    word = low[j]
    v = verbs()
    if word in v.base and word not in NOT_IMPERATIVE:
        return (word, word in ACTION_VERBS) if _object_follows(low, orig, j, word) else None
    if len(word) >= 4 and word not in DETERMINERS and word not in OBJECT_PRONOUNS:
        # A slip of an action verb ("shot now" for "shop now") only before a clear CTA word.
        nxt = low[j + 1] if j + 1 < len(low) else ""
        if nxt in ACTION_ADVERBS or nxt in DETERMINERS or nxt in OBJECT_PRONOUNS or not nxt:
            for verb in ACTION_VERBS:
                if verb[0] == word[0] and len(verb) >= 4 and _edit_distance_one(word, verb):
                    return verb, True
    return None


_SOFT: tuple[tuple[str, ...], ...] = (
    ("you", "can"), ("you", "could"), ("you", "should"), ("you", "need", "to"),
    ("you", "just", "need", "to"), ("all", "you", "need", "to", "do", "is"), ("why", "not"),
    ("you'll", "want", "to"), ("let's",), ("let", "us"), ("be", "sure", "to"),
    ("make", "sure", "to"), ("remember", "to"), ("don't", "forget", "to"),
)  # fmt: skip
_NEGATIVE: tuple[tuple[str, ...], ...] = (("don't",), ("dont",), ("do", "not"), ("never",))


def _imperative_in(low: list[str], orig: list[str]) -> tuple[str, bool, bool] | None:
    starts = [0]
    for i, word in enumerate(low[:3]):
        if word in DISCOURSE_MARKERS:
            starts.append(i + 1)
        else:
            break
    for s in starts:
        for prefix in _NEGATIVE:
            if tuple(low[s : s + len(prefix)]) == prefix:
                found = _verb_at(low, orig, s + len(prefix))
                if found:
                    return found[0], True, found[1]
        found = _verb_at(low, orig, s)
        if found:
            return found[0], True, found[1]
        for prefix in _SOFT:
            if tuple(low[s : s + len(prefix)]) == prefix:
                found = _verb_at(low, orig, s + len(prefix))
                if found:
                    return found[0], False, found[1]
    return None


def imperative(text: str) -> Imperative | None:
    """The imperative that opens text, or one that opens a later clause with an action verb."""
    orig = tokens(text)
    low = [w.lower() for w in orig]
    found = _imperative_in(low, orig)
    if found:
        return Imperative(found[0], strict=found[1], action=found[2], clause=False)
    for cut in re.finditer(r"[,;:\u2013\u2014]\s+|\s+-\s+|\s+or\s+", text):
        c_orig = tokens(re.split(r"[,;:\u2013\u2014]\s+|\s+-\s+|\s+or\s+", text[cut.end() :])[0])
        found = _imperative_in([w.lower() for w in c_orig], c_orig)
        # Only a plain imperative with an action verb: "..., so you can get back outside" is not.
        if found and found[1] and found[2]:
            return Imperative(found[0], strict=True, action=True, clause=True, offset=cut.end())
    return None


_PRONOUN_SUBJECTS = frozenset(
    "nothing nobody no one everyone everybody someone something anyone anything it this that "
    "there here we you they he she i most many some your our my their his her its what".split()
)
_INTRO = re.compile(
    r"^(meet|introducing|introduce|presenting|say hello to|say hi to|here's|here is|this is "
    r"[A-Z]|these are [A-Z]|welcome to)",
    re.I,
)
_QUESTION_AUX = frozenset(
    "do does did are is was were can could would should have has will ever still".split()
)
_QUESTION_WH_NEXT = frozenset(
    "do does did are is was were can could would should have has will if much many long "
    "often".split()
)
_PROOF = re.compile(
    r"\b(rated|reviewed|voted|trusted by|loved by|recommended by|worn by|used by|chosen by|"
    r"endorsed by|approved by|backed by|award\w*|stars?|best ?selling|as seen on|reviews?|"
    r"testimonials?|bestseller)\b"
)
_PROPORTION = re.compile(
    r"\b(percent|out of|\d+ in \d+|half of|a quarter|quarter of|average|twice as|\d+ times|"
    r"most (people|of us|adults|americans|households)|majority|studies|research|survey)\b"
)
_STORY_ANCHOR = re.compile(
    r"^(last (year|month|week|weekend|summer|spring|winter|autumn|fall|night|christmas|\w+day)|"
    r"\d+ (years?|months?|weeks?|days?) ago|(a|a few|some) (years?|months?|weeks?) ago|"
    r"(one|that|the) (day|morning|night|evening|afternoon|moment|year|summer|winter|week|time)"
    r" (i|we|my|our|when|that|he|she|his|her)\b|when (i|we|my|our|he|she|his|her) |"
    r"at \d+,? (i|we|my)|growing up|back in|in \d{4},? (i|we|my))"
)
_FIRST_PERSON = frozenset("i we my our i'm i've i'd we're we've me us".split())
_PROMISE = re.compile(
    r"\b(doesn't have to|don't have to|never have to|won't|will|can|'ll|you'll|we'll|outlast\w*|"
    r"guarantee\w*)\b"
)
_SUPERLATIVE = re.compile(
    r"\b(the only|only one|best|last \w+ (you'll|you will) ever|ever|never|most|first ever|"
    r"\w+iest|(fast|small|light|cheap|quick|tough|warm|cool|clean|fresh|rich|saf|new|fin|great|"
    r"larg|long|strong|soft|simpl|smart|bigg|hott|thinn)est|better than|faster than|unlike|"
    r"no other|nothing like|world's|#1|number 1|revolutionary|ultimate|perfect|anyone who|"
    r"on purpose|on earth|in the world)\b"
)
_PAIN = re.compile(
    r"\b(tired|sick of|hate|problem|pain\w*|hurt\w*|ache|aching|sore|stuck|struggl\w*|"
    r"frustrat\w*|annoy\w*|worr\w*|stress\w*|exhaust\w*|embarrass\w*|wast\w*|ruin\w*|tears|"
    r"cry|crying|sad|worst|worse|shouldn't|isn't worth|aren't worth|can't|couldn't|lost|lose|"
    r"losing|fees?|queues?|late|chasing|mess|messy|debt|drowning|kept you up|keeps you up|eats|"
    r"streaks|stains?|smell\w*|dripping|leak\w*|itch\w*|fail\w*|broke|broken|overwhelm\w*|"
    r"nothing .* stays|hair on|mad|dread\w*|boring|bored|awful|terrible|hard|harder)\b"
)


def _is_description(orig: list[str], low: list[str]) -> bool:
    """The sentence describes a named product: "Coinstack is a ...", "The Aria kettle boils..."."""
    v = verbs()
    if len(low) < 2:
        return False
    first = low[0]
    if (
        first not in _PRONOUN_SUBJECTS
        and first not in v.base
        and first not in v.past
        and first not in DETERMINERS
        and (low[1] in v.third or low[1] in {"is", "are", "'s"})
    ):
        return True
    # "The Aria kettle boils", "Our Forge pan has": a named subject then its verb.
    if first in {"the", "our", "this", "these", "meet"} and orig[1][:1].isupper():
        return any(w in v.third or w in {"is", "are"} for w in low[2:6])
    return False


# A first "sentence" longer than this is speech without full stops: its first clause is typed.
RUN_ON_WORDS = 22


def opening_clause(text: str) -> str:
    """text, or for a run-on sentence its first clause of at least five words."""
    if len(text.split()) <= RUN_ON_WORDS:
        return text
    clause = ""
    for part in re.split(r"(?<=,)\s+", text):
        clause = f"{clause} {part}".strip()
        if len(clause.split()) >= 5:
            return clause.rstrip(",")
    return text


def classify_hook(text: str, *, negative: float = 0.0) -> HookType:
    """The hook type of the ad's first sentence; negative is its sentiment (-1..0) if known."""
    clean = opening_clause(text.strip())
    orig = tokens(clean)
    low = [w.lower() for w in orig]
    if not low:
        return "other"
    norm = " ".join(normal_words(clean))
    if _INTRO.search(clean) and not _SUPERLATIVE.search(norm):
        return "other"
    if clean.endswith("?") or (
        (low[0] in _QUESTION_AUX and len(low) > 1 and low[1] in _PRONOUN_SUBJECTS | DETERMINERS)
        or (low[0] in WH_WORDS and len(low) > 1 and low[1] in _QUESTION_WH_NEXT)
    ):
        return "question"
    if _PROOF.search(norm) or _counts_people(norm):
        return "social_proof"
    superlative = bool(_SUPERLATIVE.search(norm))
    if _STORY_ANCHOR.search(norm):
        return "story"
    if low[:2] in (["the", "only"], ["the", "best"], ["the", "most"]):
        return "bold_claim"
    opening = imperative(clean)
    if opening is not None and opening.strict and not opening.clause:
        return "command"
    if (
        any(w in _FIRST_PERSON for w in low)
        and any(w in verbs().past for w in low)
        and not superlative  # "We made the comfiest hoodie on earth" claims, it does not tell
    ):
        return "story"
    second_person = any(w in {"you", "your", "you're", "you've"} for w in low)
    pain = bool(_PAIN.search(norm)) or negative <= -0.3
    promise = bool(_PROMISE.search(norm))
    if second_person and pain and not promise:
        return "pain_point"
    if low[0] in {"your", "you", "you're"} and not promise and not superlative:
        return "pain_point"  # a statement about the viewer's day: "Your team spends half..."
    if _PROPORTION.search(norm) or (
        re.search(r"\b\d+ (seconds?|minutes?|hours?|days?)\b", norm) and not pain
    ):
        if not _is_description(orig, low):
            return "statistic"
    if promise or superlative:
        return "bold_claim"
    if pain:
        return "pain_point"
    return "other" if _is_description(orig, low) else "bold_claim" if second_person else "other"


def _counts_people(norm: str) -> bool:
    """A count of people or homes using something: "over 40000 nurses use", "2000000 people"."""
    if _PROPORTION.search(norm):
        return False
    words = norm.split()
    for i, word in enumerate(words):
        if not word.isdigit() or int(word) < 100:
            continue
        for nxt in words[i + 1 : i + 4]:
            if nxt in PEOPLE_NOUNS:
                return True
    return False
