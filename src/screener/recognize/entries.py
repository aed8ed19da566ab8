"""Recognise what people type: knowledge-base names, codes, the FDA vocabulary, near misses.

A medication entry is tried, in order, as
1. a code (`rxnorm:2101`, `unii:21925K482H`, or the FHIR `system|code` form), or an NDC in any
   usual form (`0037-2001-01`, `00037200101`, `ndc:0037-2001`), optionally followed by dosing text;
   an NDC resolves to its product in the FDA NDC Directory (`screener.ndc`): ingredients and strengths;
2. a name the knowledge base knows (its brands, synonyms and products), anywhere in the entry;
3. a name in the FDA vocabulary (every UNII substance, brand and combination
   product), at the start of the entry — salts resolve to their parent and
   combination products to all their ingredients;
4. a near miss: accepted only when it is unambiguous (see `NEAR_MISS`), and then
   the report says which name was assumed; otherwise it is unrecognised, with
   ranked suggestions.
What follows the name is read as dosing text (`normalize.parse_sig`); anything
not understood is reported. Conditions are knowledge-base names or diagnosis
codes (ICD-10-CM by prefix, SNOMED CT where verified); allergies are names,
codes or vocabulary substances. Nothing is ever dropped: every entry comes back
recognised or as an `Unrecognized` with a reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from functools import lru_cache

from ..knowledge.index import Index
from ..memo import memoised
from ..model import Dosing, Medication, Noted, Unrecognized, widen_routes
from ..paths import tables_home
from ..text import (
    SALT_WORDS,
    find_name,
    fold_question_marks,
    name_starts,
    normalize_name,
    prepare,
    salt_abbreviation_after,
    suggest,
)
from .measures import Measured, read_measured
from .sig import MAX_BARE_COUNT, read_sig, resolve

MEDICATION_KINDS = ("drug", "product", "substance")
ALLERGEN_KINDS = ("drug", "product", "substance", "class")
NO_ALLERGY = frozenset({"nkda", "nka", "nkma", "no known allergies", "no known allergy", "no known drug allergies",
                        "no known drug allergy", "no known medication allergies", "no known allergies to medications",
                        "no allergies", "no drug allergies", "none known", "none"})
"""Ways of writing that the patient has no known (drug) allergies: they record none. "NKFA" (no known food
allergies), "unknown" or "not assessed" say nothing about drugs, so they are not here."""

SYSTEM_URIS = {
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
    "http://fdasis.nlm.nih.gov": "unii",
    "http://hl7.org/fhir/sid/icd-10-cm": "icd10",
    "http://hl7.org/fhir/sid/icd-10": "icd10",
    "http://snomed.info/sct": "snomed",
    "http://hl7.org/fhir/sid/ndc": "ndc",
}
"""FHIR code-system URIs accepted in `system|code` entries."""
_PREFIXES = {"rxnorm": "rxnorm", "rxcui": "rxnorm", "unii": "unii", "icd10": "icd10", "icd-10": "icd10",
             "icd10cm": "icd10", "icd-10-cm": "icd10", "snomed": "snomed", "sct": "snomed", "snomedct": "snomed"}
_PREFIXED = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s*:\s*(\S+)\s*$")

NEAR_MISS = {"min_length": 6, "max_distance": 1, "max_distance_long": 2, "long": 10, "margin": 2}
"""When a misspelling is accepted as a name: the entry has at least 6 letters, is at most 1 edit
(2 from 10 letters) from exactly one known name, and every other known name is at least 2 edits
further away. Anything less certain is unrecognised with suggestions: a screener must not turn one
drug into another."""


# --- codes -----------------------------------------------------------------------


def parse_code(text: str, field: str) -> tuple[str, str] | None:
    """(system, code) when `text` is written as a code, else None.

    Accepted: `rxnorm:2101`, `unii:21925K482H`, `icd10:K74.60`, `snomed:…`,
    `<FHIR system URI>|<code>`, and for conditions a bare ICD-10-CM code (`Z33.1`).
    """
    text = text.strip()
    if "|" in text:
        uri, _, code = text.partition("|")
        system = SYSTEM_URIS.get(uri.strip().rstrip("/"))
        return (system, _canonical(system, code.strip())) if system else None
    match = _PREFIXED.match(text)
    if match and match.group(1).lower() in _PREFIXES:
        system = _PREFIXES[match.group(1).lower()]
        return system, _canonical(system, match.group(2))
    if field == "condition":
        from ..icd10cm import read_icd10cm_code

        bare = read_icd10cm_code(text)
        if bare is not None:
            return "icd10", bare
    return None


def _canonical(system: str, code: str) -> str:
    if system == "icd10":
        from ..icd10cm import read_icd10cm_code

        return read_icd10cm_code(code) or code.upper()
    return code.upper() if system == "unii" else code


def ndc_directory(index: Index):
    """The FDA NDC Directory that goes with this knowledge (None if it has none)."""
    from ..ndc import NDC_DIR, load_ndc_directory

    return load_ndc_directory(tables_home(index.directory, NDC_DIR))


def icd10cm_codes(index: Index):
    """The ICD-10-CM code set that goes with this knowledge (None if it has none)."""
    from ..icd10cm import ICD10CM_DIR, load_icd10cm

    return load_icd10cm(tables_home(index.directory, ICD10CM_DIR))


def _icd10cm_fact(index: Index, text: str, code: str) -> tuple[str, str] | Noted | Unrecognized | None:
    """A condition written as (or named for) an ICD-10-CM code: the knowledge base's condition when a
    cited code row maps it, `Noted` for any other code of the release, `Unrecognized` for a code the
    release does not have. None when no ICD-10-CM code set is at hand (the code rows alone decide)."""
    codes = icd10cm_codes(index)
    if codes is None:
        return None
    entry = codes.get(code)
    if entry is None:
        near = [c.code for c in (codes.get(code[:end]) for end in range(len(code) - 1, 2, -1)) if c is not None]
        hint = f"; the nearest code above it is {near[0]}" if near else ""
        return Unrecognized(text, "condition", f"{code} is not in {codes.release}{hint}", tuple(near[:1]))
    condition = condition_for_code(index, "icd10", entry.code)
    if condition is not None:
        return (text, condition)
    return Noted(text, "condition", f"ICD-10-CM {entry.code} {entry.title}", f"icd10:{entry.code}")


def condition_for_code(index: Index, system: str, code: str) -> str | None:
    """The condition a diagnosis code means: an exact row, else the longest prefix row."""
    hit = index.condition_codes.get(f"{system}:{code}")
    if hit is not None:
        return hit[0]
    if system != "icd10":
        return None
    for end in range(len(code) - 1, 2, -1):
        hit = index.condition_codes.get(f"icd10:{code[:end].rstrip('.')}")
        if hit is not None and hit[1] == "prefix":
            return hit[0]
    return None


# --- the FDA vocabulary -------------------------------------------------------------


def fda_vocabulary(index: Index):
    """The FDA vocabulary that goes with this knowledge (None if it has none)."""
    from ..vocabulary import VOCABULARY_DIR, load_vocabulary

    return load_vocabulary(tables_home(index.directory, VOCABULARY_DIR))


def ingredient_for_unii(index: Index, unii: str) -> str | None:
    """The concept id for an ingredient UNII: the knowledge base's concept when it has one, else a
    vocabulary ingredient named after the FDA display name (registered in `index.external`)."""
    concept = index.codes.get(f"unii:{unii}")
    if concept is not None:
        return concept
    vocab = fda_vocabulary(index)
    display = vocab.display(unii) if vocab else None
    if display is None:
        return None
    key = normalize_name(display)
    known = index.names.get(key)
    if known is not None and index.kinds[known] in ("drug", "substance"):
        return known
    cid = key.replace(" ", "-")
    if cid in index.kinds:
        cid = f"unii-{unii.lower()}"
    index.external[cid] = display.lower()
    return cid


def vocabulary_concept(index: Index, entry) -> tuple[str, tuple[str, ...]] | None:
    """(concept id, ingredient ids) for an unambiguous vocabulary entry, or None if none resolve.

    A single-ingredient name is that ingredient (lisinopril); a brand or product gets an
    id of its own, named after it, so paths read "Zestril" → zestril → lisinopril.
    """
    found = [ingredient_for_unii(index, u) for u in entry.ingredients[0]]
    if not found or None in found:
        # A product is all of its ingredients or nothing: never read as the ones that could be identified.
        return None
    ingredients = tuple(dict.fromkeys(x for x in found if x is not None))
    name_id = entry.name.replace(" ", "-")
    concept = ingredients[0] if (len(ingredients) == 1 and ingredients[0] == name_id) else name_id
    if concept not in index.kinds:
        index.external.setdefault(concept, entry.name)
    return concept, ingredients


def product_mismatch(index: Index, entry) -> tuple[str, tuple[str, ...]] | None:
    """Why a vocabulary product or brand name is not read as the ingredients the FDA UNII list gives it, and the
    ingredient sets the NDC Directory lists under that name (the suggestions); None when it may be read.

    The UNII Names list builds a product from its COMPONENT rows, and for some combination products it lists
    only some of them: CASSIPA (buprenorphine and naloxone sublingual film) has only its naloxone row, BIKTARVY
    lacks emtricitabine, DOVATO (a brand row) names dolutegravir alone, ODEFSEY names tenofovir disoproxil
    beside the alafenamide it contains. So a product or brand name (`product` or `bn`) whose proprietary name
    the NDC Directory lists is read only when one of the directory's ingredient sets under that name is the
    set the UNII list gives (both compared as knowledge concepts: the directory names each substance by the
    UNII the vocabulary resolves its name to, its parent where the UNII list says so); otherwise it is
    refused (unrecognised, the screen incomplete) with the directory's sets as suggestions, never read as the
    part of it that was listed. A product of one listed component is read only when every product the
    directory lists under the name has that ingredient alone, and is refused when the directory does not list
    it (its other components cannot be known); a brand or a product of several components that the directory
    does not list is read as the UNII list gives it.
    """
    if entry.kind not in ("product", "bn") or entry.ambiguous:
        return None
    found = [ingredient_for_unii(index, u) for u in entry.ingredients[0]]
    if not found or None in found:
        return None  # not read at all (vocabulary_concept): nothing to compare
    read = tuple(sorted({x for x in found if x is not None}))
    directory = ndc_directory(index)
    sets = {uniis for uniis, _ in directory.listings(entry.name)} if directory is not None else set()
    named = sorted({tuple(sorted({ingredient_for_unii(index, u) or f"UNII {u}" for u in uniis})) for uniis in sets})
    one = entry.kind == "product" and len(read) == 1
    if named and (all(option == read for option in named) if one else read in named):
        return None
    options = tuple(" + ".join(display_name(index, x) for x in option) for option in named if option != read)
    shown = " + ".join(display_name(index, x) for x in read)
    if options:
        said = (f"names only {shown} as its component" if one
                else f"gives {'it' if entry.kind == 'bn' else 'its components'} as {shown}")
        return (f"'{entry.name}': the FDA UNII list {said}, the NDC Directory lists {' or '.join(options)} under "
                "that name (a product's ingredients are never guessed)", options)
    if one:
        return (f"'{entry.name}': the FDA UNII list names only {shown} as a component of this product, and the "
                "NDC Directory does not list it: its other ingredients are not known here (never guessed); enter "
                "its ingredients", ())
    return None


# --- medications ---------------------------------------------------------------------


def find_medication(index: Index, prepared: str) -> tuple[str, int, int] | None:
    """The longest medication name of the knowledge in `prepared` (`text.find_name`): (concept, start, end)."""
    starts = index.memo.get(("name-starts",))
    if starts is None:
        starts = memoised(index, ("name-starts",), name_starts, index.names)
    return find_name(prepared, index.names, starts, lambda c: index.kinds[c] in MEDICATION_KINDS)


def read_medication(index: Index, text: str, given: Dosing | None = None,
                    shown: str | None = None) -> tuple[Medication, Unrecognized | None]:
    """Read one (clean) medication entry: what it names, and its dosing text.

    With `given` (dosing read elsewhere, as numbers: a FHIR Dosage), `text` is the
    name and any dosing words in it; the two are joined (`join_dosing`), and the
    entry is reported as `shown`.
    """
    if given is not None:
        med, problem = read_medication(index, text)
        return _with_given(index, med, problem, given, shown or text)
    if text[:1].isdigit() or text[:3].lower() == "ndc":
        from ..ndc import LOOKS_LIKE_NDC

        match = LOOKS_LIKE_NDC.match(text)
        if match is not None or text[:4].lower() == "ndc:":
            written, _, rest = text.partition(" ") if match is None else (match.group(0), "", text[match.end():])
            return ndc_medication(index, text, written, rest)
    code = parse_code(text, "medication")
    if code is not None:
        return _coded_medication(index, text, *code)
    prepared = prepare(text)
    found = find_medication(index, prepared)
    ambiguous = _ambiguous_start(index, text, prepared, found, "medication")
    if ambiguous is not None:
        return Medication(text, None), ambiguous
    # Two names need a joiner between them; without one, the FDA vocabulary is not even opened.
    try:
        joined = _joined_name(index, prepared) if _JOINER.search(prepared) else None
    except _CutShort as cut:
        shown = " or ".join(cut.meant)
        return Medication(text, None), Unrecognized(
            text, "medication", f"'{cut.written}' joined to a medicine may be a name cut short ({shown}?): it is "
                                "never guessed; write the name in full", cut.meant)
    if joined is not None and not (found is not None and found[1] == 0 and found[2] >= joined[2]
                                   and index.kinds[found[0]] == "product"):
        concept, order, end = joined
        numbered = _NUMBERED.match(prepared, end) if "codeine" in order else None
        if numbered is not None:
            return _numbered_after_names(index, text, prepared, end, numbered.end(), concept, order)
        return _with_sig(index, text, prepared, 0, end, concept, order, "generic names joined", order=order)
    vocab_hit = None
    if found is not None:
        concept, start, end = found
        if index.kinds[concept] == "product" and _COUNT_WORD.match(prepared, end):
            numbered = _NUMBER_ENDING.search(prepared[start:end])
            if numbered is not None and int(numbered.group(1)) <= MAX_BARE_COUNT:
                return _number_or_count(index, text, prepared, start, end, concept, numbered)
        if start == 0 and (index.kinds[concept] == "product"
                           or (concept in _NUMBERED_BASES and _NUMBERED.match(prepared, end))):
            suffixed = _with_suffix(index, text, prepared, end, concept, index.ingredients.get(concept, ()),
                                    "knowledge base")
            if suffixed is not None:
                return suffixed
        med, problem = _with_sig(index, text, prepared, start, end, concept, index.ingredients.get(concept, ()),
                                 "knowledge base")
        if problem is None or start != 0:
            return med, problem
        # Words left over after a known name may make a longer FDA name ("oxycodone hydrochloride").
        vocab_hit = _vocabulary_prefix(index, prepared)
        if vocab_hit is None or vocab_hit[1] <= end:
            return med, problem
    else:
        vocab_hit = _vocabulary_prefix(index, prepared)
    if vocab_hit is not None:
        entry, end = vocab_hit
        if entry.ambiguous:
            options = [" + ".join(filter(None, (ingredient_for_unii(index, u) for u in option)))
                       for option in entry.ingredients]
            return Medication(text, None), Unrecognized(
                text, "medication", f"'{entry.name}' names different substances in FDA records", tuple(options))
        short = product_mismatch(index, entry)
        if short is not None:
            return Medication(text, None), Unrecognized(text, "medication", *short)
        resolved = vocabulary_concept(index, entry)
        if resolved is not None:
            suffixed = (_with_suffix(index, text, prepared, end, *resolved, "FDA vocabulary", looked_up=True)
                        if entry.kind in ("product", "bn") else None)
            if suffixed is not None:
                return suffixed
            return _with_sig(index, text, prepared, 0, end, *resolved, "FDA vocabulary")
    return _near_miss(index, text, prepared)


_NUMBERED_BASES = frozenset({"acetaminophen", "aspirin"})
"""Generic names a codeine product is numbered after (Tylenol with Codeine No. 3 is acetaminophen with codeine;
Empirin with Codeine No. 3, aspirin with it): "APAP #3" may be one of them, never a quantity of 3."""
_NUMBERED = re.compile(r"\s*(?:#\s?|\bno\.?\s?)\d(?!\d)")
"""A product's number right after its name ("Tylenol #3", "Fiorinal No. 3"): the codeine strength of the classic
numbered combinations, never a quantity of 3 to dispense (which is "#30", "qty 3")."""
_NOT_A_SUFFIX = frozenset({"for", "as", "at", "in", "on", "to", "per", "by", "the", "a", "an", "of", "if", "when",
                           "until", "then", "x"})
"""Words after a product name that begin a phrase, not another product's name (their words are read as dosing)."""


_COUNT_WORD = re.compile(r"\s?(?:tabs?|tablets?|caps?|capsules?|caplets?|pills?)\b")
_NUMBER_ENDING = re.compile(r"(?<![#\d.])(?<!no )(?<!no\. )(?<!no\.)\b(\d+)$")
"""A product name's own number with nothing that marks it as one ("Tylenol 3", not "Tylenol #3", "No. 3")."""


def _number_or_count(index: Index, text: str, prepared: str, start: int, end: int, concept: str,
                     numbered: re.Match) -> tuple[Medication, Unrecognized]:
    """A product named with a bare number and a tablet word after it ("TYLENOL 3 TAB", "Tylenol 3 tabs q6h"):
    Tylenol with Codeine No. 3, or 3 tablets of Tylenol? Which cannot be told. The numbered product is
    screened (its ingredients hold the other's, so no caution of either is lost) and the dose is not checked."""
    ingredients = index.ingredients.get(concept, ())
    med, _ = _with_sig(index, text, prepared, start, end, concept, ingredients, "knowledge base")
    number = numbered.group(1)
    base = prepared[start:end][:numbered.start()].strip()
    shown = display_name(index, concept)
    unread = (f"'{base} {number}' and a tablet word: {shown}, or {number} tablets of {base}? (write "
              f"'{base} #{number}', or the count after the dose)")
    return _dose_not_checked(index, med, concept, unread)


def _dose_not_checked(index: Index, med: Medication, concept: str, unread: str) -> tuple[Medication, Unrecognized]:
    """`med` with its dosing declared unread for `unread`, no strength kept, and the report that says so."""
    med = replace(med, dosing=replace(med.dosing, unread=unread), per_unit_mg=(), per_unit_from="")
    return med, Unrecognized(med.input, "medication", f"dose not checked for {display_name(index, concept)}: {unread}")


def _numbered_after_names(index: Index, text: str, prepared: str, end: int, after: int, concept: str,
                          order: tuple[str, ...]) -> tuple[Medication, Unrecognized | None]:
    """Generic names of a codeine combination joined, and a product's number ("ACETAMINOPHEN W/CODEINE #3", as
    Tylenol with Codeine No. 3): the number is never a quantity of 3. With the strengths written after it
    ("#3 300-30 MG TAB") the entry is read from them; without, the ingredients are screened and the dose is
    not checked (which strengths a number stands for is not read from it)."""
    med, problem = _with_sig(index, text, prepared, 0, after, concept, order, "generic names joined", order=order)
    if med.per_unit_from == "text" or problem is not None:
        return med, problem
    written = prepared[end:after].strip()
    unread = "; ".join(filter(None, (f"'{written}' after the names is a numbered product's strength, not read "
                                     "(write the strengths)", med.dosing.unread)))
    return _dose_not_checked(index, med, concept, unread)


def _with_suffix(index: Index, text: str, prepared: str, end: int, concept: str, ingredients: tuple[str, ...],
                 via: str, looked_up: bool = False) -> tuple[Medication, Unrecognized] | None:
    """A product name followed straight away by a number or word that is not dosing ("Robitussin AC", "Fiorinal
    #3"): the product's own ingredients are screened (whatever the suffix adds, they are in it, and their
    findings are not lost), the dosing after the suffix is read but not checked (it may be another product's),
    and the entry is unrecognised (the screen incomplete) with `_product_suffix`'s reason, which says what may be
    missing: never only "dose not checked", nor "#3" a quantity. None when
    nothing unread follows the name, or a longer FDA name starts there (`looked_up`: already ruled out)."""
    found = _product_suffix(index, text, prepared, end, concept, ingredients)
    if found is None:
        return None
    if not looked_up:
        longer = _vocabulary_prefix(index, prepared)
        if longer is not None and longer[1] > end:
            return None  # "<brand> <word>" is an FDA name of its own: read as that
    problem, after = found
    med, other = _with_sig(index, text, prepared, 0, after, concept, ingredients, via)
    if other is not None:
        problem = replace(problem, reason=f"{problem.reason}; {other.reason}")
    # What may be another product's dose is not checked, and its strengths are not assumed from this one.
    written = prepared[end:after].strip()
    unread = "; ".join(filter(None, (f"'{written}' after the name may name another product", med.dosing.unread)))
    med = replace(med, dosing=replace(med.dosing, unread=unread))
    if med.per_unit_from == "product":
        med = replace(med, per_unit_mg=(), per_unit_from="")
    return med, problem


def _product_suffix(index: Index, text: str, prepared: str, end: int, concept: str,
                    parts: tuple[str, ...]) -> tuple[Unrecognized, int] | None:
    """(the report, where the suffix ends) for a product name followed straight away by a number or word that is
    not dosing: such a suffix often names another product with more ingredients (Robitussin AC adds codeine to
    Robitussin's guaifenesin). The reason says what the NDC Directory's products of that suffix add, and the
    suggestions are the knowledge base's longer products of the name and what the NDC Directory lists under
    the name and suffix. None when nothing unread follows the name, or another medication does (said as such by
    `_unread_problem`)."""
    numbered = _NUMBERED.match(prepared, end)
    if numbered is not None:
        written = prepared[end:numbered.end()].strip()
        after = numbered.end()
    else:
        word = re.match(r"\s+([^\W\d_]+)", prepared[end:])
        if word is None or word.group(1).lower() in _NOT_A_SUFFIX:
            return None
        dosing = read_sig(prepared[end:])
        if not dosing.leftover or dosing.leftover.split()[0] != normalize_name(word.group(1)):
            return None
        other = find_medication(index, prepare(dosing.leftover))
        if other is not None and other[1] == 0 and other[0] != concept:
            return None  # "Soma Xanax": another medication, said as more than one (`_unread_problem`)
        written = word.group(1)
        after = end + word.end()
    name = display_name(index, concept)
    shown = ", ".join(display_name(index, x) for x in parts) or name
    said = normalize_name(prepared[:end])
    # What the name may stand for: the knowledge base's longer products of that name ("Fiorinal with Codeine"),
    # and what the NDC Directory lists under the name with its suffix.
    longer = sorted({display_name(index, c) for key, c in index.names.items()
                     if key.startswith(said + " ") and index.kinds.get(c) == "product" and c != concept})
    directory = ndc_directory(index)
    listed = sorted({" + ".join(sorted(display_name(index, ingredient_for_unii(index, u) or u) for u in uniis))
                     for uniis, _ in directory.listings(normalize_name(said + " " + written))}) if directory else []
    what = ("may number a codeine combination (as in Tylenol #3, Tylenol with Codeine)" if numbered is not None
            else "may name another ingredient (a product name with a suffix is often another product)")
    if numbered is None and directory is not None and parts:
        # Products listed with the same suffix that hold this one's ingredients: what the suffix adds in them.
        holding = {n: {ingredient_for_unii(index, u) or u for u in uniis}
                   for n, uniis in directory.with_suffix(written).items()}
        holding = {n: got - set(parts) for n, got in holding.items() if set(parts) < got}
        if holding:
            added = sorted({display_name(index, x) for got in holding.values() for x in got})
            named = ", ".join(sorted(holding)[:3]) + (" …" if len(holding) > 3 else "")
            what = (f"may name another ingredient: products listed in the NDC Directory as '… {written.upper()}' "
                    f"with {shown} also hold {' or '.join(added)} ({named})")
    also = f"; the NDC Directory lists '{said} {normalize_name(written)}' as {' or '.join(listed)}" if listed else ""
    return Unrecognized(text, "medication", f"'{written}' after {name} {what}{also}: only {shown} screened, "
                        "not what it may add; write the product's full name or its ingredients",
                        (*longer, *listed)), after


def _ambiguous_start(index: Index, text: str, prepared: str, found, field: str) -> Unrecognized | None:
    """The report for an entry that starts with an ambiguous name (T3: liothyronine, or Tylenol with Codeine
    No. 3), unless a longer known name starts there ("MS Contin"): such a name is never read as one of its
    meanings, whatever follows it."""
    if not index.ambiguous:
        return None
    words = normalize_name(text).split()
    for n in range(min(3, len(words)), 0, -1):
        hit = index.ambiguous.get(" ".join(words[:n]))
        if hit is None:
            continue
        written, meanings = hit
        span = len(" ".join(words[:n]))
        if found is not None and found[1] == 0 and len(normalize_name(prepared[:found[2]])) > span:
            return None
        vocab_hit = _vocabulary_prefix(index, prepared)
        if vocab_hit is not None and len(normalize_name(prepared[:vocab_hit[1]])) > span:
            return None
        shown = ", ".join(meanings[:-1]) + " or " + meanings[-1]
        return Unrecognized(text, field, f"'{written}' is an error-prone abbreviation (it may mean {shown}); "
                                         "it is never guessed: write the medicine's name", meanings)
    return None


_JOINER = re.compile(r"\s*(?:/|-|\+|&|\band\b|\bwith\b|\bw/\s?|\bplus\b)\s*")
"""What joins the generic names of a combination: hydrocodone/acetaminophen, carisoprodol and aspirin."""


def _joined_name(index: Index, prepared: str) -> tuple[str, tuple[str, ...], int] | None:
    """(concept, ingredients in the written order, end offset) when the entry starts with two or more
    ingredient names joined by `/`, `-`, `and`, `with`, `w/`, `+` or `&`; None otherwise."""
    order: list[str] = []
    cut: _CutShort | None = None
    at = 0
    while True:
        part = _ingredient_at(index, prepared, at)
        if part is None:
            break
        ingredient, end = part
        written = prepared[at:end].strip()
        meant = _cut_short(index, written)
        if meant and cut is None:  # "APAP/COD": not acetaminophen with the fish the FDA vocabulary calls cod
            cut = _CutShort(written, meant)
        order.append(ingredient)
        at = end
        joiner = _JOINER.match(prepared, at)
        if joiner is None or joiner.end() == at or _ingredient_at(index, prepared, joiner.end()) is None:
            break
        at = joiner.end()
    if len(order) < 2 or len(set(order)) != len(order):
        return None
    if cut is not None:
        raise cut
    return combination_concept(index, tuple(order)), tuple(order), at


class _CutShort(Exception):
    """A word joined to a medicine's name that may be another's name cut short (`_cut_short`)."""

    def __init__(self, written: str, meant: tuple[str, ...]):
        super().__init__(written)
        self.written, self.meant = written, meant


def _cut_short(index: Index, written: str) -> tuple[str, ...]:
    """The names `written` (one short word) may be cut short from, when it is not a name of the knowledge base
    but the start of the first word of some ("cod" of codeine, as claims write "APAP/COD"); () otherwise. Such
    a word is read as the FDA substance it also names only where it stands alone, never joined to a medicine."""
    if " " in written or not 3 <= len(written) <= 6 or written in index.names:
        return ()
    key = ("cut-short", written)
    if key not in index.memo:
        # Only a medicine some rule here is about: "urea" does not start "urease" (a class), nor "honey" a
        # drug the knowledge does not classify.
        index.memo[key] = tuple(sorted({name.split(" ")[0] for name, c in index.names.items()
                                        if name.startswith(written) and name.split(" ")[0] != written
                                        and index.kinds.get(c) in ("drug", "product") and c in index.classified}))[:3]
    return index.memo[key]


def _past_salt(index: Index, prepared: str, start: int, end: int) -> int:
    """Where the substance's name found at `prepared[start:end]` ends once a salt cut short right after it is
    read with it ("hydrocodone bit/apap": "hydrocodone bit"): only when the FDA vocabulary or the knowledge base
    knows the name with the salt in full ("hydrocodone bitartrate", which is hydrocodone), and never after a
    name that is itself a salt's ("magnesium cit" is magnesium citrate, a medicine of its own)."""
    found = salt_abbreviation_after(prepared, end)
    if found is None:
        return end
    name = normalize_name(prepared[start:end])
    if not name or name.split()[-1].upper() in SALT_WORDS:
        return end
    vocab = fda_vocabulary(index)
    for full in found[1]:
        spelled = f"{name} {full}"
        if spelled in index.names or (vocab is not None and vocab.lookup(spelled) is not None):
            return found[2]
    return end


def _ingredient_at(index: Index, prepared: str, at: int) -> tuple[str, int] | None:
    """The longest ingredient name (a drug or substance) starting at `at`: (ingredient id, end)."""
    tokens = list(re.finditer(r"[^\W_]+", prepared[at:]))
    if not tokens or tokens[0].start() != 0:
        return None
    for j in range(min(len(tokens), index.max_name_tokens), 0, -1):
        words = " ".join(t.group() for t in tokens[:j])
        concept = index.names.get(words)
        if concept is not None and index.kinds[concept] in ("drug", "substance"):
            return concept, _past_salt(index, prepared, at, at + tokens[j - 1].end())
    vocab = fda_vocabulary(index)
    for j in range(min(len(tokens), 4), 0, -1):
        entry = vocab.lookup(" ".join(t.group() for t in tokens[:j])) if vocab else None
        # A substance's own name only: a brand is not an ingredient name ("Ascomp with codeine" is not the
        # aldioxa the UNII list calls Ascomp, joined with codeine).
        if entry is not None and entry.kind in ("of", "cn") and len(entry.ingredients[0]) == 1:
            ingredient = ingredient_for_unii(index, entry.ingredients[0][0])
            if ingredient is not None:
                return ingredient, _past_salt(index, prepared, at, at + tokens[j - 1].end())
    return None


def combination_concept(index: Index, order: tuple[str, ...]) -> str:
    """The concept for a combination named by its ingredients: a knowledge-base product when exactly one
    has these ingredients, else a combination of the ingredients, named after them in the written order."""
    wanted = set(order)
    products = [c for c, parts in index.ingredients.items()
                if index.kinds.get(c) == "product" and set(parts) == wanted and len(parts) == len(wanted)]
    if len(products) == 1:
        return products[0]
    concept = "-".join(sorted(order))
    index.external.setdefault(concept, "/".join(display_name(index, x) for x in order))
    return concept


def _coded_medication(index: Index, text: str, system: str, code: str) -> tuple[Medication, Unrecognized | None]:
    if system == "ndc":
        return ndc_medication(index, text, code, "")
    concept = index.codes.get(f"{system}:{code}")
    if concept is not None and index.kinds[concept] in MEDICATION_KINDS:
        return Medication(text, concept, index.ingredients.get(concept, ()), via=f"{system} code"), None
    if system == "unii":
        ingredient = ingredient_for_unii(index, code)
        if ingredient is not None:
            return Medication(text, ingredient, (ingredient,), via="unii code"), None
    return Medication(text, None), Unrecognized(
        text, "medication", f"{system} code {code} is not in the knowledge base (codes are never guessed)")


def ndc_medication(index: Index, text: str, code: str, rest: str) -> tuple[Medication, Unrecognized | None]:
    """The entry whose name is the NDC `code`, with `rest` read as its dosing text.

    The NDC resolves to its product: the knowledge base's product when one has the same name and
    ingredients, else the product's single ingredient, else the combination of its ingredients. The
    product's strengths are exact (`per_unit_from` "ndc"); a count of units per dose is still needed
    for a dose. An excluded or ended listing is recognised and its status is said (`Medication.note`).
    """
    from ..ndc import NdcFormatError, read_ndc

    try:
        ndc = read_ndc(code)
    except NdcFormatError as exc:
        return Medication(text, None), Unrecognized(text, "medication", str(exc))
    directory = ndc_directory(index)
    if directory is None:
        return Medication(text, None), Unrecognized(
            text, "medication", f"NDC {ndc}: this knowledge has no NDC Directory (codes are never guessed)")
    product = directory.product(ndc)
    if product is None:
        return Medication(text, None), Unrecognized(
            text, "medication", f"NDC {ndc} is not in the FDA NDC Directory of {directory.manifest['source_date']}")
    notes = [product.status()]
    if ndc.is_package:
        package = directory.package(ndc)
        if package is None:
            notes.append(f"package {ndc} is not listed (its product {ndc.product[:5]}-{ndc.product[5:]} is)")
        elif package[1]:
            notes.append(f"package marketing ended {package[1]}")
    ingredients: list[str] = []
    for substance, unii in zip(product.substances, product.uniis):
        ingredient = ingredient_for_unii(index, unii) if unii else None
        if ingredient is None:
            return Medication(text, None), Unrecognized(
                text, "medication", f"NDC {ndc} ({product.name}): its ingredient {substance.lower()} is not an "
                                    "FDA substance this screener can identify")
        ingredients.append(ingredient)
    order = tuple(dict.fromkeys(ingredients))
    if not order:
        return Medication(text, None), Unrecognized(text, "medication", f"NDC {ndc} ({product.name}) lists no "
                                                                         "active ingredient")
    named = index.names.get(normalize_name(product.name))
    if named is not None and set(index.ingredients.get(named, ())) == set(order):
        concept = named
    elif len(order) == 1:
        concept = order[0]
    else:
        concept = combination_concept(index, order)
    amounts = product.per_unit_mg()
    marketed = (amounts,) if amounts is not None and len(amounts) == len(order) else ()
    dosing = resolve(read_sig(prepare(rest)), len(order), marketed)
    problem = None
    per_unit: tuple[float, ...] = ()
    if dosing.strengths and marketed and tuple(dosing.strengths) != marketed[0] and not dosing.unread:
        listed = "/".join(f"{v:g}" for v in marketed[0])
        dosing = replace(dosing, unread=f"the text says {'/'.join(f'{v:g}' for v in dosing.strengths)} mg, "
                                        f"the NDC's product {listed} mg")
    product_routes = tuple(r.strip().lower() for r in product.route.split(";") if r.strip())
    if dosing.routes and product_routes and not dosing.unread \
            and not set(dosing.routes) <= widen_routes(frozenset(product_routes)):
        # "SL" after a transdermal patch's NDC: one of the two is wrong, and which cannot be told (a rule
        # exception for sublingual buprenorphine must not apply to a patch; `rules.facts.entry_routes`).
        dosing = replace(dosing, unread=f"the text says {' and '.join(dosing.routes)}, the NDC's product is "
                                        f"{' or '.join(product_routes)}")
    if not dosing.route and product_routes:
        # The product's route(s) as the FDA lists them ("INTRAVENOUS; INTRAMUSCULAR"): what the MME total
        # needs to know that a dose is not oral, when the text does not say it.
        dosing = replace(dosing, route=" or ".join(product_routes))
    rate = product.patch_rate()
    if rate is not None and not dosing.unread:
        # A transdermal product's strength is its delivery rate (mcg/hr), exact, as a tablet's mg is.
        if dosing.rate_mcg_per_hr is None:
            dosing = replace(dosing, rate_mcg_per_hr=rate)
        elif dosing.rate_mcg_per_hr != rate:
            dosing = replace(dosing, unread=f"the text says {dosing.rate_mcg_per_hr:g} mcg/hr, the NDC's product "
                                            f"{rate:g} mcg/hr")
    # A liquid (oxycodone 5 mg/5 mL): its strength is per mL, the unit a claim's quantity counts and a sig's
    # "5 mL" measures. A dose of it is a volume: "2 tabs" or a bare "5" of it is not read as mL.
    per_ml = product.per_ml_mg() if not marketed else None
    if per_ml is not None and len(per_ml) != len(order):
        per_ml = None
    if per_ml is not None and dosing.strengths and not dosing.per_ml and not dosing.unread:
        # "10 mg q4h" beside a liquid's NDC: a dose in mg, or a strength per unit the liquid does not have?
        # Which cannot be told, and reading neither would leave the dose silently unknown.
        dosing = replace(dosing, unread=f"{'/'.join(f'{v:g}' for v in dosing.strengths)} mg beside the NDC of a "
                                        f"liquid ({'/'.join(f'{v:g}' for v in per_ml)} mg per mL): give the dose "
                                        "as a volume in mL, or the concentration")
    if (per_ml is not None and len(per_ml) == 1 and dosing.dose_mg is not None and dosing.unit == "mL"
            and dosing.units_per_dose and not dosing.unread
            and not math.isclose(dosing.dose_mg, dosing.units_per_dose * per_ml[0], rel_tol=1e-6)):
        dosing = replace(dosing, unread=f"the text says {dosing.dose_mg:g} mg in {dosing.units_per_dose:g} mL, the "
                                        f"NDC's product {per_ml[0]:g} mg per mL")
    if per_ml is not None and dosing.strengths and not dosing.unread and not same_amounts(dosing.strengths, per_ml):
        # The text and the NDC disagree (which was dispensed cannot be told): never set aside for the NDC's.
        written = "/".join(f"{v:g}" for v in dosing.strengths) + " mg per mL"
        dosing = replace(dosing, unread=f"the text says {written}, the NDC's product "
                                        f"{'/'.join(f'{v:g}' for v in per_ml)} mg per mL")
    if per_ml is not None and dosing.units_per_dose is not None and dosing.unit != "mL" and not dosing.unread:
        dosing = replace(dosing, unread=f"the NDC's product is a liquid ({'/'.join(f'{v:g}' for v in per_ml)} mg "
                                        "per mL): its dose is a volume in mL")
    source = ""
    if dosing.unread:
        problem = _unread_problem(index, text, concept, order, dosing)
    elif marketed:
        # Written in the entry ("350 mg q4h"), the strength is also the dose when no count is given, as for
        # any entry; known only from the NDC, a count of units is still needed.
        per_unit, source = marketed[0], "text" if dosing.strengths else "ndc"
    elif per_ml is not None:  # a dose still needs its volume, as a tablet's needs its count
        per_unit, source = per_ml, "ndc"
        dosing = replace(dosing, per_ml=True)
    strength = "/".join(f"{a}" for a in product.strengths)
    unit = product.units[0] if len(set(product.units)) == 1 else ""
    described = " ".join(filter(None, (product.name, strength + (f" {unit.removesuffix('/1')}" if unit else ""),
                                       product.form.lower())))
    note = "; ".join(filter(None, notes))
    med = Medication(input=text, concept=concept, ingredients=order, dosing=dosing, per_unit_mg=per_unit,
                     per_unit_from=source, via=f"NDC {ndc}: {described}", note=note, product_routes=product_routes)
    return med, problem


def same_amounts(written: tuple[float, ...], listed: tuple[float, ...]) -> bool:
    """Whether two sets of per-ingredient amounts are the same, in any order (0.175 mg is 175 mcg)."""
    return len(written) == len(listed) and all(
        math.isclose(a, b, rel_tol=1e-6) for a, b in zip(sorted(written), sorted(listed)))


def _vocabulary_prefix(index: Index, prepared: str):
    """The longest run of leading words that the FDA vocabulary knows: (entry, end offset) or None."""
    vocab = fda_vocabulary(index)
    if vocab is None:
        return None
    tokens = list(re.finditer(r"[^\W_]+", prepared))
    for j in range(min(len(tokens), 6), 0, -1):
        entry = vocab.lookup(" ".join(t.group() for t in tokens[:j]))
        if entry is not None:
            return entry, tokens[j - 1].end()
    return None


def _with_sig(index: Index, text: str, prepared: str, start: int, end: int, concept: str,
              ingredients: tuple[str, ...], via: str, assumed: str = "",
              order: tuple[str, ...] | None = None) -> tuple[Medication, Unrecognized | None]:
    """The entry named `concept` (found at prepared[start:end]) with the rest of it read as dosing text.

    `order` is the order the entry names the ingredients in (generic names joined); otherwise the
    product's own order (its strengths' order in the knowledge) is the order strengths are read in.
    """
    end = _past_salt(index, prepared, start, end)
    dosing = read_sig(prepared[end:], before=prepared[:start])
    order = order or strength_order(index, concept, ingredients)
    dosing = resolve(dosing, len(ingredients), marketed_strengths(index, concept, order, liquids=False))
    dosing = _held_to_product(index, concept, order, dosing)
    dosing = _mixed_number_after_name(index, concept, order, prepared[end:], dosing)
    if dosing.indication and _names_another(index, prepared[end:], dosing.indication, concept, ingredients):
        # "prn spasm with Norco": another medicine read as what this one is for would be dropped unseen.
        unread = "; ".join(filter(None, (dosing.unread, f"could not read '{dosing.indication}'")))
        dosing = replace(dosing, unread=unread, leftover=dosing.indication)
    problem = _unread_problem(index, text, concept, ingredients, dosing) if dosing.unread else None
    per_unit: tuple[float, ...] = ()
    source = ""
    if dosing.strengths and not dosing.unread:
        by_name = dict(zip(order, dosing.strengths)) if len(dosing.strengths) == len(order) else {}
        if by_name:
            per_unit, source = tuple(by_name[x] for x in ingredients), "text"
    elif not dosing.unread:
        # The product's only strength per unit, for a dose counted in its form's unit: never a tablet's for a
        # mL ("Tylenol #3 5 mL" was 5 tablets' worth). A count without a unit is in the form's, unless the
        # product is sold as a liquid too ("Methadose 10 daily": 10 tablets of 40 mg, or 10 mL of 10 mg/mL?).
        known = index.strengths.get(concept)
        fits = known is not None and (dosing.unit in known[2] and dosing.unit != "mL" if dosing.unit
                                      else "mL" not in known[2])
        if known is not None and len(known[1]) == 1 and fits:
            by_name = dict(zip(known[0], known[1][0]))
            per_unit, source = tuple(by_name[x] for x in ingredients), "product"
    med = Medication(input=text, concept=concept, ingredients=ingredients, dosing=dosing, per_unit_mg=per_unit,
                     per_unit_from=source, via=via, assumed=assumed)
    return med, problem


def _held_to_product(index: Index, concept: str, order: tuple[str, ...], dosing: Dosing) -> Dosing:
    """`dosing`, declared unread when it writes a strength for every ingredient of a named combination product
    that is none of the product's marketed strengths ("Tylenol #3 300/60 mg": No. 3 is 300/30, 300/60 is No. 4).
    Which of the name and the numbers is wrong cannot be told, as for an NDC and a text that disagree. A
    single-ingredient name is not held to it: "Soma 700 mg" may be a dose, and the dose rules say so."""
    if not dosing.strengths or dosing.unread or len(order) < 2 or len(dosing.strengths) != len(order) \
            or concept not in index.strengths:
        return dosing
    marketed = marketed_strengths(index, concept, order)
    if not marketed or any(all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(dosing.strengths, listed))
                           for listed in marketed):
        return dosing
    written = "/".join(f"{v:g}" for v in dosing.strengths)
    listed = ", ".join("/".join(f"{v:g}" for v in m) for m in marketed)
    # "read as": a strength written in other units ("0.3 g/30 mg") is shown as it was read, in mg.
    unread = f"{written} mg, as read, is not a strength of {display_name(index, concept)} ({listed} mg)"
    # "Tylenol #3 600/60 mg" is likely two tablets written as their total; likely is not read, so it is asked.
    for times, strength in ((n, m) for m in marketed for n in (2, 3, 4)):
        if all(math.isclose(a, times * b, rel_tol=1e-6) for a, b in zip(dosing.strengths, strength)):
            unread += (f"; {times} × {'/'.join(f'{v:g}' for v in strength)} mg a dose? write the strength and "
                       f"the count ('{'/'.join(f'{v:g}' for v in strength)} mg, {times} tabs')")
            break
    return replace(dosing, unread=unread)


_MIXED_AFTER_NAME = re.compile(
    r"^\s*(\d{1,2}?)(?:(?:\s+|\s*-\s*|\s+and\s+(?:a\s+)?)([1-3])\s*/|([1-3])\u2044)([2-4])(?![\d/])"
    r"(?!\s*(?:mg|mcg|ug|gm?|grams?|milligrams?|micrograms?)\b|\s*/)"
    r"|^\s*(\d{1,2})\s+and\s+a\s+half\b", re.IGNORECASE)
"""A mixed number straight after the name, not followed by a unit of mass: "5 1/2", "5-1/2", "5 and 1/2", "5½"
(NFKC: "51⁄2"), "5 and a half" ("Tranxene 7 1/2 mg" is a strength as written)."""


def _mixed_number_after_name(index: Index, concept: str, order: tuple[str, ...], rest: str,
                             dosing: Dosing) -> Dosing:
    """`dosing`, declared unread when a mixed number straight after the name may be a strength: its whole part
    is a marketed strength of the product ("Roxicet 5 1/2 tab", "Valium 2 1/2 tab": five and a half tablets, or
    half a tablet of 5 mg?), or the whole number is ("Tranxene 7 1/2 tab": seven and a half tablets, or one of
    7.5 mg?). Which cannot be told; read as a count, "Roxicet 5 1/2" raised a 7,150 mg acetaminophen finding."""
    match = _MIXED_AFTER_NAME.match(rest)
    if match is None or dosing.unread or concept not in index.strengths:
        return dosing
    if match.group(5):  # "and a half"
        whole, numerator, denominator = int(match.group(5)), 1, 2
    else:
        whole, numerator, denominator = int(match.group(1)), int(match.group(2) or match.group(3)), int(match.group(4))
    firsts = [strength[0] for strength in marketed_strengths(index, concept, order)]
    if not any(math.isclose(first, value) for first in firsts for value in (whole, whole + numerator / denominator)):
        return dosing
    written = f"{whole} {numerator}/{denominator}"
    return replace(dosing, unread=f"'{written}' right after the name: a count of units, or a strength? write the "
                                  "strength with its unit, and the count ('1/2 tab')")


_AND_ALSO = re.compile(r"(?:^|\s)(?:with|and|plus|w/?|&|\+|prn|as needed|for)\s*$")


def _names_another(index: Index, tail: str, indication: str, concept: str, ingredients: tuple[str, ...]) -> bool:
    """Whether an entry's indication (read from `tail`, the text after the name) ends with another medicine taken
    with it: straight after "prn", "as needed" or "for" ("prn oxycodone"), or after "with", "and", "plus" ("prn
    spasm with Norco tid"). A medicine inside a phrase is what the phrase is about ("prn alcohol withdrawal",
    "for pain (no Tylenol)")."""
    other = find_medication(index, tail)
    if other is None or other[0] == concept or other[0] in ingredients:
        return False
    if not normalize_name(indication).endswith(normalize_name(tail[other[1]:other[2]])):
        return False
    return bool(_AND_ALSO.search(tail[:other[1]]))


def _unread_problem(index: Index, text: str, concept: str, ingredients: tuple[str, ...],
                    dosing: Dosing) -> Unrecognized:
    """Why an entry's dosing was not read: another medication in the words left over is said as such
    ("Soma and Xanax": list each separately), anything else as the dose not checked."""
    other = find_medication(index, prepare(dosing.leftover)) if dosing.leftover else None
    if other is not None and other[0] != concept and other[0] not in ingredients:
        reason = (f"holds more than one medication ({display_name(index, concept)}, "
                  f"{display_name(index, other[0])}); list each medication separately")
    else:
        reason = f"dose not checked for {display_name(index, concept)}: {dosing.unread}"
    return Unrecognized(text, "medication", reason)


def strength_order(index: Index, concept: str, ingredients: tuple[str, ...]) -> tuple[str, ...]:
    """The order a product's strengths are written in: its strengths row's, else its ingredients'."""
    known = index.strengths.get(concept)
    return known[0] if known is not None else ingredients


def _products_with_strengths(index: Index) -> dict[frozenset, list[str]]:
    """Products that have a strengths row, by their set of ingredients (built once per index:
    scanning every concept for each combination named by its ingredients cost 0.4 ms a reading)."""
    out: dict[frozenset, list[str]] = {}
    for concept, parts in index.ingredients.items():
        if concept in index.strengths:
            out.setdefault(frozenset(parts), []).append(concept)
    return out


def marketed_strengths(index: Index, concept: str, order: tuple[str, ...],
                       liquids: bool = True) -> tuple[tuple[float, ...], ...]:
    """The marketed strengths per unit of `concept` (or, for a combination named by its ingredients, of every
    product with those ingredients), each as amounts in `order`. Without `liquids`, none of a product sold as
    a liquid too: for a number written without its unit ("Dilaudid 2": 2 mg, 2 tablets or 2 mL?)."""
    sources = [concept] if concept in index.strengths else \
        memoised(index, ("products-with-strengths",), _products_with_strengths, index).get(frozenset(order), [])
    out: list[tuple[float, ...]] = []
    for source in sources:
        names, variants, units = index.strengths[source]
        if set(units) == {"mL"} or (not liquids and "mL" in units) or set(names) != set(order):
            continue
        for variant in variants:
            by_name = dict(zip(names, variant))
            aligned = tuple(by_name[x] for x in order)
            if aligned not in out:
                out.append(aligned)
    return tuple(out)


def _with_given(index: Index, med: Medication, problem: Unrecognized | None, given: Dosing,
                shown: str) -> tuple[Medication, Unrecognized | None]:
    """A medication read from its name, with dosing given as numbers joined to what the name says."""
    if med.concept is None:
        if problem is not None:
            problem = replace(problem, input=shown)
        return replace(med, input=shown), problem
    dosing = join_dosing(med.dosing, given)
    per_unit, source = med.per_unit_mg, med.per_unit_from
    if dosing.unread:
        per_unit, source = (), ""
        reason = f"dose not checked for {display_name(index, med.concept)}: {dosing.unread}"
        problem = Unrecognized(shown, "medication", reason)
    elif problem is not None:
        problem = replace(problem, input=shown)
    return replace(med, input=shown, dosing=dosing, per_unit_mg=per_unit, per_unit_from=source), problem


def join_dosing(read: Dosing, given: Dosing) -> Dosing:
    """What the name's own words say joined to dosing given as numbers: each field from whichever says it;
    a field both say differently is a contradiction, and then the dosing is unread."""
    values = {}
    clash = []
    for name in Dosing.__slots__:
        mine, theirs = getattr(read, name), getattr(given, name)
        empty = (None, (), "", False)
        if theirs in empty:
            values[name] = mine
        elif mine in empty or mine == theirs or name in ("unread", "leftover", "assumed", "bare_joiner"):
            values[name] = theirs if mine in empty else mine
        else:
            clash.append(f"the name says {name.replace('_', ' ')} {mine}, the dosage {theirs}")
    joined = Dosing(**values)
    unread = "; ".join(filter(None, (read.unread, given.unread, *clash)))
    return replace(joined, unread=unread)


def with_coverage(index: Index, med: Medication, problem: Unrecognized | None
                  ) -> tuple[Medication, Unrecognized | None]:
    """The entry with its coverage: the ingredients no rule of the knowledge applies to (`Index.classified`)
    are listed in `Medication.not_covered`, and the entry is reported, so the screen is incomplete: their
    interactions were not checked. A reason already given for the entry is kept, this one added."""
    missing = tuple(x for x in med.ingredients if x not in index.classified)
    if not missing:
        return med, problem
    names = [display_name(index, x) for x in missing]
    one = len(names) == 1
    listed = names[0] if one else ", ".join(names[:-1]) + " and " + names[-1]
    reason = (f"{listed} {'is a recognised FDA substance' if one else 'are recognised FDA substances'}, but this "
              f"knowledge base does not classify {'it' if one else 'them'}: {'its' if one else 'their'} "
              "interactions were not checked")
    if problem is not None:
        return replace(med, not_covered=missing), replace(problem, reason=f"{problem.reason}; {reason}")
    return replace(med, not_covered=missing), Unrecognized(med.input, "medication", reason)


def display_name(index: Index, cid: str) -> str:
    """A concept's display name, for knowledge-base and vocabulary concepts alike."""
    return index.display.get(cid) or index.external.get(cid) or cid


# --- near misses and suggestions ------------------------------------------------------


def _near_miss(index: Index, text: str, prepared: str) -> tuple[Medication, Unrecognized | None]:
    concept = index.names.get(normalize_name(text))
    if concept is not None:
        kind = index.kinds[concept]
        if kind == "class":
            members = sorted(m for m, ups in index.up.items() if concept in ups and m != concept
                             and index.kinds[m] in MEDICATION_KINDS)[:5]
            return Medication(text, None), Unrecognized(
                text, "medication", "is a drug class, not a medication; name the medication", tuple(members))
        if kind == "condition":
            return Medication(text, None), Unrecognized(
                text, "medication", "is a condition; give it as a condition (-c)")
    tokens = normalize_name(text).split()
    spans = list(re.finditer(r"[^\W_]+", prepared))
    # Try the first word, then the first two, as the misspelt name (the rest is dosing text). Two words with
    # anything but a space between them are no one name ("PROMETH/COD" is not the brand Promethacon).
    for n in (2, 1):
        if len(tokens) < n:
            continue
        if n == 2 and len(spans) >= 2 and prepared[spans[0].end():spans[1].start()].strip():
            continue
        guess = " ".join(tokens[:n])
        accepted = _accept_near_miss(index, guess)
        if accepted is not None:
            name, concept, ingredients, via = accepted
            start = 0
            end = _end_of_words(prepared, n)
            med, problem = _with_sig(index, text, prepared, start, end, concept, ingredients, via, assumed=name)
            return med, problem
    reason = "not found in the knowledge base or the FDA vocabulary"
    return Medication(text, None), Unrecognized(text, "medication", reason, medication_suggestions(index, text))


def _end_of_words(prepared: str, n: int) -> int:
    tokens = list(re.finditer(r"[^\W_]+", prepared))
    return tokens[min(n, len(tokens)) - 1].end() if tokens else 0


def _accept_near_miss(index: Index, guess: str):
    """(name, concept, ingredients, via) when `guess` is unambiguously one known name, else None.

    Remembered per guess on the index: one misspelt name comes with many dosing texts.
    """
    key = ("near-miss", guess)
    if key not in index.memo:
        index.memo[key] = _search_near_miss(index, guess)
    return index.memo[key]


def _search_near_miss(index: Index, guess: str):
    if len(guess.replace(" ", "")) < NEAR_MISS["min_length"]:
        return None
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    limit = NEAR_MISS["max_distance_long"] if len(guess) >= NEAR_MISS["long"] else NEAR_MISS["max_distance"]
    pool = _suggestion_pool(index)
    close = process.extract(guess, pool, scorer=Levenshtein.distance, limit=5,
                            score_cutoff=limit + NEAR_MISS["margin"])
    if not close:
        return None
    best, d1 = close[0][0], close[0][1]
    if d1 > limit or any(d < d1 + NEAR_MISS["margin"] for _, d, _ in close[1:]):
        return None
    concept = index.names.get(best)
    if concept is not None and index.kinds[concept] in MEDICATION_KINDS:
        return best, concept, index.ingredients.get(concept, ()), "near match (knowledge base)"
    vocab = fda_vocabulary(index)
    entry = vocab.lookup(best) if vocab else None
    if entry is None or entry.ambiguous or product_mismatch(index, entry) is not None:
        return None
    resolved = vocabulary_concept(index, entry)
    if resolved is None:
        return None
    return best, *resolved, "near match (FDA vocabulary)"


def _suggestion_pool(index: Index) -> list[str]:
    """Knowledge-base medication names and the vocabulary's official, brand and product names."""
    key = ("suggestion-pool",)
    pool = index.memo.get(key)
    if pool is None:
        names = [k for k, cid in index.names.items() if index.kinds[cid] in MEDICATION_KINDS]
        vocab = fda_vocabulary(index)
        pool = sorted(set(names) | set(_vocabulary_pool(vocab) if vocab else ()))
        index.memo[key] = pool
    return pool


@lru_cache(maxsize=2)
def _vocabulary_pool(vocab) -> tuple[str, ...]:
    return tuple(vocab.suggestion_names())


KNOWN_BONUS = 10
"""Suggestion score bonus for names the knowledge base has rules for: among similar spellings,
the drug the screener knows most about is the likeliest to matter."""


def medication_suggestions(index: Index, text: str, limit: int = 5) -> tuple[str, ...]:
    """Known medication names close to `text`, best first, each meaning a different thing."""
    key = normalize_name(text)
    if not key:
        return ()
    first = key.split()[0] if len(key.split()) > 1 else key
    # Only the first word counts, so the result is remembered per (word, limit) on the index.
    memo_key = ("suggestions", first, limit)
    if memo_key not in index.memo:
        index.memo[memo_key] = _rank_suggestions(index, first, limit)
    return index.memo[memo_key]


def _rank_suggestions(index: Index, first: str, limit: int) -> tuple[str, ...]:
    from rapidfuzz import fuzz, process

    known = [k for k, cid in index.names.items() if index.kinds[cid] in MEDICATION_KINDS]
    scored = [(name, score + KNOWN_BONUS) for name, score, _ in
              process.extract(first, known, scorer=fuzz.ratio, limit=limit * 3, score_cutoff=60)]
    scored += [(name, score) for name, score, _ in
               process.extract(first, _suggestion_pool(index), scorer=fuzz.ratio, limit=limit * 4, score_cutoff=70)]
    scored.sort(key=lambda pair: -pair[1])
    shown: list[str] = []
    seen: set[str] = set()
    for name, _ in scored:
        concept = index.names.get(name, name)
        if concept in seen:
            continue
        seen.add(concept)
        shown.append(index.name_text.get(name, name))
        if len(shown) == limit:
            break
    return tuple(shown)


# --- conditions and allergies --------------------------------------------------------


_REACTION = re.compile(r"^(?P<name>[^():]+?)\s*(?:\((?P<a>[^()]*)\)|\s[-–:]\s*(?P<b>.+)|:\s*(?P<c>.+))$")
"""An allergy written with its reaction: "PCN (hives)", "sulfa - rash", "Penicillin: anaphylaxis"."""


_HISTORY = re.compile(
    r"^\s*(?:(?P<family>family\s+(?:history|hx)(?:\s+of)?|fam(?:ily)?\s+hx(?:\s+of)?|fhx(?:\s+of)?|fh\s+of)"
    r"|(?P<status>s/p|s\.p\.|status\s+post)"
    r"|(?P<history>h/o|h\.o\.|hx\s+of|hx\.?|hist\.?\s+of|(?:past\s+|personal\s+|prior\s+)?history\s+of|pmh(?:\s+of)?))"
    r"\s*[:\-]?\s+(?P<rest>\S.*)$|^\s*(?P<history2>h/o|s/p)(?P<rest2>\S.*)$",
    re.IGNORECASE)
"""A condition written with a history prefix: "h/o COPD", "hx of asthma", "history of DVT", "s/p CABG",
"family history of alcoholism". See `docs/knowledge-decisions.md` for what each is read as."""


TREATMENT_QUALIFIERS = (
    "on cpap", "on bipap", "on bpap", "on home o2", "on home oxygen", "on supplemental oxygen", "on insulin",
    "on dialysis", "on hemodialysis", "on haemodialysis", "on peritoneal dialysis", "on hd", "on pd",
    "well controlled", "controlled", "stable",
)
"""What may follow a condition without changing what it is: "OSA on CPAP" is obstructive sleep apnoea,
"HTN, well controlled" hypertension. A closed list, never a free-form strip: "uncontrolled" is not on it
(ICD-10-CM reads uncontrolled diabetes as with hyperglycaemia or with hypoglycaemia, a different code), nor
anything else. A qualifier that is itself a condition name ("on home O2" is Z99.81, dependence on
supplemental oxygen) also stands for that condition: `qualifier_entries` gives it as an entry of its own,
so "COPD on home O2" meets the rules of COPD and of chronic respiratory insufficiency. "on O2" and "on
oxygen" are not on the list: they do not say whether the oxygen is long-term (Z99.81, chronic respiratory
insufficiency here) or for today, so "COPD on O2" stays unrecognised rather than lose that rule.
See docs/knowledge-decisions.md."""

_QUALIFIER = re.compile(
    r"^(?P<rest>.*?[^\s,;:(\-–])[\s,;:(\-–]+(?P<q>"
    + "|".join(r"[\s\-]+".join(q.split()) for q in TREATMENT_QUALIFIERS) + r")\)?\.?\s*$", re.IGNORECASE)
"""A condition followed by one of `TREATMENT_QUALIFIERS`: "OSA on CPAP", "HTN - controlled", "asthma (stable)"."""

_NOT_BEFORE_RULED_OUT = r"(?<!\bnot)(?<!cannot)(?<!\bbe)(?<!\bbeing)(?<!\byet)(?<!\bnever)"
"""What may not come just before a trailing "ruled out": "OSA not ruled out" says OSA is possible."""

_NEGATED = re.compile(
    r"^\s*(?P<cue>no(?:\s+known|\s+evidence\s+of|\s+h/o|\s+hx\s+of|\s+history\s+of)?|not|denies|"
    r"negative\s+for|neg\s+for)\s+(?P<rest>\S.*)$"
    r"|^(?P<rest2>.*?[^\s,;:(\-–])" + _NOT_BEFORE_RULED_OUT + r"[\s,;:(\-–]+(?P<cue2>ruled\s+out|excluded)\)?\.?\s*$",
    re.IGNORECASE)
"""A condition recorded as absent: "no OSA", "denies COPD", "negative for HCV", "OSA ruled out" (but not "OSA
not ruled out", "OSA cannot be excluded": those are uncertain, `_UNCERTAIN`)."""

_UNCERTAIN = re.compile(
    r"^\s*(?P<cue>\?+|r/o|r\.o\.|rule\s+out|to\s+rule\s+out|possible|poss\.|probable|suspected|suspect|"
    r"questionable|query|likely|presumed|presumptive|concern\s+for|c/f|cannot\s+rule\s+out|"
    r"eval(?:uate)?\s+for|evaluation\s+for|provisional|differential|unconfirmed)\s*:?\s*(?P<rest>[^\s?].*)$"
    r"|^(?P<rest2>.*?[^\s,;:(\-–?])[\s,;:(\-–]*(?:(?P<cue2>\?+)\)?|[\s,;:(\-–]+(?P<cue3>r/o|rule\s+out|possible|"
    r"probable|suspected|questionable|query|(?:not|not\s+yet|never|cannot\s+be|can['’]?t\s+be|could\s+not\s+be|"
    r"to\s+be|being)\s+(?:ruled\s+out|excluded))\)?)\s*$",
    re.IGNORECASE)
"""A condition written as uncertain: "? OSA", "r/o OSA", "possible COPD", "OSA?", "OSA (r/o)", "OSA not ruled
out", "OSA cannot be excluded"; and a FHIR
Condition whose verificationStatus is provisional, differential or unconfirmed ("provisional: OSA")."""

_DASH = "-‐‑–—−"
_SIGN_MARK = re.compile(
    rf"[(\[]\s*[{_DASH}]\s*[)\]]|(?:\s|:)\s*[{_DASH}]\s*$|^\s*[{_DASH}]\s*$|(?P<cross>[✗✘❌])"
    rf"|(?P<equivocal>±|∓|\+\s*/\s*[{_DASH}]|[{_DASH}]\s*/\s*\+)")
"""A chart's result sign written beside a condition: "OSA (-)", "OSA [-]", "OSA: -", "OSA -" (on a chart, '-'
means negative), a ballot cross ("OSA ✗", "OSA ❌": no, on a checklist), and "OSA +/-", "OSA ±" (equivocal).
Names ignore punctuation, so without this "OSA (-)" would read as OSA; and a sign is not a word the negation
list knows (`data/condition_negations.csv`), so it is never read as absent either: the entry is unrecognised.
A '+' alone ("OSA (+)") says the patient has it and is read as the condition. A leading "- OSA" is a list
bullet, not a sign."""

_POSTPARTUM = re.compile(r"^\s*(?P<cue>post[\s\-]?partum|post[\s\-]?natal)\s*:?\s+(?P<rest>\S.*)$", re.IGNORECASE)
"""A condition written as after childbirth: "postpartum back pain". The time after childbirth is neither
pregnancy nor lactation (`_read_postpartum`)."""


_SINCE = r"(?:\d{1,2}\s*(?:days?|d|weeks?|wks?|w|months?|mos?)\s*)"
_POSTPARTUM_ALONE = re.compile(
    rf"^\s*{_SINCE}?(?:post[\s\-]?partum|post[\s\-]?natal|puerperium|puerperal)(?:\s*[,(\-]?\s*{_SINCE}\)?)?\s*$",
    re.IGNORECASE)
""""postpartum" on its own, or with the time since childbirth ("6 weeks postpartum"): no condition, and not
lactation (`_read_postpartum` for "postpartum X")."""


def _as_measured(index: Index, text: str, measured: Measured,
                 unrecognised: Unrecognized) -> tuple[str, str] | Noted | Unrecognized:
    """A condition written as a measurement or a grade (`measures.read_measured`), as the knowledge base reads
    the name or code it stands for; `unrecognised` when the knowledge base has no such condition (a layer)."""
    if measured.problem:
        return Unrecognized(text, "condition", measured.problem)
    if measured.recognised_as:
        return Noted(text, "condition", measured.recognised_as)
    inner = _read_named(index, measured.as_written, "condition")
    if isinstance(inner, tuple) and len(inner) == 2:
        return (text, inner[1])
    if isinstance(inner, Noted):
        return replace(inner, input=text)
    return unrecognised


def read_named(index: Index, text: str, field: str) -> tuple[str, str] | tuple[()] | Noted | Unrecognized:
    """(text, concept) for a recognised condition or allergy, () for "no known allergies", `Noted` for one
    recognised that no rule here is about, or an Unrecognized.

    An allergy written with its reaction ("PCN (hives)", "sulfa - rash") is read by its name when the
    whole text is not recognised: the reaction is for the pharmacist to weigh, and stays in the input.
    A condition that is not a name or code as a whole ("history of DVT" is ICD-10-CM Z86.718) is read by
    what surrounds it:
    - negated ("no OSA", "OSA ruled out") or uncertain ("? OSA", "r/o OSA"): never read as the condition
      (`_read_hedged`); "?" is looked at first, as the names ignore punctuation ("? OSA" is not "OSA");
    - a treatment qualifier after it ("OSA on CPAP", "HTN, controlled"): what comes before it
      (`TREATMENT_QUALIFIERS`), itself read this way ("h/o OSA on CPAP");
    - a history prefix ("h/o COPD"): `_read_history`;
    - "postpartum" before it ("postpartum back pain"): the condition, never pregnancy or lactation;
    - a negation with a treatment qualifier, in either order ("no OSA, on CPAP", "OSA ruled out, on CPAP"):
      contradictory, never absent nor screened (`_contradicted`);
    - a result sign ("OSA (-)", "OSA +/-"): unrecognised (`_SIGN_MARK`);
    - a measurement or a grade ("pregnant 12 weeks", "eGFR 25", "Child-Pugh B"): by its scale
      (`measures.read_measured`).
    """
    if field == "condition" and (sign := _SIGN_MARK.search(text)) is not None:
        if sign.group("equivocal"):
            return Unrecognized(text, field, f"a '{sign.group().strip()}' beside the condition may mean equivocal: "
                                             "neither screened as it nor ruled out; say whether the patient has it")
        mark = sign.group("cross") or "-"
        return Unrecognized(text, field, f"a '{mark}' beside the condition may mean negative, and a sign is not read "
                                         "as absent: say whether the patient has it")
    if field == "condition" and "?" in (folded := fold_question_marks(text)):
        match = _UNCERTAIN.match(folded)
        if match is not None:
            return _read_hedged(index, text, match, uncertain=True)
        return Unrecognized(text, field, "a '?' makes a condition uncertain: it is never read as the condition; "
                                         "write it without '?' if the patient has it")
    hit = _read_named(index, text, field)
    if field == "condition" and isinstance(hit, Unrecognized) and (measured := read_measured(text)) is not None:
        hit = _as_measured(index, text, measured, hit)
    if field == "condition" and isinstance(hit, Unrecognized) and _POSTPARTUM_ALONE.match(text):
        return Unrecognized(text, field, "the time after childbirth is neither pregnancy nor lactation here, and "
                                         "whether she breastfeeds is not guessed: give 'breastfeeding' if she "
                                         "does, or the condition she has", ("breastfeeding",))
    if field == "condition" and isinstance(hit, Unrecognized):
        for pattern, uncertain in ((_NEGATED, False), (_UNCERTAIN, True)):
            match = pattern.match(text)
            if match is not None:
                measured = read_measured(match.group("rest") or match.group("rest2") or "")
                if measured is not None and measured.as_written:
                    # "no eGFR 25": a result is not absent; it is read neither as the condition nor as none.
                    return Unrecognized(text, field, "a measurement written as absent, ruled out or uncertain is "
                                                     "not read either way; give the patient's value")
                return _read_hedged(index, text, match, uncertain)
        # The qualifier first: "history of DVT, stable" is a history of DVT (Z86.718), not DVT now.
        match = _QUALIFIER.match(text)
        if match is not None:
            return _read_qualified(index, text, match)
        match = _HISTORY.match(text)
        if match is not None:
            return _read_history(index, text, match)
        match = _POSTPARTUM.match(text)
        if match is not None:
            return _read_postpartum(index, text, match)
    if field == "allergy" and isinstance(hit, Unrecognized):
        match = _REACTION.match(text.strip())
        if match is not None:
            named = _read_named(index, match.group("name"), field)
            if isinstance(named, tuple) and named:
                return (text, named[1])
            if isinstance(named, Noted):
                return Noted(text, field, named.recognised_as, named.code)
    return hit


def _read_history(index: Index, text: str, match: re.Match) -> tuple[str, str] | Noted | Unrecognized:
    """A condition after a history prefix.

    - family history of X: recognised (when X is), never X itself: it is not the patient's condition;
    - history of X, h/o X, hx X, PMH X, and s/p X where X is a condition (s/p MI): X, as a past medical
      history lists the chronic conditions a patient still has (COPD, CKD, cirrhosis are never "history"
      unless cured), except a condition whose history is a past episode (`index.past_history`: pregnancy, an
      asthma attack, a bowel obstruction), which is recognised and not screened as current;
    - s/p a procedure (CABG, a kidney transplant): the procedure's status code, when the name is known.
    An X nobody can place leaves the whole entry unrecognised, with the reason for X.
    """
    rest = (match.group("rest") or match.group("rest2") or "").strip()
    prefix = text[:len(text) - len(rest)].strip() if rest else text
    inner = _read_named(index, rest, "condition")
    if isinstance(inner, Unrecognized):
        return Unrecognized(text, "condition", f"{prefix} '{rest}': {inner.reason}", inner.suggestions)
    if isinstance(inner, Noted):
        if match.group("family"):
            return Noted(text, "condition", f"a family history of {inner.recognised_as}: not the patient's own "
                                            "condition", inner.code)
        return replace(inner, input=text, recognised_as=f"{prefix} {inner.recognised_as}")  # keeps `absent`
    if len(inner) != 2:  # () is "no known allergies": not a reading of a condition
        return Unrecognized(text, "condition", f"{prefix} '{rest}': not recognised as a condition")
    condition = inner[1]
    what = display_name(index, condition)
    if match.group("family"):
        return Noted(text, "condition", f"a family history of {what}: not the patient's own condition")
    past = [c for c in index.up.get(condition, {condition: ()}) if c in index.past_history]
    if past:
        return Noted(text, "condition", f"a history of {what}: a past episode, not screened as current "
                                        f"(give it without '{prefix}' if it is current)")
    return (text, condition)


def _read_qualified(index: Index, text: str, match: re.Match) -> tuple[str, str] | Noted | Unrecognized:
    """A condition followed by a treatment qualifier: read as the condition before it, with the whole text
    as its input. A condition nobody can place leaves the whole entry unrecognised, with its reason."""
    rest, qualifier = match.group("rest").strip(), match.group("q")
    negated = _NEGATED.match(rest)
    if negated is not None and negated.group("rest2") and isinstance(_read_named(index, rest, "condition"),
                                                                     Unrecognized):
        # "OSA ruled out, on CPAP": being on CPAP says the patient has OSA, the negation says not.
        return _contradicted(index, text, negated.group("rest2").strip(), negated.group("cue2").strip(), qualifier)
    inner = read_named(index, rest, "condition")
    if isinstance(inner, Unrecognized):
        return Unrecognized(text, "condition", f"'{rest}' ({qualifier}): {inner.reason}", inner.suggestions)
    if isinstance(inner, Noted):
        return replace(inner, input=text)
    if len(inner) != 2:
        return Unrecognized(text, "condition", f"'{rest}' ({qualifier}): not recognised as a condition")
    return (text, inner[1])


def _read_postpartum(index: Index, text: str, match: re.Match) -> tuple[str, str] | Noted | Unrecognized:
    """A condition after "postpartum": the condition. Postpartum is not pregnancy (ICD-10-CM codes a condition
    of the puerperium in chapter 15, whose pregnancy rows here would read it as pregnancy), and it is not
    lactation: the reading says so, for the pharmacist to ask whether she breastfeeds."""
    rest, cue = match.group("rest").strip(), match.group("cue")
    inner = read_named(index, rest, "condition")
    if isinstance(inner, Unrecognized):
        return Unrecognized(text, "condition", f"{cue} '{rest}': {inner.reason}", inner.suggestions)
    if isinstance(inner, Noted):
        return replace(inner, input=text, recognised_as=f"{inner.recognised_as} ({cue}: not read as pregnancy or "
                                                        "lactation; give 'breastfeeding' if she is)")
    if len(inner) != 2:
        return Unrecognized(text, "condition", f"{cue} '{rest}': not recognised as a condition")
    if "pregnancy" in index.up.get(inner[1], {inner[1]: ()}):
        # "postpartum GDM": gestational diabetes is a pregnancy code (O24.4-), and reading it would make her
        # pregnant; what she has now (diabetes, or none) is not written.
        return Unrecognized(text, "condition", f"{cue} '{rest}': '{rest}' reads as pregnancy here, and after "
                                               "childbirth she is not pregnant, so it is not read; give what she "
                                               "has now, or 'pregnant' or 'breastfeeding' if she is")
    return (text, inner[1])


def qualifier_entries(index: Index, text: str) -> tuple[str, ...]:
    """The entries one condition entry stands for: (text,), or (text, qualifier) when a treatment qualifier
    after a recognised condition is itself a condition this knowledge base has rules about ("COPD on home
    O2": COPD, and "on home O2", dependence on supplemental oxygen) and the condition is not already it or
    narrower ("ESRD on dialysis" is end-stage renal disease once)."""
    if "?" in fold_question_marks(text) or _NEGATED.match(text) or _UNCERTAIN.match(text):
        return (text,)  # what is absent or uncertain stands for nothing, its qualifier included
    history = _HISTORY.match(text)
    if history is not None and history.group("family"):
        return (text,)
    match = _QUALIFIER.match(text)
    if match is None or not isinstance(_read_named(index, text, "condition"), Unrecognized):
        return (text,)
    whole = read_named(index, text, "condition")
    status = _read_named(index, match.group("q"), "condition")
    if not (isinstance(status, tuple) and len(status) == 2):
        return (text,)
    if isinstance(whole, tuple) and len(whole) == 2 and status[1] in index.up.get(whole[1], {whole[1]: ()}):
        return (text,)
    if isinstance(whole, Unrecognized):
        return (text,)
    return (text, match.group("q"))


def _read_hedged(index: Index, text: str, match: re.Match, uncertain: bool) -> Noted | Unrecognized:
    """A condition recorded as absent, or as uncertain: never read as the condition.

    - absent ("no OSA", "OSA ruled out"): recognised, not screened, when the negated text names the condition
      itself (`_negated_condition`); a negated narrower or related name ("no COPD exacerbation", "no dialysis")
      says nothing of whether the patient has the condition it reaches, so it is unrecognised;
    - uncertain ("? OSA", "r/o OSA", "possible COPD") of a condition a rule here is about: unrecognised, so the
      screen is incomplete: neither screening it nor leaving it out would be a reading of what was written;
      a hedge around a negation ("OSA ruled out?", "? no COPD") is uncertain of the condition the same way;
    - uncertain of a condition no rule here is about ("? GERD"): recognised, as no reading changes the screen.
    A condition nobody can place leaves the whole entry unrecognised, with its reason.
    """
    rest = (match.group("rest") or match.group("rest2") or "").strip()
    cue = next((match.group(g) for g in ("cue", "cue2", "cue3") if g in match.re.groupindex and match.group(g)),
               "").strip()
    if uncertain:
        return _read_uncertain(index, text, rest, cue)
    qualified = _QUALIFIER.match(rest)
    if qualified is not None and isinstance(_read_named(index, rest, "condition"), Unrecognized):
        # "no OSA, on CPAP": the negation says the patient has no OSA, the qualifier that OSA is treated.
        return _contradicted(index, text, qualified.group("rest").strip(), cue, qualified.group("q"))
    inner = read_named(index, rest, "condition")
    if isinstance(inner, Unrecognized):
        return Unrecognized(text, "condition", f"{cue} '{rest}': {inner.reason}", inner.suggestions)
    if isinstance(inner, Noted):
        if inner.absent or _NEGATED.match(rest):
            return Unrecognized(text, "condition", f"{cue} '{rest}': a negation of a negation is not read; write "
                                                   "what the patient has")
        return Noted(text, "condition", f"{inner.recognised_as} recorded as absent ('{cue}'), not screened",
                     inner.code)
    if len(inner) != 2:
        return Unrecognized(text, "condition", f"{cue} '{rest}': not recognised as a condition")
    condition, what = inner[1], display_name(index, inner[1])
    if _negated_condition(index, rest) == condition:
        return Noted(text, "condition", f"{what} recorded as absent ('{cue}'), not screened", absent=condition)
    # "no COPD exacerbation" reaches COPD through the J44 prefix row: it records no exacerbation, and most
    # likely the patient has COPD. Recording COPD as absent would be false; leaving it out would be a guess.
    return Unrecognized(text, "condition", f"a negated detail of {_in_sentence(what)} ('{rest}' is not the "
                                           "condition itself); whether the patient has it is not read: list it if "
                                           "so", (what,))


def _contradicted(index: Index, text: str, core: str, negation: str, qualifier: str) -> Noted | Unrecognized:
    """A negation and a treatment qualifier of the same condition ("OSA ruled out, on CPAP", "no OSA, on CPAP",
    "ESRD ruled out, on dialysis"): the entry contradicts itself, so it is never read as absent and never
    screened as the condition (nor its qualifier as a condition of its own). Of a condition a rule here is
    about it is unrecognised, so the screen is incomplete; of one no rule is about ("no HTN, controlled") it is
    recognised, as either reading gives the same screen, unless the qualifier is a condition a rule is about
    ("no HTN, on home O2": dependence on oxygen), which would otherwise be lost."""
    inner = read_named(index, core, "condition")
    if isinstance(inner, Unrecognized):
        return Unrecognized(text, "condition", f"{negation} '{core}' ({qualifier}): {inner.reason}",
                            inner.suggestions)
    if isinstance(inner, tuple) and len(inner) != 2:
        return Unrecognized(text, "condition", f"{negation} '{core}' ({qualifier}): not recognised as a condition")
    status = _read_named(index, qualifier, "condition")
    if (isinstance(inner, Noted) and not inner.absent and not _NEGATED.match(core)
            and not (isinstance(status, tuple) and len(status) == 2)):
        return Noted(text, "condition", f"{inner.recognised_as}, contradictory ('{negation}', '{qualifier}'): no "
                                        "rule here either way", inner.code)
    what = inner.recognised_as if isinstance(inner, Noted) else display_name(index, inner[1])
    if isinstance(status, tuple) and len(status) == 2 and not (
            isinstance(inner, tuple) and _related(index, inner[1], status[1])):
        # "no HTN, on home O2": the qualifier is a condition of its own, and says nothing of the one negated
        # (unlike "ESRD ruled out, on dialysis").
        return Unrecognized(text, "condition", f"two conditions in one entry: '{negation}' records "
                                               f"{_in_sentence(what)} as absent, and '{qualifier}' is "
                                               f"{_in_sentence(display_name(index, status[1]))}; neither read: "
                                               "list them as separate entries", (core, qualifier))
    return Unrecognized(text, "condition", f"contradictory: '{negation}' records {_in_sentence(what)} as absent, "
                                           f"and '{qualifier}' says the patient has it; neither screened as it nor "
                                           "recorded as absent: say whether the patient has it", (core,))


def _related(index: Index, a: str, b: str) -> bool:
    """Whether one condition is the other or a kind of it (`Index.up`)."""
    return a == b or a in index.up.get(b, {}) or b in index.up.get(a, {})


def _in_sentence(name: str) -> str:
    """A display name inside a sentence: "Hepatic impairment" → "hepatic impairment"; "CYP2C19 …" stays."""
    return name[0].lower() + name[1:] if len(name) > 1 and name[1].islower() else name


def _read_uncertain(index: Index, text: str, rest: str, cue: str) -> Noted | Unrecognized:
    """An uncertain condition ("? OSA"), or an uncertain absence ("OSA ruled out?", "? no COPD", "r/o no SBO"):
    either way it is uncertain whether the patient has the condition, so it is read as "? OSA" is."""
    negated = _NEGATED.match(rest)
    core = (negated.group("rest") or negated.group("rest2") or "").strip() if negated else rest
    inner = read_named(index, core, "condition")
    if isinstance(inner, Unrecognized):
        return Unrecognized(text, "condition", f"{cue} '{rest}': {inner.reason}", inner.suggestions)
    if isinstance(inner, tuple) and len(inner) != 2:
        return Unrecognized(text, "condition", f"{cue} '{rest}': not recognised as a condition")
    if isinstance(inner, Noted) and inner.absent:
        return Unrecognized(text, "condition", f"{cue} '{rest}': a negation of a negation is not read; write what "
                                               "the patient has")
    what = inner.recognised_as if isinstance(inner, Noted) else display_name(index, inner[1])
    if negated is not None:
        negation = (negated.group("cue") or negated.group("cue2")).strip()
        if isinstance(inner, Noted):
            return Noted(text, "condition", f"{what}, uncertain whether absent ('{negation}', '{cue}'): no rule "
                                            "here either way", inner.code)
        return Unrecognized(text, "condition", f"uncertain whether {what} is absent ('{negation}', '{cue}'): "
                                               f"neither screened as it nor ruled out; give '{core}' if the patient "
                                               "has it, or confirm it is absent", (core,))
    if isinstance(inner, Noted):
        return Noted(text, "condition", f"{what}, uncertain ('{cue}'): no rule here either way", inner.code)
    return Unrecognized(text, "condition", f"an uncertain diagnosis ('{cue}' {what}): neither screened as it "
                                           f"nor ruled out; give '{rest}' if the patient has it, or confirm "
                                           "it is absent", (rest,))


def _negated_condition(index: Index, rest: str) -> str | None:
    """The knowledge-base condition a negation of `rest` records as absent: the one `rest` names itself (its
    display name, or a name or exact ICD-10-CM code of condition_negations.csv), else None."""
    key = normalize_name(rest)
    if key in index.negatable:
        return index.negatable[key]
    code = parse_code(rest, "condition")
    if code is not None and code[0] == "icd10" and not _bare_name(index, rest, key):
        codes = icd10cm_codes(index)
        entry = codes.get(code[1]) if codes is not None else None
        return index.negatable.get(f"icd10:{entry.code if entry is not None else code[1]}")
    # A common name is not its code here: "ESRD on dialysis" is coded N18.6, and "no ESRD on dialysis" still
    # does not say the patient has no ESRD.
    return None


def _read_named(index: Index, text: str, field: str) -> tuple[str, str] | tuple[()] | Noted | Unrecognized:
    kinds = ("condition",) if field == "condition" else ALLERGEN_KINDS
    key = normalize_name(text)
    if field == "allergy" and key in NO_ALLERGY:
        return ()
    if field == "allergy" and key in index.ambiguous:
        written, meanings = index.ambiguous[key]
        shown = ", ".join(meanings[:-1]) + " or " + meanings[-1]
        return Unrecognized(text, field, f"'{written}' is an error-prone abbreviation (it may mean {shown}); "
                                         "it is never guessed: write the medicine's name", meanings)
    code = parse_code(text, field)
    if code is not None and field == "condition" and _bare_name(index, text, key):
        code = None  # "T2DM" is shaped like a code (T2D.M) but is a name: names win for undotted text
    if code is not None:
        system, value = code
        if field == "condition":
            if system == "icd10":
                hit = _icd10cm_fact(index, text, value)
                if hit is not None:
                    return hit
            condition = condition_for_code(index, system, value)
            if condition is not None:
                return (text, condition)
        else:
            concept = index.codes.get(f"{system}:{value}")
            if concept is None and system == "unii":
                concept = ingredient_for_unii(index, value)
            if concept is not None:
                return (text, concept)
        return Unrecognized(text, field,
                            f"{system} code {value} is not in the knowledge base (codes are never guessed)")
    concept = index.names.get(key)
    if concept is not None and index.kinds[concept] in kinds:
        return (text, concept)
    if field == "condition" and key in index.condition_names:
        icd_code, written = index.condition_names[key]
        if "|" in icd_code:
            return _read_several(index, text, written, icd_code.split("|"))
        hit = _icd10cm_fact(index, text, icd_code)
        if hit is not None:
            return hit
        condition = condition_for_code(index, "icd10", icd_code)
        return (text, condition) if condition is not None else Noted(text, field, f"ICD-10-CM {icd_code}",
                                                                     f"icd10:{icd_code}")
    if field == "allergy" and key in index.allergens:
        category, _ = index.allergens[key]
        return Noted(text, field, f"a{'n' if category[0] in 'aeiou' else ''} {category} allergen, not a medication")
    if concept is not None:
        kind = index.kinds[concept]
        reason = (f"is a {kind}, not a condition; give it as a medication" if field == "condition"
                  else f"is a {kind}; give the medication or class the patient is allergic to")
        return Unrecognized(text, field, reason, suggest(text, _pool(index, kinds), index.names))
    if field == "allergy":
        entry = _vocabulary_prefix(index, prepare(text))
        vocab_entry = entry[0] if entry and entry[1] >= len(prepare(text).rstrip()) else None
        refused = product_mismatch(index, vocab_entry) if vocab_entry is not None and not vocab_entry.ambiguous \
            else None
        if refused is not None:  # as for the medication: its ingredients are not guessed, and the reason is said
            return Unrecognized(text, field, *refused)
        if vocab_entry is not None and not vocab_entry.ambiguous:
            ingredients = [i for i in (ingredient_for_unii(index, u) for u in vocab_entry.ingredients[0]) if i]
            if len(ingredients) == 1:
                return (text, ingredients[0])
        return Unrecognized(text, field, "not recognised as a medication, class or substance",
                            medication_suggestions(index, text))
    pool = _pool(index, kinds)
    if index.condition_names:
        pool = {**{k: name for k, (_, name) in index.condition_names.items()}, **pool}
    return Unrecognized(text, field, "not recognised as a condition, a common name of one, or an ICD-10-CM code",
                        suggest(text, pool, index.names))


def _read_several(index: Index, text: str, written: str, codes: list[str]) -> Noted | Unrecognized:
    """An abbreviation with several clinical meanings ("RA": rheumatoid arthritis, refractory anaemia,
    retrograde amnesia), never read as one of them. When no rule here is about any of them, it is recognised:
    whichever it means, the screen is the same; otherwise it is unrecognised, with the meanings to choose."""
    icd = icd10cm_codes(index)
    titles = [f"{c} {entry.title}" if (entry := icd.get(c) if icd is not None else None) else c for c in codes]
    shown = "; ".join(titles[:-1]) + " or " + titles[-1]
    if all(condition_for_code(index, "icd10", c) is None for c in codes):
        return Noted(text, "condition", f"'{written}', which may mean ICD-10-CM {shown} (never guessed; no rule here "
                                        "is about any of them)")
    return Unrecognized(text, "condition", f"'{written}' has several meanings (ICD-10-CM {shown}); it is never "
                                           "guessed: write the condition or its code", tuple(codes))


def listed_entries(text: str, field: str) -> tuple[str, ...]:
    """The entries one allergy cell lists with commas ("PCN, sulfa, latex"), each trimmed; (text,) for any
    other entry. Commas inside parentheses belong to a reaction ("PCN (hives, rash)") and do not split."""
    if field != "allergy" or "," not in text:
        return (text,)
    pieces, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]" and depth:
            depth -= 1
        elif ch == "," and depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    pieces = [p.strip() for p in pieces if p.strip()]
    return tuple(pieces) if len(pieces) > 1 else (text,)


def _bare_name(index: Index, text: str, key: str) -> bool:
    """Whether a condition written without a system or dot (T2DM, COPD4) is better read as a name: it is one
    the knowledge knows, or it is no ICD-10-CM code at all (then it is reported as a name, with suggestions)."""
    if ":" in text or "|" in text or "." in text:
        return False
    if key in index.names or key in index.condition_names:
        return True
    codes = icd10cm_codes(index)
    # An invalid code that starts like most categories (a letter, two digits: E1199) is still a code,
    # reported with the nearest code above it.
    return (codes is not None and codes.get(text) is None and len(text.strip()) > 3
            and not re.match(r"^[A-Z][0-9]{2}", text.strip().upper()))


def _pool(index: Index, kinds: tuple[str, ...]) -> dict[str, str]:
    key = ("pool", kinds)
    pool = index.memo.get(key)
    if pool is None:
        pool = {k: v for k, v in index.name_text.items() if index.kinds[index.names[k]] in kinds}
        index.memo[key] = pool
    return pool


# --- completion as a person types ------------------------------------------------------------------


COMPLETION_FIELDS = ("medication", "condition", "allergy")
"""The fields `complete_name` completes."""


def complete_name(index: Index, text: str, field: str, limit: int = 8) -> tuple[str, ...]:
    """Names that start with what has been typed so far (the web page's suggestions), best first.

    The names are the ones `read_medication` and `read_named` recognise for `field`: the knowledge
    base's names, brands and synonyms first (it has rules for them), then, shortest first, the FDA
    vocabulary's (medications, allergies), the common names of conditions (conditions) and the non-drug
    allergens (allergies). Each knowledge-base concept is offered once. When nothing starts with the
    text, the near names `check` would suggest for it are given instead. Only completes: what an entry
    is read as is always `read_medication`'s or `read_named`'s answer, never this list's.
    """
    if field not in COMPLETION_FIELDS:
        raise ValueError(f"field must be one of {', '.join(COMPLETION_FIELDS)}, not {field!r}")
    key = normalize_name(text)
    if not key:
        return ()
    known, other = _completion_pools(index, field)
    shown: list[str] = []
    concepts: set[str] = set()
    for pool in (known, other):
        hits = _prefixed(pool, key)
        # A concept's own name before its synonyms ("pregnancy" before "pregnant"), then the shortest.
        hits.sort(key=lambda pair: (normalize_name(index.display.get(index.names.get(pair[0], ""), "")) != pair[0],
                                    len(pair[0]), pair[0]))
        for name, written in hits:
            concept = index.names.get(name, name)
            if concept in concepts or written in shown:
                continue
            concepts.add(concept)
            shown.append(written)
            if len(shown) == limit:
                return tuple(shown)
    if shown or " " in key:
        return tuple(shown)
    if field == "medication":
        return medication_suggestions(index, text, limit)
    kinds = ("condition",) if field == "condition" else ALLERGEN_KINDS
    return suggest(text, _pool(index, kinds), index.names, limit)


def _prefixed(pool: tuple[tuple[str, ...], tuple[str, ...]], key: str) -> list[tuple[str, str]]:
    """(normalised, as written) for each name in the sorted `pool` that starts with `key`."""
    from bisect import bisect_left

    keys, written = pool
    out: list[tuple[str, str]] = []
    at = bisect_left(keys, key)
    while at < len(keys) and keys[at].startswith(key) and len(out) < 200:
        out.append((keys[at], written[at]))
        at += 1
    return out


def _completion_pools(index: Index, field: str):
    """(knowledge-base names, other names) for `field`, each as (sorted normalised names, as written)."""
    memo_key = ("completion-pools", field)
    pools = index.memo.get(memo_key)
    if pools is None:
        kinds = {"medication": MEDICATION_KINDS, "condition": ("condition",)}.get(field, ALLERGEN_KINDS)
        known = _pool(index, kinds)
        other: dict[str, str] = {}
        if field == "condition":
            other = {k: name for k, (_, name) in index.condition_names.items()}
        elif field == "allergy":
            other = {k: name for k, (_, name) in index.allergens.items()}
        if field in ("medication", "allergy"):
            vocab = fda_vocabulary(index)
            if vocab is not None:
                other.update((name, name) for name in _vocabulary_pool(vocab) if name not in other)
        pools = (_sorted_pool(known), _sorted_pool({k: v for k, v in other.items() if k not in known}))
        index.memo[memo_key] = pools
    return pools


def _sorted_pool(names: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    ordered = sorted(names.items())
    return tuple(k for k, _ in ordered), tuple(v for _, v in ordered)
