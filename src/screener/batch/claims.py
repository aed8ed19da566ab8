"""Pharmacy claims: interactions only while supply windows overlap.

Each claim supplies a drug from `fill_date` for `days_supply` days: its window is
fill_date … fill_date + days_supply − 1. Claims with the same drug text (drug plus
strength) form one medication entry whose covered days are the union of its
windows, so refills are never "duplicates" of themselves.

For a patient the prefilter may flag, the timeline is cut into segments in which
the set of drugs on hand does not change, and each distinct set is screened with
the library walk (`screen_patient`) — exactly as `check` would screen those drugs
listed together. A finding is reported once, with the first day it applies
(`overlap_start`) and the number of days it applies (`overlap_days`): for a
drug-drug finding, the days both drugs were on hand; for a three-drug
combination, the days all three were; for a finding about one drug (its
strength), the days it was on hand.

Duration: for a drug with a duration limit (carisoprodol: 21 days), the days of
supply covered within any rolling window of `window` days (default 90: the
look-back commonly used for chronic-use measures in claims) are counted; more
than the limit is a `duration` finding, dated at the first covered day of that
window. As in `check`, limits apply to each ingredient of a combination product.

A claim names its drug by `drug` text, by `ndc` (any usual form: `00037-2001-01`,
`00037200101`; the NDC's product, strength included, is what is screened), or both
(then the NDC is used). Dates are ISO (2024-03-01), YYYYMMDD (NCPDP) or M/D/YYYY. `strength` is appended
to the drug text ("carisoprodol" + "350" → "carisoprodol 350 mg"; a bare number is
read as mg) unless the drug text already holds it ("Soma 350 mg" + "350").
Daily dose from the supply: a claim's `quantity` (units dispensed) over its `days_supply` is the units it
supplies a day, and with the strength of one unit (from the NDC's product, else the strength column or
the drug text, read as `check` reads it; never assumed) that is the daily amount the dose rules check:
180 tablets of carisoprodol 350 mg over 30 days is 2,100 mg a day. On a day when several claims of the
same drug are on hand (an early refill), their units a day add up, and the finding names the highest daily
amount on hand. A claim without a quantity (blank or
0) says no daily amount; then no daily total is computed from it. The entry then reads
"carisoprodol 350 mg: 180 over 30 days" in the dose finding's inputs.
"""

from __future__ import annotations

import itertools
import math
import re
import weakref
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ..errors import InputError
from ..model import Dosing, FindingKind, MedicationEntry, format_amount
from ..ndc import NdcFormatError, read_ndc
from ..recognize.entries import strength_order
from ..rules.base import finding_order
from ..rules.dose import limited
from ..rules.duration import Duration, supply_finding
from ..screening import read_entry
from ..text import clean_entry
from .engine import REPORT_CACHE_LIMIT, Codebook, Hits, Lists, Patients, lists_from_items, screen_patients
from .layouts import SOURCE_SHIFT, bad_patients, group_ids, patient_errors, row_keys
from .lazy_pandas import pandas
from .readers import DEFAULT_WINDOW, BadRow

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
else:
    pd = pandas()  # claims are grouped and dated with pandas (this module is imported only for claims)

MAX_DAYS_SUPPLY = 366


FULL_DATE = (r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
             r"|\d{8}|\d{1,2}/\d{1,2}/\d{4}")
"""A fill date as claims write it: ISO (2024-03-01; a time of day after it is allowed, and ignored), YYYYMMDD (NCPDP) or
M/D/YYYY. Anything shorter ("2024-03", "2024", which ISO 8601 allows) names no day, and none is made up."""


def parse_dates(values: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 as int64, or the minimum int64 where the text is not a whole date (`FULL_DATE`)."""
    text = values.fillna("").astype("str").str.strip()
    text = text.where(text.str.fullmatch(FULL_DATE), "")
    # The day as written: a time of day (and its UTC offset) after it moves no fill to another day.
    text = text.where(~text.str.match(r"\d{4}-\d{2}-\d{2}[T ]"), text.str.slice(0, 10))
    out = pd.to_datetime(text, format="ISO8601", errors="coerce")
    for fmt in ("%Y%m%d", "%m/%d/%Y"):
        missing = out.isna() & (text != "")
        if not missing.any():
            break
        out = out.where(~missing, pd.to_datetime(text.where(missing, ""), format=fmt, errors="coerce"))
    days = out.to_numpy(dtype="datetime64[D]")
    result = days.astype(np.int64)
    result[np.isnat(days)] = np.iinfo(np.int64).min
    return result


def distinct_rows(frame: pd.DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row, first row of each code): rows holding the same values in `columns` share a code,
    numbered in order of first appearance."""
    codes = np.zeros(len(frame), dtype=np.int64)
    for name in columns:
        column, uniques = pd.factorize(frame[name])  # a missing value is -1: a value of its own
        codes, _ = pd.factorize(codes * (len(uniques) + 1) + column + 1)
    return codes.astype(np.int64), np.unique(codes, return_index=True)[1]


def per_distinct(values: pd.Series, read) -> np.ndarray:
    """`read(values)`, computed once per distinct value (an array, one item per value)."""
    codes, first = distinct_rows(values.to_frame("v"), ("v",))
    return np.asarray(read(values.iloc[first].reset_index(drop=True)))[codes]


def _quantities(values: pd.Series) -> np.ndarray:
    """Quantities as floats: blank is 0 (no daily amount), text that is not a number NaN."""
    text = values.fillna("").astype("str").str.strip()
    return pd.to_numeric(text.where(text != "", "0"), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def entry_lists(patient: np.ndarray, n: int, entry: np.ndarray, texts: np.ndarray) -> tuple[Lists, np.ndarray]:
    """(each patient's list of entries, the list code of each text code) from distinct (patient index, text
    code) rows in file order: `lists_from_items` of the texts, without reading each row's text in Python."""
    order = np.argsort(patient, kind="stable")
    in_order = entry[order]
    seen, first = np.unique(in_order, return_index=True)
    rank = np.argsort(first, kind="stable")  # list codes by first appearance, as lists_from_items numbers them
    med_of = np.full(len(texts), -1, dtype=np.int64)
    med_of[seen[rank]] = np.arange(len(seen), dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(patient, minlength=n), out=offsets[1:])
    return (Lists(np.arange(n, dtype=np.int64), offsets, med_of[in_order], texts[seen[rank]].tolist()), med_of)


_BOOK_CACHES: weakref.WeakKeyDictionary[Codebook, dict] = weakref.WeakKeyDictionary()
"""Each codebook's caches of what the walk of supply windows computes, by name (walks of patients with one
claim, duration limits by entries, duration findings by days), kept for the whole run."""


def _cache(book: Codebook, name: str) -> dict:
    """The cache `name` of `book`'s walks (they depend on its knowledge: the shadow codebook has its own),
    emptied when it holds REPORT_CACHE_LIMIT items, and all of them when the codebook forgets its finding
    rows (`Codebook.new_block`)."""
    caches = _BOOK_CACHES.get(book)
    if caches is None or caches.get("generation") != book.generation:  # row numbers of another generation
        caches = _BOOK_CACHES[book] = {"generation": book.generation}
    got = caches.get(name)
    if got is None or len(got) >= REPORT_CACHE_LIMIT:
        got = caches[name] = {}
    return got


def entry_texts(drug: pd.Series, strength: pd.Series) -> pd.Series:
    """The medication entry of each claim: the drug, plus its strength ('350' is read as '350 mg').

    The strength is not added when the drug text already holds it ("Soma 350 mg" with
    strength "350"): written twice, it would read as a second amount. A different
    strength is added, and the reader then reports the two as not agreeing.
    """
    drug = drug.fillna("").astype("str").str.strip()
    written = strength_texts(strength)
    strength = strength.fillna("").astype("str").str.strip()
    # Decided once per distinct (drug, strength): claims repeat the same few pairs.
    pairs = pd.DataFrame({"d": drug, "s": strength})
    held = {pair: _holds(*pair) for pair in pairs.drop_duplicates().itertuples(index=False, name=None)}
    already = pd.Series([held[pair] for pair in zip(drug, strength)], index=drug.index, dtype=bool)
    return drug.where((strength == "") | already, drug + " " + written)


def ndc_texts(ndc: pd.Series) -> pd.Series:
    """The NDC of each claim as written, without an `ndc:` prefix; a number of fewer than 10 digits (an
    integer column that lost its leading zeros) is padded to the 11 digits NCPDP claims carry. Ten digits
    are left as they are, to be refused as every 10-digit NDC without hyphens is: they are a 10-digit
    NDC in one of three layouts, or an 11-digit one that lost a zero, and which cannot be told."""
    text = ndc.fillna("").astype("str").str.strip().str.replace(r"^(?i:ndc)\s*[:#]?\s*", "", regex=True)
    digits = text.str.fullmatch(r"\d{1,9}")
    return text.where(~digits, text.str.zfill(11))


PATCH_RATE = r"\d+(?:\.\d+)?\s?(?i:mcg|ug|micrograms?)\s?(?:/|per)\s?(?i:hr|h|hour)"
"""A claims strength in mcg per hour: a transdermal patch's rate (a claim dispenses patches, not an infusion)."""


def strength_texts(strength: pd.Series) -> pd.Series:
    """A claims strength as an entry writes it ('350' is read as '350 mg'; '25 mcg/hr' as a patch's rate)."""
    strength = strength.fillna("").astype("str").str.strip()
    bare = strength.str.fullmatch(r"\d+(?:\.\d+)?")
    rate = strength.str.fullmatch(PATCH_RATE)
    return strength.where(~bare, strength + " mg").where(~rate, strength + " patch")


def _disagreeing(vocab: Codebook, drug: pd.Series, ndc: pd.Series) -> np.ndarray:
    """For claims whose drug text and NDC both name a drug, how they disagree ('' where they do not): they
    name different drugs (by their ingredients; a text read only in part, by the ingredients read), or the
    text writes a strength the NDC's product does not have ("CARISOPRODOL 250 MG TAB" with the NDC of a
    350 mg tablet: which was dispensed cannot be told).

    Each distinct (drug, NDC) pair is read once; the rows take their pair's answer by position."""
    drug = drug.fillna("").astype("str").str.strip()
    both = ((drug != "") & (ndc != "")).to_numpy()
    out = np.full(len(drug), "", dtype=object)
    if not both.any():
        return out
    pairs = drug[both] + "\x00" + ndc[both]
    codes, distinct = pd.factorize(pairs)
    index = vocab.index

    def differ(pair: str) -> str:
        text, code = pair.split("\x00", 1)
        try:
            named = read_entry(index, text)[0]
            coded = read_entry(index, "ndc:" + code)[0]
        except InputError:
            return ""  # a text that cannot be read at all: the screen reports it, with its reason
        if not named.ingredients or not coded.ingredients:
            return ""
        in_text, in_product = set(named.ingredients), set(coded.ingredients)
        # A text read only in part ("HYDROCOD/APAP 5-325": a name cut short, not read) is held to what was
        # read of it: an ingredient the NDC's product lacks is another drug; one it did not read is not.
        if in_text - in_product or (not named.dosing.unread and in_text != in_product):
            return "name different drugs"
        # Strengths of the same kind (per tablet, or per mL of a liquid), ingredient by ingredient: the text
        # may name them in another order (acetaminophen/oxycodone 325/5), and 0.175 mg is 175 mcg.
        in_full = _strengths_in_full(index, named)
        if named.dosing.unread and not in_full and coded.per_unit_mg and not coded.dosing.per_ml:
            # Read in part, a text's strengths cannot all be given to ingredients ("HYDROCOD/APAP 10-325" is
            # read as acetaminophen, its '10-325' unread): each amount it writes as a strength must be one of
            # the product's, or the two do not agree. Counts, package sizes and product numbers are no
            # strengths ("ALPRAZOLAM .5 MG 100 TABS", "ACETAMINOPHEN-CODEINE #3"); a text with none is the NDC's.
            stray = [v for v in _written_strengths(text)
                     if not any(math.isclose(v, x, rel_tol=1e-6) for x in coded.per_unit_mg)]
            if stray:
                listed_shown = " + ".join(f"{format_amount(v)} mg" for v in coded.per_unit_mg)
                return (f"give different strengths (the text, read only in part, writes "
                        f"{', '.join(format_amount(v) + ' mg' for v in stray)}; the NDC's product is {listed_shown})")
        # A strength the text writes, or the one its product has ("TYLENOL #3" is 300/30 mg) when the text names
        # no form: "ULTRAM ER" is not Ultram's 50 mg tablet.
        amounts = in_full or (named.per_unit_mg if named.per_unit_from == "text" or (
            named.per_unit_from == "product" and not named.dosing.form) else ())
        if (amounts and coded.per_unit_mg and named.dosing.per_ml == coded.dosing.per_ml
                and in_text == in_product and len(amounts) == len(named.ingredients)
                and len(coded.per_unit_mg) == len(coded.ingredients)):
            written = dict(zip(named.ingredients, amounts))
            listed = dict(zip(coded.ingredients, coded.per_unit_mg))
            unit = " mg per mL" if coded.dosing.per_ml else " mg"
            if any(not math.isclose(written[x], listed[x], rel_tol=1e-6) for x in listed):
                def mg(amounts: dict[str, float]) -> str:
                    return " + ".join(f"{format_amount(amounts[x])}{unit}" for x in coded.ingredients)
                return f"give different strengths ({mg(written)} in the text, {mg(listed)} in the NDC's product)"
        return ""

    answers = np.asarray([differ(p) for p in distinct], dtype=object)
    out[both] = answers[codes]
    return out


def _strengths_in_full(index, named) -> tuple[float, ...]:
    """The strengths an entry left unread writes for every ingredient of its named product, by ingredient (`()`
    otherwise): "TYLENOL #3 300/60 MG" is unread because No. 3 is 300/30 (`entries._held_to_product`), yet it
    was read in full, and is compared with its NDC's product as a text read in full is."""
    d = named.dosing
    if not d.unread or named.per_unit_mg or not d.strengths or named.concept not in index.strengths:
        return ()
    order = strength_order(index, named.concept, named.ingredients)
    if len(d.strengths) != len(order) or set(order) != set(named.ingredients):
        return ()
    by_name = dict(zip(order, d.strengths))
    return tuple(by_name[x] for x in named.ingredients)


def same_medication(vocab: Codebook, texts: np.ndarray) -> np.ndarray:
    """For each entry text, the first of `texts` that is the same medication written another way: the same
    text but for case and spaces ("Carisoprodol 350 mg", "CARISOPRODOL 350MG"), or an NDC of the same
    product (another form of it, "ndc:00037200101" and "ndc:00037-2001-01", or another package of it) —
    and in either case read the same in every respect a rule reads. Two products of one drug stay apart
    (an extended-release tablet beside an immediate-release one is two supplies), and only a medication
    recognised and classified without a problem is matched: any other text stands for itself (an
    unrecognised or unclassified entry is always reported as it was written)."""
    index = vocab.index
    first: dict[object, int] = {}
    out = np.arange(len(texts), dtype=np.int64)
    for k, text in enumerate(texts.tolist()):
        if not text:
            continue
        try:
            med, problem = read_entry(index, text)
        except InputError:
            continue
        if problem is None and med.concept is not None and not med.not_covered:
            # How it was recognised and what its listing says (`via`, `note`) name the package; no rule reads them.
            out[k] = first.setdefault((_written_as(text), replace(med, input="", via="", note="")), k)
    return out


def _written_as(text: str) -> tuple[str, str]:
    """What names a claim's medication, but for how it is written: the product of its NDC and the text after
    it, or the text, each casefolded and without spaces ("CARISOPRODOL 350MG" is "carisoprodol 350 mg")."""
    head, _, rest = text.partition(" ")
    if head.startswith("ndc:"):
        try:
            return "ndc:" + read_ndc(head).product, "".join(rest.casefold().split())
        except NdcFormatError:
            pass
    return "text", "".join(text.casefold().split())


def _unreadable(text: str) -> str:
    """Why the drug text of a claim cannot be a medication entry ('' when it can, or when there is none)."""
    if not text:
        return ""
    try:
        clean_entry(text, "medication")
    except InputError as exc:
        return str(exc)
    return ""


def _holds(drug: str, strength: str) -> bool:
    """Whether the drug text already holds this strength (the same number, not part of a longer one)."""
    number = re.match(r"\s*(\d+(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)*)", strength)
    return bool(strength) and number is not None and re.search(
        rf"(?<![\d.]){re.escape(number.group(1))}(?![\d.])", drug) is not None


def screen_claims(vocab: Codebook, frame: pd.DataFrame, bad: list[BadRow],
                  window: int = DEFAULT_WINDOW, measures: tuple[ConcurrentUse, ...] | None = None
                  ) -> tuple[pa.Table, pa.Table]:
    """Screen a block of claims holding every claim of its patients: (findings, patients); the patients
    table ends with one column per concurrent-use measure (`MEASURES` unless given)."""
    measures = MEASURES if measures is None else measures
    frame = frame.reset_index(drop=True)
    ids = frame["patient_id"].fillna("").astype("str").str.strip()
    lines = frame["line"].to_numpy(dtype=np.int64)
    # Claims repeat a few drugs, dates and amounts: each distinct value (or (drug, ndc, strength)) is read
    # once, and every row takes its value's reading by position.
    drug_of, drug_rows = distinct_rows(frame, ("drug", "ndc", "strength"))
    drugs = frame.iloc[drug_rows].reset_index(drop=True)
    ndc = ndc_texts(drugs["ndc"])
    # An NDC names the exact product (its strength included); the drug text is for claims without one. A
    # strength column goes with the NDC too, so one that disagrees with the product is reported.
    with_ndc = ("ndc:" + ndc + " " + strength_texts(drugs["strength"])).str.strip()
    text_u = entry_texts(drugs["drug"], drugs["strength"]).where(ndc == "", with_ndc)
    # The NDC decides what is screened; a drug text given with it is kept, to show the claim as the payer wrote it.
    drug_text = drugs["drug"].fillna("").astype("str").str.strip()
    display_u = (drug_text + " (" + text_u + ")").where((ndc != "") & (drug_text != ""), text_u)
    no_drug_u = ((drug_text == "") & (ndc == "")).to_numpy()
    # A drug text that cannot be an entry at all (too long, invisible characters only) names no claim, even
    # beside an NDC (it would name the claim in findings).
    unreadable_u = np.asarray([_unreadable(t) for t in drug_text.tolist()], dtype=object)
    disagree_u = _disagreeing(vocab, drugs["drug"], ndc)
    # Entries are told apart by their text: (drug, ndc, strength) triples that give the same text are one
    # entry, and so are texts that read as the same medication (a refill written in another case, or by
    # another form of its NDC or another package of its product, is the same supply, not a duplicate).
    text_code, texts = pd.factorize(pd.concat([text_u, pd.Series([""], dtype="str")], ignore_index=True))
    texts = np.asarray(texts, dtype=object)
    text_code = same_medication(vocab, texts)[text_code]
    blank_text = int(text_code[-1])  # the entry text of an invalid row that has none
    entry = text_code[:-1][drug_of].astype(np.int64)
    renamed_u = display_u.to_numpy(dtype=object) != texts[text_code[:-1]]
    display_u = display_u.to_numpy(dtype=object)
    start = per_distinct(frame["fill_date"], parse_dates)
    supply = per_distinct(frame["days_supply"], lambda v: pd.to_numeric(
        v.fillna("").astype("str").str.strip(), errors="coerce").to_numpy(dtype=float, na_value=np.nan))
    quantity = per_distinct(frame["quantity"], _quantities)

    row_error = np.full(len(frame), "", dtype=object)
    problems = [
        ((ids == "").to_numpy(), lambda i: "missing patient_id"),
        (no_drug_u[drug_of], lambda i: "missing drug (give the drug or its NDC)"),
        (unreadable_u[drug_of] != "", lambda i: unreadable_u[drug_of[i]]),
        (start == np.iinfo(np.int64).min,
         lambda i: f"fill_date '{frame['fill_date'].iloc[i]}' is not a date (use YYYY-MM-DD)"),
        (np.isnan(supply) | (supply != np.floor(supply)) | (supply < 1) | (supply > MAX_DAYS_SUPPLY),
         lambda i: f"days_supply '{frame['days_supply'].iloc[i]}' is not a whole number of days "
                   f"from 1 to {MAX_DAYS_SUPPLY}"),
        (np.isnan(quantity) | (quantity < 0), lambda i: f"quantity '{frame['quantity'].iloc[i]}' is not a number"),
        (disagree_u[drug_of] != "",
         lambda i: f"drug '{frame['drug'].iloc[i]}' and ndc {frame['ndc'].iloc[i]} {disagree_u[drug_of[i]]}"),
    ]
    for mask, message in problems:
        for i in np.flatnonzero(mask & (row_error == "")):
            row_error[i] = f"line {lines[i]}: {message(i)}"

    sources = frame["input_file"].to_numpy(dtype=np.int64) if "input_file" in frame else None
    if bad:
        extra = bad_patients(bad)
        if sources is not None:
            sources = np.concatenate([sources, np.asarray([b.source for b in bad], dtype=np.int64)])
        ids = pd.concat([ids, extra["patient_id"]], ignore_index=True)
        lines = np.concatenate([lines, extra["line"].to_numpy()])
        row_error = np.concatenate([row_error, extra["error"].to_numpy(dtype=object)])
        entry = np.concatenate([entry, np.full(len(extra), blank_text, dtype=np.int64)])
        drug_of = np.concatenate([drug_of, np.full(len(extra), -1, dtype=np.int64)])
        start = np.concatenate([start, np.zeros(len(extra), dtype=np.int64)])
        supply = np.concatenate([supply, np.ones(len(extra))])
        quantity = np.concatenate([quantity, np.zeros(len(extra))])
    keys = row_keys(lines, sources)  # rows of several files in (file, line) order
    order = np.argsort(keys, kind="stable")
    ids, entry, drug_of = ids.iloc[order].reset_index(drop=True), entry[order], drug_of[order]
    lines, row_error, start, supply = lines[order], row_error[order], start[order], supply[order]
    quantity = quantity[order]

    patient, shown, first_key = group_ids(ids, keys[order])
    first = first_key & ((1 << SOURCE_SHIFT) - 1)
    n = len(shown)
    error = patient_errors(patient, row_error, n)

    good = row_error == ""
    rows = np.flatnonzero(good & (texts != "")[entry])
    # One entry per distinct drug text of a patient, in order of first fill line.
    distinct = pd.DataFrame({"p": patient[rows], "t": entry[rows], "d": drug_of[rows]}).drop_duplicates(["p", "t"])
    meds, med_of = entry_lists(distinct["p"].to_numpy(), n, distinct["t"].to_numpy(), texts)
    # How findings name an entry of a patient, where that differs from the entry (its first claim's drug text).
    renamed = distinct[renamed_u[distinct["d"].to_numpy()]]
    shown_as: dict[tuple[int, str], str] = dict(zip(
        zip(renamed["p"].tolist(), texts[renamed["t"].to_numpy()].tolist()),
        display_u[renamed["d"].to_numpy()].tolist()))
    empty = lists_from_items(np.zeros(0, dtype=np.int64), n, [])
    pts = Patients(patient_id=shown, line=first, age=np.full(n, np.nan), error=error,
                   meds=meds, conditions=empty, allergies=empty,
                   source=None if sources is None else (first_key >> SOURCE_SHIFT).astype(np.int32))

    # Claims of each patient, grouped: (entry code, first day, last day).
    by_patient = np.argsort(patient[rows], kind="stable")
    claim_rows = rows[by_patient]
    claim_patient = patient[claim_rows]
    claim_code = med_of[entry[claim_rows]]
    claim_start = start[claim_rows]
    claim_days = supply[claim_rows].astype(np.int64)
    claim_end = claim_start + claim_days - 1
    claim_quantity = quantity[claim_rows]
    # Each claim's entry occurrence (its position in the meds lists), to keep only the claims of the entries
    # the prefilter keeps: the walk looks at no other.
    width = len(meds.texts) + 1
    occurrence_key = meds.list_ids() * width + meds.codes
    by_key = np.argsort(occurrence_key, kind="stable")
    claim_occurrence = by_key[np.searchsorted(occurrence_key[by_key], claim_patient * width + claim_code)]

    def walk_with(book: Codebook):
        """The walk of the flagged patients' supply windows, with one codebook's knowledge."""

        def walk(flagged_idx: np.ndarray, kept: np.ndarray) -> Hits:
            mine_claims = np.flatnonzero(kept[claim_occurrence])
            offsets = np.searchsorted(claim_patient[mine_claims], np.arange(n + 1))
            code, first_day, last_day = (a[mine_claims].tolist() for a in (claim_code, claim_start, claim_end))
            units, days = claim_quantity[mine_claims].tolist(), claim_days[mine_claims].tolist()
            entry_at, entry_code, keep = meds.offsets.tolist(), meds.codes.tolist(), kept.tolist()
            claims_at = offsets.tolist()
            single = _cache(book, "single claims")
            who: list[int] = []
            rows: list[int] = []
            starts: list[int] = []
            spans: list[int] = []
            for p in flagged_idx.tolist():
                a, b = entry_at[p], entry_at[p + 1]
                mine = [meds.texts[c] for c, k in zip(entry_code[a:b], keep[a:b]) if k]
                lo, hi = claims_at[p], claims_at[p + 1]
                names = {t: shown_as[(p, t)] for t in mine if (p, t) in shown_as} if shown_as else {}
                claims = list(zip(code[lo:hi], first_day[lo:hi], last_day[lo:hi], units[lo:hi], days[lo:hi]))
                if hi - lo == 1:
                    # One claim (a single fill is common): what it finds depends on the claim but for its date,
                    # so it is walked once per distinct (entry, name, quantity, days) and shifted to its date.
                    c, day0, _, q, d = claims[0]
                    key = (tuple(mine), tuple(names.items()), meds.texts[c], q, d, window)
                    got = single.get(key)
                    if got is None:
                        got = single[key] = [
                            (book.template(finding), first - day0, span)
                            for finding, first, span in _walk_patient(book, mine, meds.texts, claims, window, names)]
                    found = [(row, first + day0, span) for row, first, span in got]
                else:
                    found = [(book.template(finding), first, span) for finding, first, span
                             in _walk_patient(book, mine, meds.texts, claims, window, names)]
                for row, first, span in found:
                    who.append(p)
                    rows.append(row)
                    starts.append(first)
                    spans.append(span)
            iso = np.asarray(starts, dtype=np.int64).astype("datetime64[D]").astype(str).tolist()
            return Hits(np.asarray(who, dtype=np.int64), np.asarray(rows, dtype=np.int64),
                        {"overlap_start": iso, "overlap_days": spans})

        return walk

    findings, patients = screen_patients(vocab, pts, walk=walk_with(vocab),
                                         shadow_walk=walk_with(vocab.shadow) if vocab.shadow else None)
    for name, kind in (("overlap_start", pa.string()), ("overlap_days", pa.int64())):
        if name in findings.column_names:
            findings = findings.set_column(findings.column_names.index(name), name, findings.column(name).cast(kind))
        else:  # nobody flagged: the walk never ran
            findings = findings.append_column(name, pa.array([], type=kind))
    for measure in measures:
        values = concurrent_use(vocab, measure, n, claim_patient, claim_code, meds.texts, claim_start, claim_days)
        values = np.where(error == "", values, "")  # an invalid patient is not measured
        patients = patients.append_column(measure.column, pa.array(values.tolist(), type=pa.string()))
    return findings, patients


@dataclass(frozen=True)
class ConcurrentUse:
    """A payer's definition of concurrent use of two drug classes in claims, each part a parameter.

    A patient meets it with at least `min_claims_first` claims of the first class on different fill dates
    and `min_days_first` cumulative days' supply of it (the denominator), at least `min_claims_second`
    claims of the second class on different fill dates, and at least `min_overlap_days` days on which
    both are on hand. A claim is on hand from its fill date for its days supply plus `grace_days`; with
    `stockpile`, a refill of the same drug text filled before the previous supply ran out starts the day
    after it does (early refills carried over, not counted twice).
    """

    name: str
    """The measure's name; the patients output gets the column `measure_<name>`."""
    first: str
    """The first class (concept id), e.g. opioids."""
    second: str
    """The second class, e.g. benzodiazepines."""
    min_claims_first: int = 2
    min_days_first: int = 15
    min_claims_second: int = 2
    min_overlap_days: int = 30
    grace_days: int = 0
    stockpile: bool = False
    source: str = ""
    """The published definition it follows."""

    @property
    def column(self) -> str:
        return f"measure_{self.name}"

    def parameters(self) -> str:
        """The definition as a line, for reports: every parameter named."""
        return (f"{self.name}: {self.first} ≥{self.min_claims_first} claims on different dates and "
                f"≥{self.min_days_first} days' supply; {self.second} ≥{self.min_claims_second} claims on different "
                f"dates; ≥{self.min_overlap_days} days of overlap; grace {self.grace_days} days; "
                f"stockpiling {'carried over' if self.stockpile else 'not adjusted'}")


COB = ConcurrentUse(
    "cob", "opioids", "benzodiazepines", min_claims_first=2, min_days_first=15, min_claims_second=2,
    min_overlap_days=30, grace_days=0, stockpile=False,
    source="Pharmacy Quality Alliance, Concurrent Use of Opioids and Benzodiazepines (COB), CBE/NQF #3389 "
           "(endorsed Patient Safety Spring 2021; p4qm.org/measures/3389): individuals ≥18 years of age; "
           "denominator ≥2 opioid claims on different dates of service and ≥15 cumulative days' supply during the "
           "measurement year; numerator concurrent use for ≥30 cumulative days during the measurement year "
           "(p4qm.org), with ≥2 benzodiazepine claims on different dates of service (PQA's COB measure overview; "
           "p4qm.org's numerator names only the 30 days). Not applied here: the age (claims carry none), the "
           "measurement year (the claims file is taken as one period, whatever dates it spans) and the "
           "exclusions (cancer, sickle cell disease, hospice), which need diagnoses that claims of drugs do not "
           "carry.")
"""The PQA COB measure as published (p4qm.org/measures/3389; PQA's measure overview,
pqa.memberclicks.net/assets/Measures/cob.js.txt). The published text names no grace period and no early-refill
adjustment: both are off. It is a measure of adults over one measurement year with exclusions by diagnosis; a
claims file gives none of these, so every member is screened and the file is one period (`source` says so)."""

MEASURES: tuple[ConcurrentUse, ...] = (COB,)
"""The measures a claims screen reports unless told otherwise, one patients column each."""

PRESETS: dict[str, ConcurrentUse] = {"cob": COB}
"""Named definitions a measure may start from."""

_SETTINGS = {"first": ("first", str), "second": ("second", str), "first-claims": ("min_claims_first", int),
             "first-days": ("min_days_first", int), "second-claims": ("min_claims_second", int),
             "overlap": ("min_overlap_days", int), "grace": ("grace_days", int), "stockpile": ("stockpile", bool)}
"""What `parse_measure` may set, by the name it is written with."""


def parse_measure(spec: str) -> ConcurrentUse:
    """A measure from `PRESET` or `NAME=PRESET,setting=value,…` (settings: first, second, first-claims,
    first-days, second-claims, overlap, grace, stockpile=yes|no); raises `InputError` with the fix."""
    head, *settings = [part.strip() for part in spec.split(",")]
    name, _, preset = head.partition("=") if "=" in head else (head, "", head)
    base = PRESETS.get(preset.strip().lower())
    if base is None:
        raise InputError(f"measure '{spec}': '{preset}' is not a preset (known: {', '.join(PRESETS)})")
    name = name.strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise InputError(f"measure '{spec}': the name '{name}' should be letters, digits, - or _")
    changes: dict[str, object] = {"name": name}
    for setting in settings:
        key, _, value = (s.strip() for s in setting.partition("="))
        if key not in _SETTINGS or not value:
            raise InputError(f"measure '{spec}': '{setting}' is not a setting=value "
                             f"(settings: {', '.join(_SETTINGS)})")
        attr, kind = _SETTINGS[key]
        if kind is bool:
            if value.lower() not in ("yes", "no"):
                raise InputError(f"measure '{spec}': {key} is yes or no, not '{value}'")
            changes[attr] = value.lower() == "yes"
        elif kind is int:
            if not value.isdigit() or int(value) > 3650:
                raise InputError(f"measure '{spec}': {key} is a whole number of days or claims (0-3650), "
                                 f"not '{value}'")
            changes[attr] = int(value)
        else:
            changes[attr] = value
    measure = replace(base, **changes)  # type: ignore[arg-type]
    if changes.keys() - {"name"}:
        measure = replace(measure, source=f"{base.source} Changed here: "
                                          f"{', '.join(s for s in settings)}.")
    return measure


def concurrent_use(vocab: Codebook, measure: ConcurrentUse, n: int, patient: np.ndarray, code: np.ndarray,
                   texts: list[str], start: np.ndarray, days: np.ndarray) -> np.ndarray:
    """For each of `n` patients, "met (D days)", "not met (D days)" or "not in denominator" under `measure`,
    from their claims (patient index, drug text `texts[code]`, fill day, days supply; grouped by patient)."""
    index = vocab.index
    for cls in (measure.first, measure.second):
        if index.kinds.get(cls) != "class":
            raise InputError(f"measure '{measure.name}': '{cls}' is not a class of this knowledge "
                             "(`screener explain NAME` shows what a concept is)")
    member: dict[tuple[str, str], bool] = {}

    def of(text: str, cls: str) -> bool:
        got = member.get((text, cls))
        if got is None:
            ingredients = read_entry(index, text)[0].ingredients
            got = member[(text, cls)] = any(cls in index.up.get(x, {}) for x in ingredients)
        return got

    # Class membership is read once per distinct drug text, then taken by each claim.
    first = np.fromiter((of(t, measure.first) for t in texts), dtype=bool, count=len(texts))[code]
    second = np.fromiter((of(t, measure.second) for t in texts), dtype=bool, count=len(texts))[code]
    out = np.full(n, "not in denominator", dtype=object)
    # The denominator, for every patient at once: distinct fill dates and days' supply of the first class.
    who, when = patient[first], start[first]
    pairs = np.unique(who.astype(np.int64) * (1 << 32) + (when.astype(np.int64) - int(when.min(initial=0))))
    dates = np.bincount((pairs >> 32).astype(np.int64), minlength=n)
    supplied = np.bincount(who, weights=days[first], minlength=n)
    counted = (dates >= measure.min_claims_first) & (supplied >= measure.min_days_first)
    both = np.zeros(n, dtype=bool)
    both[np.intersect1d(patient[first], patient[second])] = True
    out[counted & ~both] = "not met (0 days)"
    # Only patients in the denominator with claims of both classes are walked, one by one.
    offsets = np.searchsorted(patient, np.arange(n + 1))
    for p in np.flatnonzero(counted & both).tolist():
        lo, hi = offsets[p], offsets[p + 1]
        rows = [(texts[code[i]], int(start[i]), int(days[i])) for i in range(lo, hi) if first[i]]
        others = [(texts[code[i]], int(start[i]), int(days[i])) for i in range(lo, hi) if second[i]]
        overlap = len(_on_days(rows, measure) & _on_days(others, measure))
        met = len({s for _, s, _ in others}) >= measure.min_claims_second and overlap >= measure.min_overlap_days
        out[p] = f"{'met' if met else 'not met'} ({overlap} days)"
    return out


def _on_days(claims: list[tuple[str, int, int]], measure: ConcurrentUse) -> set[int]:
    """The days these claims are on hand under the measure's grace period and stockpiling rule."""
    days: set[int] = set()
    last_end: dict[str, int] = {}
    for text, s, d in sorted(claims, key=lambda c: c[1]):
        if measure.stockpile and text in last_end and s <= last_end[text]:
            s = last_end[text] + 1  # an early refill starts when the supply before it runs out
        e = s + d - 1
        last_end[text] = max(e, last_end.get(text, e))
        days.update(range(s, e + measure.grace_days + 1))
    return days


def _covered(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge (first, last) day intervals."""
    merged: list[list[int]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def _walk_patient(vocab: Codebook, entries: list[str], texts: list[str],
                  claims: list[tuple[int, int, int, float, int]], window: int, names: dict[str, str] | None = None):
    """[(finding, first day, days)] for one patient's claims (entry code, first day, last day, quantity,
    days supply), most serious first; findings name an entry as `names` says (default: its text)."""
    names = names or {}
    windows: dict[str, list[tuple[int, int]]] = {t: [] for t in entries}
    for c, s, e, _, _ in claims:
        if texts[c] in windows:
            windows[texts[c]].append((s, e))
    covered = {t: _covered(w) for t, w in windows.items() if w}
    entries = [t for t in entries if t in covered]
    if not entries:
        return []
    # Entries a dose rule could fire on alone are screened with their units a day from the claims on hand,
    # so their spans are cut at every claim's first and last day (a refill may change the amount). One sweep
    # over the claims' first days and the days after their last keeps what is on hand.
    dosed = {t for t in entries if vocab.medication(t)[3]}
    events: dict[int, list[tuple[int, str, tuple[float, int]]]] = {}
    for c, s, e, q, d in claims:
        t = texts[c]
        if t in covered:
            events.setdefault(s, []).append((1, t, (q, d)))
            events.setdefault(e + 1, []).append((-1, t, (q, d)))
    on_hand: dict[str, list[tuple[float, int]]] = {t: [] for t in entries}
    acc: dict[tuple, list] = {}
    segment: tuple[int, int, tuple] | None = None
    spans: list[tuple[int, int, tuple]] = []
    # A span's entries are named by text (a supply by its text and amounts, which say everything the entry
    # holds), so spans compare and walks are cached by strings; `supplied` holds the entries behind them.
    supplied: dict[str, MedicationEntry] = {}
    for s, nxt in itertools.pairwise(sorted(events)):
        for step, t, claim in events[s]:
            if step > 0:
                on_hand[t].append(claim)
            else:
                on_hand[t].remove(claim)
        active = tuple((_on_hand(t, on_hand[t], supplied, names.get(t, t)) if t in dosed else t)
                       for t in entries if on_hand[t])
        if segment is not None and segment[2] == active and segment[1] + 1 == s:
            segment = (segment[0], nxt - 1, active)
        else:
            if segment is not None:
                spans.append(segment)
            segment = (s, nxt - 1, active)
    if segment is not None:
        spans.append(segment)
    # What each entry with its supply is shown as, back to its drug text (findings about two drugs or more
    # name the drugs; a dose finding names the supply it was computed from).
    plain = {shown: entry.name for shown, entry in supplied.items()}
    for s, e, active in spans:
        if not active:
            continue
        cached = ("supplies", active)
        rows = vocab.reports.get(cached) if supplied else None
        if rows is None:
            rows = vocab.report_rows(tuple(supplied.get(t, t) for t in active), (), (), None)
            if supplied:
                vocab.reports[cached] = rows
        for row in rows.tolist():
            finding = vocab.findings[row]
            if finding.kind is not FindingKind.DOSE and plain:
                finding = _with_inputs(vocab, row, tuple(dict.fromkeys(plain.get(i, i) for i in finding.inputs)))
            # A combination is one finding whichever drugs filled its roles from day to day
            # (Percocet one month, Norco the next); other findings are per pair of drugs.
            key = ((finding.kind, finding.rule_id) if finding.kind is FindingKind.COMBINATION
                   else (finding.kind, finding.rule_id, finding.concepts))
            got = acc.get(key)
            if got is None:
                acc[key] = [finding, s, e - s + 1, list(finding.inputs), row]
            else:
                if finding.kind is FindingKind.DOSE and _amount(finding.title) > _amount(got[0].title):
                    # The highest daily amount on hand names the finding: 4,200 mg on the days an early
                    # refill adds to a fill's 2,100, not the first span's amount for every day.
                    got[0], got[4] = finding, row
                got[1] = min(got[1], s)
                got[2] += e - s + 1
                got[3].extend(i for i in finding.inputs if i not in got[3])
    found = []
    for f, s, d, inputs, row in acc.values():
        if f.kind is FindingKind.COMBINATION and set(inputs) != set(f.inputs):
            # Name every drug that filled a role at some time: the walk over all of them.
            union = tuple(t for t in entries if t in inputs)
            rows = vocab.report_rows(union, (), (), None).tolist()
            row = next(r for r in rows if vocab.findings[r].rule_id == f.rule_id)
            f = vocab.findings[row]
            inputs = list(f.inputs)
        named = tuple(names.get(i, i) for i in inputs) if names else tuple(inputs)
        found.append((_with_inputs(vocab, row, named) if named != f.inputs else f, s, d))
    for f, s, d in _durations(vocab, entries, covered, window):
        named = tuple(names.get(i, i) for i in f.inputs) if names else f.inputs
        found.append((replace(f, inputs=named) if named != f.inputs else f, s, d))
    found.sort(key=lambda item: finding_order(item[0]))
    return found


_STRENGTH = re.compile(r"(?<![#\d.,])(\d[\d,]*(?:\.\d+)?|\.\d+)\s?(mg|mcg|ug|gm|g)\b"
                       r"|(?<![#\w.])(\d+(?:\.\d+)?)\s?[-/]\s?(\d+(?:\.\d+)?)(?!\s?(?:ml|tabs?|tablets?|caps?|"
                       r"capsules?|h|hr|hours?|days?|d|weeks?|x)\b)(?![\d./-])")
_TO_MG = {"mg": 1.0, "mcg": 0.001, "ug": 0.001, "g": 1000.0, "gm": 1000.0}
_MASS_AFTER = re.compile(r"\s?(mg|mcg|ug|gm|g)\b")


def _written_strengths(text: str) -> list[float]:
    """The amounts in mg a claim's drug text writes as strengths: a number with a mass unit (".5 MG", "1,000MG",
    "1GM"), or the numbers of a pair ("10-325", "5/325 MG"). A pair's unit is the mass after it, else mg."""
    out: list[float] = []
    text = text.lower()
    for m in _STRENGTH.finditer(text):
        if m.group(1) is not None:
            value = m.group(1).replace(",", "")
            out.append(float("0" + value if value.startswith(".") else value) * _TO_MG[m.group(2)])
            continue
        unit = _MASS_AFTER.match(text, m.end())
        if unit is None and float(m.group(3)) < float(m.group(4)) <= 10:
            continue  # "1/2", "1-2": half a tablet, one or two, not strengths
        scale = _TO_MG[unit.group(1)] if unit else 1.0
        out.extend(float(m.group(k)) * scale for k in (3, 4))
    return out


_AMOUNT = re.compile(r"(\d[\d,]*(?:\.\d+)?) (?:mg|MME)\b")


def _amount(title: str) -> float:
    """The amount a dose finding's title states ("carisoprodol 4,200 mg a day …", "Opioids 180 MME a day …")."""
    found = _AMOUNT.search(title)
    return float(found.group(1).replace(",", "")) if found else 0.0


def _on_hand(text: str, here: list[tuple[float, int]], supplied: dict[str, MedicationEntry], label: str) -> str:
    """How the entry `text` (shown as `label`) is named while the claims `here` (quantity, days supply) are on
    hand: with their quantities and days, when every one gives its quantity (the entry, with their units a day,
    is put in `supplied`); else the text alone (no daily amount is computed from it)."""
    key = (text, label, *here)
    got = _SUPPLIES.get(key)
    if got is None:
        if any(not q > 0 for q, _ in here):
            got = (text, None)
        else:
            shown = f"{label}: " + " + ".join(f"{format_amount(q)} over {d} day{'s' if d != 1 else ''}"
                                              for q, d in here)
            daily = Dosing(daily_units=sum(q / d for q, d in here), supplied=True)
            got = (shown, MedicationEntry(text=shown, name=text, dosing=daily))
        if len(_SUPPLIES) >= REPORT_CACHE_LIMIT:
            _SUPPLIES.clear()
        _SUPPLIES[key] = got
    shown, entry = got
    if entry is not None and shown not in supplied:
        supplied[shown] = entry
    return shown


_SUPPLIES: dict[tuple, tuple[str, MedicationEntry | None]] = {}
"""What `_on_hand` names an entry with its claims on hand (and the entry it screens), by entry, label and
claims: the same few supplies recur across patients."""


def _with_inputs(vocab: Codebook, row: int, inputs: tuple[str, ...]):
    """Finding row `row` naming `inputs` instead: one object per distinct (row, inputs), kept with the
    codebook's reports, so a finding seen again for another patient is not a new finding row."""
    finding = vocab.findings[row]
    if inputs == finding.inputs:
        return finding
    key = (row, inputs)
    got = vocab.renamed.get(key)
    if got is None:
        if len(vocab.renamed) >= REPORT_CACHE_LIMIT:
            vocab.renamed.clear()
        got = vocab.renamed[key] = replace(finding, inputs=inputs)
    return got


def _durations(vocab: Codebook, entries: list[str], covered: dict, window: int):
    """Duration findings: days of supply covered within any rolling `window` days, against the limit."""
    index = vocab.index
    table = index.families[Duration.name]
    out = []
    cache = _cache(vocab, "durations")
    pooled = cache.get(tuple(entries))
    if pooled is None:
        pooled = cache[tuple(entries)] = _pooled(vocab, table, entries)
    for x, mine, limit in pooled:
        days = _covered([iv for t in mine for iv in covered[t]])
        # The days in any window are at most the days covered: within the limit, there is nothing to find.
        if sum(e - s + 1 for s, e in days) > limit:
            start, best = busiest_window(days, window)
            said = _cache(vocab, "supplied")
            key = (x, best, window, mine)
            if key not in said:
                said[key] = supply_finding(index, table, read_entry(index, mine[0])[0], x, best, window, mine)
            finding = said[key]
            if finding is not None:
                out.append((finding, start, best))
    return out


def busiest_window(days: list[tuple[int, int]], window: int) -> tuple[int, int]:
    """(first covered day, days covered) of the earliest `window` days (or the whole span, when shorter)
    that cover the most days of `days`: sorted, disjoint (first, last) intervals, at least one.

    The count of days covered changes with the window's first day `a` only where a day enters or leaves
    it, so the earliest best window starts at a first day, at the day after a last day, or `window` days
    before either, or at an end of the span: only those are counted."""
    first, last = days[0][0], days[-1][1]
    width = min(window, last - first + 1)
    latest = last - width + 1

    def covered(a: int) -> int:
        return sum(max(0, min(e, a + width - 1) - max(s, a) + 1) for s, e in days)

    edges = {first, latest}
    for s, e in days:
        edges.update((s, e + 1, s - width, e + 1 - width))
    at, best = first, -1
    for a in sorted(x for x in edges if first <= x <= latest):
        got = covered(a)
        if got > best:
            at, best = a, got
    start = next(max(s, at) for s, e in days if e >= at)
    return start, best


def _pooled(vocab: Codebook, table, entries: list[str]) -> list[tuple[str, tuple[str, ...], float]]:
    """(ingredient, entries, limit in days) for each duration limit these entries fall under."""
    index = vocab.index
    out = []
    for x in limited(table):
        xid = vocab.ids.get(x)
        # Every fill holding x, combination products included, pooled by the limit that
        # applies to it: a product's own label limit where dosing.csv has one, else x's.
        groups: dict[str, list[str]] = {}
        for t in entries:
            if xid not in vocab.medication(t)[0]:
                continue
            med = read_entry(index, t)[0]
            hit = (table.get((x, med.concept)) if med.concept else None) or table.get(x)
            if hit is not None:
                groups.setdefault(hit[0], []).append(t)
        for mine in groups.values():
            med = read_entry(index, mine[0])[0]
            # The limit supply_finding will hold the days to: the first entry's (as pooled, all share its rule).
            hit = (table.get((x, med.concept)) if med.concept else None) or table.get(x)
            out.append((x, tuple(mine), hit[1]))
    return out
