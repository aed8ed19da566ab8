"""The screener's vocabulary and results: severities, finding kinds, findings and the report.

Everything here is a frozen dataclass or a str enum, so results can be shared,
hashed, compared in tests and serialised without surprises. `Report.to_dict()`
is the JSON contract of `screener check --format json` (see the README).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any


class Severity(str, Enum):
    """How serious a finding is, most serious first.

    The scale is the Micromedex/DrugBank one: `contraindicated` (do not combine
    or do not use), `major` (avoid, or use only with close monitoring),
    `moderate` (use with caution), `minor` (be aware).
    """

    CONTRAINDICATED = "contraindicated"
    MAJOR = "major"
    MODERATE = "moderate"
    MINOR = "minor"

    @property
    def rank(self) -> int:
        """4 for contraindicated down to 1 for minor: larger is more serious."""
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        """True when this severity is as serious as `other` or more."""
        return _SEVERITY_RANK[self] >= _SEVERITY_RANK[other]

    def __str__(self) -> str:
        return self.value


class Coverage(str, Enum):
    """Whether the knowledge base screens a recognised medication at all."""

    CLASSIFIED = "classified"
    """Some rule applies to every ingredient, through the ingredient or one of its classes (curated, or
    derived from the FDA's pharmacologic class indexing)."""
    NOT_COVERED = "not-covered"
    """A recognised name that nothing in the knowledge base classifies: its interactions were not checked."""

    def __str__(self) -> str:
        return self.value


_SEVERITY_RANK = {
    Severity.CONTRAINDICATED: 4,
    Severity.MAJOR: 3,
    Severity.MODERATE: 2,
    Severity.MINOR: 1,
}


class FindingKind(str, Enum):
    """What a finding is about."""

    DRUG_DRUG = "drug-drug"
    """Two medications (or a medication and alcohol) taken together."""
    DRUG_CONDITION = "drug-condition"
    """A medication and a condition or state of the patient (pregnancy, cirrhosis…)."""
    DRUG_ALLERGY = "drug-allergy"
    """A medication and a reported allergy, including class cross-sensitivity."""
    DUPLICATE = "duplicate"
    """The same ingredient twice, or two drugs of a class that should not be doubled."""
    DOSE = "dose"
    """A single or daily dose above the limit, or a strength that is not marketed."""
    DURATION = "duration"
    """Use longer than the recommended course."""
    DRUG_AGE = "drug-age"
    """A medication and the patient's age."""
    COMBINATION = "combination"
    """Three or more medications that are dangerous together."""

    def __str__(self) -> str:
        return self.value


class Status(str, Enum):
    """The verdict of one screen."""

    FINDINGS = "findings"
    """At least one caution was found."""
    NO_FINDINGS = "no-findings"
    """Every input was recognised and no caution was found in this knowledge base."""
    INCOMPLETE = "incomplete"
    """Some input was not recognised, or not checked (dosing not read, a drug the knowledge does not
    classify): the screen is incomplete, never clean."""

    def __str__(self) -> str:
        return self.value


RULE_MARK = "⟷"
"""Stands in a finding's path where the rule joins its two sides ("⟷ rule:<id>")."""

NO_FINDINGS_TEXT = "No cautions found in this knowledge base for the recognised inputs."
"""The only wording the screener uses when nothing is found. It never says "safe"."""


def render_path(path: tuple[str, ...] | list[str]) -> str:
    """A finding's path as one line: inputs → concepts ⟷ concepts ← inputs.

    The rule step itself is left out here (the Source line names the rule).
    """
    out = ""
    after_rule = False
    joiner = ""
    for step in path:
        if step.startswith(RULE_MARK):
            joiner, after_rule = f" {RULE_MARK} ", True
        elif step == "+":
            joiner = " + "
        else:
            out += joiner + step
            joiner = " ← " if after_rule else " → "
    return out


@dataclass(frozen=True, slots=True)
class Finding:
    """One caution that applies to the patient.

    Findings come out of `screen()` sorted most serious first; they are never
    mutated (use `dataclasses.replace`).
    """

    kind: FindingKind
    """What the finding is about (drug-drug, drug-condition, …)."""
    severity: Severity
    """How serious it is."""
    concepts: tuple[str, ...]
    """Knowledge-base ids of what it is about, e.g. ("carisoprodol", "alprazolam")."""
    inputs: tuple[str, ...]
    """The patient's inputs that produced it, as typed ("Soma 350 mg qid", "Xanax", "age 70")."""
    title: str
    """A short heading naming the concepts: "carisoprodol + alprazolam"."""
    summary: str
    """The effect, for a professional."""
    advice: str
    """What to do, for a professional."""
    plain: str
    """One short plain-language line for the patient."""
    path: tuple[str, ...]
    """Why it fired: the walk through the graph from the inputs to the rule.
    Input texts are quoted, concept ids are bare, and the rule sits between
    them as "⟷ rule:<id>"."""
    sources: tuple[str, ...]
    """Where the knowledge comes from (label section, FDA communication, …)."""
    rule_id: str
    """The id of the knowledge-base rule that fired."""
    evidence: str
    """The kind of source: label, regulator, secondary or article."""
    codes: tuple[tuple[str, str], ...] = ()
    """Standard codes for the finding: ("ncpdp", "DD"), ("v3", "DRG")."""
    mechanism: str = ""
    """Why it happens, when the rule says."""
    layer: str = "bundled"
    """The knowledge layer the rule came from: "bundled", or a local directory's name."""
    override: str = ""
    """When a local layer changed the rule's severity: what, by which layer, and why."""
    derived: tuple[str, ...] = ()
    """Each class membership on the path that comes from the FDA's class indexing, not from a curated
    row ("fluconazole is_a cyp2c19-inhibitors — FDA MoA 'Cytochrome P450 2C19 Inhibitors'"); its source
    is among `sources`."""

    def renamed(self, inputs: tuple[str, ...], path: tuple[str, ...]) -> Finding:
        """The same finding produced by other inputs, reached by `path`: as `dataclasses.replace`, in
        half its time (the walk renames every pair finding it reuses for other entry texts)."""
        values = list(_FINDING_FIELDS(self))
        values[3], values[8] = inputs, path
        return Finding(*values)

    def path_text(self) -> str:
        """The path as one line (`render_path`), with each class membership derived from the FDA's indexing said
        after it: `… ⟷ cyp2c19-inhibitors ← fluconazole ← "fluconazole" (fluconazole is_a cyp2c19-inhibitors — …)`."""
        text = render_path(self.path)
        return f"{text} ({'; '.join(self.derived)})" if self.derived else text

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data (the `findings[]` items of the report contract)."""
        return {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "concepts": list(self.concepts),
            "inputs": list(self.inputs),
            "title": self.title,
            "summary": self.summary,
            "mechanism": self.mechanism,
            "advice": self.advice,
            "plain": self.plain,
            "path": list(self.path),
            "sources": list(self.sources),
            "evidence": self.evidence,
            "rule": self.rule_id,
            "layer": self.layer,
            **({"override": self.override} if self.override else {}),
            **({"derived": list(self.derived)} if self.derived else {}),
            "codes": dict(self.codes),
        }


_FINDING_NAMES = tuple(f.name for f in fields(Finding))
_FINDING_FIELDS = operator.attrgetter(*_FINDING_NAMES)
assert _FINDING_NAMES[3] == "inputs" and _FINDING_NAMES[8] == "path", "Finding.renamed sets them by position"


@dataclass(frozen=True, slots=True)
class Counselling:
    """A point to tell the patient about one of their medications."""

    concept: str
    """The drug or class the point is about."""
    topic: str
    """A short tag: driving, abuse, dependence, schedule, alcohol, …"""
    text: str
    """The point itself."""
    source: str
    """Where it comes from."""

    def to_dict(self) -> dict[str, Any]:
        """The point as JSON-ready data."""
        return {"concept": self.concept, "topic": self.topic, "text": self.text, "source": self.source}


@dataclass(frozen=True, slots=True)
class Unrecognized:
    """An input the screener could not (fully) read. Its presence makes the screen incomplete."""

    input: str
    """The input as typed."""
    field: str
    """Which list it came from: medication, condition or allergy."""
    reason: str
    """Why it was not recognised, in one line."""
    suggestions: tuple[str, ...] = ()
    """Names in the knowledge base it may have meant, best first."""

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data."""
        return {
            "input": self.input,
            "field": self.field,
            "reason": self.reason,
            "suggestions": list(self.suggestions),
        }


@dataclass(frozen=True, slots=True)
class Noted:
    """A condition or allergy recognised, that no rule of this knowledge base is about, or a condition
    recorded as absent.

    Hypertension (ICD-10-CM I10) or a peanut allergy is known for what it is; it meets no
    rule here. "no OSA" records obstructive sleep apnoea as absent: rules here are about it, and it
    is not screened (`absent`). Either is shown in the report, and never makes the screen incomplete.
    """

    input: str
    """The input as typed."""
    field: str
    """condition or allergy."""
    recognised_as: str
    """What it was recognised as: "ICD-10-CM I10 Essential (primary) hypertension", "a food allergen"."""
    code: str = ""
    """The code it was read as ("icd10:I10"), when it is a code or a common name of one."""
    absent: str = ""
    """For a condition of this knowledge base recorded as absent ("no OSA"): its id. Rules here are about
    it, so it is never described as having none; "" for anything else."""

    @property
    def text(self) -> str:
        """How reports show it: "ICD-10-CM I10 Essential (primary) hypertension: recognised, no rules here"."""
        if self.absent:
            return f"{self.recognised_as}: recognised, rules here are about it"
        return f"{self.recognised_as}: recognised, no rules here"

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data."""
        if self.absent:
            return {"input": self.input, "field": self.field, "recognised_as": self.recognised_as,
                    **({"code": self.code} if self.code else {}), "absent": self.absent,
                    "rules": "not screened: recorded as absent"}
        return {"input": self.input, "field": self.field, "recognised_as": self.recognised_as,
                **({"code": self.code} if self.code else {}), "rules": "none in this knowledge base"}


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A rule a local knowledge layer switched off that would have fired for these inputs.

    Listed in every report, so that a local policy is never invisible: the finding
    is not among the cautions, but the report says what was not shown and why.
    """

    rule_id: str
    """The rule that was switched off."""
    kind: FindingKind
    """The kind of finding it would have made."""
    severity: Severity
    """The severity it would have had."""
    title: str
    """The title of the finding it would have made: "carisoprodol + alprazolam"."""
    inputs: tuple[str, ...]
    """The inputs that would have produced it."""
    layer: str
    """The layer that switched it off."""
    reason: str
    """The reason the layer gives (with its source)."""

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data (the `suppressed[]` items)."""
        return {"rule": self.rule_id, "kind": self.kind.value, "severity": self.severity.value, "title": self.title,
                "inputs": list(self.inputs), "layer": self.layer, "reason": self.reason}


ROUTES = frozenset({"oral", "sublingual", "buccal", "rectal", "topical", "intravenous", "intramuscular",
                    "subcutaneous", "inhaled", "transdermal", "nasal", "ophthalmic", "otic", "vaginal", "injection",
                    "intrathecal", "epidural"})
"""Every route the sig reader writes in `Dosing.route` (`recognize.sig` maps "SL", "under the tongue" … to
these): what a rule exception (rule_exceptions.csv) may name."""

PARENTERAL_ROUTES = frozenset({"injection", "intravenous", "intramuscular", "subcutaneous"})
"""What "injection" (`inj`) may be: a text that says only that agrees with any of them."""


def widen_routes(routes: frozenset[str] | set[str]) -> frozenset[str]:
    """`routes` with "injection" standing for every parenteral route, and any one of those for "injection", so
    that a text's "inj" agrees with an NDC product's "intravenous; intramuscular"."""
    return frozenset(routes) | PARENTERAL_ROUTES if routes & PARENTERAL_ROUTES else frozenset(routes)


@dataclass(frozen=True, slots=True)
class Dosing:
    """What the dosing text of one entry says (None or empty where it says nothing)."""

    strengths: tuple[float, ...] = ()
    """Amount per unit in mg, per ingredient in the order written (per mL when `per_ml`)."""
    per_ml: bool = False
    """The strengths are concentrations (mg per mL)."""
    units_per_dose: float | None = None
    """Units (tablets, capsules, mL, puffs…) in one dose; the upper bound of a range."""
    unit: str = ""
    """What one unit is: tablet, capsule, mL, puff, drop, spray, patch… ('' when not said)."""
    dose_mg: float | None = None
    """An amount stated as the whole dose ("150 mg total"), when the text says so."""
    doses_per_day: float | None = None
    """The most doses in a day."""
    daily_mg: float | None = None
    """An amount per day the text states ("1,400 mg/day", "maximum daily dose 2 mg")."""
    daily_units: float | None = None
    """Units per day the text states ("max 8 tabs/day"), or a supply gives (see `supplied`)."""
    supplied: bool = False
    """`daily_units` are what a supply gives a day (a claim's quantity over its days supply), not a most the
    text allows: for a patch, that is how many are worn together (`rules.dose.PATCH_DAYS`)."""
    duration_days: float | None = None
    """How long, in days."""
    quantity: float | None = None
    """Units dispensed ("#120", "qty 30")."""
    refills: int | None = None
    """Refills allowed ("RF0", "refills: 2")."""
    daw: bool = False
    """Dispense as written (no substitution)."""
    prn: bool = False
    """As needed."""
    form: str = ""
    """The dosage form or release the text names (extended-release, cream…)."""
    route: str = ""
    """The route the text names (oral, sublingual, topical…); for an NDC entry whose text names none, its
    product's routes joined by " or "."""
    routes: tuple[str, ...] = ()
    """Every route the text names, in the order written: more than one is a contradiction (also in `unread`),
    and then `route` is only the last of them."""
    indication: str = ""
    """What it is for, as written ("muscle spasm")."""
    site: str = ""
    """Where it goes, as written ("to the affected area", "in each eye")."""
    unread: str = ""
    """What could not be read, or must not be computed from (empty: everything was read)."""
    bare: tuple[float, ...] = ()
    """Per-ingredient numbers written without a unit (`Norco 10/325`): mg only if they are a marketed
    strength of the product (`resolve`)."""
    bare_joiner: str = "/"
    """How `bare` was written: "/" (`Norco 10/325`) or "-" (`Norco 10-325`); only for what the reading says."""
    lead: float | None = None
    """A number without a unit straight after the name (`Soma 350`, `Soma 1 qid`): mg if it is a marketed
    strength of the product, else a count of units when it stands where a count does (`resolve`)."""
    lead_is_count: bool = False
    """Whether `lead` stands where a count of units does (before a route or a frequency)."""
    dash_pair: tuple[float, float] | None = None
    """`N-M mg`: a range for one ingredient or the strengths of two (`resolve`)."""
    rate_mcg_per_hr: float | None = None
    """A transdermal patch's delivery rate, per patch, in mcg per hour ("fentanyl 25 mcg/hr patch"): read only
    where the text names a patch or the transdermal route (elsewhere "/hr" is an infusion rate, unread)."""
    assumed: str = ""
    """What was assumed while resolving, said in every report ("350 read as 350 mg: a marketed strength")."""
    leftover: str = ""
    """The words of the text that no rule read, as normalised (part of `unread`)."""

    @property
    def read(self) -> bool:
        """True when every part of the text was read."""
        return not self.unread



@dataclass(frozen=True, slots=True)
class MedicationEntry:
    """A medication entry whose dosing was read elsewhere, as numbers (a FHIR Dosage, a claim).

    `screen()` accepts it wherever it accepts a text entry: `name` is recognised as
    typed text would be (any dosing words in it, such as a strength, are read too),
    and `dosing` is used as it is, never turned back into text and read again.
    """

    text: str
    """How the entry is shown in reports and findings ("Soma 350 MG Oral Tablet: 1 tablet 4 times a day")."""
    name: str
    """What names the medication ("Soma 350 MG Oral Tablet", "rxnorm:197446")."""
    dosing: Dosing
    """The dosing, as numbers."""


@dataclass(frozen=True, slots=True)
class Medication:
    """One medication entry as the screener read it."""

    input: str
    """The entry as typed ("Soma 350 mg qid x 30 days")."""
    concept: str | None
    """The concept the name resolved to (a drug, product or substance id); None if unrecognised."""
    ingredients: tuple[str, ...] = ()
    """The ingredient ids it is screened as (a product gives all of its ingredients)."""
    dosing: Dosing = Dosing()
    """What its dosing text says, as read (`recognize.sig`)."""
    per_unit_mg: tuple[float, ...] = ()
    """mg of each ingredient (in `ingredients` order) in one unit (tablet, capsule, mL…), when known."""
    per_unit_from: str = ""
    """Where `per_unit_mg` comes from: "text" (written in the entry), "product" (the product's only
    marketed strength in this knowledge base) or "ndc" (the product an NDC names, in the FDA NDC Directory).
    Only a strength written in the text is also one dose when no count of units is given."""
    via: str = ""
    """How the name was recognised: "knowledge base", "FDA vocabulary", "rxnorm code", "near match (…)"."""
    assumed: str = ""
    """For a near miss: the name the screener assumed was meant (shown in every report)."""
    note: str = ""
    """What a report must say about where the entry came from ("marketing ended 2019-09-29" for an NDC)."""
    not_covered: tuple[str, ...] = ()
    """Its ingredients that no rule of the knowledge applies to: their interactions were not checked."""
    product_routes: tuple[str, ...] = ()
    """The routes of the NDC product the entry names, as the FDA lists them, lower case ("intravenous",
    "intramuscular"); empty for an entry that is not an NDC."""

    @property
    def coverage(self) -> Coverage:
        """Classified when a rule of the knowledge applies to every ingredient, else not covered."""
        return Coverage.NOT_COVERED if self.not_covered else Coverage.CLASSIFIED

    @property
    def strength_mg(self) -> float | None:
        """The strength per unit in mg of a single-ingredient entry, when the text gives it."""
        return self.per_unit_mg[0] if len(self.per_unit_mg) == 1 and self.per_unit_from == "text" else None

    @property
    def units_per_dose(self) -> float | None:
        """Units per dose, when the text gives it (see `Dosing.units_per_dose`)."""
        return self.dosing.units_per_dose

    @property
    def doses_per_day(self) -> float | None:
        """Doses a day, when the text gives it (see `Dosing.doses_per_day`)."""
        return self.dosing.doses_per_day

    @property
    def duration_days(self) -> float | None:
        """Duration in days, when the text gives it."""
        return self.dosing.duration_days

    @property
    def quantity(self) -> float | None:
        """Units dispensed, when the text gives it."""
        return self.dosing.quantity

    @property
    def unparsed(self) -> str:
        """What of the dosing text could not be read ('' when all of it was)."""
        return self.dosing.unread

    def per_dose_mg(self, i: int = 0) -> float | None:
        """mg of ingredient number `i` in one dose, when the entry says it exactly; None otherwise.

        A total stated as the dose counts for a single-ingredient entry; else strength ×
        units per dose. An amount written in the entry with no count of units is one dose
        ("Soma 350 mg qid"); a strength known only from the product needs the count
        ("Soma Compound 1 tab qid"): nothing is assumed.
        """
        dosing = self.dosing
        if dosing.unread:
            return None
        if dosing.dose_mg is not None:
            return dosing.dose_mg if len(self.ingredients) == 1 else None
        if i >= len(self.per_unit_mg):
            return None
        if dosing.units_per_dose is not None:
            return self.per_unit_mg[i] * dosing.units_per_dose
        return self.per_unit_mg[i] if self.per_unit_from == "text" and not dosing.per_ml else None

    def per_day_mg(self, i: int = 0) -> float | None:
        """mg of ingredient number `i` a day, when the entry says it exactly; None otherwise.

        A daily amount the text states caps what the dose and frequency give (the most
        the text allows); for a combination product a daily amount in mg cannot be
        given to one ingredient.
        """
        dosing = self.dosing
        if dosing.unread:
            return None
        per_dose = self.per_dose_mg(i)
        computed = per_dose * dosing.doses_per_day if per_dose is not None and dosing.doses_per_day else None
        stated = None
        if dosing.daily_mg is not None and len(self.ingredients) == 1:
            stated = dosing.daily_mg
        elif dosing.daily_units is not None and i < len(self.per_unit_mg):
            stated = dosing.daily_units * self.per_unit_mg[i]
        if computed is None:
            return stated
        return computed if stated is None else min(computed, stated)

    def reading(self) -> str:
        """What was read of the entry, in words, as the text report shows it: the amount of each ingredient
        per dose and per day when the entry says them exactly, otherwise the count of units, then how often,
        how long, and any unit assumed ("350 mg/dose; 4×/day; 1,400 mg/day"; a combination names each
        ingredient: "hydrocodone 10 mg + acetaminophen 325 mg/dose")."""
        d = self.dosing
        if d.unread:
            return "; ".join(filter(None, (f"dose not checked: {d.unread}", self.note)))
        parts: list[str] = []
        per_dose = [self.per_dose_mg(i) for i in range(len(self.ingredients))]
        if any(v is not None for v in per_dose):
            parts.append(self._amounts(per_dose) + "/dose")
        elif d.units_per_dose is not None:
            unit = d.unit or "unit"
            if d.units_per_dose > 1 and unit.isalpha() and unit.islower() and not unit.endswith("s"):
                unit += "s"  # tablets, capsules; never "mLs"
            parts.append(f"{format_amount(d.units_per_dose)} {unit}/dose")
        if d.rate_mcg_per_hr is not None:
            parts.append(f"{format_amount(d.rate_mcg_per_hr)} mcg/hr per patch")
        if d.doses_per_day:
            parts.append(f"{format_amount(d.doses_per_day)}×/day")
        per_day = [self.per_day_mg(i) for i in range(len(self.ingredients))]
        if any(v is not None for v in per_day):
            parts.append(self._amounts(per_day) + "/day")
        if d.prn:
            parts.append("as needed")
        if d.duration_days is not None:
            parts.append(f"{format_amount(d.duration_days)} days")
        if d.assumed:
            parts.append(d.assumed)
        if self.via.startswith("NDC "):
            parts.append(self.via)
        if self.note:
            parts.append(self.note)
        if d.units_per_dose is not None and not self.per_unit_mg and d.dose_mg is None:
            parts.append("mg not known: the strength is not given")
        return "; ".join(parts)

    def _amounts(self, values: list[float | None]) -> str:
        if len(self.ingredients) == 1:
            return f"{format_amount(values[0])} mg" if values[0] is not None else ""
        return " + ".join(f"{x} {format_amount(v)} mg" for x, v in zip(self.ingredients, values) if v is not None)

    @property
    def dose_mg(self) -> float | None:
        """The single dose in mg of a single-ingredient entry, when the entry says it exactly."""
        return self.per_dose_mg(0) if len(self.ingredients) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data (the `screened.medications[]` items)."""
        out: dict[str, Any] = {"input": self.input, "concept": self.concept, "concepts": list(self.ingredients)}
        if self.via:
            out["via"] = self.via
        if self.assumed:
            out["assumed"] = self.assumed
        if self.note:
            out["note"] = self.note
        if self.concept is not None:
            out["coverage"] = self.coverage.value
        if self.not_covered:
            out["not_covered"] = list(self.not_covered)
        d = self.dosing
        daily = self.per_day_mg(0) if len(self.ingredients) == 1 else None
        for key, value in (("strength_mg", self.strength_mg), ("units_per_dose", d.units_per_dose),
                           ("doses_per_day", d.doses_per_day), ("duration_days", d.duration_days),
                           ("quantity", d.quantity), ("dose_mg", self.dose_mg), ("daily_mg", daily),
                           ("rate_mcg_per_hr", d.rate_mcg_per_hr)):
            if value is not None:
                out[key] = _number(value)
        if len(self.ingredients) > 1 and self.per_unit_mg:
            out["amounts"] = [
                {"concept": x, "per_unit_mg": _number(self.per_unit_mg[i]),
                 **({"per_dose_mg": _number(v)} if (v := self.per_dose_mg(i)) is not None else {}),
                 **({"per_day_mg": _number(v)} if (v := self.per_day_mg(i)) is not None else {})}
                for i, x in enumerate(self.ingredients) if i < len(self.per_unit_mg)]
        if self.per_unit_mg and self.per_unit_from in ("product", "ndc"):
            out["strength_from"] = self.per_unit_from
        out.update({key: value for key, value in (("unit", d.unit), ("form", d.form), ("route", d.route),
                                                  ("site", d.site), ("indication", d.indication)) if value})
        if d.prn:
            out["prn"] = True
        if d.refills is not None:
            out["refills"] = d.refills
        if d.daw:
            out["daw"] = True
        if d.assumed:
            out["unit_assumed"] = d.assumed
        if d.unread:
            out["unparsed"] = d.unread
        return out


@dataclass(frozen=True, slots=True)
class Report:
    """Everything one screen found, and what it screened.

    `status` is `incomplete` whenever anything was unrecognised, whatever else
    was found: a screen with unrecognised inputs is never clean.
    """

    findings: tuple[Finding, ...]
    """The cautions, most serious first."""
    counselling: tuple[Counselling, ...]
    """Points to tell the patient about the recognised medications."""
    unrecognized: tuple[Unrecognized, ...]
    """Inputs that were not (fully) recognised."""
    medications: tuple[Medication, ...]
    """The medication entries as read."""
    conditions: tuple[tuple[str, str], ...] = ()
    """(input, condition id) for each recognised condition."""
    allergies: tuple[tuple[str, str], ...] = ()
    """(input, concept id) for each recognised allergy."""
    noted: tuple[Noted, ...] = ()
    """Conditions and allergies recognised that no rule here is about, and conditions recorded as absent
    (`Noted.absent`); neither is a reason for incomplete."""
    age: float | None = None
    """The patient's age in years, when given."""
    knowledge_version: str = ""
    """Project version plus a content hash of the knowledge that produced the report."""
    layers: tuple[str, ...] = ()
    """The local knowledge layers applied over the base knowledge, in order (empty: none)."""
    suppressed: tuple[Suppressed, ...] = ()
    """Rules a local layer switched off that would have fired for these inputs."""
    scope: str = ""
    """What the knowledge covers, in one line (`screener data info` lists it in full)."""
    hidden: int = 0
    """Findings left out of `findings` by a display threshold (`showing`); they still count."""
    hidden_below: Severity | None = None
    """The threshold they were below."""

    @property
    def status(self) -> Status:
        """incomplete if anything was unrecognised, else findings or no-findings (hidden findings count)."""
        if self.unrecognized:
            return Status.INCOMPLETE
        return Status.FINDINGS if self.findings or self.hidden else Status.NO_FINDINGS

    def showing(self, min_severity: Severity) -> Report:
        """The same report showing only findings at or above `min_severity`.

        A display choice: the status and the message still count every finding, and
        the report says how many are not shown ("2 findings below major not shown").
        """
        shown = tuple(f for f in self.findings if f.severity.at_least(min_severity))
        if len(shown) == len(self.findings):
            return self
        from dataclasses import replace

        return replace(self, findings=shown, hidden=self.hidden + len(self.findings) - len(shown),
                       hidden_below=min_severity)

    @property
    def hidden_text(self) -> str:
        """"2 findings below major not shown", or '' when none are hidden."""
        if not self.hidden or self.hidden_below is None:
            return ""
        return f"{self.hidden} finding{'s' if self.hidden != 1 else ''} below {self.hidden_below.value} not shown"

    @property
    def highest_severity(self) -> Severity | None:
        """The most serious severity among the shown findings, or None."""
        return self.findings[0].severity if self.findings else None

    @property
    def message(self) -> str:
        """One line saying what the screen found; never "safe"."""
        total = len(self.findings) + self.hidden
        parts = [f"{total} caution{'s' if total != 1 else ''} found" if total else NO_FINDINGS_TEXT.rstrip(".")]
        if self.unrecognized:
            n = len(self.unrecognized)
            parts.append(f"{n} input{'s' if n != 1 else ''} not recognised or not checked: the screen is incomplete")
        if self.suppressed:
            n = len(self.suppressed)
            parts.append(f"{n} rule{'s' if n != 1 else ''} switched off by a local layer would have applied")
        return "; ".join(parts) + "."

    def _repr_html_(self) -> str:
        """The report as cards in Jupyter: one per finding, coloured by severity, every text HTML-escaped
        (see `screener.formats.html_card`, which imports nothing of the screener's, so this is no import cycle)."""
        from .formats.html_card import render_report

        return render_report(self)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: the contract of `--format json`."""
        return {
            "status": self.status.value,
            "message": self.message,
            "knowledge_version": self.knowledge_version,
            **({"scope": self.scope} if self.scope else {}),
            "layers": list(self.layers),
            **({"hidden": {"count": self.hidden, "below": self.hidden_below.value}}
               if self.hidden and self.hidden_below is not None else {}),
            "findings": [f.to_dict() for f in self.findings],
            "suppressed": [s.to_dict() for s in self.suppressed],
            "counselling": [c.to_dict() for c in self.counselling],
            "unrecognized": [u.to_dict() for u in self.unrecognized],
            "screened": {
                "medications": [m.to_dict() for m in self.medications],
                "conditions": [{"input": text, "concept": cid} for text, cid in self.conditions],
                "allergies": [{"input": text, "concept": cid} for text, cid in self.allergies],
                "noted": [n.to_dict() for n in self.noted],
                "age": _number(self.age) if self.age is not None else None,
            },
        }


def format_amount(value: float) -> str:
    """A number as reports show it: thousands separated, never rounded to fewer than six decimals
    (`1,400`, `2.5`, `0.125`), so a report states exactly the amount it read or added up."""
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def _number(value: float) -> float | int:
    """Show whole numbers as ints in JSON (350, not 350.0)."""
    return int(value) if float(value).is_integer() else value
