"""The screener's vocabulary and results: severities, finding kinds, findings and the report.

Everything here is a frozen dataclass or a str enum, so results can be shared,
hashed, compared in tests and serialised without surprises. `Report.to_dict()`
is the JSON contract of `screener check --format json` (see the README).
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """Some input was not recognised: the screen is incomplete, never clean."""

    def __str__(self) -> str:
        return self.value


RULE_MARK = "⟷"
"""Stands in a finding's path where the rule joins its two sides ("⟷ rule:<id>")."""

NO_FINDINGS_TEXT = "No cautions found in this knowledge base for the recognised inputs."
"""The only wording the screener uses when nothing is found. It never says "safe"."""


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
            "codes": dict(self.codes),
        }


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


@dataclass(frozen=True, slots=True)
class Medication:
    """One medication entry as the screener read it."""

    input: str
    """The entry as typed ("Soma 350 mg qid x 30 days")."""
    concept: str | None
    """The concept the name resolved to (a drug, product or substance id); None if unrecognised."""
    ingredients: tuple[str, ...] = ()
    """The ingredient ids it is screened as (a product gives all of its ingredients)."""
    strength_mg: float | None = None
    """Strength per unit in mg, when given."""
    units_per_dose: float | None = None
    """Tablets (or other units) per dose, when given; 1 is assumed when only a strength is given."""
    doses_per_day: float | None = None
    """Doses a day from the frequency ("qid" → 4), when given."""
    duration_days: float | None = None
    """Intended or actual duration in days ("x 30 days", "for 4 weeks"), when given."""
    quantity: float | None = None
    """Quantity dispensed ("#84", "qty 84"), when given."""
    unparsed: str = ""
    """Any part of the text the screener could not read (also reported as unrecognised)."""
    via: str = ""
    """How the name was recognised: "knowledge base", "FDA vocabulary", "rxnorm code", "near match (…)"."""
    assumed: str = ""
    """For a near miss: the name the screener assumed was meant (shown in every report)."""

    @property
    def dose_mg(self) -> float | None:
        """The single dose in mg (strength × units), when a strength was given."""
        if self.strength_mg is None:
            return None
        return self.strength_mg * (self.units_per_dose or 1)

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data (the `screened.medications[]` items)."""
        out: dict[str, Any] = {"input": self.input, "concept": self.concept, "concepts": list(self.ingredients)}
        if self.via:
            out["via"] = self.via
        if self.assumed:
            out["assumed"] = self.assumed
        for key in ("strength_mg", "units_per_dose", "doses_per_day", "duration_days", "quantity"):
            value = getattr(self, key)
            if value is not None:
                out[key] = _number(value)
        if self.dose_mg is not None:
            out["dose_mg"] = _number(self.dose_mg)
        if self.unparsed:
            out["unparsed"] = self.unparsed
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
    age: float | None = None
    """The patient's age in years, when given."""
    knowledge_version: str = ""
    """Project version plus a content hash of the knowledge that produced the report."""
    layers: tuple[str, ...] = ()
    """The local knowledge layers applied over the base knowledge, in order (empty: none)."""
    suppressed: tuple[Suppressed, ...] = ()
    """Rules a local layer switched off that would have fired for these inputs."""

    @property
    def status(self) -> Status:
        """incomplete if anything was unrecognised, else findings or no-findings."""
        if self.unrecognized:
            return Status.INCOMPLETE
        return Status.FINDINGS if self.findings else Status.NO_FINDINGS

    @property
    def highest_severity(self) -> Severity | None:
        """The most serious severity among the findings, or None."""
        return self.findings[0].severity if self.findings else None

    @property
    def message(self) -> str:
        """One line saying what the screen found; never "safe"."""
        parts = [f"{len(self.findings)} caution{'s' if len(self.findings) != 1 else ''} found" if self.findings
                 else NO_FINDINGS_TEXT.rstrip(".")]
        if self.unrecognized:
            n = len(self.unrecognized)
            parts.append(f"{n} input{'s' if n != 1 else ''} not recognised: the screen is incomplete")
        if self.suppressed:
            n = len(self.suppressed)
            parts.append(f"{n} rule{'s' if n != 1 else ''} switched off by a local layer would have applied")
        return "; ".join(parts) + "."

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: the contract of `--format json`."""
        return {
            "status": self.status.value,
            "message": self.message,
            "knowledge_version": self.knowledge_version,
            "layers": list(self.layers),
            "findings": [f.to_dict() for f in self.findings],
            "suppressed": [s.to_dict() for s in self.suppressed],
            "counselling": [c.to_dict() for c in self.counselling],
            "unrecognized": [u.to_dict() for u in self.unrecognized],
            "screened": {
                "medications": [m.to_dict() for m in self.medications],
                "conditions": [{"input": text, "concept": cid} for text, cid in self.conditions],
                "allergies": [{"input": text, "concept": cid} for text, cid in self.allergies],
                "age": _number(self.age) if self.age is not None else None,
            },
        }


def _number(value: float) -> float | int:
    """Show whole numbers as ints in JSON (350, not 350.0)."""
    return int(value) if float(value).is_integer() else value
