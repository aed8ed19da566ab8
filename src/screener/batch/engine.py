"""The vectorised screen: many patients at once, with the library's own walk for the few that need it.

How a block of patients is screened:

1. Every *distinct* medication, condition and allergy string is read once with the
   same functions `screener check` uses (`screening.read_entry`, `screening.read_fact`),
   and the reading is kept as small integers (ingredient ids, flags, and a
   *signature*: one integer per distinct ingredient set) for numpy.
2. Each patient's entries are a list of those codes (split and dictionary-encoded
   with Arrow, so the work per occurrence is a hash, not a Python call).
3. A vectorised prefilter marks the patients who could have any finding. It is
   derived from the rule families' own triggers (`screener.rules`): each family
   declares, in one of a few shapes, which inputs could fire it — two entries
   whose ingredients pair or are shared, every role of a combination filled, an
   entry that could fire alone (dose, duration), an age test passed, an
   ingredient joined to one of the patient's facts — and the prefilter evaluates
   each shape over the whole block. It may mark too many, never too few. It also
   keeps, per patient, the entries that take part in one of those: the others can
   change no finding.
4. Only marked patients are screened by `screening.screen_patient` — the exact
   walk of `screener check` — and even then once per distinct *reduced* input
   (the kept entries and the conditions and allergies some rule joins to one of
   them). Age findings are taken apart, from `screening.age_findings`, once per
   distinct (entry, age). Findings become rows of a dictionary-encoded table once
   per distinct finding and are reused.
5. Everyone else is `no-findings`, or `incomplete` with their unrecognised items,
   computed with array operations.

The result is two Arrow tables: findings (one row per finding) and patients (one
row per input patient, whatever happened to it); `screen_frame` hands them to
notebooks as pandas DataFrames. This module does not import pandas: on the
one-row-per-patient path that import cost more than screening a million rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..knowledge.index import Index
from ..model import Finding, MedicationEntry, Noted, Severity, Unrecognized
from ..rules import FAMILIES
from ..rules.age import TESTS as AGE_TESTS
from ..rules.age import parse_age
from ..rules.base import order_key
from ..rules.triggers import TRIGGER_TYPES, EntryTrigger, FactTrigger, PairTrigger, RoleTrigger, trigger_ingredients
from ..screening import age_findings, contradictions, fact_entries, read_entry, read_fact, screen_patient

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

KEY = np.int64(1 << 32)
"""Multiplier that packs two ids into one int64 key (ids stay below 2**31)."""

SEVERITIES = [s.value for s in Severity]  # most serious first

FINDING_COLUMNS = ["patient_id", "kind", "severity", "title", "concepts", "inputs", "summary", "advice",
                   "ncpdp", "source", "rule", "evidence", "layer", "knowledge_version"]
"""Columns of the findings output, in order (claims add `overlap_start` and `overlap_days`)."""

PATIENT_COLUMNS = ["patient_id", "line", "status", "highest_severity", "findings",
                   *SEVERITIES, "unrecognized_count", "unrecognized", "error", "suppressed"]
"""Columns of the patients output, in order (`suppressed`: rules a local layer switched off that would
have fired for the patient, with the layer and its reason)."""

_TEMPLATE_FIELDS = ["kind", "severity", "title", "concepts", "inputs", "summary", "advice", "ncpdp", "source",
                    "rule", "evidence", "layer"]

LIST_SEPARATOR = "; "
"""Joins concepts and inputs inside one cell of the findings output."""
ITEM_SEPARATOR = " | "
"""Joins unrecognised items (whose reasons may contain ';') in the patients output."""
REPORT_CACHE_LIMIT = 100_000
ROW_LIMIT = 100_000
"""Most finding rows a Codebook keeps from block to block (`Codebook.new_block`): on a population whose
every patient is different, rows accumulated without bound (1.6 GB at 100,000 such patients)."""
READING_LIMIT = 200_000
"""Most distinct medication, condition and allergy readings a Codebook keeps from block to block."""


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
    def empty(cls, n: int) -> Lists:
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
    """Split cells like "Soma 350 mg qid; Xanax" into lists (a line break separates entries too);
    empty pieces are dropped, pieces trimmed.

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
    """(offsets of each cell's pieces, the pieces) of cells split at `sep`, or at a line break.

    A line break inside a cell (Alt+Enter in Excel: one medication per line) separates
    entries as `sep` does.
    """
    if pc.any(pc.match_substring(cells, "\n")).as_py():
        cells = pc.replace_substring_regex(cells, "\r?\n", sep)
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


class Codebook:
    """The knowledge index seen as integers, and each distinct string read once.

    Concepts get small integer ids; what could fire each rule family comes from
    the families' own triggers (`screener.rules`), turned into id sets and arrays
    the prefilter evaluates over a whole block. One Codebook is made per knowledge
    index and kept for the whole run (and by `screen_frame` across calls):
    readings and finding rows accumulate in it.
    """

    def __init__(self, index: Index):
        self.index = index
        self.version = index.version
        self.ids: dict[str, int] = {}
        self.meds: dict[str, tuple] = {}
        self.named: dict[str, dict[str, tuple]] = {}
        self.reports: dict[tuple, np.ndarray] = {}
        self.renamed: dict[tuple[int, tuple[str, ...]], Finding] = {}
        """A finding row naming other inputs (claims name a supply by its drug text), one object per (row,
        inputs) so that it is one finding row for every patient it is found for."""
        self.template_of: dict[object, int] = {}
        """Row number by finding identity."""
        self.findings: list[Finding] = []
        """The Finding of each finding row."""
        self._columns: dict | None = None
        self._distinct: dict[str, dict[str, int]] = {name: {} for name in _TEMPLATE_FIELDS}
        """Each text column's distinct texts, with their dictionary codes."""
        self._rule_row_of: dict[tuple, int] = {}
        self._rule_codes: dict[str, list[int]] = {name: [] for name in _TEMPLATE_FIELDS if name != "inputs"}
        self._rule_ranks: list[int] = []
        self._rule_places: list[int] = []
        self._row_rule: list[int] = []
        self._row_inputs: list[int] = []
        self._build()
        self.disabled = {rule_id: (layer, reason) for rule_id, layer, reason in index.disabled}
        """Rule id → (layer, reason) for the rules a local layer switched off."""
        self.shadow = Codebook(index.unsuppressed) if index.unsuppressed is not None else None
        """The codebook of the same knowledge with those rules on, when there are any (see `_suppressed`)."""
        self.layers = index.layer_names
        self.generation = 0
        """How many times `new_block` has forgotten the finding rows: caches of row numbers kept outside
        the Codebook (the claims' walks) are valid for one generation only."""

    def new_block(self) -> None:
        """Start a block: forget the finding rows and walks (and, past READING_LIMIT, the readings) made
        for earlier blocks once there are ROW_LIMIT of them, so that memory stays bounded whatever the
        population. Row numbers are only ever used within one block, and every cache that keeps them
        (`reports`, `renamed`, the claims' walk caches) is dropped with them (`generation` tells)."""
        if self.shadow is not None:
            self.shadow.new_block()
        if len(self._row_rule) < ROW_LIMIT and len(self.meds) < READING_LIMIT:
            return
        self.generation += 1
        self.template_of.clear()
        self.findings.clear()
        self._rule_row_of.clear()
        columns: list[list[int] | dict[str, int]] = [self._rule_ranks, self._rule_places, self._row_rule,
                                                     self._row_inputs, *self._rule_codes.values(),
                                                     *self._distinct.values()]
        for column in columns:
            column.clear()
        self._columns = None
        self.reports.clear()
        self.renamed.clear()
        if len(self.meds) >= READING_LIMIT:
            self.meds.clear()
            self.named.clear()

    def id(self, concept: str) -> int:
        """A small integer for a concept id (assigned on first sight)."""
        got = self.ids.get(concept)
        if got is None:
            got = self.ids[concept] = len(self.ids)
        return got

    def _build(self) -> None:
        """Turn every family's trigger into the id sets the prefilter uses."""
        ix = self.index
        triggers = [family.trigger(ix, ix.families[family.name]) for family in FAMILIES]
        unknown = [t for t in triggers if not isinstance(t, TRIGGER_TYPES)]
        if unknown:  # a new trigger shape must be taught to the prefilter first
            raise TypeError(f"the batch prefilter cannot evaluate {type(unknown[0]).__name__}")
        self.triggers = triggers
        # Pairs: ingredient partners (either way round), and which shared ingredients count.
        self.pair_partners: dict[int, set[int]] = {}
        self.same_any = False
        self.same: set[int] = set()
        # Combinations: for each rule, the ingredient ids each role covers, and the condition ids its
        # condition operand covers (empty: it names none).
        self.role_rules: list[list[set[int]]] = []
        self.role_conditions: list[set[int]] = []
        # Entries that could fire on their own (dose, duration): predicates on ingredient ids.
        self.entry_rules: list = []
        # Facts: per field, (ingredient, target) keys and how a fact's concept expands to targets.
        self.fact_rules: dict[str, list] = {}
        # Ages: ingredient id → ((operator, years), …).
        self.ages: dict[int, tuple[tuple[str, float], ...]] = {}
        for trigger in triggers:
            if isinstance(trigger, PairTrigger):
                for x, y in trigger.partners:
                    a, b = self.id(x), self.id(y)
                    self.pair_partners.setdefault(a, set()).add(b)
                    self.pair_partners.setdefault(b, set()).add(a)
                if trigger.same is None:
                    self.same_any = True
                else:
                    self.same.update(self.id(x) for x in trigger.same)
            elif isinstance(trigger, RoleTrigger):
                conditions = trigger.conditions or (frozenset(),) * len(trigger.rules)
                for roles, condition_role in zip(trigger.rules, conditions):
                    self.role_rules.append([{self.id(x) for x in role} for role in roles])
                    self.role_conditions.append({self.id(c) for c in condition_role})
            elif isinstance(trigger, EntryTrigger):
                self.entry_rules.append(trigger.fires)
            elif isinstance(trigger, FactTrigger):
                by_target: dict[str, set[int]] = {}
                for x, target in trigger.keys:
                    by_target.setdefault(target, set()).add(self.id(x))
                self.fact_rules.setdefault(trigger.field, []).append((trigger.expand, by_target))
            else:  # AgeTrigger
                for x, tests in trigger.tests.items():
                    self.ages[self.id(x)] = self.ages.get(self.id(x), ()) + tests
        self.universe = {self.id(x) for t in triggers for x in trigger_ingredients(t)}
        """Ingredients some rule names: an entry with none of them can take part in no finding
        but a shared-ingredient duplicate."""
        self.roles = [role for roles in self.role_rules for role in roles]
        self.combination_conditions = {c for role in self.role_conditions for c in role}
        """Conditions some combination rule names: kept in the walk like conditions a fact rule names."""
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
            if self.same_any or x in self.same:
                shares |= self._with_ingredient.get(x, set())
            for y in self.pair_partners.get(x, ()):
                pairs |= self._with_ingredient.get(y, set())
        for x in key:
            self._with_ingredient.setdefault(x, set()).add(got)
        self._meets_others.append(bool(shares or pairs))
        for other in shares | pairs:
            self._meets_others[other] = True
        self._shares.update(int(other * KEY + got) for other in shares)  # other < got
        self._pairs.update(int(other * KEY + got) for other in pairs)
        self._signature_arrays = None
        return got

    def signature_arrays(self) -> dict:
        """Signature facts as arrays: `meets` (bool per signature), sorted `shares` and `pairs`
        keys (low * KEY + high), and `roles` (bool, signature × combination role)."""
        if self._signature_arrays is None:
            roles = np.zeros((len(self._signature_ings), len(self.roles)), dtype=bool)
            for sig, ings in enumerate(self._signature_ings):
                for r, members in enumerate(self.roles):
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
        """(ingredient ids, problem text, error text, could fire alone, in the universe, signature)
        for one entry: `could fire alone` when an entry trigger (dose, duration) holds for it."""
        got = self.meds.get(text)
        if got is None:
            try:
                med, problem = read_entry(self.index, text)
            except InputError as exc:
                got = ((), "", str(exc), False, False, 0)
            else:
                ings = tuple(self.id(x) for x in med.ingredients)
                alone = any(fires(med.ingredients) for fires in self.entry_rules)
                got = (ings, describe(problem) if problem else "", "", alone, any(x in self.universe for x in ings),
                       self.signature(ings))
            self.meds[text] = got
        return got

    def named_entry(self, text: str, field: str) -> tuple:
        """(concept id or -1, problem text, error text, triggers) for one condition or allergy entry:
        `triggers` are the ingredient ids a rule of that field joins to this fact."""
        cache = self.named.setdefault(field, {})
        got = cache.get(text)
        if got is None:
            try:
                hit = read_fact(self.index, text, field)
            except InputError as exc:
                got = (-1, "", str(exc), ())
            else:
                if isinstance(hit, Unrecognized):
                    got = (-1, describe(hit), "", ())
                elif not hit or isinstance(hit, Noted):  # none recorded, or recognised with no rule here
                    got = (-1, "", "", ())
                else:
                    concept = hit[1]
                    triggers = {x for expand, by_target in self.fact_rules.get(field, ())
                                for t in expand(self.index, concept) for x in by_target.get(t, ())}
                    got = (self.id(concept), "", "", tuple(sorted(triggers)))
            cache[text] = got
        return got

    # --- finding rows ----------------------------------------------------------

    def template(self, finding: Finding) -> int:
        """The row number of `finding` among the finding rows made so far.

        A row is the rule's part (every column but `inputs`: the same for every pair of entries that
        meets in that rule, one "rule row" each) and its inputs; each column is dictionary-encoded as rows
        arrive, so a block's findings table costs a look-up per finding, not a pass over every row made.
        """
        # By identity: findings come from the library's memo, and hashing a finding's every
        # field (its path, sources…) cost more than the rest of this method.
        got = self.template_of.get(id(finding))
        if got is None:
            # The rule's part by its fields as they are (shared strings, whose hashes are kept), before
            # any is joined: on a varied population nearly every finding names inputs never seen together.
            key = (finding.kind, finding.severity, finding.title, finding.concepts, finding.summary,
                   finding.advice, finding.codes, finding.sources, finding.rule_id, finding.evidence, finding.layer)
            rule_row = self._rule_row_of.get(key)
            if rule_row is None:
                rule_row = self._add_rule_row(finding)
                self._rule_row_of[key] = rule_row
            inputs = LIST_SEPARATOR.join(finding.inputs)
            seen = self._distinct["inputs"]
            code = seen.get(inputs)
            if code is None:
                code = seen[inputs] = len(seen)
            got = len(self._row_rule)
            self._row_rule.append(rule_row)
            self._row_inputs.append(code)
            self.findings.append(finding)  # also keeps the object alive, so its id stays unique
            self._columns = None
            self.template_of[id(finding)] = got
        return got

    def _add_rule_row(self, finding: Finding) -> int:
        """A new rule row: the finding's codes in every column but `inputs`, its rank and its place."""
        codes = dict(finding.codes)
        values = {"kind": finding.kind.value, "severity": finding.severity.value, "title": finding.title,
                  "concepts": LIST_SEPARATOR.join(finding.concepts), "summary": finding.summary,
                  "advice": finding.advice, "ncpdp": codes.get("ncpdp", ""),
                  "source": ITEM_SEPARATOR.join(finding.sources), "rule": finding.rule_id,
                  "evidence": finding.evidence, "layer": finding.layer}
        for name, value in values.items():
            seen = self._distinct[name]
            self._rule_codes[name].append(seen.setdefault(value, len(seen)))
        self._rule_ranks.append(finding.severity.rank)
        order = order_key(finding.severity, finding.kind, "")
        self._rule_places.append(order[0] * 64 + order[1])
        return len(self._rule_ranks) - 1

    def _rule_of_rows(self) -> np.ndarray:
        """The rule row of every finding row made so far."""
        return self._cached("rule-row", lambda: np.asarray(self._row_rule, dtype=np.int64))

    def template_ranks(self) -> np.ndarray:
        """The severity rank of every finding row made so far."""
        return self._cached("rank", lambda: np.asarray(self._rule_ranks, dtype=np.int64)[self._rule_of_rows()])

    def template_codes(self, name: str) -> tuple[np.ndarray, pa.Array]:
        """For one text column of the finding rows: (dictionary code of each row, the distinct texts)."""
        def build():
            if name == "inputs":
                codes = np.asarray(self._row_inputs, dtype=np.int32)
            else:
                codes = np.asarray(self._rule_codes[name], dtype=np.int32)[self._rule_of_rows()]
            return codes, pa.array(list(self._distinct[name]), type=pa.string())
        return self._cached(name, build)

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
            got = np.asarray([self.template(f) for f in age_findings(self.index, aged, age)], dtype=np.int64)
            if len(self.reports) >= REPORT_CACHE_LIMIT:
                self.reports.clear()
            self.reports[key] = got
        return got

    def row_places(self) -> np.ndarray:
        """For every finding row, (severity, kind) as one number that sorts as `check` does."""
        return self._cached("place", lambda: np.asarray(self._rule_places, dtype=np.int64)[self._rule_of_rows()])

    def report_rows(self, meds: tuple[str | MedicationEntry, ...], conditions: tuple[str, ...],
                    allergies: tuple[str, ...], age: float | None) -> np.ndarray:
        """Finding row numbers for one (reduced) patient, from the library walk (cached)."""
        key = (meds, conditions, allergies, age)
        got = self.reports.get(key)
        if got is None:
            report = screen_patient(self.index, meds, conditions, allergies, age)
            got = np.asarray([self.template(f) for f in report.findings], dtype=np.int64)
            if len(self.reports) >= REPORT_CACHE_LIMIT:
                self.reports.clear()
            self.reports[key] = got
        return got


# --- the screen -----------------------------------------------------------------------


@dataclass
class Patients:
    """One block of patients in the engine's terms."""

    patient_id: pa.Array | pd.Series
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
    source: np.ndarray | None = None
    """Which input file each patient comes from (its first row's), counted from 0; None for one input."""

    def __len__(self) -> int:
        return len(self.line)


def parse_ages(values, error: np.ndarray) -> np.ndarray:
    """Ages as floats (NaN when blank); a bad age sets the patient's error, as `check` would refuse it.

    `values` is an Arrow array or a pandas Series of text; each distinct text is read once,
    with the library's own reader (`rules.age.parse_age`).
    """
    if not len(values):
        return np.zeros(0)
    encoded = pc.dictionary_encode(as_strings(values))
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    read = np.full(len(encoded.dictionary), np.nan)
    problems: dict[int, str] = {}
    for k, text in enumerate(encoded.dictionary.to_pylist()):
        try:
            years = parse_age(text)
        except InputError as exc:
            problems[k] = str(exc)
        else:
            if years is not None:
                read[k] = years
    numbers = read[codes]
    if problems:
        bad = np.isin(codes, np.fromiter(problems, dtype=np.int64, count=len(problems)))
        for i in np.flatnonzero(bad & (error == "")):
            error[i] = problems[int(codes[i])]
    return numbers


def _readings(vocab: Codebook, lists: Lists, field: str | None) -> list[tuple]:
    """The reading of each distinct text of `lists` (`Codebook.medication` or `named_entry`)."""
    if field is None:
        return [vocab.medication(t) for t in lists.texts]
    return [vocab.named_entry(t, field) for t in lists.texts]


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


def _joined_per_patient(n: int, fields: list[tuple[Lists, np.ndarray]]) -> tuple[pa.Array, np.ndarray]:
    """Each of `n` patients' non-empty per-text values (`fields`: (lists, value per distinct text),
    in order) joined with ITEM_SEPARATOR — field by field, entries in order; null for a patient with
    none — and how many each patient has.

    Joined by Arrow (one list array and `binary_join`): a Python step per patient cost a tenth of a
    million-patient run whose patients were mostly incomplete.
    """
    count = np.zeros(n, dtype=np.int64)
    owners, values, texts = [], [], []
    base = 0
    for lists, per_text in fields:
        occ = np.flatnonzero((per_text != "")[lists.codes]) if len(lists.codes) else np.zeros(0, dtype=np.int64)
        if len(occ):
            # Occurrences are stored list by list, so each list's come out together, in order.
            per_list = np.bincount(np.searchsorted(lists.offsets, occ, side="right") - 1, minlength=lists.n_lists)
            first = np.cumsum(per_list) - per_list
            k = per_list[lists.of_patient]
            who = np.repeat(np.arange(n, dtype=np.int64), k)
            within = np.arange(int(k.sum()), dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
            owners.append(who)
            values.append(base + lists.codes[occ[first[lists.of_patient[who]] + within]])
            count += k
        texts.extend(per_text.tolist())
        base += len(per_text)
    if not owners:
        return pa.nulls(n, type=pa.string()), count
    who, value = np.concatenate(owners), np.concatenate(values)
    order = np.argsort(who, kind="stable")  # by patient; fields and entries stay in order
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(count, out=offsets[1:])
    items = pa.array(texts, type=pa.string()).take(pa.array(value[order], type=pa.int64()))
    nested = pa.LargeListArray.from_arrays(pa.array(offsets, type=pa.int64()), items,
                                           mask=pa.array(count == 0, type=pa.bool_()))
    return pc.binary_join(nested, ITEM_SEPARATOR), count


def screen_patients(vocab: Codebook, pts: Patients, walk=None, shadow_walk=None) -> tuple[pa.Table, pa.Table]:
    """Screen one block of patients: (findings, patients) as Arrow tables (see the module docstring).

    `walk(flagged patient indices, kept entry occurrences)`, when given, replaces the
    default walk and returns `Hits` (with extra columns): the claims engine walks supply
    windows this way; `shadow_walk` is the same walk over `vocab.shadow` (see `suppressed`).
    """
    vocab.new_block()
    n = len(pts)
    pts = _with_listed_entries(vocab, _with_listed_entries(vocab, pts, "allergy"), "condition")
    error = pts.error.copy()
    meds, conds, alls = pts.meds, pts.conditions, pts.allergies
    # A patient with no medication has nothing to screen: invalid with the reason, as `check` refuses it,
    # never a clean-looking "no-findings".
    if n:
        none = (np.diff(meds.offsets)[meds.of_patient] == 0) & (error == "")
        error[none] = "no medication given: nothing to screen"

    med_info = _readings(vocab, meds, None)
    cond_info = _readings(vocab, conds, "condition")
    all_info = _readings(vocab, alls, "allergy")

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
    unrec, n_unrec = _joined_per_patient(n, [(lists, column(infos, 1)) for lists, infos in
                                             ((meds, med_info), (conds, cond_info), (alls, all_info)) if infos])
    unrec, n_unrec = _with_contradictions(vocab, conds, unrec, n_unrec)

    hits = _hits(vocab, pts, valid, med_info, cond_info, all_info, walk)
    suppressed: dict[int, str] = {}
    if vocab.shadow is not None:
        suppressed = _suppressed(vocab, pts, valid, shadow_walk)
    findings = _findings_frame(vocab, pts.patient_id, hits)
    patients = _patients_frame(vocab, pts, error, unrec, n_unrec, hits, suppressed)
    if pts.source is not None:
        findings = findings.append_column("input_file", pa.array(pts.source[hits.who], type=pa.int32()))
        patients = patients.append_column("input_file", pa.array(pts.source, type=pa.int32()))
    return findings, patients


def _with_contradictions(vocab: Codebook, conds: Lists, unrec: pa.Array,
                         n_unrec: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """`unrec` and `n_unrec` with, after each patient's items as `check` lists them, the notes of
    `screening.contradictions`: a condition recorded as absent that another of the patient's entries says
    she has (["no OSA", "OSA"]). Each distinct text is read alone elsewhere in the engine; a contradiction
    is of a whole list, so it is computed here per list, for the lists holding both kinds of entry."""
    if not conds.texts or not len(conds.codes):
        return unrec, n_unrec
    readings: list[tuple[str, str] | tuple[()] | Noted | Unrecognized | None] = []
    for text in conds.texts:
        try:
            readings.append(read_fact(vocab.index, text, "condition"))
        except InputError:  # the patient is invalid (`named_entry`)
            readings.append(None)
    absent = np.asarray([isinstance(r, Noted) and bool(r.absent) for r in readings], dtype=bool)
    if not absent.any():
        return unrec, n_unrec
    present = np.asarray([isinstance(r, tuple) and len(r) == 2 for r in readings], dtype=bool)
    owner = conds.list_ids()
    both = np.zeros(conds.n_lists, dtype=bool)
    both[owner[absent[conds.codes]]] = True
    has_present = np.zeros(conds.n_lists, dtype=bool)
    has_present[owner[present[conds.codes]]] = True
    notes: dict[int, list[str]] = {}
    for lid in np.flatnonzero(both & has_present).tolist():
        entries = [readings[c] for c in conds.codes[conds.offsets[lid]:conds.offsets[lid + 1]]]
        found = [r for r in entries if isinstance(r, tuple) and len(r) == 2]
        problems = contradictions(vocab.index, found, [r for r in entries if isinstance(r, Noted)])
        if problems:
            notes[lid] = [describe(u) for u in problems]
    if not notes:
        return unrec, n_unrec
    # Only the patients with a note are touched: a Python pass over every patient of the block cost more.
    who = np.flatnonzero(np.isin(conds.of_patient, list(notes)))
    count = n_unrec.copy()
    joined = []
    for p, before in zip(who.tolist(), unrec.take(pa.array(who, type=pa.int64())).to_pylist()):
        extra = notes[int(conds.of_patient[p])]
        joined.append(ITEM_SEPARATOR.join(([before] if before else []) + extra))
        count[p] += len(extra)
    mask = np.zeros(len(unrec), dtype=bool)
    mask[who] = True
    return pc.replace_with_mask(unrec, pa.array(mask), pa.array(joined, type=pa.string())), count


def _with_listed_entries(vocab: Codebook, pts: Patients, field: str) -> Patients:
    """`pts` with each `field` entry that stands for several replaced by its entries, as `check` reads them
    (`screening.fact_entries`): an allergy cell that lists several with commas ("PCN, sulfa, latex"), a
    condition with a qualifier that is a condition of its own ("COPD on home O2"); `pts` itself when none does."""
    lists = pts.allergies if field == "allergy" else pts.conditions

    def entries(text: str) -> tuple[str, ...]:
        try:
            return fact_entries(vocab.index, text, field)
        except InputError:  # `named_entry` reports it, as `check` refuses it
            return (text,)

    pieces = [entries(t) for t in lists.texts]
    if all(len(p) == 1 for p in pieces):
        return pts
    seen: dict[str, int] = {}
    per_text = [[seen.setdefault(p, len(seen)) for p in ps] for ps in pieces]
    counts = np.asarray([len(x) for x in per_text], dtype=np.int64)
    flat = np.asarray([c for x in per_text for c in x], dtype=np.int64)
    starts = np.cumsum(counts) - counts
    occ_n = counts[lists.codes]
    total = int(occ_n.sum())
    # Each occurrence's pieces, in order: its text's start in `flat`, plus 0, 1, … within the occurrence.
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(occ_n) - occ_n, occ_n)
    codes = flat[np.repeat(starts[lists.codes], occ_n) + within]
    per_list = np.bincount(lists.list_ids(), weights=occ_n, minlength=lists.n_lists).astype(np.int64)
    offsets = np.zeros(lists.n_lists + 1, dtype=np.int64)
    np.cumsum(per_list, out=offsets[1:])
    listed = Lists(lists.of_patient, offsets, codes, list(seen))
    return replace(pts, allergies=listed) if field == "allergy" else replace(pts, conditions=listed)


def _hits(vocab: Codebook, pts: Patients, valid: np.ndarray, med_info, cond_info, all_info, walk) -> Hits:
    """The finding rows of the valid patients: the prefilter, then the walk of the flagged ones."""
    flagged, kept, age_key = _prefilter(vocab, pts, med_info, cond_info, all_info, valid)
    flagged_idx = np.flatnonzero(flagged)
    if walk is not None:
        return walk(flagged_idx, kept)
    return _walk(vocab, pts, flagged_idx, kept, age_key)


def _suppressed(vocab: Codebook, pts: Patients, valid: np.ndarray, shadow_walk) -> dict[int, str]:
    """{patient index: the switched-off rules that would have fired, as text} — the same screen
    over the knowledge with those rules on (`Codebook.shadow`), keeping only their rows."""
    shadow = vocab.shadow
    assert shadow is not None
    hits = _hits(shadow, pts, valid, _readings(shadow, pts.meds, None),
                 _readings(shadow, pts.conditions, "condition"), _readings(shadow, pts.allergies, "allergy"),
                 shadow_walk)
    out: dict[int, str] = {}
    for who, row in zip(hits.who.tolist(), hits.rows.tolist()):
        finding = shadow.findings[row]
        off = vocab.disabled.get(finding.rule_id)
        if off is None:
            continue
        text = f"{finding.severity.value} {finding.title} (rule {finding.rule_id}; off by layer '{off[0]}': {off[1]})"
        out[who] = out[who] + ITEM_SEPARATOR + text if who in out else text
    return out


@dataclass
class Hits:
    """The finding rows of a block: patient index and finding row number, patient by patient."""

    who: np.ndarray
    """Patient index of each finding row (ascending)."""
    rows: np.ndarray
    """Finding row number (see `Codebook.template`) of each finding row."""
    extra: dict[str, list] | None = None
    """Extra columns, one value per finding row (claims: overlap_start, overlap_days)."""

    @classmethod
    def none(cls) -> Hits:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    @classmethod
    def from_groups(cls, patients: np.ndarray, group: np.ndarray, group_rows: list[np.ndarray]) -> Hits:
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


def _walk(vocab: Codebook, pts: Patients, flagged_idx: np.ndarray, kept: np.ndarray,
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
    cond_rules = np.asarray([bool(got[3]) or got[0] in vocab.combination_conditions
                             for got in (vocab.named_entry(t, "condition") for t in conds.texts)], dtype=bool)
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


def _prefilter(vocab: Codebook, pts: Patients, med_info, cond_info, all_info, valid):
    """(flagged patients, kept entry occurrences, age to screen with) — see the module docstring.

    One pass per shape of trigger the rule families declare (`rules.base.TRIGGER_TYPES`):
    pairs of entries, combination roles, entries alone, ages, and patient facts.
    """
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
    alone = np.asarray([x[3] for x in med_info], dtype=bool)
    signature = np.asarray([x[5] for x in med_info], dtype=np.int64)
    facts = vocab.signature_arrays()

    occ_list = meds.list_ids()
    occ_sig = signature[meds.codes]
    list_flag = np.zeros(meds.n_lists, dtype=bool)
    # PairTrigger: the same ingredient in two entries of one list, or a pair of ingredients
    # with a rule, from different entries: compare each entry with the ones after it.
    _entry_pairs(meds, occ_list, occ_sig, facts, list_flag, kept)
    # RoleTrigger: every role of a combination rule filled (and, for a rule that names a condition,
    # one of its conditions among the patient's: a patient, not a shared medication list, has that).
    roles = facts["roles"]
    start = 0
    by_condition = np.zeros(n, dtype=bool)
    for rule_roles, condition_ids in zip(vocab.role_rules, vocab.role_conditions):
        has = np.ones(meds.n_lists, dtype=bool)
        for r in range(start, start + len(rule_roles)):
            filled = np.zeros(meds.n_lists, dtype=bool)
            filled[occ_list[roles[occ_sig, r]]] = True
            has &= filled
        fills = roles[:, start:start + len(rule_roles)].any(axis=1)[occ_sig]
        start += len(rule_roles)
        if not condition_ids:
            list_flag |= has
            kept |= fills & has[occ_list]
            continue
        conds = pts.conditions
        fire = has[meds.of_patient] & _patients_with(conds, cond_info, condition_ids, n)
        by_condition |= fire
        lists_fire = np.zeros(meds.n_lists, dtype=bool)
        lists_fire[meds.of_patient[fire]] = True
        kept |= fills & lists_fire[occ_list]
    # EntryTrigger: an entry that could fire on its own (and everything it adds up with).
    occ_alone = alone[meds.codes]
    list_flag[occ_list[occ_alone]] = True
    kept |= occ_alone

    flagged = list_flag[meds.of_patient] | by_condition

    # AgeTrigger: an age test that the patient's age passes, for an ingredient of an entry.
    has_age = ~np.isnan(pts.age)
    for x, tests in vocab.ages.items():
        text_has = np.asarray([x in info[0] for info in med_info], dtype=bool)
        lists_with = np.zeros(meds.n_lists, dtype=bool)
        lists_with[occ_list[text_has[meds.codes]]] = True
        on = lists_with[meds.of_patient] & has_age
        if not on.any():
            continue
        for op, years in tests:
            fire = on & AGE_TESTS[op](pts.age, years)  # type: ignore[arg-type]  # the tests take arrays too
            flagged |= fire
            age_key[fire] = pts.age[fire]
            lists_fire = np.zeros(meds.n_lists, dtype=bool)
            lists_fire[meds.of_patient[fire]] = True
            kept |= text_has[meds.codes] & lists_fire[occ_list]

    # FactTrigger: an ingredient of an entry that a rule joins to one of the patient's facts.
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
        within = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
        return p_ing, ing_flat[np.repeat(ing_off[c], k) + within], np.repeat(o, k)

    for lists, infos in ((pts.conditions, cond_info), (pts.allergies, all_info)):
        if not infos or not len(lists.codes):
            continue
        triggered = np.asarray([len(x[3]) for x in infos], dtype=np.int64)
        if not triggered.any():
            continue
        # Only patients with an entry whose ingredients some fact triggers can match.
        drugs = {x for info in infos for x in info[3]}
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
        trig_off = np.zeros(len(infos) + 1, dtype=np.int64)
        np.cumsum(triggered, out=trig_off[1:])
        trig_flat = np.asarray([t for x in infos for t in x[3]], dtype=np.int64)
        per_fact = triggered[fact_codes]
        if per_fact.sum():
            p_t = np.repeat(p_fact, per_fact)
            within = np.arange(per_fact.sum()) - np.repeat(np.cumsum(per_fact) - per_fact, per_fact)
            t = trig_flat[np.repeat(trig_off[fact_codes], per_fact) + within]
            hit = np.isin(p_t * KEY + t, have)
            flagged[p_t[hit]] = True
            kept[ing_occ[np.isin(p_ing * KEY + ings, p_t[hit] * KEY + t[hit])]] = True

    flagged &= valid
    return flagged, kept, age_key


def _patients_with(lists: Lists, infos, concept_ids: set[int], n: int) -> np.ndarray:
    """For each of `n` patients, whether one of its `lists` entries (conditions) reads as one of `concept_ids`."""
    out = np.zeros(n, dtype=bool)
    if not infos or not len(lists.codes):
        return out
    text_in = np.asarray([info[0] in concept_ids for info in infos], dtype=bool)
    lists_in = np.zeros(lists.n_lists, dtype=bool)
    lists_in[lists.list_ids()[text_in[lists.codes]]] = True
    return lists_in[lists.of_patient]


def _dictionary(codes: np.ndarray, texts: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), texts)


def _findings_frame(vocab: Codebook, patient_id, hits: Hits) -> pa.Table:
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


SAMPLE_TEXTS = 2_000
"""How many of a column's texts `_encoded_text` looks at to tell whether they repeat."""


def _encoded_text(texts: pa.Array) -> pa.Array:
    """Texts (null: ''): as a dictionary array when they repeat, hashing only the non-null ones; as they are when
    most of a sample of them differ. The same few unclassified drugs of a claims file repeat from member to
    member, but a varied population's lists are each the patient's own: encoding them hashed every byte only
    for the writer to decode them again, a tenth of a million-patient run whose patients were all incomplete."""
    filled = texts.is_valid()
    if texts.null_count * 2 < len(texts):
        sample = texts.slice(0, SAMPLE_TEXTS)
        if pc.count_distinct(sample).as_py() * 2 > len(sample):
            return pc.fill_null(texts, "")
    codes = np.zeros(len(texts), dtype=np.int32)
    encoded = pc.dictionary_encode(texts.filter(filled))
    codes[np.flatnonzero(filled.to_numpy(zero_copy_only=False))] = encoded.indices.to_numpy(zero_copy_only=False) + 1
    return _dictionary(codes, pa.concat_arrays([pa.array([""], type=pa.string()), encoded.dictionary]))


def _patients_frame(vocab: Codebook, pts: Patients, error: np.ndarray, unrec: pa.Array,
                    n_unrec: np.ndarray, hits: Hits, suppressed: dict[int, str]) -> pa.Table:
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
    data["unrecognized"] = _encoded_text(unrec)
    data["error"] = sparse_text(n, invalid, error[invalid].tolist())
    filled = np.fromiter(suppressed, dtype=np.int64, count=len(suppressed))
    data["suppressed"] = sparse_text(n, filled, list(suppressed.values()))
    return pa.table(data)

