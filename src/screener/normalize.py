"""Turn what people type into concepts: names, strengths, frequencies and durations.

`normalize_name` is the one way names are compared (the loader uses it too).
`read_medication` finds the longest known name in a medication entry and reads
the rest as dosing text; anything it cannot read is kept and reported, never
dropped. `suggest` offers close names for what was not recognised.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InputError

MAX_INPUT_LENGTH = 200
"""Longest medication, condition or allergy entry accepted (characters)."""

_APOSTROPHES = re.compile(r"['’`´]")
_NON_ALNUM = re.compile(r"[\W_]+")
_TOKEN = re.compile(r"[^\W_]+")


def normalize_name(text: str) -> str:
    """Lowercase, Unicode-normalised, punctuation-free form of a name: "St. John's Wort" → "st johns wort"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _APOSTROPHES.sub("", text)
    return _NON_ALNUM.sub(" ", text).strip()


def clean_entry(text: object, field: str) -> str:
    """Check one raw entry and return it trimmed; raise InputError with a one-line reason.

    Invisible format characters (zero-width spaces, BOMs) are removed and tabs
    or newlines count as spaces; other control characters, empty entries and
    entries longer than MAX_INPUT_LENGTH are refused, because nothing sensible
    can be screened from them.
    """
    if not isinstance(text, str):
        raise InputError(f"{field} entry {text!r} is not text")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = re.sub(r"[\t\n\r\v\f]+", " ", text).strip()
    shown = _shorten(text)
    if not text:
        raise InputError(f"an empty {field} entry was given; remove it or write the name")
    if len(text) > MAX_INPUT_LENGTH:
        raise InputError(f"{field} entry '{shown}' is {len(text)} characters long; the limit is {MAX_INPUT_LENGTH}")
    bad = sorted({f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")})
    if bad:
        raise InputError(f"{field} entry '{_printable(shown)}' contains control or unassigned characters "
                         f"({', '.join(bad[:3])})")
    return text


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


# --- medication entries ---------------------------------------------------

_NUMBER_WORDS = {"one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "half": 0.5, "a": 1.0}
_NUM = r"(\d+(?:\.\d+)?|one|two|three|four|half)"
_UNIT_MG = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "gram": 1000.0, "grams": 1000.0,
            "mcg": 0.001, "microgram": 0.001, "micrograms": 0.001, "µg": 0.001, "ug": 0.001}
_DAYS = {"day": 1, "days": 1, "d": 1, "week": 7, "weeks": 7, "wk": 7, "wks": 7, "w": 7,
         "month": 30, "months": 30, "mo": 30, "mos": 30}

_DURATION = re.compile(
    r"(?:\bx\s*|×\s*|\bfor\s+)(\d+(?:\.\d+)?)\s*(days?|d|weeks?|wks?|w|months?|mos?)\b"
)
_STRENGTH = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)(?:\s*(?:-|to)\s*(\d+(?:\.\d+)?))?\s*(mg|milligrams?|mcg|micrograms?|µg|ug|g|grams?)\b"
)
_UNITS = re.compile(
    rf"\b{_NUM}(?:\s*(?:-|to|or)\s*{_NUM})?\s*(?:tabs?|tablets?|caps?|capsules?|pills?)\b"
)
_EVERY_HOURS = re.compile(
    r"\b(?:q\s*|every\s+)(\d+)(?:\s*(?:-|to)\s*(\d+))?\s*(?:h|hr|hrs|hours?)\b"
)
_QUANTITY = re.compile(r"(?:#\s*|\b(?:qty|quantity|disp|dispense|dispensed)\s*[:#]?\s*)(\d+(?:\.\d+)?)\b")
_ROUTE_COUNT = re.compile(rf"\b{_NUM}(?:\s*(?:-|to|or)\s*{_NUM})?(?=\s*(?:po|by mouth|orally|sl|pr)\b)")
_TIMES_A_DAY = re.compile(
    r"\b(\d+|one|two|three|four|five|six)\s*(?:x|times)\s*(?:a|per|/|each)?\s*(?:day|daily|d)\b"
)
_FREQUENCY_WORDS = [
    (re.compile(r"\b(?:qid|q\.i\.d\.?|four times (?:a |per )?day|four times daily)"), 4.0),
    (re.compile(r"\b(?:tid|t\.i\.d\.?|three times (?:a |per )?day|three times daily)"), 3.0),
    (re.compile(r"\b(?:bid|b\.i\.d\.?|twice (?:a |per )?day|twice daily|two times (?:a |per )?day)"), 2.0),
    (re.compile(r"\b(?:once (?:a |per )?day|once daily|qd|q\.d\.|od|daily|every day|qam|qpm|every morning|"
                r"in the morning|every night|nightly|each night|at night)\b"), 1.0),
    (re.compile(r"\b(?:at bedtime|bedtime|qhs|hs|h\.s\.)\b"), 1.0),
]
_COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_FILLER = {
    "po", "by", "mouth", "orally", "oral", "prn", "as", "needed", "take", "takes", "taking", "tab", "tabs",
    "tablet", "tablets", "cap", "caps", "capsule", "capsules", "with", "without", "food", "meals", "and", "of",
    "the", "dose", "doses", "sig", "then", "a", "per", "for", "pain", "spasm", "spasms", "muscle", "up", "to",
    "&", "+", ",", ";", "(", ")", ".", "/", "-", "x", "and/or", "#", "sl", "pr", "every", "usual", "unit",
    "units", "daily,", "sig:", "rx", "refills", "refill",
}


class Sig:
    """What the dosing text of one entry says (None where it says nothing)."""

    __slots__ = ("doses_per_day", "duration_days", "quantity", "strength_mg", "units_per_dose", "unparsed")

    def __init__(self) -> None:
        self.strength_mg: float | None = None
        self.units_per_dose: float | None = None
        self.doses_per_day: float | None = None
        self.duration_days: float | None = None
        self.quantity: float | None = None
        self.unparsed = ""


def _number(text: str) -> float:
    return _NUMBER_WORDS[text] if text in _NUMBER_WORDS else float(text)


def parse_sig(text: str) -> Sig:
    """Read strength, units per dose, frequency, duration and quantity from dosing text.

    Ranges count by their upper bound ("1-2 tabs" → 2, "q4-6h" → 6 a day),
    frequencies joined by "and" add up ("tid and hs" → 4), and whatever is
    left that is not a filler word ("po", "prn", …) comes back in `unparsed`.
    """
    sig = Sig()
    rest = " " + text.casefold() + " "

    def take(pattern: re.Pattern, handler) -> None:
        nonlocal rest
        match = pattern.search(rest)
        if match:
            handler(match)
            rest = rest[: match.start()] + " " + rest[match.end():]

    def duration(m: re.Match) -> None:
        sig.duration_days = float(m.group(1)) * _DAYS[m.group(2)]

    def strength(m: re.Match) -> None:
        high = m.group(2) or m.group(1)
        sig.strength_mg = float(high) * _UNIT_MG[m.group(3)]

    def units(m: re.Match) -> None:
        sig.units_per_dose = _number(m.group(2) or m.group(1))

    def quantity(m: re.Match) -> None:
        sig.quantity = float(m.group(1))

    take(_DURATION, duration)
    take(_QUANTITY, quantity)
    take(_STRENGTH, strength)
    take(_UNITS, units)
    if sig.units_per_dose is None:
        take(_ROUTE_COUNT, units)  # "1 po tid": a count straight before the route is tablets per dose

    per_day = 0.0
    for pattern, count in [(_EVERY_HOURS, None), (_TIMES_A_DAY, None)] + _FREQUENCY_WORDS:
        while True:
            match = pattern.search(rest)
            if not match:
                break
            if pattern is _EVERY_HOURS:
                hours = float(match.group(1))
                if match.group(2):
                    hours = min(hours, float(match.group(2)))
                per_day += 24.0 / hours if hours > 0 else 0.0
            elif pattern is _TIMES_A_DAY:
                word = match.group(1)
                per_day += float(_COUNT_WORDS.get(word, word))
            elif count is not None:
                per_day += count
            rest = rest[: match.start()] + " " + rest[match.end():]
    if per_day:
        sig.doses_per_day = per_day

    leftover = [w for w in re.findall(r"[^\s,;()]+", rest) if w not in _FILLER]
    sig.unparsed = " ".join(leftover)
    return sig


def prepare(text: str) -> str:
    """Casefolded, NFKC-normalised `text` without apostrophes: the string `find_name` works on."""
    return _APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).casefold())


def find_name(prepared: str, names: dict[str, str], max_tokens: int, accept=None) -> tuple[str, int, int] | None:
    """Find the longest known name in `prepared` (see `prepare`): (concept id, start, end), or None.

    Names are matched on whole words anywhere in the entry, so "1 tab Soma
    350 mg" and "Tylenol with Codeine #3" both work. `accept(concept_id)`, when
    given, limits the match to some concepts (e.g. medications only).
    """
    tokens = list(_TOKEN.finditer(prepared))
    best: tuple[int, str, int, int] | None = None
    for i in range(len(tokens)):
        for j in range(min(len(tokens), i + max_tokens), i, -1):
            if best is not None and j - i <= best[0]:
                break
            concept = names.get(" ".join(t.group() for t in tokens[i:j]))
            if concept is not None and (accept is None or accept(concept)):
                best = (j - i, concept, tokens[i].start(), tokens[j - 1].end())
                break
    return None if best is None else best[1:]


def suggest(text: str, candidates: dict[str, str], concept_of: dict[str, str] | None = None,
            limit: int = 5) -> tuple[str, ...]:
    """Names from `candidates` (normalised → as written) close to `text`, best first.

    With `concept_of` (normalised name → concept id), each concept is offered
    once, under the name closest to what was typed.
    """
    import difflib  # only when something was not recognised

    key = normalize_name(text)
    if not key:
        return ()
    matches = difflib.get_close_matches(key, list(candidates), n=limit * 3, cutoff=0.72)
    # A known name sharing the first five letters of the entry is a useful suggestion too.
    first = key.split()[0]
    if len(first) >= 4:
        matches += sorted(k for k in candidates if k.startswith(first[:5]))[:limit]
    shown: list[str] = []
    concepts: set[str] = set()
    for match in matches:
        concept = concept_of.get(match, match) if concept_of else match
        if concept in concepts or candidates[match] in shown:
            continue
        concepts.add(concept)
        shown.append(candidates[match])
    return tuple(shown[:limit])
