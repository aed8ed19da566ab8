"""Read the dosing text of a medication entry ("sig"): exactly, or declare it unread.

`read_sig(text)` returns a `Dosing`: strength (per ingredient), units per dose,
a dose stated as a total, doses a day, a daily amount, duration, quantity, and
what is read only to be kept (form, route, as needed, indication, refills,
dispense as written). Whatever it cannot read, or reads as something it must
not compute from (a taper, a weekday schedule, mg/kg), goes to `Dosing.unread`;
then no dose or duration is computed from the entry. The grammar is written out,
with examples, in `docs/sig-reading.md` and the README.

How it works: the text is normalised (case, Unicode, Latin dots, thousands
separators, fractions, number words), then each rule of the grammar consumes the
spans it reads, in an order chosen so that a longer construct is read before its
parts (a duration before a bare "days", a daily amount before a strength). Every
number and word left over is unread: nothing is dropped. A rule runs only when
the text still holds a word every one of its matches contains (`_Reader.has`), so a
`check` process compiles only the patterns its entries could need; a property test
(`tests/test_sig_guards.py`) checks that this never changes a reading.

Two questions need the product, so they are answered by `resolve` once the entry
reader knows it: a bare number (`Soma 350`: mg only if 350 is a marketed strength
of Soma) and `N-M mg` (a range for one ingredient, per-ingredient strengths for two).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from functools import cache, lru_cache, partial

from ..model import Dosing

MAX_BARE_COUNT = 10
"""The most units a number without a unit may count (`Soma 1 qid`); `Soma 350 qid` is not 350 tablets."""
MAX_COUNT = 10
"""The most tablets, capsules or other counted units one dose is read to hold: `30 tabs` after a strength is
more likely the quantity to dispense than a dose, and which cannot be told (unread)."""
_MAX_COUNT = {"patch": 3}
"""Lower limits for some units: 10 fentanyl patches is the usual 30 days' quantity, never one application."""

_MASS_TO_MG = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "mcg": 0.001, "microgram": 0.001,
               "micrograms": 0.001, "ug": 0.001, "g": 1000.0, "gm": 1000.0, "gram": 1000.0, "grams": 1000.0}
_MASS = r"(?:mg|milligrams?|mcg|micrograms?|ug|gm|g|grams?)"
_NUM = r"\d+(?:\.\d+)?"

_UNIT_WORDS = {
    "tab": "tablet", "tabs": "tablet", "tablet": "tablet", "tablets": "tablet", "t": "tablet",
    "cap": "capsule", "caps": "capsule", "capsule": "capsule", "capsules": "capsule",
    "caplet": "tablet", "caplets": "tablet", "vial": "vial", "vials": "vial",
    "milliliter": "mL", "milliliters": "mL", "millilitre": "mL", "millilitres": "mL",
    "pill": "tablet", "pills": "tablet",
    "ml": "mL", "mls": "mL", "cc": "mL",
    "puff": "puff", "puffs": "puff", "inhalation": "puff", "inhalations": "puff",
    "drop": "drop", "drops": "drop", "gtt": "drop", "gtts": "drop",
    "spray": "spray", "sprays": "spray",
    "patch": "patch", "patches": "patch",
    "application": "application", "applications": "application",
    "suppository": "suppository", "suppositories": "suppository",
    "lozenge": "lozenge", "lozenges": "lozenge",
    "packet": "packet", "packets": "packet", "sachet": "packet", "sachets": "packet",
    "film": "film", "films": "film",
}
"""Words for one unit of a dose, and what each means."""
_COUNTED = {"tablet", "capsule", "patch", "suppository", "lozenge", "film", "packet", "vial"}
"""Units that are counted: an amount written before their count is the strength of one."""
_SPOONS = {"tsp": 5.0, "teaspoon": 5.0, "teaspoons": 5.0, "teaspoonful": 5.0, "teaspoonfuls": 5.0,
           "spoon": 5.0, "spoonful": 5.0, "spoonfuls": 5.0,
           "tbsp": 15.0, "tablespoon": 15.0, "tablespoons": 15.0, "tablespoonful": 15.0}
"""Spoons, read as mL (the measures pharmacies dispense them as)."""
_UNIT_NAMES = tuple(sorted((w for w in (*_UNIT_WORDS, *_SPOONS) if w != "t"), key=len, reverse=True))
_UNIT = "(?:" + "|".join(re.escape(w) for w in _UNIT_NAMES) + ")"

_DAYS_PER = {"day": 1, "days": 1, "d": 1, "week": 7, "weeks": 7, "wk": 7, "wks": 7, "w": 7,
             "month": 30, "months": 30, "mo": 30, "mos": 30}
_PERIOD = r"(?:days?|d|weeks?|wks?|wk|w|months?|mos?|mo)"

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_FRACTION_CHARS = {"½": " 1/2", "¼": " 1/4", "¾": " 3/4", "⅓": " 1/3", "⅔": " 2/3"}

_LATIN = {"tid", "bid", "qid", "qd", "qhs", "hs", "prn", "po", "pr", "sl", "qam", "qpm", "qod", "ac", "pc",
          "sig", "disp", "qty", "od"}
"""Abbreviations also written with dots (t.i.d., p.o., q.h.s.)."""

_ROUTES = {
    "po": "oral", "by mouth": "oral", "orally": "oral", "oral": "oral", "per os": "oral",
    "sl": "sublingual", "sublingual": "sublingual", "sublingually": "sublingual", "under the tongue": "sublingual",
    "pr": "rectal", "rectally": "rectal", "per rectum": "rectal", "rectal": "rectal",
    "topically": "topical", "topical": "topical", "top": "topical", "to skin": "topical", "to the skin": "topical",
    "iv": "intravenous", "intravenously": "intravenous", "im": "intramuscular", "intramuscularly": "intramuscular",
    "sq": "subcutaneous", "subq": "subcutaneous", "subcut": "subcutaneous", "sc": "subcutaneous",
    "subcutaneously": "subcutaneous", "inhaled": "inhaled", "by inhalation": "inhaled", "inhalation route": "inhaled",
    "transdermal": "transdermal", "transdermally": "transdermal", "nasally": "nasal", "intranasally": "nasal",
    "subcutaneous": "subcutaneous", "by nebulizer": "inhaled", "nasal": "nasal",
    "ophthalmic route": "ophthalmic", "by ophthalmic route": "ophthalmic", "oral route": "oral",
    "by nebulization": "inhaled", "nebulized": "inhaled", "by inhaled route": "inhaled", "by nasal route": "nasal",
    "by rectal route": "rectal", "by vaginal route": "vaginal", "by otic route": "otic", "otic route": "otic",
    "inhalation": "inhaled",
    "by oral route": "oral", "by topical route": "topical", "vaginally": "vaginal",
    # Routes by which opioids are also given: read (and kept) so that a dose by one of them is never
    # converted with a factor meant for oral doses (rules.dose, MME).
    "injection": "injection", "inj": "injection", "by injection": "injection", "intrathecal": "intrathecal",
    "intrathecally": "intrathecal", "epidural": "epidural", "epidurally": "epidural", "buccal": "buccal",
    "buccally": "buccal", "intranasal": "nasal",
}
_SITES = ("to the affected areas", "to the affected area", "to affected areas", "to affected area", "to the skin",
          "to skin", "in each eye", "in both eyes", "into both eyes", "in each ear", "into both ears", "in both ears",
          "in each nostril", "into each nostril", "in the affected eye", "in the affected ear")
"""Where it goes, read and kept."""
_FORMS = {
    "er": "extended-release", "xr": "extended-release", "sr": "extended-release", "cr": "extended-release",
    "xl": "extended-release", "la": "extended-release", "dr": "delayed-release", "ec": "delayed-release",
    "ir": "immediate-release", "odt": "orally disintegrating", "extended release": "extended-release",
    "extended-release": "extended-release", "delayed release": "delayed-release",
    "cream": "cream", "ointment": "ointment", "gel": "gel", "solution": "solution", "soln": "solution",
    "suspension": "suspension", "susp": "suspension", "concentrate": "concentrate", "conc": "concentrate",
    "syrup": "syrup", "elixir": "elixir", "liquid": "liquid",
    "inhaler": "inhaler", "nebulizer": "inhalation solution", "lotion": "lotion", "powder": "powder",
}
_FILLER = {
    "take", "takes", "taking", "give", "apply", "use", "inhale", "instill", "insert", "place", "chew", "swallow",
    "dissolve", "administer", "inject", "by", "mouth", "route", "the", "a", "an", "of", "to", "into", "in",
    "at", "with", "without", "food", "water", "milk", "and", "please", "dose", "doses", "or",
    "whole", "do", "not", "crush", "as", "directed", "total", "using",
    "tablet", "tablets", "tab", "tabs", "capsule", "capsules", "cap", "caps", "pill", "pills", "caplet",
    "caplets", "sig", "rx", "sig:", "rx:", "thinly", "film", "films",
}
"""Words that carry no dosing number (what they say is read elsewhere, or needs no reading)."""
_FORM_NOUNS = {"tablet", "tablets", "tab", "tabs", "capsule", "capsules", "cap", "caps", "caplet", "caplets"}
"""What a counted unit is called, with no count: `TAB` in a claim's drug description."""

_UNREAD_TRIGGERS = [
    (r"\bthen\b", ("then",), "changes dose ('then')"),
    (r"\btaper", ("taper",), "a taper"),
    (r"\b(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?s?\b",
     ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "a weekday schedule"),
    (r"\bweekly\b|\bevery (?:\d+ )?weeks?\b|\bq ?weeks?\b|\bq ?wk\b|\bonce a week\b|\bper week\b|"
     r"/ ?w(?:ee)?k\b|\bmonthly\b|\bevery (?:\d+ )?months?\b|\bq ?months?\b|\bonce a month\b",
     ("week", "wk", "month"), "a weekly or monthly dose"),
    (r"/ ?kg\b|/ ?m2\b|\bper kg\b|\bper m2\b", ("kg", "m2"), "a dose by weight or body area"),
    (r"\brepeat", ("repeat",), "a conditional repeat"),
    (r"\bsliding scale\b|\bunits?\b", ("sliding scale", "unit"), "units (insulin or a scale)"),
    (r"\bstat\b|\bat once\b|\bsingle dose\b|\bone time only\b", ("stat", "at once", "single dose", "one time only"),
     "a single dose"),
    (r"\b\d{1,2}:\d{2}\b|\b\d{1,2} ?(?:am|pm)\b|\b\d{1,2}\s?(?:a\.m\.|p\.m\.)", (":", "am", "pm", "a.m.", "p.m."),
     "clock times"),
    (r"\bwordslash\b", ("wordslash",), "alternatives written with a slash"),
    (r"/\s?(?:min|minute|hr|hour)\b", ("/",), "an infusion rate"),
    (r"\balternat", ("alternat",), "alternating doses"),
    (r"\bon days? \d|\bdays? \d+\s?(?:-|to|through|and)\s?\d|\bday \d+\s?:|\bday \d+ (?:and|then)\b", ("day",),
     "a dose by day number"),
]
"""Text that must not be computed from: its presence makes the whole reading unread. Each pattern comes
with words one of which every match contains, so it is compiled only for text that could match."""


@lru_cache(maxsize=1 << 16)
def read_sig(text: str, before: str = "") -> Dosing:
    """Read the dosing text of one medication entry (see the module docstring); never raises.

    `text` is what follows the medication's name, `before` what precedes it ("1 tab Soma 350 mg":
    before "1 tab", text "350 mg"); a bare number counts as one only at the start of `text`.
    The reading depends on these two texts alone and a `Dosing` is immutable, so readings are
    cached: a population writes the same sig ("350 mg tid", "1 tab po bid") after many names, and
    reading it is most of the first sight of an entry.
    """
    if not text.strip() and not before.strip():
        return Dosing()  # nothing to read ("Xanax")
    after = _normalise(text)
    joined = (_normalise(before) + " |" + after) if before.strip() else after
    return _Reader(joined, lead=len(joined) - len(after)).read()


def resolve(dosing: Dosing, ingredients: int, marketed: tuple[tuple[float, ...], ...] = ()) -> Dosing:
    """Settle what needed the product: `ingredients` is how many it has, `marketed` its marketed strengths
    (each per ingredient, in the product's order, in mg). Unresolvable text becomes unread."""
    lead = dosing.lead
    if lead is not None:
        written = f"{lead:g}"
        if (lead,) in marketed and not dosing.strengths:
            dosing = replace(dosing, strengths=(lead,), lead=None,
                             assumed=f"{written} read as {written} mg: a marketed strength of this product")
        elif dosing.lead_is_count and dosing.units_per_dose is None and lead <= MAX_BARE_COUNT:
            dosing = replace(dosing, units_per_dose=lead, lead=None)
        else:
            return _unread(replace(dosing, lead=None), f"{written} (no unit; give it, e.g. '{written} mg')")
    if dosing.dash_pair is not None:
        low, high = dosing.dash_pair
        if ingredients == 2 and not dosing.strengths:
            dosing = replace(dosing, strengths=(low, high), dash_pair=None)
        elif ingredients == 1 and not dosing.strengths and low < high:
            dosing = replace(dosing, strengths=(high,), dash_pair=None)
        else:
            return _unread(replace(dosing, dash_pair=None), f"{low:g}-{high:g} mg")
    if dosing.strengths and len(dosing.strengths) not in (1, ingredients):
        return _unread(dosing, f"{len(dosing.strengths)} strengths for {ingredients} ingredients")
    if dosing.strengths and len(dosing.strengths) == 1 and ingredients > 1:
        # One amount for a combination product cannot be given to one ingredient; nor one concentration
        # ("acetaminophen/codeine 12 mg/5 mL": the codeine's, as labels write it, or the acetaminophen's?).
        if dosing.per_ml:
            return _unread(dosing, f"one concentration for a product of {ingredients} ingredients: whose it is, or "
                                   "how it divides among them, cannot be told")
        return _unread(dosing, f"{dosing.strengths[0]:g} mg for a product of {ingredients} ingredients")
    if dosing.bare:
        written = dosing.bare_joiner.join(f"{v:g}" for v in dosing.bare)
        if dosing.bare_joiner == "-" and len(dosing.bare) == 2 and dosing.bare not in marketed \
                and dosing.bare[0] > dosing.bare[1]:
            return _unread(replace(dosing, bare=(), bare_joiner="/"), f"a range that runs downwards ({written})")
        if dosing.bare in marketed and not dosing.strengths:
            shown = "/".join(f"{v:g}" for v in dosing.bare)
            return replace(dosing, strengths=dosing.bare, bare=(), bare_joiner="/",
                           assumed=f"{written} read as {shown} mg: a marketed strength of this product")
        if len(dosing.bare) == 3 and dosing.bare_joiner == "-":
            # "1-0-1" may be a morning-noon-evening schedule as well as three strengths: never 'give it in mg'.
            return _unread(replace(dosing, bare=(), bare_joiner="/"),
                           f"{written} (no unit: three strengths, or doses morning-noon-evening? write the unit, "
                           "or the doses a day)")
        return _unread(replace(dosing, bare=(), bare_joiner="/"), f"{written} (no unit; give it, e.g. '{written} mg')")
    return dosing


def _unread(dosing: Dosing, what: str) -> Dosing:
    return replace(dosing, unread=f"{dosing.unread}; {what}" if dosing.unread else what)


# --- normalising -------------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['’`´]")
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))
"""Hyphens, dashes and the minus sign, written as "-"."""
_THOUSANDS = r"(?<![\d.,])(\d{1,3}(?:,\d{3})+)(?![\d,])"
_LEADING_DOT = r"(?<![\d.])\.(\d)"
_DOTTED = r"\b(?:[a-z]\.){1,3}[a-z]\b\.?|\b(?:[a-z]\.){2,4}"
"""A dotted abbreviation (t.i.d., p.o., q.h.s.): no spaces inside, so "t.i.d. p.o." is two of them."""
_MIXED_FRACTION = r"(?<![\d/.,])\b(\d{1,2})(?:\s+|\s*-\s*|\s+and\s+(?:a\s+)?)([1-3])/([2-4])\b(?![/\d])"
"""A whole number of one or two digits and a fraction: "1 1/2 tabs". Never a strength before a fraction: "Soma 350
1/2 tab" is half a tablet of 350 mg, not 350.5; "Norco 10/325 1/2 tab" not 10/325.5."""
_COUNTED_BEFORE = re.compile(r"(?:#|\b(?:qty|quantity|disp|dispense|dispensed|rf|refills?|daw))\s*[:#x]?\s*$")
"""What a number may follow that makes it no whole part of a mixed number: "#30 1/2 tab" is 30 dispensed and half
a tablet, never 30.5 (then read as '#30' and '.5 tab', 5 tablets)."""
_FRACTION = r"(?<![\d/.])([1-3])/([2-4])(?![\d/])"
_HALF_PHRASES = [
    (r"\b(one|two|three|four|\d+) and (?:a half|one half|one-half|1/2)\b", 0.5),
    (r"\b(?:one|a)[ -]half\b|\bhalf an?\b|\bhalf\b", None),
]
_WORD_NUMBER = r"\b(" + "|".join(_NUMBER_WORDS) + r")\b"
_GLUED_AFTER_NUMBER = re.compile(
    r"(?<=\d)(?=(?:mg|mcg|ug|gm|g|ml|mls|cc|milligrams?|micrograms?|grams?|tabs?|tablets?|caps?|capsules?|puffs?|"
    r"drops?|sprays?|patch(?:es)?|x|days?|d|wks?|weeks?|w|months?|mos?|h|hr|hrs|hrly|hourly|am|pm|units?|t)\b)")
"""Where a number runs into the unit or period it carries (350mg, x14d, q6h, 2tabs): split there only."""
_GLUED_BEFORE_NUMBER = re.compile(r"\b(q|x|rf|daw|every)(?=\d)")
"""Words a number follows with no space (q6h, x14, RF0, DAW1)."""


def _normalise(text: str) -> str:
    """Lower-case, Unicode-normalised text with numbers written one way (see the module docstring)."""
    for char, spelled in _FRACTION_CHARS.items():
        text = text.replace(char, spelled)
    text = unicodedata.normalize("NFKC", text).casefold()
    if "\u2044" in text:  # NFKC writes "1½" as "11⁄2" (text.prepare has done it before): one and a half
        text = re.sub(r"(\d)([1-3])\u2044([2-4])(?!\d)", r"\1 \2/\3", text)
    text = text.replace("\u2044", "/").replace("×", " x ").replace("µ", "u").replace("μ", "u")
    text = text.translate(_DASHES)
    text = _APOSTROPHES.sub("", text)
    # Each rewrite below runs only on text holding what every one of its matches contains: most entries
    # hold few of them, and a pattern not needed is never compiled (the first-sight cost of `check`).
    if "." in text:
        text = re.sub(_DOTTED, _undot, text)
    if "," in text:
        text = re.sub(_THOUSANDS, lambda m: m.group(1).replace(",", ""), text)
    if "." in text:
        text = re.sub(_LEADING_DOT, r"0.\1", text)
    text = text.replace("(", " ").replace(")", " ").replace("[", " ").replace("]", " ")
    if "x" in text:
        text = re.sub(r"(?<=\d)(?:\s*)x(?=\s*\d)", " x ", text)  # 2x20ml
        # "bidx5 days", "dailyx90": a frequency run into "x N".
        text = re.sub(r"\b(qd|bid|tid|qid|daily|qhs|prn|hs|qam|qpm|day|days|bedtime|night|morning|h|hr|hrs|"
                      r"q\s?\d+\s?(?:h|hr|hrs))x(?=\s?\d)", r"\1 x ", text)
    text = _GLUED_AFTER_NUMBER.sub(" ", text)
    text = _GLUED_BEFORE_NUMBER.sub(r"\1 ", text)
    if "." in text:
        text = re.sub(r"(?<=\d)\s+\.(?=\d)", ".", text)
    # Number words, and "one 1" / "2 two" written twice over.
    if "half" in text:
        for pattern, add in _HALF_PHRASES:
            text = re.sub(pattern, partial(_plus, add) if add is not None else "0.5", text)
    if any(word in text for word in _NUMBER_WORDS):
        if "/" in text:
            text = re.sub(r"\b(?:" + "|".join(_NUMBER_WORDS) + r")\s*/\s*(?:" + "|".join(_NUMBER_WORDS) + r")\b",
                          " wordslash ", text)  # one/two: alternatives, not a fraction
        text = re.sub(_WORD_NUMBER, lambda m: str(_NUMBER_WORDS[m.group(1)]), text)
    # Not before a fraction: "RF 1 1 1/2 tab" is one refill and one and a half tablets, never "RF 1 1/2".
    # Nor after a code or a count to dispense: "DAW1 1 tab" is DAW code 1 and one tablet.
    text = re.sub(r"\b(\d+)\s+\1\b(?!\s*/)(?!\s+[1-3]/[2-4]\b)",
                  lambda m: m.group(0) if _COUNTED_BEFORE.search(m.string, 0, m.start()) else m.group(1), text)
    if "/" in text:
        # In full (repr), not to 6 digits: "1/3 tab" of 350 mg was 116.66655 mg, 0.333333 tablets.
        text = re.sub(_MIXED_FRACTION, lambda m: repr(int(m.group(1)) + int(m.group(2)) / int(m.group(3)))
                      if int(m.group(2)) < int(m.group(3)) and not _COUNTED_BEFORE.search(m.string, 0, m.start())
                      else m.group(0), text)
        text = re.sub(_FRACTION, lambda m: repr(int(m.group(1)) / int(m.group(2)))
                      if int(m.group(1)) < int(m.group(2)) else m.group(0), text)
    return " " + " ".join(text.split()) + " "


def _undot(match: re.Match) -> str:
    letters = re.sub(r"[.\s]", "", match.group(0))
    return letters if letters in _LATIN else match.group(0)


def _plus(add: float, match: re.Match) -> str:
    """The number a phrase like "two and a half" writes: its whole part plus `add`."""
    return f"{_word_value(match.group(1)) + add:g}"


def _word_value(word: str) -> float:
    return float(_NUMBER_WORDS.get(word, 0) or word)


_PUNCTUATION = {"-", "--", "+", "&", ".", "*"}
_SEPARATORS = str.maketrans(",;:/", "    ")
"""Marks that separate clauses: left over, they say nothing."""

# --- reading -------------------------------------------------------------------------------------

_MEAL = r"(?:breakfast|lunch|dinner|supper|the evening meal|the morning meal)"
_MEALS = rf"\b(?:with|after|before|at) {_MEAL}((?:,? (?:and )?{_MEAL})*)\b"
_TIME_TERMS = (
    r"\b(?:qam|q am|qpm|q pm|qhs|q hs|hs|at bedtime|bedtime|in the morning|every morning|each morning|in the mornings|"
    r"in the evening|every evening|each evening|in the evenings|at night|every night|each night|nightly|"
    r"at noon|at midday|before bed|at night time|night time|morning|evening|night)\b")
"""Times of day: one dose each."""


_SLOTS = {"morning": ("qam", "q am", "morning", "breakfast", "the morning meal"),
          "noon": ("noon", "midday", "lunch"),
          "evening": ("qpm", "q pm", "evening", "dinner", "supper", "the evening meal"),
          "night": ("qhs", "q hs", "hs", "bedtime", "night", "nightly", "bed")}


@cache
def _phrases(phrases: tuple[str, ...]) -> re.Pattern:
    """One pattern for a set of whole phrases, longest first (one compile, not one per phrase)."""
    words = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{words})(?![\w-])")


def _slot(words: str) -> str:
    """Which time of day a phrase names (qam and every morning are the same time)."""
    for slot, names in _SLOTS.items():
        if any(re.search(rf"\b{re.escape(n)}\b", words) for n in names):
            return slot
    return words


def _meal_slots(words: str) -> list[str]:
    """The times of day of each meal in "with breakfast and dinner"."""
    return [_slot(meal) for meal in re.findall(_MEAL, words)]


class _Reader:
    """One pass of the grammar over normalised text, consuming what it reads."""

    def __init__(self, text: str, lead: int = 0):
        self.text = text
        self.original = text
        self.lead_at = lead
        """Where the text after the medication's name starts (a bare number there may be a strength)."""
        self.values: dict = {}
        self.problems: list[str] = []
        self.counts: list[tuple[float, str, int]] = []  # (units, unit, position)
        self.amounts: list[tuple[float, int, bool]] = []  # (mg, position, stated as the total)
        self.prn_at: int | None = None
        self.dash_at: int | None = None

    # helpers -----------------------------------------------------------------------------------

    def take(self, pattern: re.Pattern, handler, *, once: bool = False) -> None:
        """Call `handler(match)` for each match of `pattern`, and blank what it read."""
        while True:
            match = pattern.search(self.text)
            if match is None:
                return
            handler(match)
            self.text = self.text[:match.start()] + " " * (match.end() - match.start()) + self.text[match.end():]
            if once:
                return

    def has(self, *words: str) -> bool:
        """Whether any of `words` is still in the text: every match of the rule that follows contains one,
        so a rule is compiled and run only when it could match (first-sight cost of a `check` process)."""
        return any(w in self.text for w in words)

    def units(self, counted: bool = False) -> str:
        """The unit-word alternative of a pattern, of just the unit words the text holds (longest first, as
        `_UNIT` orders them): a word the text lacks cannot match, and the full list costs more to compile
        than most entries take to read. Never matches when the text holds none. With `counted`, only the
        words that name a counted unit (a tablet, a capsule: `_COUNTED`)."""
        present = tuple(w for w in _UNIT_NAMES if w in self.text
                        and (not counted or _UNIT_WORDS.get(w) in _COUNTED))
        return "(?:" + "|".join(re.escape(w) for w in present) + ")" if present else "(?!)"

    def set(self, name: str, value, what: str) -> None:
        """Record one field; a different second value for it is a contradiction (unread)."""
        if name in self.values and self.values[name] != value:
            self.problems.append(f"two different {what}")
        if name == "route" and value not in self.values.setdefault("routes", ()):
            # Every route named is kept: a rule exception for one route must not apply when two are written.
            self.values["routes"] += (value,)
        self.values[name] = value

    # the grammar -------------------------------------------------------------------------------

    def read(self) -> Dosing:
        self._patch_rate()  # before the triggers: a patch's "mcg/hr" is not an infusion rate
        for pattern, needs, reason in _UNREAD_TRIGGERS:
            if self.has(*needs) and re.search(pattern, self.text):
                self.problems.append(reason)
        if self.has("|"):
            self.take(re.compile(r"\|"), lambda m: None)
        self._dispensing()
        self._duration()
        self._daily()
        self._strengths()
        self._lead()
        self._units()
        self._frequency()
        self._kept()
        return self._result()

    def _patch_rate(self) -> None:
        """`25 mcg/hr` (mcg/h, micrograms per hour) of a transdermal patch: read only when the text names a
        patch or the transdermal route; the word `patch` not counted ("1 patch" is a count) is read with it."""
        if not (self.has("mcg", "microgram", "ug") and self.has("/", "per h") and self.has("patch", "transdermal")):
            return
        self.take(re.compile(rf"\b({_NUM})\s?(?:mcg|micrograms?|ug)\s?(?:/|per)\s?(?:hr|h|hour)\b"),
                  lambda m: self.set("rate_mcg_per_hr", float(m.group(1)), "patch rates"))
        if "rate_mcg_per_hr" in self.values:
            self.take(re.compile(r"(?<![\d.]\s)(?<![\d.])\b(?:transdermal\s)?patch\b"),
                      lambda m: self.values.setdefault("form", "transdermal"))

    def _lead(self) -> None:
        """A bare number straight after the name: a strength if the product has it, else perhaps a count."""
        self._lead_pair()
        match = re.compile(rf"\s*({_NUM})(?=\s)").match(self.text, self.lead_at)
        if match is None:
            return
        rest = self.text[match.end():]
        if re.match(rf"\s*(?:{self.units()}|{_MASS}|/|-|to\b|or\b|x\b|times?\b|t\s)", rest):
            return  # a count of units, an amount, a range or a frequency: read by their rules
        self.values["lead"] = float(match.group(1))
        self.values["lead_is_count"] = bool(re.match(
            r"\s*(?:po|by mouth|orally|sl|pr|qd|bid|tid|qid|qhs|hs|qam|qpm|daily|q\s?\d|every|once|twice|"
            r"\d+\s?(?:x|times?)\b)", rest))
        self.text = self.text[:match.start(1)] + " " * len(match.group(1)) + self.text[match.end(1):]

    def _lead_pair(self) -> None:
        """`N-M` without a unit straight after the name (`Norco 5-325`, as `Norco 5/325`): per-ingredient numbers,
        mg only if they are a marketed strength of the product (`resolve`). Not for two small rising numbers,
        which may count units (`Norco 1-2 q6h`, `Norco 1-2 tabs`), nor where a measured unit, a period or a
        rate follows (`5-10 mL`, `q4-6h`); before a counted unit it is no count (`Norco 10-325 TAB`)."""
        if not self.has("-"):
            return
        match = re.compile(rf"\s*({_NUM})\s?-\s?({_NUM})(?=\s)").match(self.text, self.lead_at)
        if match is None:
            return
        low, high = float(match.group(1)), float(match.group(2))
        if (max(low, high) <= MAX_BARE_COUNT and low < high) or not self._as_written_after_name(match.start(1)):
            return
        rest = self.text[match.end():]
        # Before a counted unit the pair is no count (`Norco 10-325 TAB`: not 325 tablets); before a
        # measured one (`5-10 mL`), a period or a rate, it is what they say.
        if not re.match(rf"\s*{self.units(counted=True)}\b", rest) and re.match(
                rf"\s*(?:{self.units()}|{_MASS}|{_PERIOD}|/|-|%|to\b|or\b|x\b|times?\b|h\b|hrs?\b|hours?\b)", rest):
            return
        self.set("bare", (low, high), "strengths")
        self.values["bare_joiner"] = "-"
        self.text = self.text[:match.start(1)] + " " * (match.end() - match.start(1)) + self.text[match.end():]

    def _as_written_after_name(self, at: int) -> bool:
        """Whether `at` is straight after the name in the text as written, not only once an amount read before
        it was blanked ("methadone 10 mg 12 tabs": the 12 counts tablets)."""
        return not self.original[self.lead_at:at].strip()

    def _dispensing(self) -> None:
        if self.has("#"):
            self.take(re.compile(r"#\s?(\d+)\b"), lambda m: self.set("quantity", float(m.group(1)), "quantities"))
        if self.has("qty", "quantity", "disp"):
            self.take(re.compile(r"\b(?:qty|quantity|disp|dispense|dispensed)\s?[:#]?\s?(\d+(?:\.\d+)?)\b"
                                 rf"(?:\s?{self.units()})?"), lambda m: self.set("quantity", float(m.group(1)),
                                                                                "quantities"))
        if self.has("daw", "dispense as written", "no substitution"):
            # "DAW 1 1/2 tab": DAW code 1 and half a tablet, or DAW and one and a half? Which cannot be told.
            self.take(re.compile(r"\bdaw\s?(\d)\s(0\.\d+)(?=\s)"), lambda m: self.problems.append(
                f"DAW {m.group(1)} before a fraction (DAW code {m.group(1)} and {float(m.group(2)):g} of a unit, or "
                f"{int(m.group(1)) + float(m.group(2)):g} units? write the DAW code apart)"))
            # "DAW 2 tab": DAW code 2 and a tablet, or DAW and two tablets? Read as the code, 2 tablets were 1.
            self.take(re.compile(rf"\bdaw\s?(\d)\s(?={self.units(counted=True)}\b)"), lambda m: self.problems.append(
                f"DAW {m.group(1)} before a unit (DAW code {m.group(1)}, or DAW and {m.group(1)} "
                f"unit{'' if m.group(1) == '1' else 's'}? write the DAW code apart)"))
            self.take(re.compile(r"\bdaw\s?\d?\b|\bdispense as written\b|\bno substitution\b"),
                      lambda m: self.values.__setitem__("daw", True))
        if self.has("rf", "refill"):
            self.take(re.compile(r"\b(?:rf|refills?)\s?[:#x]?\s?(\d+)\b"),
                      lambda m: self.set("refills", int(m.group(1)), "refill counts"))
        if self.has("refill"):
            self.take(re.compile(r"\b(\d+) refills?\b"),
                      lambda m: self.set("refills", int(m.group(1)), "refill counts"))
        if self.has("no refills"):
            self.take(re.compile(r"\bno refills\b"), lambda m: self.set("refills", 0, "refill counts"))
        if self.has("sig", "rx"):
            self.take(re.compile(r"\b(?:sig|rx)\b\s?:?"), lambda m: None)

    def _duration(self) -> None:
        def duration(m: re.Match) -> None:
            low, high = float(m.group(1)), float(m.group(2) or m.group(1))
            if high < low:
                self.problems.append(f"a duration that runs downwards ({m.group(0).strip()})")
                return
            self.set("duration_days", high * _DAYS_PER[m.group(3)], "durations")

        if self.has("x", "for", "times"):
            self.take(re.compile(rf"\b(?:x|for|times)\s?(?:up to\s|about\s|a total of\s)?({_NUM})"
                                 rf"(?:\s?(?:-|to|or)\s?({_NUM}))?\s?({_PERIOD})\b"), duration)
        # "… twice a day 30 days": a number of days on its own (not "every 3 days") is how long.
        if self.has("day", "week", "month"):
            self.take(re.compile(rf"(?<!every )(?<!q )(?<!each )(?<!per )(?<!/ )\b({_NUM})()\s?(days|weeks|months)\b"
                                 r"(?=\s*$|\s+(?:#|qty|disp|daw|rf|refills?)\b)"), duration)

    def _daily(self) -> None:
        per_day = r"(?:/\s?|per\s|a\s|each\s|every\s|in\s)(?:day|d|24\s?hours?|24\s?hrs?|24\s?h)\b"

        def amount(m: re.Match) -> None:
            self.set("daily_mg", float(m.group(1)) * _MASS_TO_MG[m.group(2)], "daily amounts")

        def limit(m: re.Match) -> None:
            value, unit = float(m.group(1)), m.group(2) or ""
            if unit in _MASS_TO_MG:
                self.set("daily_mg", value * _MASS_TO_MG[unit], "daily amounts")
            elif unit in _UNIT_WORDS:
                self.set("daily_units", value, "daily amounts")
            elif unit.startswith("dose"):
                self.set("max_doses", value, "daily limits")
            else:
                self.problems.append(f"a daily limit without a unit ({m.group(0).strip()})")

        # A limit first, so "max 1,050 mg per day" is read whole, not as an amount after a stray "max".
        if self.has("max", "mdd", "exceed", "more than"):
            self.take(re.compile(rf"\b(?:max(?:imum)?(?: daily dose)?(?: of)?|mdd|not to exceed|do not exceed|"
                                 rf"no more than|not more than)\s({_NUM})\s?({_MASS}|{self.units()}|doses?)?"
                                 rf"\s?(?:{per_day}|daily\b|a day\b)?"), limit)
        if self.has("/", "per ", "a d", "a 2", "each d", "each 2", "every d", "every 2", "in d", "in 2", "total"):
            self.take(re.compile(rf"\b({_NUM})\s?({_MASS})\s?"
                                 rf"(?:{per_day}|daily total\b|total daily\b|total per day\b)"), amount)

    def _strengths(self) -> None:
        def concentration(m: re.Match) -> None:
            if self.text[:m.start()].rstrip().endswith("/"):
                # "7.5 mg/325 mg per 15 mL": a concentration of two ingredients, not 325 mg per 15 mL of one.
                self.problems.append(f"a concentration of more than one ingredient ({m.group(0).strip()})")
                return
            volume = float(m.group(3) or 1)
            if volume <= 0:
                self.problems.append(f"a concentration per {m.group(3)} mL ({m.group(0).strip()})")
                return
            self.set("strengths", (float(m.group(1)) * _MASS_TO_MG[m.group(2)] / volume,), "strengths")
            self.values["per_ml"] = True

        def per_ingredient(m: re.Match) -> None:
            numbers = [(float(m.group(n)), m.group(n + 1)) for n in (1, 3, 5) if m.group(n) is not None]
            units = [unit for _, unit in numbers] + [m.group(7)]
            if not any(units):
                self.set("bare", tuple(value for value, _ in numbers), "strengths")
                return
            written = [u for u in units if u]
            if all(numbers[i][1] for i in range(len(numbers))):
                # Each number in its own unit: "0.3 g/30 mg" is 300 and 30 mg, never 300 and 30,000.
                read = tuple(value * _MASS_TO_MG[unit] for value, unit in numbers)
            elif len(written) == 1 and (m.group(7) or numbers[-1][1]):
                # One unit, at the end, for every number: "300/30 mg", as labels write it.
                read = tuple(value * _MASS_TO_MG[written[0]] for value, _ in numbers)
            else:
                # "0.3 g/30", "5 mg/0.325", "50 mg/0.325 g/40": which unit a bare number is in cannot be told.
                self.problems.append(f"a strength with a unit for some numbers only ({m.group(0).strip()}; give "
                                     "each number its unit, or one unit after all of them)")
                return
            self.set("strengths", read, "strengths")

        def dash(m: re.Match) -> None:
            # "8-2 mg", or with a unit on each side, "8 mg-2 mg" (each number in its own unit).
            unit = m.group(4)
            low, high = float(m.group(1)) * _MASS_TO_MG[m.group(2) or unit], float(m.group(3)) * _MASS_TO_MG[unit]
            if m.group(5):  # "10-20 mg total": a range of doses, read by its upper bound
                if high < low:
                    self.problems.append(f"a range that runs downwards ({m.group(0).strip()})")
                self.amounts.append((high, m.start(), True))
                return
            self.dash_at = m.start()
            self.set("dash_pair", (low, high), "strengths")

        def single(m: re.Match) -> None:
            total = bool(m.group(3))
            self.amounts.append((float(m.group(1)) * _MASS_TO_MG[m.group(2)], m.start(), total))

        def dashed_three(m: re.Match) -> None:
            # "Fioricet 50-300-40", "FIORICET 50-300-40 MG CAP": a strength for each of three ingredients.
            numbers = tuple(float(m.group(n)) for n in (1, 2, 3))
            if m.group(4):
                self.set("strengths", tuple(v * _MASS_TO_MG[m.group(4)] for v in numbers), "strengths")
            else:
                self.set("bare", numbers, "strengths")
                self.values["bare_joiner"] = "-"

        if self.has("ml", "cc"):
            self.take(re.compile(rf"\b({_NUM})\s?({_MASS})\s?(?:/|per)\s?({_NUM})?\s?(?:ml|mls|cc)\b"), concentration)
        if self.has("-"):
            self.take(re.compile(rf"(?<![\w./-])({_NUM})\s?-\s?({_NUM})\s?-\s?({_NUM})(?:\s?({_MASS})\b)?(?![\w./-])"),
                      dashed_three)
        if self.has("/"):
            self.take(re.compile(rf"\b({_NUM})\s?({_MASS})?\s?/\s?({_NUM})\s?({_MASS})?(?:\s?/\s?({_NUM})\s?({_MASS})?)?"
                                 rf"(?:\s?({_MASS})\b)?(?!\s?(?:ml|mls|cc)\b)"), per_ingredient)
        if self.has("-", "to"):
            self.take(re.compile(rf"\b({_NUM})\s?(?:({_MASS})\s?)?(?:-|to)\s?({_NUM})\s?({_MASS})\b(\s?total\b)?"),
                      dash)
        self.take(re.compile(rf"(?<![\w.-])({_NUM})\s?({_MASS})\b(\s?total\b)?"), single)
        if self.has("-"):
            self.take(re.compile(rf"(?<![\w.])-\s?({_NUM})\s?({_MASS})\b"), lambda m: self.problems.append(
                f"a negative amount ({m.group(0).strip()})"))

    def _units(self) -> None:
        def count(m: re.Match) -> None:
            low, high = float(m.group(1)), float(m.group(2) or m.group(1))
            if high < low:
                self.problems.append(f"a range that runs downwards ({m.group(0).strip()})")
                return
            word = m.group(3)
            if word in _SPOONS:
                self.counts.append((high * _SPOONS[word], "mL", m.start()))
            elif not word and high > MAX_BARE_COUNT:
                # "Soma 350 30 tid": 30 without a unit before the frequency is no count of a dose either.
                self.problems.append(f"{m.group(0).strip()} before the frequency (more than {MAX_BARE_COUNT} units "
                                     "a dose: a quantity to dispense? write it with its unit)")
            elif _UNIT_WORDS.get(word) in _COUNTED and high > (most := _MAX_COUNT.get(_UNIT_WORDS[word], MAX_COUNT)):
                # "Soma 350 mg 30 tabs": 30 tablets to dispense, or a dose of 10,500 mg? "CARISOPRODOL 350 TAB":
                # 350 tablets, or a strength without its unit? Which cannot be told: never a dose.
                self.problems.append(f"{m.group(0).strip()} a dose (more than {most}: a quantity to dispense, or a "
                                     f"strength without its unit? write '#{high:g}', or the unit)")
            else:
                self.counts.append((high, _UNIT_WORDS.get(word, ""), m.start()))

        if self.has(*_UNIT_NAMES):
            self.take(re.compile(rf"\b({_NUM})(?:\s?(?:-|to|or)\s?({_NUM}))?\s?({self.units()})\b"), count)
        # "1 t tid": t for tablet only before a frequency.
        if self.has(" t "):
            self.take(re.compile(rf"\b({_NUM})()\s?(t)(?=\s(?:qd|bid|tid|qid|daily|q\s?\d))"), count)
        # A count straight before the route, the frequency, or after take/give.
        before = (r"(?=\s(?:po|by mouth|orally|sl|pr|qd|bid|tid|qid|qhs|hs|qam|qpm|daily|q\s?\d|every|once|twice|at"
                  r"|in the|\d+\s?(?:x|times?)\b))")
        self.take(re.compile(rf"(?:(?<=\btake )|(?<=\bgive )|(?<=\buse )|(?<= ))({_NUM})"
                             rf"(?:\s?(?:-|to|or)\s?({_NUM}))?()" + before), count)
        if self.has("take ", "give "):
            self.take(re.compile(rf"(?:(?<=\btake )|(?<=\bgive ))({_NUM})(?:\s?(?:-|to|or)\s?({_NUM}))?()(?=\s)"),
                      count)

    def _frequency(self) -> None:
        rates: list[tuple[float, int]] = []

        def every_hours(m: re.Match) -> None:
            hours = min(float(m.group(1)), float(m.group(2) or m.group(1)))
            if hours <= 0:
                self.problems.append(f"every {m.group(1)} hours")
                return
            rates.append((24.0 / hours, m.start()))

        def every_days(m: re.Match) -> None:
            days = float(m.group(1))
            if days <= 0:
                self.problems.append(m.group(0).strip())
                return
            rates.append((1.0 / days, m.start()))

        def times(m: re.Match) -> None:
            low, high = float(m.group(1)), float(m.group(2) or m.group(1))
            if high < low:
                self.problems.append(f"a range that runs downwards ({m.group(0).strip()})")
                return
            rates.append((high, m.start()))

        def fixed(value: float):
            return lambda m: rates.append((value, m.start()))

        if self.has("h"):
            self.take(re.compile(rf"\b(?:q|every)\s?({_NUM})(?:\s?(?:-|to|or)\s?({_NUM}))?\s?(?:h|hr|hrs|hour|hours|hourly|hrly)\b"),
                      every_hours)
        if self.has("hourly", "hrly"):
            self.take(re.compile(rf"\b({_NUM})(?:\s?(?:-|to)\s?({_NUM}))?\s?(?:hourly|hrly)\b"), every_hours)
        if self.has("q ", "every"):  # normalised text has "q 3", never "q3"
            self.take(re.compile(rf"\b(?:q|every|once every)\s?({_NUM})\s?(?:days|d)\b"), every_days)
        if self.has("other day", "qod", "alternate"):
            self.take(re.compile(r"\b(?:every other day|qod|on alternate days)\b"), fixed(0.5))
        if self.has("x", "time"):
            self.take(re.compile(rf"\b(?:up to\s)?({_NUM})(?:\s?(?:-|to|or)\s?({_NUM}))?\s?(?:x|times?)"
                                 r"\s?(?:a|per|/|each|every)?\s?(?:day|daily|d)\b"), times)
        if self.has("/"):
            self.take(re.compile(rf"\b({_NUM})(?:\s?(?:-|to|or)\s?({_NUM}))?\s?/\s?(?:day|d)\b"), times)
        ranges = [("tid", "qid", 4.0), ("bid", "tid", 3.0), ("qd", "bid", 2.0)]
        for low, high, value in ranges:
            if self.has(low):
                self.take(re.compile(rf"\b{low}\s?(?:-|to|or)\s?{high}\b"), fixed(value))
        words = [
            (r"qid|four times (?:a |per |each )?day|four times daily", 4.0, ("qid", "four")),
            (r"tid|three times (?:a |per |each )?day|three times daily", 3.0, ("tid", "three")),
            (r"bid|twice (?:a |per |each )?day|twice daily|twice a day", 2.0, ("bid", "twice")),
            (r"qd|q d|once (?:a |per |each |every )?day|once daily|daily|every day|each day|per day|a day", 1.0,
             ("qd", "q d", "once", "daily", "day")),
        ]
        for pattern, value, needs in words:
            if self.has(*needs):
                self.take(re.compile(rf"\b(?:up to\s)?(?:{pattern})\b"), fixed(value))
        slots: list[str] = []
        if self.has("breakfast", "lunch", "dinner", "supper", "meal"):
            self.take(re.compile(_MEALS), lambda m: slots.extend(_meal_slots(m.group(0))))
        if self.has("qam", "q am", "qpm", "q pm", "hs", "bed", "morning", "evening", "night", "noon", "midday"):
            self.take(re.compile(_TIME_TERMS), lambda m: slots.append(_slot(m.group(0))))
        meals: list[int] = []
        if self.has("meal", "food"):
            self.take(re.compile(r"\b(?:with|after|before) (?:meals|food|each meal)\b"),
                      lambda m: meals.append(m.start()))
        if self.has("prn", "needed", "required"):
            self.take(re.compile(r"\b(?:prn|as needed|if needed|when needed|only if needed|as required|when required|"
                                 r"if required)\b"), self._prn)

        if meals and not rates:
            self.problems.append("meals without a count of doses")
        if not rates and not slots:
            return
        values = {v for v, _ in rates}
        if len(values) > 1:
            self.problems.append("two different frequencies")
            return
        # Times of day that name the same time (qam, every morning) are one.
        distinct = len(set(slots))
        if not rates:
            self.values["doses_per_day"] = float(distinct)
            return
        rate = rates[0][0]
        if not slots or distinct == rate:
            self.values["doses_per_day"] = rate
        elif re.search(r"\b(?:tid|bid|qid|times (?:a |per )?day|times daily|daily)\s+and\s+(?:at\s)?"
                       r"(?:bedtime|hs|qhs|night)\b", self.original):
            self.values["doses_per_day"] = rate + distinct  # "tid and hs", "three times a day and at bedtime"
        elif rate == 1 and distinct == 1:
            self.values["doses_per_day"] = 1.0
        else:
            self.problems.append("a frequency and times of day that do not agree")

    def _prn(self, m: re.Match) -> None:
        self.values["prn"] = True
        self.prn_at = m.end()

    def _kept(self) -> None:
        # One pattern of just the phrases the text holds: a pattern of all of them costs more to compile
        # than most entries take to read.
        if present := tuple(p for p in _ROUTES if p in self.text):
            self.take(_phrases(present), lambda m: self.set("route", _ROUTES[m.group(0)], "routes"))
        if present := tuple(p for p in _SITES if p in self.text):
            self.take(_phrases(present), lambda m: self.set("site", m.group(0), "sites"))
        if present := tuple(p for p in _FORMS if p in self.text):
            self.take(_phrases(present), lambda m: self.set("form", _FORMS[m.group(0)], "forms"))
        # Indications: "for <words>", "prn <words>" (after what is read, what remains is what it is for).
        if self.has("for", "to treat"):
            self.take(re.compile(r"\b(?:for|to treat)\s((?:[a-z][a-z/-]*\s?){1,4})(?=\s|$)"), self._indication)
        if self.prn_at is not None:
            # The words straight after "prn" (in the text as written) say what it is for: "prn back pain".
            m = re.compile(r"\s*((?:[a-z][a-z/-]*\s){1,4})(?=\s*$)").match(self.text, self.prn_at)
            if m is not None and not self.original[self.prn_at:m.start(1)].strip():
                self._indication(m)
                self.text = self.text[:m.start(1)] + " " * (m.end(1) - m.start(1)) + self.text[m.end(1):]

    def _indication(self, m: re.Match) -> None:
        words = [w for w in m.group(1).split() if w not in _FILLER]
        if words and not any(w in _UNIT_WORDS or w in _MASS_TO_MG for w in words):
            self.values["indication"] = " ".join(words)

    # the result ----------------------------------------------------------------------------------

    def _result(self) -> Dosing:
        values = self.values
        strengths = values.get("strengths", ())
        dose_mg = None
        units, unit = None, ""
        if self.counts:
            distinct = {(n, u) for n, u, _ in self.counts}
            if len(distinct) > 1:
                self.problems.append("two different amounts per dose")
            units, unit, _ = self.counts[0]
        counted = not self.counts or unit in _COUNTED or unit == ""
        for mg_value, at, total in self.amounts:
            # Only the name of the form between the name and the amount ("CARISOPRODOL TAB 350MG", as claims
            # write it) leaves the amount beside the name: the strength of one tablet.
            beside_name = all(w in _FORM_NOUNS for w in self.text[self.lead_at:at].split())
            if total or not counted or (not self.counts and not beside_name):
                # Marked as the whole dose; or beside a measured unit (100 mg in 4 mL); or on its own
                # away from the name ("take 1 mg daily"): the dose, not the strength of a unit.
                self._one(dose_mg, mg_value, "doses")
                dose_mg = mg_value
                if total and counted and units == 1 and self.counts and at > self.counts[0][2]:
                    strengths = (mg_value,)  # "1 tablet 20 mg total": one tablet holds it all
            elif not self.counts or at < self.counts[0][2] or units == 1 or beside_name:
                if strengths and strengths != (mg_value,):
                    self.problems.append("two different strengths")
                strengths = (mg_value,)
                if units == 1 and at > self.counts[0][2] and not beside_name:
                    dose_mg = mg_value  # "1 tablet 50 mg": both
            else:
                self.problems.append(f"{mg_value:g} mg after a count of {units:g} (per unit or in all? write 'total')")
        if (dose_mg is not None and strengths and units and len(strengths) == 1 and counted
                and abs(strengths[0] * units - dose_mg) > 1e-9):
            self.problems.append("a strength and a total that do not agree")
        if values.get("dash_pair") and self.dash_at is not None and self.counts and units != 1 \
                and self.dash_at > self.counts[0][2] and counted:
            self.problems.append("an amount after a count of more than one (per unit or in all? write 'total')")
        # A zero never reads as a dose: 0 tablets, 0 mg, 0 mcg/hr or 0 days is a broken entry, and a
        # daily total of 0 would pass every limit.
        zeros = [what for what, value in (("units per dose", units), ("mg", dose_mg), ("mg", values.get("daily_mg")),
                                          ("days", values.get("duration_days")),
                                          ("mcg/hr", values.get("rate_mcg_per_hr")),
                                          ("doses a day", values.get("doses_per_day")),
                                          ("doses a day", values.get("max_doses")))
                 if value == 0] + (["mg"] if any(v == 0 for v in strengths) else [])
        if zeros:
            self.problems.append(f"an amount of 0 ({', '.join(dict.fromkeys(zeros))})")
        max_doses = values.get("max_doses")
        doses = values.get("doses_per_day")
        if max_doses is not None:
            doses = max_doses if doses is None else min(doses, max_doses)
        leftover = [w for w in self.text.translate(_SEPARATORS).split() if w not in _FILLER and w not in _PUNCTUATION]
        if leftover:
            self.problems.append("could not read '" + " ".join(leftover) + "'")
        return Dosing(
            strengths=strengths,
            per_ml=bool(values.get("per_ml")),
            units_per_dose=units,
            unit=unit,
            dose_mg=dose_mg,
            doses_per_day=doses,
            daily_mg=values.get("daily_mg"),
            daily_units=values.get("daily_units"),
            duration_days=values.get("duration_days"),
            quantity=values.get("quantity"),
            refills=values.get("refills"),
            daw=bool(values.get("daw")),
            prn=bool(values.get("prn")),
            form=values.get("form", ""),
            route=values.get("route", ""),
            routes=values.get("routes", ()),
            indication=values.get("indication", ""),
            site=values.get("site", ""),
            unread="; ".join(dict.fromkeys(self.problems)),
            leftover=" ".join(leftover),
            bare=values.get("bare", ()),
            bare_joiner=values.get("bare_joiner", "/"),
            lead=values.get("lead"),
            lead_is_count=bool(values.get("lead_is_count")),
            dash_pair=values.get("dash_pair"),
            rate_mcg_per_hr=values.get("rate_mcg_per_hr"),
        )

    def _one(self, current, new, what: str) -> None:
        if current is not None and current != new:
            self.problems.append(f"two different {what}")
