"""What reading FHIR produces: the screener's inputs, each tied to the resource it came from.

These are plain frozen dataclasses (no FHIR library needed), so the output
formats and the service can use them without importing `fhir.resources`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import InputError
from ..model import Dosing, Finding, MedicationEntry, Report


class FhirError(InputError):
    """A FHIR document that cannot be read: not JSON, not a Bundle, or a resource that is not valid R4B.

    The message names the resource (`MedicationStatement/ms1`, or its entry
    number when it has no id) and the field (`dosage[0].timing.repeat.frequency`).
    """

    def __init__(self, problem: str, resource: str | None = None, field: str | None = None):
        self.problem = problem
        self.resource = resource
        self.field = field
        where = ": ".join(x for x in (resource, field) if x)
        super().__init__(f"FHIR {where}: {problem}" if where else f"FHIR: {problem}")


@dataclass(frozen=True, slots=True)
class Item:
    """One input given to the screener, and where it came from."""

    field: str
    """medication, condition or allergy."""
    entry: str
    """The text screened ("carisoprodol 350 MG 1 tablets 4 times a day", "icd10:K74.60")."""
    resource: str
    """The resource it came from, as a label: `MedicationStatement/ms1`, a fullUrl, or
    `MedicationStatement (entry 3)`; empty for an input given on the command line."""
    reference: str | None = None
    """A FHIR reference to that resource (`MedicationStatement/ms1` or the entry's fullUrl), when it has one."""
    draft: bool = False
    """True for a draft order (the CDS Hooks `draftOrders`), not part of the patient's record yet."""
    note: str = ""
    """What could not be read from the resource (e.g. a dose in mL), when something could not."""
    dosing: Dosing | None = None
    """For a medication: its structured dosage, as numbers (None when the resource gave text only)."""
    name: str = ""
    """For a medication with `dosing`: the name it is recognised by (`entry` is how it is shown)."""

    @property
    def screened(self) -> str | MedicationEntry:
        """What goes to the screen: the text, or the name with its dosing as numbers."""
        if self.dosing is None:
            return self.entry
        return MedicationEntry(self.entry, self.name or self.entry, self.dosing)

    def to_dict(self) -> dict[str, Any]:
        """The item as JSON-ready data."""
        out: dict[str, Any] = {"field": self.field, "input": self.entry, "resource": self.resource}
        if self.reference:
            out["reference"] = self.reference
        if self.draft:
            out["draft"] = True
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class Skipped:
    """A resource that was read but not screened, and why (stopped, resolved, entered in error…)."""

    resource: str
    """The resource, as a label (see `Item.resource`)."""
    reason: str
    """Why it was not screened, in one line: "status is stopped"."""

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data."""
        return {"resource": self.resource, "reason": self.reason}


@dataclass(frozen=True)
class FhirInputs:
    """A patient read from FHIR: the screener's inputs and the resources behind them."""

    items: tuple[Item, ...] = ()
    """Every screened input, in the order of the resources."""
    age: float | None = None
    """Age in completed years from Patient.birthDate, when given."""
    patient: str | None = None
    """A reference to the Patient (`Patient/p1`), when the bundle holds one."""
    skipped: tuple[Skipped, ...] = ()
    """Resources not screened (inactive, entered in error, not a medication allergy…), with the reason."""
    notes: tuple[tuple[str, str], ...] = ()
    """(resource, note) for what was read only in part (a birthDate with only a year…)."""
    ignored: tuple[tuple[str, int], ...] = ()
    """(resource type, count) of resources of types the screener does not read (Observation, Encounter…)."""
    age_source: str = ""
    """Where the age came from: the Patient's label, or "command line"."""

    def entries(self, field_name: str) -> tuple[str, ...]:
        """The texts to screen for one field, in order (duplicates kept: two resources, two entries)."""
        return tuple(item.entry for item in self.items if item.field == field_name)

    @property
    def medications(self) -> tuple[str | MedicationEntry, ...]:
        """Medication entries to screen (structured dosages stay numbers: `Item.screened`)."""
        return tuple(item.screened for item in self.items if item.field == "medication")

    @property
    def conditions(self) -> tuple[str, ...]:
        """Condition entries to screen."""
        return self.entries("condition")

    @property
    def allergies(self) -> tuple[str, ...]:
        """Allergy entries to screen."""
        return self.entries("allergy")

    def items_for(self, entry: str) -> tuple[Item, ...]:
        """The items screened as `entry` (a finding's input text)."""
        return tuple(item for item in self.items if item.entry == entry)

    def references(self, entry: str) -> tuple[str, ...]:
        """FHIR references of the resources screened as `entry`; the Patient for an "age N" input."""
        refs = [item.reference for item in self.items_for(entry) if item.reference]
        if not refs and self.patient and self.age is not None and entry.startswith("age "):
            refs = [self.patient]
        return tuple(dict.fromkeys(refs))

    def implicated(self, finding: Finding) -> tuple[str, ...]:
        """References to every resource behind a finding's inputs (medications, conditions, allergies, Patient)."""
        return tuple(dict.fromkeys(ref for text in finding.inputs for ref in self.references(text)))

    def involves_draft(self, finding: Finding, only: set[str] | None = None) -> bool:
        """True when one of the finding's inputs came from a draft order (from one of `only`, when given)."""
        for text in finding.inputs:
            for item in self.items_for(text):
                if item.draft and (only is None or item.reference in only or item.resource in only):
                    return True
        return False

    def merged(self, medications: Iterable[str] = (), conditions: Iterable[str] = (),
               allergies: Iterable[str] = (), age: float | None = None) -> FhirInputs:
        """These inputs plus more given another way (the command line): they have no resource.

        An age can come from one place only: a `--age` when the bundle's Patient
        has a birthDate raises InputError.
        """
        extra = [Item(name, text, "") for name, texts in
                 (("medication", medications), ("condition", conditions), ("allergy", allergies)) for text in texts]
        if age is not None and self.age is not None:
            raise InputError(f"the age is given twice: --age {age:g} and {self.age_source}.birthDate "
                             f"(age {self.age:g}); give only one")
        return replace(self, items=self.items + tuple(extra),
                       age=self.age if age is None else float(age),
                       age_source=self.age_source if age is None else "command line")

    def to_dict(self) -> dict[str, Any]:
        """The FHIR side of a report as JSON-ready data (the `fhir` key of `--format json`)."""
        out: dict[str, Any] = {
            "patient": self.patient,
            "inputs": [item.to_dict() for item in self.items],
            "skipped": [s.to_dict() for s in self.skipped],
        }
        if self.notes:
            out["notes"] = [{"resource": r, "note": n} for r, n in self.notes]
        if self.ignored:
            out["ignored"] = dict(self.ignored)
        return out


@dataclass(frozen=True)
class FhirReport:
    """A Report from FHIR input, with the inputs that say which resource each input came from."""

    report: Report
    """The screener's report, exactly as `screen()` gives it."""
    inputs: FhirInputs = field(default_factory=FhirInputs)
    """What was read from the bundle."""

    def to_dict(self) -> dict[str, Any]:
        """The report contract (`Report.to_dict()`) plus a `fhir` key: the inputs' resources and what was skipped."""
        return {**self.report.to_dict(), "fhir": self.inputs.to_dict()}
