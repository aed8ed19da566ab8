"""The vectorised screen: many patients at once, with the library's own walk for the few that need it.

How a block of patients is screened:

1. Every *distinct* medication, condition and allergy string is read once with the
   same functions `screener check` uses (`screening._medication`, `screening._named`),
   and the reading is kept as small integers (ingredient ids, flags, and a
   *signature*: one integer per distinct ingredient set) for numpy.
2. Each patient's entries are a list of those codes (split and dictionary-encoded
   with Arrow, so the work per occurrence is a hash, not a Python call).
3. A vectorised prefilter marks the patients who could have any finding: two
   entries of one list whose signatures share an ingredient (the duplicate rules)
   or meet in a pair rule, every role of a combination rule filled, an ingredient
   with dose limits, an (ingredient, condition) or allergy rule, an age rule that
   fires. It may mark too many, never too few. It also keeps, per patient, the
   entries that take part in one of those: the others can change no finding.
4. Only marked patients are screened by `screening.screen_patient` — the exact
   walk of `screener check` — and even then once per distinct *reduced* input
   (the kept entries and the conditions and allergies some rule names). Age
   findings are built apart, once per distinct (entry, age). Findings become rows
   of a dictionary-encoded table once per distinct finding and are reused.
5. Everyone else is `no-findings`, or `incomplete` with their unrecognised items,
   computed with array operations.

The result is two Arrow tables: findings (one row per finding) and patients (one
row per input patient, whatever happened to it); `screen_frame` hands them to
notebooks as pandas DataFrames. This module does not import pandas: on the
one-row-per-patient path that import cost more than screening a million rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..knowledge.index import Index
from ..model import Finding, FindingKind, Severity, Unrecognized
from .. import screening

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

KEY = np.int64(1 << 32)
"""Multiplier that packs two ids into one int64 key (ids stay below 2**31)."""

SEVERITIES = [s.value for s in Severity]  # most serious first

FINDING_COLUMNS = ["patient_id", "kind", "severity", "title", "concepts", "inputs", "summary", "advice",
                   "ncpdp", "source", "rule", "evidence", "knowledge_version"]
"""Columns of the findings output, in order (claims add `overlap_start` and `overlap_days`)."""

PATIENT_COLUMNS = ["patient_id", "line", "status", "highest_severity", "findings",
                   *SEVERITIES, "unrecognized_count", "unrecognized", "error"]
"""Columns of the patients output, in order."""

_TEMPLATE_FIELDS = ["kind", "severity", "title", "concepts", "inputs", "summary", "advice", "ncpdp", "source",
                    "rule", "evidence"]

_TITLE = _TEMPLATE_FIELDS.index("title")
_INPUTS = _TEMPLATE_FIELDS.index("inputs")

LIST_SEPARATOR = "; "
"""Joins concepts and inputs inside one cell of the findings output."""
ITEM_SEPARATOR = " | "
"""Joins unrecognised items (whose reasons may contain ';') in the patients output."""
REPORT_CACHE_LIMIT = 100_000


def describe(problem: Unrecognized) -> str:
    """One unrecognised item as text: `xyzzymab (medication: not in the knowledge base; did you mean …?)`."""
    text = f"{problem.input} ({problem.field}: {problem.reason}"
    if problem.suggestions:
        text += f"; did you mean {', '.join(problem.suggestions)}?"
    return text + ")"


@dataclass
class Lists:
    """Variable-length lists of entry codes, one list per patient, stored flat (CSR).

    `of_patient[p]` is patient p's list; list l holds `codes[offsets[l]:offsets[l+1]]`,
    indices into `texts`. Patients with the same entries may share a list.
    """

    of_patient: np.ndarray
    offsets: np.ndarray
    codes: np.ndarray
    texts: list[str]

    @property
    def n_lists(self) -> int:
        return len(self.offsets) - 1

    def list_ids(self) -> np.ndarray:
        """For each entry occurrence (position in `codes`), its list."""
        return np.repeat(np.arange(self.n_lists, dtype=np.int64), np.diff(self.offsets))

    @classmethod
    def empty(cls, n: int) -> "Lists":
        return cls(np.zeros(n, dtype=np.int64), np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int64), [])


def as_strings(values) -> pa.Array:
    """Any column (Arrow array, pandas Series, list) as one Arrow string array, '' for missing."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    elif not isinstance(values, pa.Array):
        values = pa.array(values, from_pandas=True) if len(values) else pa.array([], type=pa.string())
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    return pc.fill_null(values, "")


def lists_from_cells(values, sep: str = ";") -> Lists:
    """Split cells like "Soma 350 mg qid; Xanax" into lists; empty pieces are dropped, pieces trimmed.

    `values` is an Arrow array or a pandas Series of text.
    """
    n = len(values)
    if n == 0:
        return Lists.empty(0)
    # NOTE: no deduplication of whole cells first: in realistic populations most
    # medication lists are distinct, and hashing them costs more than splitting them.
    cells = as_strings(values)
    filled = np.flatnonzero(pc.binary_length(cells).to_numpy(zero_copy_only=False) > 0)
    if len(filled) < n // 2:
        # Mostly blank (conditions, allergies): split only the cells that hold something.
        sub = _split_pieces(cells.take(pa.array(filled, type=pa.int64())), sep)
        counts = np.zeros(n, dtype=np.int64)
        counts[filled] = np.diff(sub[0])
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        pieces = sub[1]
    else:
        offsets, pieces = _split_pieces(cells, sep)
    # Encode the pieces as they are, then trim and drop empties among the few distinct
    # texts: trimming or measuring every occurrence cost more than the encoding.
    encoded = pc.dictionary_encode(pieces)
    raw_codes = encoded.indices.to_numpy(zero_copy_only=False)
    texts: list[str] = []
    seen: dict[str, int] = {}
    remap = np.empty(len(encoded.dictionary), dtype=np.int64)
    for k, text in enumerate(encoded.dictionary.to_pylist()):
        text = text.strip()
        remap[k] = seen.setdefault(text, len(texts)) if text else -1
        if text and remap[k] == len(texts):
            texts.append(text)
    codes = remap[raw_codes] if len(raw_codes) else np.zeros(0, dtype=np.int64)
    keep = codes >= 0
    if not keep.all():
        codes = codes[keep]
        # The kept pieces before each list's start give the new offsets.
        kept_before = np.zeros(len(keep) + 1, dtype=np.int64)
        np.cumsum(keep, out=kept_before[1:])
        offsets = kept_before[offsets]
    return Lists(np.arange(n, dtype=np.int64), offsets.astype(np.int64), codes, texts)


def _split_pieces(cells: pa.Array, sep: str) -> tuple[np.ndarray, pa.Array]:
    """(offsets of each cell's pieces, the pieces) of cells split at `sep`."""
    lists = pc.split_pattern(cells, sep)
    offsets = lists.offsets.to_numpy().astype(np.int64)
    pieces = lists.values.slice(offsets[0], offsets[-1] - offsets[0])
    return offsets - offsets[0], pieces


def lists_from_items(patient: np.ndarray, n: int, values) -> Lists:
    """Lists from (patient index, value) rows in file order; every patient gets its own list."""
    patient = np.asarray(patient, dtype=np.int64)
    texts_in = as_strings(values)
    trimmed = [t.strip() for t in texts_in.to_pylist()]
    keep = np.asarray([t != "" for t in trimmed], dtype=bool)
    patient = patient[keep]
    order = np.argsort(patient, kind="stable")
    seen: dict[str, int] = {}
    kept = [t for t, k in zip(trimmed, keep.tolist()) if k]
    codes = np.asarray([seen.setdefault(kept[i], len(seen)) for i in order.tolist()], dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(patient, minlength=n), out=offsets[1:])
    return Lists(np.arange(n, dtype=np.int64), offsets, codes, list(seen))


class Vocabulary:
    """The knowledge index seen as integers, and each distinct string read once.

    One Vocabulary is made per knowledge index and kept for the whole run (and by
    `screen_frame` across calls): readings and finding rows accumulate in it.
    """

    def __init__(self, index: Index):
        self.index = index
        self.version = index.version
        self.ids: dict[str, int] = {}
        self.meds: dict[str, tuple] = {}
        self.named: dict[str, dict[str, tuple]] = {"condition": {}, "allergy": {}}
        self.reports: dict[tuple, np.ndarray] = {}
        self.template_of: dict[object, int] = {}
        """Row number by finding identity (or by an age row's key)."""
        self.findings: list[Finding] = []
        """The Finding of each finding row (None for rows built without one: age rows)."""
        self._place: list[int] = []
        self._columns: dict | None = None
        self._codes: dict[str, list[int]] = {name: [] for name in _TEMPLATE_FIELDS}
        self._distinct: dict[str, dict[str, int]] = {name: {} for name in _TEMPLATE_FIELDS}
        self._ranks: list[int] = []
        self._encoders = [(self._distinct[name], self._codes[name]) for name in _TEMPLATE_FIELDS]
        self._age_plans: dict[str, tuple] = {}
        self._age_titles: dict[tuple, tuple] = {}
        self._age_bases: dict[tuple, list[int]] = {}
        self._build()

    def id(self, concept: str) -> int:
        """A small integer for a concept id (assigned on first sight)."""
        got = self.ids.get(concept)
        if got is None:
            got = self.ids[concept] = len(self.ids)
        return got

    def _build(self) -> None:
        ix = self.index
        keys = []
        pairing = set()
        for x, row in ix.pairs.items():
            for y in row:
                a, b = self.id(x), self.id(y)
                pairing.update((a, b))
                keys.append(min(a, b) * KEY + max(a, b))
        self.pair_keys = np.unique(np.asarray(keys, dtype=np.int64))
        self.pairing = np.asarray(sorted(pairing), dtype=np.int64)
        self.combinations = [[np.asarray(sorted(self.id(x) for x in role), dtype=np.int64) for role in roles]
                             for _, roles in ix.combinations]
        self.condition_keys = np.unique(np.asarray(
            [self.id(x) * KEY + self.id(c) for x, c in ix.conditions], dtype=np.int64))
        self.condition_drugs = np.asarray(sorted({self.id(x) for x, _ in ix.conditions}), dtype=np.int64)
        self.allergy_by_target: dict[str, set[int]] = {}
        for x, target in ix.allergies:
            self.allergy_by_target.setdefault(target, set()).add(self.id(x))
        self.ages = {self.id(x): rules for x, rules in ix.ages.items()}
        self.dosed = {self.id(x) for x in ix.doses}
        universe = set(self.pairing.tolist()) | {self.id(x) for x in ix.in_combinations}
        universe |= set(self.condition_drugs.tolist()) | set(self.ages) | self.dosed
        universe |= {x for s in self.allergy_by_target.values() for x in s}
        self.universe = universe
        """Ingredients that can take part in some rule other than a duplicate."""
        self.pair_partners: dict[int, set[int]] = {}
        for x, row in ix.pairs.items():
            for y in row:
                a, b = self.id(x), self.id(y)
                self.pair_partners.setdefault(a, set()).add(b)
                self.pair_partners.setdefault(b, set()).add(a)
        self.condition_drug_set = set(self.condition_drugs.tolist())
        self.condition_concepts = {self.id(c) for _, c in ix.conditions}
        """Conditions some rule names."""
        self.allergy_drugs = {x for s in self.allergy_by_target.values() for x in s}
        self.roles = [role for roles in self.combinations for role in roles]
        self.role_sets = [set(role.tolist()) for role in self.roles]
        # Signatures: one small integer per distinct ingredient set (0: no ingredient), so
        # that "could these two entries meet in a rule?" is a look-up between two integers.
        self.signature_of: dict[tuple, int] = {(): 0}
        self._signature_ings: list[tuple] = [()]
        self._with_ingredient: dict[int, set[int]] = {}
        self._shares: set[int] = set()
        self._pairs: set[int] = set()
        self._meets_others = [False]
        self._signature_arrays: dict | None = None

    def signature(self, ings: tuple) -> int:
        """The signature of an ingredient set, and what it can meet (computed on first sight).

        Two signatures "share" when they have an ingredient in common (a duplicate) and
        "pair" when a pair rule joins an ingredient of one to an ingredient of the other.
        """
        key = tuple(sorted(ings))
        got = self.signature_of.get(key)
        if got is not None:
            return got
        got = self.signature_of[key] = len(self._signature_ings)
        self._signature_ings.append(key)
        shares: set[int] = set()
        pairs: set[int] = set()
        for x in key:
            shares |= self._with_ingredient.get(x, set())
            for y in self.pair_partners.get(x, ()):
                pairs |= self._with_ingredient.get(y, set())
        for x in key:
            self._with_ingredient.setdefault(x, set()).add(got)
        self._meets_others.append(bool(shares or pairs))
        for other in shares | pairs:
            self._meets_others[other] = True
        self._shares.update(other * KEY + got for other in shares)  # other < got
        self._pairs.update(other * KEY + got for other in pairs)
        self._signature_arrays = None
        return got

    def signature_arrays(self) -> dict:
        """Signature facts as arrays: `meets` (bool per signature), sorted `shares` and `pairs`
        keys (low * KEY + high), and `roles` (bool, signature × combination role)."""
        if self._signature_arrays is None:
            roles = np.zeros((len(self._signature_ings), len(self.role_sets)), dtype=bool)
            for sig, ings in enumerate(self._signature_ings):
                for r, members in enumerate(self.role_sets):
                    roles[sig, r] = any(x in members for x in ings)
            self._signature_arrays = {
                "meets": np.asarray(self._meets_others, dtype=bool),
                "shares": np.asarray(sorted(self._shares), dtype=np.int64),
                "pairs": np.asarray(sorted(self._pairs), dtype=np.int64),
                "roles": roles,
            }
        return self._signature_arrays

    # --- reading distinct strings ------------------------------------------

    def medication(self, text: str) -> tuple:
        """(ingredient ids, problem text, error text, has dose limits, in the universe, signature)
        for one entry (the universe: ingredients some rule other than a duplicate names)."""
        got = self.meds.get(text)
        if got is None:
            try:
                med, problem = screening._medication(self.index, text)
            except InputError as exc:
                got = ((), "", str(exc), False, False, 0)
            else:
                ings = tuple(self.id(x) for x in med.ingredients)
                got = (ings, describe(problem) if problem else "", "",
                       len(ings) == 1 and ings[0] in self.dosed, any(x in self.universe for x in ings),
                       self.signature(ings))
            self.meds[text] = got
        return got

    def named_entry(self, text: str, field: str) -> tuple:
        """(concept id or -1, problem text, error text, allergy triggers) for one condition or allergy."""
        cache = self.named[field]
        got = cache.get(text)
        if got is None:
            problems: list[Unrecognized] = []
            try:
                found = screening._named(self.index, [text], field, problems)
            except InputError as exc:
                got = (-1, "", str(exc), ())
            else:
                concept = found[0][1] if found else None
                triggers: tuple = ()
                if concept is not None and field == "allergy":
                    targets = self.index.ingredients.get(concept) or (concept,)
                    triggers = tuple(sorted({x for t in targets for x in self.allergy_by_target.get(t, ())}))
                got = (self.id(concept) if concept is not None else -1,
                       describe(problems[0]) if problems else "", "", triggers)
            cache[text] = got
        return got

    # --- finding rows ----------------------------------------------------------

    def template(self, finding: Finding) -> int:
        """The row number of `finding` among the finding rows made so far."""
        # By identity: findings come from the library's memo, and hashing a finding's every
        # field (its path, sources…) cost more than the rest of this method.
        got = self.template_of.get(id(finding))
        if got is None:
            codes = dict(finding.codes)
            got = self._add_codes(self._codes_of((
                finding.kind.value, finding.severity.value, finding.title,
                LIST_SEPARATOR.join(finding.concepts), LIST_SEPARATOR.join(finding.inputs),
                finding.summary, finding.advice, codes.get("ncpdp", ""), ITEM_SEPARATOR.join(finding.sources),
                finding.rule_id, finding.evidence,
            )), finding.severity, finding.kind, finding)
            self.template_of[id(finding)] = got
        return got

    def _add_codes(self, codes: list[int], severity: Severity, kind: FindingKind, finding: Finding | None) -> int:
        """A new finding row, given by its dictionary code in each text column.

        Each text column is dictionary-encoded as rows arrive, so a block's findings table
        costs a look-up per finding, not a pass over every row made so far.
        """
        got = len(self._ranks)
        for (_, column), code in zip(self._encoders, codes):
            column.append(code)
        self._ranks.append(severity.rank)
        order = screening.finding_order(severity, kind, "")
        self._place.append(order[0] * 64 + order[1])
        self.findings.append(finding)  # also keeps the object alive, so its id stays unique
        self._columns = None
        return got

    def _age_plan(self, text: str) -> tuple:
        """(reading, [(rule, ingredient, operator, years)]) of the age rules one entry can meet."""
        got = self._age_plans.get(text)
        if got is None:
            med = screening._medication(self.index, text)[0]
            got = self._age_plans[text] = (med, [(self.index.rules[rule_id], x, op, years)
                                                 for x in med.ingredients
                                                 for rule_id, op, years, _ in self.index.ages.get(x, ())])
        return got

    def _age_row(self, med, rule, x: str, title: str, shown: str) -> int:
        """A finding row for one age rule met by one entry, built without the library's Finding
        (the same fields as `screening.age_findings` gives; tested equal to `check`)."""
        key = ("age row", med.input, rule.id, x, title)
        got = self.template_of.get(key)
        if got is None:
            # Only the title and the inputs change from one age row of a rule to the next.
            base = self._age_bases.get((rule.id, x))
            if base is None:
                base = self._age_bases[(rule.id, x)] = self._codes_of((
                    rule.kind.value, rule.severity.value, "", x, "", rule.summary, rule.advice,
                    dict(rule.codes).get("ncpdp", ""), rule.source, rule.id, rule.evidence))
            codes = list(base)
            codes[_TITLE] = self._codes_of((title,), _TITLE)[0]
            codes[_INPUTS] = self._codes_of((LIST_SEPARATOR.join((med.input, shown)),), _INPUTS)[0]
            got = self.template_of[key] = self._add_codes(codes, rule.severity, rule.kind, None)
        return got

    def _codes_of(self, values: tuple, first: int = 0) -> list[int]:
        """Dictionary codes of `values` in the text columns from number `first` on."""
        return [seen.setdefault(value, len(seen)) for (seen, _), value in zip(self._encoders[first:], values)]

    def template_ranks(self) -> np.ndarray:
        """The severity rank of every finding row made so far."""
        return self._cached("rank", lambda: np.asarray(self._ranks, dtype=np.int64))

    def template_codes(self, name: str) -> tuple[np.ndarray, pa.Array]:
        """For one text column of the finding rows: (dictionary code of each row, the distinct texts)."""
        return self._cached(name, lambda: (np.asarray(self._codes[name], dtype=np.int32),
                                           pa.array(list(self._distinct[name]), type=pa.string())))

    def _cached(self, name: str, build):
        """Arrays of the finding rows, rebuilt only after rows were added."""
        if self._columns is None:
            self._columns = {}
        got = self._columns.get(name)
        if got is None:
            got = self._columns[name] = build()
        return got

    def aged_entries(self, meds: tuple[str, ...]) -> tuple[str, ...]:
        """The entries with an ingredient that has age rules."""
        return tuple(t for t in meds if any(x in self.ages for x in self.medication(t)[0]))

    def age_rows(self, aged: tuple[str, ...], age: float) -> np.ndarray:
        """Finding row numbers of the age findings for these entries at this age (cached), in
        `check`'s order; `aged` are the entries an age rule can reach (see `aged_entries`)."""
        key = ("age", aged, age)
        got = self.reports.get(key)
        if got is None:
            if len(aged) == 1:
                # One entry: no merging, so rows are built straight from the rules it meets.
                med, plan = self._age_plan(aged[0])
                fired = []
                for rule, x, op, years in plan:
                    if screening._AGE_TESTS[op](age, years):
                        title_key = (rule.id, x, age)
                        title = self._age_titles.get(title_key)
                        if title is None:
                            text = screening.age_title(self.index, x, age, op, years)
                            title = self._age_titles[title_key] = (
                                screening.finding_order(rule.severity, rule.kind, text), text)
                        fired.append((title, rule, x))
                fired.sort(key=lambda f: f[0])
                shown = screening.shown_age(age)
                rows = [self._age_row(med, rule, x, title[1], shown) for title, rule, x in fired]
            else:
                rows = [self.template(f) for f in screening.age_findings(self.index, aged, age)]
            got = np.asarray(rows, dtype=np.int64)
            if len(self.reports) >= REPORT_CACHE_LIMIT:
                self.reports.clear()
            self.reports[key] = got
        return got

    def row_places(self) -> np.ndarray:
        """For every finding row, (severity, kind) as one number that sorts as `check` does."""
        return np.asarray(self._place, dtype=np.int64)

    def report_rows(self, meds: tuple[str, ...], conditions: tuple[str, ...], allergies: tuple[str, ...],
                    age: float | None) -> np.ndarray:
        """Finding row numbers for one (reduced) patient, from the library walk (cached)."""
        key = (meds, conditions, allergies, age)
        got = self.reports.get(key)
        if got is None:
            report = screening.screen_patient(self.index, meds, conditions, allergies, age)
            got = np.asarray([self.template(f) for f in report.findings], dtype=np.int64)
            if len(self.reports) >= REPORT_CACHE_LIMIT:
                self.reports.clear()
            self.reports[key] = got
        return got


# --- the screen -----------------------------------------------------------------------


@dataclass
class Patients:
    """One block of patients in the engine's terms."""

    patient_id: "pa.Array | pd.Series"
    """Patient ids as given (text: an Arrow array or a pandas Series)."""
    line: np.ndarray
    """Input line of each patient (first line, for items and claims)."""
    age: np.ndarray
    """Age in years, NaN when not given."""
    error: np.ndarray
    """Why the patient is invalid ('' when valid), object array."""
    meds: Lists
    conditions: Lists
    allergies: Lists

    def __len__(self) -> int:
        return len(self.line)


def _years(text: str) -> float:
    """A number of years as `check` reads one (Python's float), NaN when it is not one."""
    if not text or "_" in text:  # float() would take "1_0" as 10
        return np.nan
    try:
        return float(text)
    except ValueError:
        return np.nan


def parse_ages(values, error: np.ndarray) -> np.ndarray:
    """Ages as floats (NaN when blank); a bad age sets the patient's error, as `check` would refuse it.

    `values` is an Arrow array or a pandas Series of text.
    """
    if not len(values):
        return np.zeros(0)
    # Ages repeat: read each distinct text once.
    encoded = pc.dictionary_encode(as_strings(values))
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    texts = [t.strip() for t in encoded.dictionary.to_pylist()]
    read = np.asarray([_years(t) for t in texts], dtype=float)
    numbers = read[codes]
    given = np.asarray([t != "" for t in texts], dtype=bool)[codes]
    bad = given & np.isnan(numbers)
    out_of_range = given & ~np.isnan(numbers) & ((numbers < 0) | (numbers > 130))
    for i in np.flatnonzero((bad | out_of_range) & (error == "")):
        shown = texts[codes[i]]
        error[i] = (f"age '{shown}' is not a number of years" if bad[i]
                    else f"age {shown} is outside 0–130 years")
    numbers[bad | out_of_range] = np.nan
    return numbers


def _entry_arrays(vocab: Vocabulary, lists: Lists, field: str | None):
    """Per distinct text of `lists`: its reading as arrays."""
    if field is None:
        infos = [vocab.medication(t) for t in lists.texts]
    else:
        infos = [vocab.named_entry(t, field) for t in lists.texts]
    return infos


def _first_per_list(lists: Lists, per_text: np.ndarray) -> np.ndarray:
    """For each list, the first non-empty `per_text` value of its entries ('' if none)."""
    out = np.full(lists.n_lists, "", dtype=object)
    # Compare the distinct texts, then index: comparing every occurrence's object was ~10x slower.
    occ = np.flatnonzero((per_text != "")[lists.codes]) if len(lists.codes) else np.zeros(0, dtype=np.int64)
    if len(occ):
        owners = lists.list_ids()[occ]
        first, at = np.unique(owners, return_index=True)
        out[first] = per_text[lists.codes[occ[at]]]
    return out


def _joined_per_list(lists: Lists, per_text: np.ndarray) -> tuple[dict[int, str], np.ndarray]:
    """For the lists with non-empty `per_text` values: {list: the values joined in order}, and how
    many each list has (an array over all lists)."""
    out: dict[int, str] = {}
    count = np.zeros(lists.n_lists, dtype=np.int64)
    occ = np.flatnonzero((per_text != "")[lists.codes]) if len(lists.codes) else np.zeros(0, dtype=np.int64)
    if len(occ):
        # Occurrences are stored list by list, so owners come out in order.
        owners = np.searchsorted(lists.offsets, occ, side="right") - 1
        count = np.bincount(owners, minlength=lists.n_lists)
        for owner, value in zip(owners.tolist(), per_text[lists.codes[occ]].tolist()):
            out[owner] = out[owner] + ITEM_SEPARATOR + value if owner in out else value
    return out, count


def screen_patients(vocab: Vocabulary, pts: Patients, walk=None) -> tuple[pa.Table, pa.Table]:
    """Screen one block of patients: (findings, patients) as Arrow tables (see the module docstring).

    `walk(flagged patient indices, kept entry occurrences)`, when given, replaces the
    default walk and returns `Hits` (with extra columns): the claims engine walks supply
    windows this way.
    """
    n = len(pts)
    error = pts.error.copy()
    meds, conds, alls = pts.meds, pts.conditions, pts.allergies

    med_info = _entry_arrays(vocab, meds, None)
    cond_info = _entry_arrays(vocab, conds, "condition")
    all_info = _entry_arrays(vocab, alls, "allergy")

    def column(infos, i, dtype=object):
        return np.asarray([x[i] for x in infos], dtype=dtype) if infos else np.zeros(0, dtype=dtype)

    # Errors: a medication, condition or allergy entry `check` would refuse makes the patient invalid.
    # (Object arrays are touched only for the few patients concerned: comparing every
    # patient's text cost more than the rest of these steps.)
    valid = error == ""
    for lists, infos in ((meds, med_info), (conds, cond_info), (alls, all_info)):
        per_text = column(infos, 2)
        if not infos or not (per_text != "").any():
            continue
        first = _first_per_list(lists, per_text)
        who = np.flatnonzero(valid & (first != "")[lists.of_patient])
        error[who] = first[lists.of_patient[who]]
        valid[who] = False

    # Unrecognised items, in the order `check` lists them: medications, conditions, allergies.
    unrec: dict[int, str] = {}
    n_unrec = np.zeros(n, dtype=np.int64)
    for lists, infos in ((meds, med_info), (conds, cond_info), (alls, all_info)):
        per_text = column(infos, 1)
        if not infos or not (per_text != "").any():
            continue
        joined, count = _joined_per_list(lists, per_text)
        k = count[lists.of_patient]
        has = np.flatnonzero(k > 0)
        for p, owner in zip(has.tolist(), lists.of_patient[has].tolist()):
            part = joined[owner]
            unrec[p] = unrec[p] + ITEM_SEPARATOR + part if p in unrec else part
        n_unrec += k

    flagged, kept, age_key = _prefilter(vocab, pts, med_info, cond_info, all_info, valid)

    flagged_idx = np.flatnonzero(flagged)
    if walk is not None:
        hits = walk(flagged_idx, kept)
    else:
        hits = _walk(vocab, pts, flagged_idx, kept, age_key)
    findings = _findings_frame(vocab, pts.patient_id, hits)
    patients = _patients_frame(vocab, pts, error, unrec, n_unrec, hits)
    return findings, patients


@dataclass
class Hits:
    """The finding rows of a block: patient index and finding row number, patient by patient."""

    who: np.ndarray
    """Patient index of each finding row (ascending)."""
    rows: np.ndarray
    """Finding row number (see `Vocabulary.template`) of each finding row."""
    extra: dict[str, list] | None = None
    """Extra columns, one value per finding row (claims: overlap_start, overlap_days)."""

    @classmethod
    def none(cls) -> "Hits":
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    @classmethod
    def from_groups(cls, patients: np.ndarray, group: np.ndarray, group_rows: list[np.ndarray]) -> "Hits":
        """Hits for `patients` (ascending) where patient i has the rows of group[i]."""
        counts = np.asarray([len(r) for r in group_rows], dtype=np.int64)
        if not counts.sum():
            return cls.none()
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        flat = np.concatenate(group_rows).astype(np.int64)
        k = counts[group]
        within = np.arange(k.sum(), dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
        return cls(np.repeat(patients, k), flat[np.repeat(offsets[group], k) + within])


def _walk(vocab: Vocabulary, pts: Patients, flagged_idx: np.ndarray, kept: np.ndarray,
          age_key: np.ndarray) -> Hits:
    """The library walk for the flagged patients, once per distinct reduced input.

    Flagged patients with the same reduced medication, condition and allergy lists
    share one walk; the walk itself is cached on the reduced input. Age findings are
    built apart, on the entries an age rule can reach and the age alone: with the age
    in the shared walk's key, every distinct age of a carisoprodol patient was a walk
    of its own. An age finding never merges with or ties another kind of finding on
    (severity, kind), so a stable sort on those puts it where `check` does.
    """
    if not len(flagged_idx):
        return Hits.none()
    meds, conds, alls = pts.meds, pts.conditions, pts.allergies
    # Conditions and allergies no rule names cannot change a finding: leaving them out of
    # the walk's key lets patients who differ only in those share one walk.
    cond_rules = np.asarray([vocab.named_entry(t, "condition")[0] in vocab.condition_concepts
                             for t in conds.texts], dtype=bool)
    allergy_rules = np.asarray([bool(vocab.named_entry(t, "allergy")[3]) for t in alls.texts], dtype=bool)
    parts = [_code_matrix(meds, flagged_idx, kept),
             _code_matrix(conds, flagged_idx, cond_rules[conds.codes] if len(conds.texts) else None),
             _code_matrix(alls, flagged_idx, allergy_rules[alls.codes] if len(alls.texts) else None)]
    keys = np.hstack(parts)
    widths = np.cumsum([0] + [p.shape[1] for p in parts])
    unique, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.reshape(-1)
    group_rows = []
    reduced = []
    for row in unique.tolist():
        red = tuple(meds.texts[c] for c in row[widths[0]:widths[1]] if c >= 0)
        c_texts = tuple(conds.texts[c] for c in row[widths[1]:widths[2]] if c >= 0)
        a_texts = tuple(alls.texts[c] for c in row[widths[2]:widths[3]] if c >= 0)
        reduced.append(red)
        group_rows.append(vocab.report_rows(red, c_texts, a_texts, None))
    hits = Hits.from_groups(flagged_idx, group, group_rows)
    aged = np.flatnonzero(~np.isnan(age_key[flagged_idx]))
    if not len(aged):
        return hits
    # Age rows, once per distinct (entries an age rule can reach, age).
    reach_of: dict[tuple, int] = {}
    reach = np.full(len(unique), -1, dtype=np.int64)
    for g in np.unique(group[aged]).tolist():
        reach[g] = reach_of.setdefault(vocab.aged_entries(reduced[g]), len(reach_of))
    entries = list(reach_of)
    age_values, age_code = np.unique(age_key[flagged_idx[aged]], return_inverse=True)
    combined, which = np.unique(reach[group[aged]] * len(age_values) + age_code.reshape(-1), return_inverse=True)
    age_rows = [vocab.age_rows(entries[c // len(age_values)], float(age_values[c % len(age_values)]))
                for c in combined.tolist()]
    extra = Hits.from_groups(flagged_idx[aged], which.reshape(-1), age_rows)
    if not len(extra.rows):
        return hits
    # Merge each patient's age rows into its rows in `check`'s order: rows from the walk are
    # already in that order, and an age row never ties one of them on (severity, kind).
    who = np.concatenate([hits.who, extra.who])
    rows = np.concatenate([hits.rows, extra.rows])
    order = np.lexsort((vocab.row_places()[rows], who))
    return Hits(who[order], rows[order])


def _code_matrix(lists: Lists, patients: np.ndarray, kept: np.ndarray | None = None) -> np.ndarray:
    """The entry codes of each patient's list (only `kept` occurrences), one row each, padded with -1."""
    lst = lists.of_patient[patients]
    n_occ = lists.offsets[lst + 1] - lists.offsets[lst]
    rows = np.repeat(np.arange(len(patients), dtype=np.int64), n_occ)
    occ = np.repeat(lists.offsets[lst], n_occ) + (np.arange(n_occ.sum(), dtype=np.int64)
                                                  - np.repeat(np.cumsum(n_occ) - n_occ, n_occ))
    if kept is not None:
        sel = kept[occ]
        rows, occ = rows[sel], occ[sel]
    counts = np.bincount(rows, minlength=len(patients))
    pos = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    out = np.full((len(patients), max(int(counts.max()) if len(counts) else 0, 1)), -1, dtype=np.int64)
    out[rows, pos] = lists.codes[occ]
    return out


def _entry_pairs(meds: Lists, occ_list: np.ndarray, occ_sig: np.ndarray, facts: dict, list_flag: np.ndarray,
                 kept: np.ndarray) -> None:
    """Flag lists with two entries that share an ingredient or meet in a pair rule, and keep
    both entries for the walk.
    Lists are short, so each entry is compared with the entry d places after it, for
    d = 1, 2, … while any list is longer than d: a few passes over ever fewer entries,
    instead of sorting or joining every ingredient occurrence.
    """
    n_occ = len(occ_sig)
    if n_occ < 2:
        return
    after = meds.offsets[1:][occ_list] - np.arange(n_occ, dtype=np.int64) - 1  # entries after this one
    at = np.flatnonzero((after >= 1) & (occ_sig > 0))
    meets, shares, pairs = facts["meets"], facts["shares"], facts["pairs"]
    d = 1
    while len(at):
        other = at + d
        a, b = occ_sig[at], occ_sig[other]
        same = a == b
        if same.any():
            list_flag[occ_list[at[same]]] = True
            kept[at[same]] = True
            kept[other[same]] = True
        maybe = np.flatnonzero(~same & meets[a] & meets[b])  # meets[0] is False: b may be 0
        if len(maybe):
            key = np.minimum(a[maybe], b[maybe]) * KEY + np.maximum(a[maybe], b[maybe])
            hit = _contains(shares, key) | _contains(pairs, key)
            list_flag[occ_list[at[maybe[hit]]]] = True
            kept[at[maybe[hit]]] = True
            kept[other[maybe[hit]]] = True
        d += 1
        at = at[after[at] >= d]


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which of `keys` are in `sorted_keys` (a sorted array)."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


def _prefilter(vocab: Vocabulary, pts: Patients, med_info, cond_info, all_info, valid):
    """(flagged patients, kept entry occurrences, age to screen with) — see the module docstring."""
    n = len(pts)
    meds = pts.meds
    flagged = np.zeros(n, dtype=bool)
    kept = np.zeros(len(meds.codes), dtype=bool)
    age_key = np.full(n, np.nan)
    if not med_info or not len(meds.codes):
        return flagged, kept, age_key

    # Per distinct text: its ingredients (CSR), flags and signature.
    n_ings = np.asarray([len(x[0]) for x in med_info], dtype=np.int64)
    ing_off = np.zeros(len(med_info) + 1, dtype=np.int64)
    np.cumsum(n_ings, out=ing_off[1:])
    ing_flat = np.asarray([i for x in med_info for i in x[0]], dtype=np.int64)
    dosed = np.asarray([x[3] for x in med_info], dtype=bool)
    signature = np.asarray([x[5] for x in med_info], dtype=np.int64)
    facts = vocab.signature_arrays()

    occ_list = meds.list_ids()
    occ_sig = signature[meds.codes]
    list_flag = np.zeros(meds.n_lists, dtype=bool)
    # 1. The same ingredient in two entries of one list, and 2. a pair of ingredients with
    # a rule, from different entries: compare each entry with the ones after it in its list.
    _entry_pairs(meds, occ_list, occ_sig, facts, list_flag, kept)
    # 3. Every role of a combination rule filled.
    roles = facts["roles"]
    start = 0
    for combination in vocab.combinations:
        has = np.ones(meds.n_lists, dtype=bool)
        for r in range(start, start + len(combination)):
            filled = np.zeros(meds.n_lists, dtype=bool)
            filled[occ_list[roles[occ_sig, r]]] = True
            has &= filled
        list_flag |= has
        kept |= roles[:, start:start + len(combination)].any(axis=1)[occ_sig] & has[occ_list]
        start += len(combination)
    # 4. An entry with dose limits (single dose, daily total across entries, strength, duration).
    occ_dosed = dosed[meds.codes]
    list_flag[occ_list[occ_dosed]] = True
    kept |= occ_dosed

    flagged = list_flag[meds.of_patient]

    # 5. Age rules that fire.
    has_age = ~np.isnan(pts.age)
    for x, rules in vocab.ages.items():
        text_has = np.asarray([x in info[0] for info in med_info], dtype=bool)
        lists_with = np.zeros(meds.n_lists, dtype=bool)
        lists_with[occ_list[text_has[meds.codes]]] = True
        on = lists_with[meds.of_patient] & has_age
        if not on.any():
            continue
        for _, op, years, _ in rules:
            fire = on & screening._AGE_TESTS[op](pts.age, years)
            flagged |= fire
            age_key[fire] = pts.age[fire]
            lists_fire = np.zeros(meds.n_lists, dtype=bool)
            lists_fire[meds.of_patient[fire]] = True
            kept |= text_has[meds.codes] & lists_fire[occ_list]

    # 6. Conditions and 7. allergies: (patient, ingredient) against (patient, fact).
    def patient_ingredients(patients: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # (patient, ingredient, entry occurrence) for the given patients, through their lists.
        starts = meds.offsets[meds.of_patient[patients]]
        ends = meds.offsets[meds.of_patient[patients] + 1]
        occ_n = ends - starts
        p_occ = np.repeat(patients, occ_n)
        o = np.repeat(starts, occ_n) + (np.arange(occ_n.sum()) - np.repeat(np.cumsum(occ_n) - occ_n, occ_n))
        c = meds.codes[o]
        k = n_ings[c]
        p_ing = np.repeat(p_occ, k)
        w = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
        return p_ing, ing_flat[np.repeat(ing_off[c], k) + w], np.repeat(o, k)

    for lists, infos, field in ((pts.conditions, cond_info, "condition"), (pts.allergies, all_info, "allergy")):
        if not infos or not len(lists.codes):
            continue
        # Only patients with an entry whose ingredients a rule of this kind names can match.
        drugs = vocab.condition_drug_set if field == "condition" else vocab.allergy_drugs
        text_in = np.asarray([any(x in drugs for x in info[0]) for info in med_info], dtype=bool)
        lists_in = np.zeros(meds.n_lists, dtype=bool)
        lists_in[occ_list[text_in[meds.codes]]] = True
        counts = np.diff(lists.offsets)[lists.of_patient]
        who = np.flatnonzero((counts > 0) & valid & lists_in[meds.of_patient])
        if not len(who):
            continue
        p_ing, ings, ing_occ = patient_ingredients(who)
        have = np.unique(p_ing * KEY + ings)
        starts = lists.offsets[lists.of_patient[who]]
        k = counts[who]
        p_fact = np.repeat(who, k)
        o = np.repeat(starts, k) + (np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k))
        fact_codes = lists.codes[o]
        if field == "condition":
            concept = np.asarray([x[0] for x in infos], dtype=np.int64)[fact_codes]
            sel = np.flatnonzero(np.isin(ings, vocab.condition_drugs))
            known = concept >= 0
            lp, (at, lc) = _join_on_patient(p_ing[sel], sel, p_fact[known], concept[known])
            hit = np.isin(ings[at] * KEY + lc, vocab.condition_keys)
            flagged[lp[hit]] = True
            kept[ing_occ[at[hit]]] = True
        else:
            trig_n = np.asarray([len(x[3]) for x in infos], dtype=np.int64)
            trig_off = np.zeros(len(infos) + 1, dtype=np.int64)
            np.cumsum(trig_n, out=trig_off[1:])
            trig_flat = np.asarray([t for x in infos for t in x[3]], dtype=np.int64)
            kk = trig_n[fact_codes]
            if kk.sum():
                p_t = np.repeat(p_fact, kk)
                w = np.arange(kk.sum()) - np.repeat(np.cumsum(kk) - kk, kk)
                t = trig_flat[np.repeat(trig_off[fact_codes], kk) + w]
                hit = np.isin(p_t * KEY + t, have)
                flagged[p_t[hit]] = True
                kept[ing_occ[np.isin(p_ing * KEY + ings, p_t[hit] * KEY + t[hit])]] = True

    flagged &= valid
    return flagged, kept, age_key


def _join_on_patient(p_left: np.ndarray, left: np.ndarray, p_right: np.ndarray,
                     right: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Every (left, right) pair of values of the same patient: (patient, (left values, right values))."""
    if not len(p_left) or not len(p_right):
        empty = np.zeros(0, dtype=np.int64)
        return empty, (empty, empty)
    order = np.argsort(p_right, kind="stable")
    p_sorted, r_sorted = p_right[order], right[order]
    lo = np.searchsorted(p_sorted, p_left, side="left")
    k = np.searchsorted(p_sorted, p_left, side="right") - lo
    at = np.repeat(lo, k) + (np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k))
    return np.repeat(p_left, k), (np.repeat(left, k), r_sorted[at])


def _dictionary(codes: np.ndarray, texts: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), texts)


def _findings_frame(vocab: Vocabulary, patient_id, hits: Hits) -> pa.Table:
    """One row per finding: the patient's id, then the finding's columns (and any extra columns).

    Text that repeats from finding to finding (kind, severity, summary, advice…) is
    dictionary-encoded (a pandas categorical in `screen_frame`): stored once, not once per row.
    """
    data = {"patient_id": as_strings(patient_id).take(pa.array(hits.who, type=pa.int64()))}
    for name in _TEMPLATE_FIELDS:
        codes, texts = vocab.template_codes(name)
        data[name] = _dictionary(codes[hits.rows], texts)
    data["knowledge_version"] = _dictionary(np.zeros(len(hits.rows), dtype=np.int32),
                                            pa.array([vocab.version], type=pa.string()))
    for name, values in (hits.extra or {}).items():
        data[name] = pa.array(values)
    return pa.table(data)


STATUSES = ["findings", "no-findings", "incomplete", "invalid"]


def sparse_text(n: int, filled: np.ndarray, values: Sequence[str]) -> pa.DictionaryArray:
    """n mostly-empty texts as a dictionary array: `values` at the rows `filled`, '' elsewhere."""
    codes = np.zeros(n, dtype=np.int32)
    seen: dict[str, int] = {"": 0}
    if len(filled):
        codes[filled] = [seen.setdefault(v, len(seen)) for v in values]
    return _dictionary(codes, pa.array(list(seen), type=pa.string()))


def _patients_frame(vocab: Vocabulary, pts: Patients, error: np.ndarray, unrec: dict[int, str],
                    n_unrec: np.ndarray, hits: Hits) -> pa.Table:
    n = len(pts)
    rank = vocab.template_ranks()[hits.rows]
    # Count per severity over the findings only, not over every patient's row.
    counts = [np.bincount(hits.who[rank == len(SEVERITIES) - j], minlength=n) for j in range(len(SEVERITIES))]
    total = np.bincount(hits.who, minlength=n)
    # Highest severity: the first column with a count (0 = contraindicated); 4 means none.
    best = np.zeros(n, dtype=np.int64)
    np.maximum.at(best, hits.who, rank)
    top = np.where(total > 0, len(SEVERITIES) - best, len(SEVERITIES))
    invalid = np.flatnonzero(error != "")
    status = np.where(n_unrec > 0, 2, np.where(total > 0, 0, 1))
    status[invalid] = 3
    data = {
        "patient_id": as_strings(pts.patient_id),
        "line": pa.array(pts.line, type=pa.int64()),
        "status": _dictionary(status, pa.array(STATUSES, type=pa.string())),
        "highest_severity": _dictionary(top, pa.array([*SEVERITIES, ""], type=pa.string())),
        "findings": pa.array(total, type=pa.int64()),
    }
    for j, name in enumerate(SEVERITIES):
        data[name] = pa.array(counts[j], type=pa.int64())
    data["unrecognized_count"] = pa.array(n_unrec, type=pa.int64())
    filled = np.fromiter(unrec, dtype=np.int64, count=len(unrec))
    data["unrecognized"] = sparse_text(n, filled, list(unrec.values()))
    data["error"] = sparse_text(n, invalid, error[invalid].tolist())
    return pa.table(data)

