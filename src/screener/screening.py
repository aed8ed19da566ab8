"""The screening kernel: one patient's inputs against the compiled knowledge → a Report.

Inputs are read once per distinct text (`read_entry`, `read_fact`, memoised
on the index, as the batch path does for a population), the age once
(`rules.age.parse_age`). Then every rule family of `screener.rules` is asked,
by its scope: every pair of entries, every entry against each condition and
allergy and against the age, and the list as a whole. Findings with the same
key merge (one caution, naming every input that produced it) and come out in
`finding_order`. Batch, claims, FHIR and the service build on the public
functions here; nothing else walks the rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import InputError
from .knowledge.index import Index
from .memo import memoised
from .model import Finding, Medication, MedicationEntry, Noted, Report, Suppressed, Unrecognized
from .recognize import display_name, listed_entries, qualifier_entries, read_medication, read_named, with_coverage
from .rules import FAMILIES, Family, Scope
from .rules.age import parse_age
from .rules.base import Item, finding_order, merge, quote
from .text import clean_entry

__all__ = [
    "age_findings",
    "contradictions",
    "entries_of",
    "fact_entries",
    "finding_order",
    "memoised",
    "parse_age",
    "read_entry",
    "read_fact",
    "read_facts",
    "screen_patient",
]


def screen_patient(
    index: Index,
    medications: Iterable[str | MedicationEntry],
    conditions: Iterable[str] = (),
    allergies: Iterable[str] = (),
    age: object = None,
) -> Report:
    """Screen one patient's inputs with `index` and return the Report.

    Raises `InputError` (one line) for input that cannot be screened at all:
    lists that are not lists of text, an empty or over-long entry, an impossible age.
    """
    medications = entries_of(medications, "medications")
    conditions = entries_of(conditions, "conditions")
    allergies = entries_of(allergies, "allergies")
    meds: list[Medication] = []
    unrecognized: list[Unrecognized] = []
    for text in medications:
        med, problem = read_entry(index, text)
        meds.append(med)
        if problem is not None:
            unrecognized.append(problem)
    noted: list[Noted] = []
    found_conditions = read_facts(index, conditions, "condition", unrecognized, noted) if conditions else []
    found_allergies = read_facts(index, allergies, "allergy", unrecognized, noted) if allergies else []
    if noted and found_conditions:
        # After every entry, as batch appends them: a contradiction is of the list, not of one entry.
        unrecognized.extend(contradictions(index, found_conditions, noted))
    years = parse_age(age)

    plan = _plan(index)
    # Findings are merged by what they are about, so the same caution reached through
    # two entries (Norco and Vicodin with Xanax) is reported once, naming both inputs.
    findings: dict[tuple, Finding] = {}
    memo = index.memo
    recognised = [med for med in meds if med.ingredients]
    fact_scopes = [(field, facts, families) for field, facts, families in
                   (("condition", found_conditions, plan.conditions), ("allergy", found_allergies, plan.allergies))
                   if facts]
    # The loops below are the hot path of every screen: memo look-ups are inlined on purpose
    # (`memoised` does the same when the result is new).
    for p, med_i in enumerate(recognised):
        first = med_i.input
        for q in range(p + 1, len(recognised)):
            med_j = recognised[q]
            key: tuple = ("pair", first, med_j.input)
            items = memo.get(key)
            if items is None:
                items = memoised(index, key, _pair_items_of, index, plan.pairs, med_i, med_j)
            for item in items:  # merge, with the usual case (a new key) inline: this is the hot path
                if item[0] in findings:
                    merge(findings, (item,))
                else:
                    findings[item[0]] = item[1]
        for field, facts, families in fact_scopes:
            for text, concept in facts:
                key = ("fact", field, first, text)
                items = memo.get(key)
                if items is None:
                    items = memoised(index, key, _fact_items, index, families, med_i, text, concept)
                for item in items:  # merge, with the usual case (a new key) inline: this is the hot path
                    if item[0] in findings:
                        merge(findings, (item,))
                    else:
                        findings[item[0]] = item[1]
        if years is not None:
            age_key = ("age", first, years)
            items = memo.get(age_key)
            if items is None:
                items = memoised(index, age_key, _age_items, index, plan.ages, med_i, years)
            for item in items:  # merge, with the usual case (a new key) inline: this is the hot path
                if item[0] in findings:
                    merge(findings, (item,))
                else:
                    findings[item[0]] = item[1]
    taken = [(i, x) for i, med in enumerate(meds) for x in med.ingredients]
    conditions_found = tuple(found_conditions)
    for family, table in plan.lists:
        items = family.whole(index, table, meds, taken, conditions_found)
        if items:
            merge(findings, items)

    ordered = sorted(findings.values(), key=finding_order)
    counselled = tuple(x for _, x in taken if x in index.counselling)
    counselling = memo.get(("counselling", counselled))
    if counselling is None:
        counselling = memoised(index, ("counselling", counselled), _counselling, index, counselled)
    suppressed = () if index.unsuppressed is None else _suppressed(index, medications, conditions, allergies, years)
    return Report(
        findings=tuple(ordered),
        counselling=counselling,
        unrecognized=tuple(unrecognized),
        medications=tuple(meds),
        conditions=tuple(found_conditions),
        allergies=tuple(found_allergies),
        noted=tuple(noted),
        age=years,
        knowledge_version=index.version,
        scope=memo.get(("scope",)) or memoised(index, ("scope",), scope_line, index),
        layers=index.layer_names,
        suppressed=suppressed,
    )


def scope_line(index: Index) -> str:
    """What the knowledge covers, in one line for the foot of every report."""
    drugs, conditions = index.scope
    if not drugs and not conditions:
        return ""
    kinds = {name: index.kinds.get(_concept_named(index, name)) for name in drugs}
    classes = [d for d in drugs if kinds[d] == "class"]
    named = [d for d in drugs if kinds[d] in ("drug", "substance")]
    def count(n: int, what: str) -> str:
        return f"{n} {what}{'' if n == 1 else 'es' if what.endswith('s') else 's'}"

    return (f"{', '.join(named)} and {count(len(classes), 'drug class')}; {count(len(conditions), 'condition')}; "
            "any other medication is reported as not covered (`screener data info` lists the scope)")


def _concept_named(index: Index, display: str) -> str:
    return next((c for c, name in index.display.items() if name == display), "")


def _suppressed(index: Index, medications, conditions, allergies, years) -> tuple[Suppressed, ...]:
    """The switched-off rules that would have fired: the same screen with them on, compared."""
    assert index.unsuppressed is not None
    off = {rule_id: (layer, reason) for rule_id, layer, reason in index.disabled}
    full = screen_patient(index.unsuppressed, medications, conditions, allergies, years)
    return tuple(Suppressed(f.rule_id, f.kind, f.severity, f.title, f.inputs, *off[f.rule_id])
                 for f in full.findings if f.rule_id in off)


def entries_of(value: object, what: str) -> list[str] | tuple[str, ...]:
    """`value` as a list of entries, refusing what cannot be one (one line, `InputError`).

    A list (or any iterable) of text is accepted; a single string, bytes, a mapping
    or None is refused, and so is any entry that is not text — before anything is
    looked up, so that a wrong type never surfaces as a `TypeError` from deeper down.
    """
    kind = type(value)
    entries: list | tuple
    if kind is list or kind is tuple:  # the usual cases, without the costlier checks below
        entries = value  # type: ignore[assignment]  # the type was just checked
    elif isinstance(value, (str, bytes)):
        raise InputError(f"{what} are lists of entries, not one string: write [{_shown(value)}]")
    elif value is None or isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise InputError(f"{what} must be a list of text entries, not {kind.__name__}")
    else:
        entries = list(value)
    for entry in entries:
        if type(entry) is not str and not isinstance(entry, str) and not (
                what == "medications" and isinstance(entry, MedicationEntry)):
            raise InputError(f"{_SINGULAR[what]} entry {_shown(entry)} is not text")
    return entries


_SINGULAR = {"medications": "medication", "conditions": "condition", "allergies": "allergy"}


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


# --- reading inputs ---------------------------------------------------------


def read_entry(index: Index, raw: str | MedicationEntry) -> tuple[Medication, Unrecognized | None]:
    """Read one medication entry (memoised per entry): what it names, its dosing, any problem.

    `raw` is text as typed, or a `MedicationEntry` whose dosing is given as numbers.
    Raises `InputError` for an entry that cannot be screened at all (see `text.clean_entry`).
    """
    hit = index.memo.get(("medication", raw))
    if hit is None:
        hit = memoised(index, ("medication", raw), _read_covered, index, raw)
    return hit


def _read_covered(index: Index, raw: str | MedicationEntry) -> tuple[Medication, Unrecognized | None]:
    if isinstance(raw, MedicationEntry):
        med, problem = read_medication(index, clean_entry(raw.name, "medication"), raw.dosing,
                                       clean_entry(raw.text, "medication"))
    else:
        med, problem = read_medication(index, clean_entry(raw, "medication"))
    return with_coverage(index, med, problem)


def read_fact(index: Index, raw: str, field: str) -> tuple[str, str] | tuple[()] | Noted | Unrecognized:
    """Read one condition or allergy entry (memoised per text): (text, concept id), () for
    "no known allergies", `Noted` for one recognised that no rule here is about (hypertension,
    a peanut allergy), or an `Unrecognized`. Raises `InputError` as `read_entry` does."""
    hit = index.memo.get((field, raw))
    if hit is None:
        hit = memoised(index, (field, raw), read_named, index, clean_entry(raw, field), field)
    return hit


def fact_entries(index: Index, raw: str, field: str) -> tuple[str, ...]:
    """The entries one condition or allergy entry stands for: itself, or for an allergy cell listing several
    with commas ("PCN, sulfa, latex") that is not recognised as a whole, each of them; for a condition with
    a treatment qualifier that is a condition of its own ("COPD on home O2"), itself and the qualifier
    (`recognize.qualifier_entries`)."""
    if field == "condition":
        if not isinstance(raw, str):
            return (raw,)
        return memoised(index, ("qualified", raw), _qualified, index, raw)
    pieces = listed_entries(raw, field) if isinstance(raw, str) else (raw,)
    if len(pieces) == 1 or not isinstance(read_fact(index, raw, field), Unrecognized):
        return (raw,)
    return pieces


def _qualified(index: Index, raw: str) -> tuple[str, ...]:
    return (raw, *qualifier_entries(index, clean_entry(raw, "condition"))[1:])


def read_facts(index: Index, entries: Iterable[str], field: str, unrecognized: list[Unrecognized],
               noted: list[Noted] | None = None) -> list[tuple[str, str]]:
    """The recognised (text, concept) of condition or allergy entries; the others go to `unrecognized`,
    or to `noted` when they are recognised but no rule here is about them. An allergy entry that lists
    several with commas, and is not one name as a whole, is read as each of them (`fact_entries`)."""
    found = []
    for raw in (piece for entry in entries for piece in fact_entries(index, entry, field)):
        hit = read_fact(index, raw, field)
        if isinstance(hit, Unrecognized):
            unrecognized.append(hit)
        elif isinstance(hit, Noted):
            if noted is not None:
                noted.append(hit)
        elif hit:
            found.append(hit)
    return found


def contradictions(index: Index, conditions: Sequence[tuple[str, str]], noted: Iterable[Noted]) -> list[Unrecognized]:
    """The condition entries recorded as absent that another entry of the same patient says she has
    (["no OSA", "OSA"], ["not pregnant", "pregnant"], ["no sleep apnea", "OSA"]: OSA is a kind of sleep
    apnoea), one note each, naming both: the list contradicts itself, so the screen is incomplete. The
    condition is still screened as present (its findings stay), and the absent reading stays shown;
    neither is dropped, as which one is true is not for the screener to choose.

    `conditions` are the recognised (text, concept) entries and `noted` the recognised ones no rule reads
    (as `read_facts` sorts them); the batch engine calls this per patient with the same readings."""
    out: list[Unrecognized] = []
    seen: set[str] = set()
    for note in noted:
        if note.field != "condition" or not note.absent or note.input in seen:
            continue
        present = [text for text, concept in conditions if note.absent in index.up.get(concept, {concept: ()})]
        if not present:
            continue
        seen.add(note.input)
        said = " and ".join(f"'{text}'" for text in dict.fromkeys(present))
        says = "says" if len(dict.fromkeys(present)) == 1 else "say"
        out.append(Unrecognized(note.input, "condition", f"contradicted by {said}: '{note.input}' records "
                                                         f"{display_name(index, note.absent)} as absent, and {said} "
                                                         f"{says} the patient has it (screened as present, as "
                                                         "written): say which is true"))
    return out


def age_findings(index: Index, entries: Iterable[str], age: float) -> list[Finding]:
    """The age findings `screen_patient` gives for these medication entries at this age, in its order.

    For the batch path, which walks age apart from everything else: an age finding
    never merges with or ties a finding of another family.
    """
    plan = _plan(index)
    findings: dict[tuple, Finding] = {}
    for text in entries:
        med = read_entry(index, text)[0]
        if med.ingredients:
            merge(findings, memoised(index, ("age", med.input, age), _age_items, index, plan.ages, med, age))
    return sorted(findings.values(), key=finding_order)


# --- the families, by scope ---------------------------------------------------------


class _Plan:
    """The families of one index grouped by scope, each with its compiled table."""

    __slots__ = ("ages", "allergies", "conditions", "lists", "pairs")

    def __init__(self, index: Index):
        def of(scope: Scope, field: str = "") -> tuple[tuple[Family, Any], ...]:
            return tuple((family, index.families[family.name]) for family in FAMILIES
                         if family.scope is scope and family.field == field)

        self.pairs = of(Scope.PAIR)
        self.conditions = of(Scope.FACT, "condition")
        self.allergies = of(Scope.FACT, "allergy")
        self.ages = of(Scope.AGE)
        self.lists = of(Scope.LIST)


def _plan(index: Index) -> _Plan:
    plan = index.memo.get(("plan",))
    if plan is None:
        plan = memoised(index, ("plan",), _Plan, index)
    return plan


def _pair_items(index: Index, families, med_i: Medication, med_j: Medication) -> tuple[Item, ...]:
    return tuple(item for family, table in families for item in family.pair(index, table, med_i, med_j))


_FIRST, _SECOND = "\x00first", "\x00second"
"""Stand-in inputs of a pair walked once per (concept, ingredients) of its two entries. No typed entry is
one: `text.clean_entry` refuses control characters."""
_STAND_INS = {_FIRST: 0, _SECOND: 1, quote(_FIRST): 2, quote(_SECOND): 3}


def _pair_items_of(index: Index, families, med_i: Medication, med_j: Medication) -> tuple[Item, ...]:
    """The pair items of two entries: walked once per (concept, ingredients) of the two, with stand-in
    inputs, then given these entries' own inputs. On a varied population nearly every pair of texts is
    new ("Elavil 25 mg tid" with "Abstral 1-2 tabs q4-6h prn") while the pairs of drugs are few.

    This holds because a pair family reads only `input`, `concept` and `ingredients` of the entries, and
    names the inputs only in `inputs` and in the path (`Family.pair`); `tests/test_memo.py`
    checks it against the walk with the entries themselves."""
    key = ("pair-of", med_i.concept, med_i.ingredients, med_j.concept, med_j.ingredients)
    base = index.memo.get(key)
    if base is None:
        base = memoised(index, key, _stand_in_items, index, families,
                        Medication(_FIRST, med_i.concept, med_i.ingredients),
                        Medication(_SECOND, med_j.concept, med_j.ingredients))
    if not base:
        return ()
    inputs = (med_i.input, med_j.input, quote(med_i.input), quote(med_j.input))
    items = []
    for item_key, finding, in_slots, path_slots in base:
        path = list(finding.path)
        for at, which in path_slots:
            path[at] = inputs[which]
        items.append((item_key, finding.renamed(tuple(inputs[which] for which in in_slots), tuple(path))))
    return tuple(items)


def _stand_in_items(index: Index, families, stand_in_i: Medication, stand_in_j: Medication) -> tuple:
    """The pair items of two stand-in entries, each with where its stand-ins are: (key, finding, the stand-in
    of each input, (place in the path, stand-in) for each place a stand-in holds), so that renaming them
    for the entries of a screen touches only those places."""
    return tuple((key, finding, tuple(_STAND_INS[x] for x in finding.inputs),
                  tuple((at, _STAND_INS[x]) for at, x in enumerate(finding.path) if x in _STAND_INS))
                 for key, finding in _pair_items(index, families, stand_in_i, stand_in_j))


def _fact_items(index: Index, families, med: Medication, text: str, concept: str) -> tuple[Item, ...]:
    return tuple(item for family, table in families for item in family.fact(index, table, med, text, concept))


def _age_items(index: Index, families, med: Medication, age: float) -> tuple[Item, ...]:
    return tuple(item for family, table in families for item in family.at_age(index, table, med, age))


def _counselling(index: Index, ingredients: tuple[str, ...]) -> tuple:
    """The counselling points for these ingredients, each once, in order."""
    # Points are shared objects of the index: deduplicate by identity, not by hashing their text.
    return tuple({id(point): point for x in ingredients for point in index.counselling[x]}.values())
