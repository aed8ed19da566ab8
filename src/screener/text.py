"""Text as the screener compares it: entries checked, names normalised, names found, names suggested.

`normalize_name` is the one way names are compared (the loader and the
compiler use it too); `clean_entry` refuses what cannot be screened at all;
`find_name` finds the longest known name anywhere in an entry; `suggest`
offers close names for what was not recognised. Dosing text is `sig.py`'s.
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

SALT_WORDS = frozenset([
    "HYDROCHLORIDE", "HCL", "DIHYDROCHLORIDE", "MONOHYDROCHLORIDE", "HYDROBROMIDE", "HBR", "BITARTRATE",
    "TARTRATE", "SULFATE", "SULPHATE", "BISULFATE", "HEMISULFATE", "PHOSPHATE", "DIPHOSPHATE", "SODIUM",
    "DISODIUM", "POTASSIUM", "DIPOTASSIUM", "CALCIUM", "MAGNESIUM", "ZINC", "MALEATE", "DIMALEATE", "CITRATE",
    "DIHYDROGEN", "ACETATE", "DIACETATE", "MESYLATE", "DIMESYLATE", "BESYLATE", "FUMARATE", "HEMIFUMARATE",
    "SUCCINATE", "LACTATE", "GLUCONATE", "NITRATE", "BROMIDE", "CHLORIDE", "IODIDE", "PAMOATE", "DECANOATE",
    "ENANTHATE", "PALMITATE", "TOSYLATE", "NAPSYLATE", "OXALATE", "HYCLATE", "BENZOATE", "STEARATE", "XINAFOATE",
    "TROMETHAMINE", "MEGLUMINE", "ESTOLATE", "MALATE", "BORATE", "MONOHYDRATE", "DIHYDRATE", "TRIHYDRATE",
    "HEMIHYDRATE", "SESQUIHYDRATE", "TETRAHYDRATE", "PENTAHYDRATE", "HEXAHYDRATE", "HEPTAHYDRATE", "HYDRATE",
    "ANHYDROUS", "HEMIPENTAHYDRATE", "POLISTIREX", "TANNATE", "SALICYLATE", "HYDROGEN", "TARTRATE",
    "EDISYLATE", "ESYLATE", "CAMSYLATE", "ISETHIONATE", "STRONTIUM", "LYSINE", "MEGLUMINE", "OLAMINE",
])
"""Words that name a salt, counter-ion or hydrate when they end a substance name."""

SALT_ABBREVIATIONS = frozenset(["bit", "tart", "succ", "sod", "phos", "cit", "mal", "fum", "mes"])
"""Salt words cut short, as pharmacy drug descriptions write them after a substance's name: the FDA NDC
directory lists "HYDROCODONE BIT/APAP" (NDC 45865-0411, hydrocodone bitartrate and acetaminophen) and "Calc
phos". Each is the start of a word of `SALT_WORDS` (bitartrate, tartrate, succinate, sodium, phosphate,
citrate, maleate or malate, fumarate, mesylate). Left out: "pot" (potassium), which is also a name for
cannabis, and "sulf", which may be a sulfonamide ("trimethoprim sulf")."""

_SALT_AFTER = re.compile(r"\s+(" + "|".join(sorted(SALT_ABBREVIATIONS)) + r")\b\.?(?![^\W_])")


def salt_abbreviation_after(prepared: str, end: int) -> tuple[str, tuple[str, ...], int] | None:
    """The salt abbreviation right after `prepared[:end]` ("hydrocodone bit/apap": "bit"), the salt words it may
    stand for ("bitartrate") and where it ends; None when there is none."""
    match = _SALT_AFTER.match(prepared, end)
    if match is None:
        return None
    short = match.group(1)
    return short, tuple(sorted(w.lower() for w in SALT_WORDS if w.lower().startswith(short))), match.end()


def normalize_name(text: str) -> str:
    """Lowercase, Unicode-normalised, punctuation-free form of a name: "St. John's Wort" → "st johns wort"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _APOSTROPHES.sub("", text)
    return _NON_ALNUM.sub(" ", text).strip()


_OTHER_QUESTION_MARKS = re.compile(
    "[\u00bf\u037e\u055e\u061f\u1367\u1945\u2048\u2049\u203d\u2cfa\u2cfb\u2e2e\u2e54\u2753\u2754"
    "\ua60f\ua6f7\ufe16\U00011143\U0001e95f]")
"""Question marks NFKC does not turn into '?': inverted, Greek (U+037E, which NFKC turns into ';'), Armenian,
Arabic, Ethiopic, Limbu, question-exclamation, interrobang, Coptic Old Nubian direct and indirect, reversed,
medieval, the ornaments, Vai, Bamum, the vertical presentation form, Chakma, Adlam initial. NFKC itself turns
the full-width, small and double ones into '?'."""


def fold_question_marks(text: str) -> str:
    """`text` with every question mark written as '?': "OSA？" (full-width), "OSA⁇", "OSA﹖" are "OSA?",
    "OSA??", "OSA?", and "no OSA" ending in the Greek question mark U+037E is "no OSA?". Names ignore
    punctuation, so a question mark that is not looked for would be read past. The marks are folded before
    NFKC as well as after it, as NFKC turns the Greek question mark into a semicolon."""
    return _OTHER_QUESTION_MARKS.sub("?", unicodedata.normalize("NFKC", _OTHER_QUESTION_MARKS.sub("?", text)))


def clean_entry(text: object, field: str) -> str:
    """Check one raw entry and return it trimmed; raise InputError with a one-line reason.

    Invisible format characters (zero-width spaces, BOMs) are removed and tabs
    or newlines count as spaces; other control characters, empty entries and
    entries longer than MAX_INPUT_LENGTH are refused, because nothing sensible
    can be screened from them.
    """
    if not isinstance(text, str):
        raise InputError(f"{field} entry {text!r} is not text")
    ascii_only = text.isascii()  # no format character is ASCII: the usual entry skips a look-up per character
    if not ascii_only:
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    if any(ch in text for ch in "\t\n\r\v\f"):
        text = re.sub(r"[\t\n\r\v\f]+", " ", text)
    text = text.strip()
    shown = _shorten(text)
    if not text:
        raise InputError(f"an empty {field} entry was given; remove it or write the name")
    if len(text) > MAX_INPUT_LENGTH:
        raise InputError(f"{field} entry '{shown}' is {len(text)} characters long; the limit is {MAX_INPUT_LENGTH}")
    if ascii_only and text.isprintable():  # printable ASCII has no control, surrogate or unassigned character
        return text
    bad = sorted({f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")})
    if bad:
        raise InputError(f"{field} entry '{_printable(shown)}' contains control or unassigned characters "
                         f"({', '.join(bad[:3])})")
    return text


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def prepare(text: str) -> str:
    """Casefolded, NFKC-normalised `text` without apostrophes: the string `find_name` works on."""
    return _APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).casefold())


def find_name(prepared: str, names: dict[str, str], starts: dict[str, int], accept=None) -> tuple[str, int, int] | None:
    """Find the longest known name in `prepared` (see `prepare`): (concept id, start, end), or None.

    Names are matched on whole words anywhere in the entry, so "1 tab Soma
    350 mg" and "Tylenol with Codeine #3" both work. `starts` is `name_starts(names)`: only spans that
    begin with a word some name begins with, and no longer than its longest name, are looked up.
    `accept(concept_id)`, when given, limits the match to some concepts (e.g. medications only). A name
    ending in a number is not matched where that number carries a unit
    ("Robaxin-750" is a name, but in "Robaxin 750 mg" the 750 is the strength).
    """
    tokens = list(_TOKEN.finditer(prepared))
    words = [t.group() for t in tokens]
    best: tuple[int, str, int, int] | None = None
    for i in range(len(tokens)):
        for j in range(min(len(tokens), i + starts.get(words[i], 0)), i, -1):
            if best is not None and j - i <= best[0]:
                break
            concept = names.get(" ".join(words[i:j]))
            if concept is None or (accept is not None and not accept(concept)):
                continue
            if j - i > 1 and tokens[j - 1].group().isdigit() and _UNIT_AFTER.match(prepared, tokens[j - 1].end()):
                continue  # the number is a strength, not part of the name
            best = (j - i, concept, tokens[i].start(), tokens[j - 1].end())
            break
    return None if best is None else best[1:]


def name_starts(names: dict[str, str]) -> dict[str, int]:
    """For each first word of a name in `names` (normalised: words joined by one space), the most words a name
    starting with it has: what `find_name` looks up from (trying every span of an entry's words, reading a
    population spent a third of its time joining words that start no name)."""
    starts: dict[str, int] = {}
    for name in names:
        first, *rest = name.split(" ")
        if len(rest) + 1 > starts.get(first, 0):
            starts[first] = len(rest) + 1
    return starts


_UNIT_AFTER = re.compile(r"\s?(?:mg|mcg|g|gm|ml|milligrams?|micrograms?|grams?|%)\b")
"""What a number carries when it is an amount, not part of a name ("Robaxin 750 mg": the 750 is the strength)."""


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
