"""Read FHIR R4/R4B resources into the screener's inputs.

Every resource is validated with its `fhir.resources` R4B model first; a
validation error becomes a `FhirError` naming the resource and the field. Then:

- Patient.birthDate → age in completed years (a year-only date counts from
  1 January, a year-month from the 1st, and a note says so);
- MedicationStatement / MedicationRequest → one medication entry: the name
  (the first coding the knowledge base recognises — RxNorm, UNII, NDC — else the
  text or display), then dosing text built from the first dosage
  (`doseQuantity` in mg/g/mcg or tablets, `timing.repeat` frequency and
  period, or `timing.code` such as BID; duration from `boundsDuration`,
  `dispenseRequest.expectedSupplyDuration` or the statement's
  `effectivePeriod`). A medicationReference to a Medication in the bundle or
  a contained one is followed;
- Condition → the first recognised ICD-10-CM / SNOMED CT code, else the text;
- AllergyIntolerance → the first recognised code, else the text.

Not screened, and listed in `skipped` with the reason: medications whose
status is stopped, completed, cancelled, not-taken or entered-in-error (or a
request with doNotPerform); conditions whose clinicalStatus is inactive or
resolved; allergies whose clinicalStatus is inactive or resolved, or whose
category is only food or environment, or that record "no known allergy";
anything whose verificationStatus is refuted or entered-in-error. A condition
in remission *is* screened: the knowledge base treats, for example, opioid use
disorder in remission as still relevant to carisoprodol.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from ..errors import InputError
from ..knowledge.index import Index
from ..memo import memoised
from ..model import Dosing, Noted
from ..recognize import SYSTEM_URIS, display_name, read_medication, read_named
from ..text import clean_entry
from .model import FhirError, FhirInputs, FhirReport, Item, Skipped

READ_TYPES = ("Patient", "MedicationStatement", "MedicationRequest", "Condition", "AllergyIntolerance")
"""Resource types the screener reads; others are counted in `FhirInputs.ignored`."""

INACTIVE_MEDICATION = {"stopped", "completed", "cancelled", "not-taken", "entered-in-error"}
INACTIVE_CLINICAL = {"inactive", "resolved"}
NOT_VERIFIED = {"refuted", "entered-in-error"}
UNCERTAIN_VERIFICATION = ("provisional", "differential", "unconfirmed")
"""A Condition's verificationStatus codes that leave it uncertain: screened as the typed "provisional: OSA" is
(unrecognised when a rule here is about the condition, recognised when none is), never as the condition."""
NO_KNOWN_ALLERGY = {"716186003", "409137002", "428607008", "429625007"}
"""SNOMED CT codes recording no known (drug, environmental, food) allergy."""

_MASS_UNITS = {"mg": "mg", "g": "g", "mcg": "mcg", "ug": "mcg", "µg": "mcg", "milligram": "mg", "milligrams": "mg"}
_COUNT_UNITS = {"", "1", "tab", "tabs", "tablet", "tablets", "{tbl}", "{tablet}", "{tablets}", "tbl", "cap", "caps",
                "capsule", "capsules", "{capsule}", "{capsules}", "{cap}", "pill", "pills", "{pill}", "each", "{each}"}
_HOURS = {"s": 1 / 3600, "min": 1 / 60, "h": 1.0, "d": 24.0, "wk": 168.0, "mo": 720.0, "a": 8760.0}
_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "day": 1.0, "days": 1.0, "wk": 7.0, "week": 7.0,
         "weeks": 7.0, "mo": 30.0, "month": 30.0, "months": 30.0, "a": 365.0, "year": 365.0, "years": 365.0}
_TIMING_PER_DAY = {"QD": 1.0, "BID": 2.0, "TID": 3.0, "QID": 4.0, "AM": 1.0, "PM": 1.0, "QOD": 0.5,
                   "Q1H": 24.0, "Q2H": 12.0, "Q3H": 8.0, "Q4H": 6.0, "Q6H": 4.0, "Q8H": 3.0, "BED": 1.0}
"""HL7 GTSAbbreviation codes (Timing.code), as doses a day."""
_MASS_TO_MG = {"mg": 1.0, "g": 1000.0, "mcg": 0.001}
_DOSE_FORM = re.compile(
    r"\b(?:extended|delayed|release|solution|suspension|injectable|injection|sublingual|chewable|disintegrating|"
    r"transdermal|system|film|coated|buccal|topical|rectal|suppository|patch|elixir|syrup|oral|tablets?|capsules?|"
    r"pack|kit|\d+\s*hr)\b", re.IGNORECASE)
_BRACKETS = re.compile(r"\[[^\]]*\]")
_CONCENTRATION = re.compile(r"\d+(?:\.\d+)?\s*(?:mg|mcg|g|meq|unt|units?)\s*/\s*(?:ml|actuat|hr|\d)\S*", re.IGNORECASE)
_STRENGTH = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s*(?:mg|mcg|g)\b(?!\s*/)", re.IGNORECASE)


def model_class(resource_type: str):
    """The fhir.resources R4B model class of a resource type (raises for an unknown type).

    Raises `MissingExtraError` when fhir.resources is not installed (the `fhir` extra).
    """
    from ..extras import require

    return require("fhir.resources.R4B", "reading a FHIR Bundle (check --fhir)").get_fhir_model_class(resource_type)


# --- entry points ---------------------------------------------------------------------------


def load_json(data: bytes | str | dict) -> dict:
    """Parse JSON text (or take a dict) and check it is a JSON object."""
    if isinstance(data, dict):
        return data
    try:
        doc = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise FhirError(f"not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(doc, dict):
        raise FhirError(f"expected a JSON object (a Bundle), got a JSON {type(doc).__name__}")
    return doc


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def read_bundle(data: bytes | str | dict, knowledge=None, *, today: date | None = None,
                require_type: bool = True) -> FhirInputs:
    """Read a FHIR R4/R4B Bundle (JSON text, bytes or a parsed dict) into the screener's inputs.

    Raises `FhirError` (an `InputError`) naming the resource and the field when
    the bundle is not valid. `today` fixes the date ages and durations are
    counted to (default: today, UTC). With `require_type=False` a Bundle
    without `type` is accepted, as CDS Hooks examples send `draftOrders`.
    """
    bundle = load_json(data)
    resources = bundle_resources(bundle, require_type=require_type)
    return read_resources(resources, knowledge, today=today)


def screen_bundle(data: bytes | str | dict, knowledge=None, *, today: date | None = None) -> FhirReport:
    """Read a Bundle and screen it: the library equivalent of `screener check --fhir FILE`."""
    knowledge = _knowledge(knowledge)
    inputs = read_bundle(data, knowledge, today=today)
    report = knowledge.screen(inputs.medications, inputs.conditions, inputs.allergies, inputs.age)
    return FhirReport(report, inputs)


def _knowledge(knowledge):
    if knowledge is None:
        from ..api import default_knowledge

        return default_knowledge()
    return knowledge


def bundle_resources(bundle: dict, *, require_type: bool = True, draft: bool = False,
                     where: str = "Bundle") -> list[tuple[dict, str | None, str, bool]]:
    """Check a Bundle's shape and list its resources as (resource, fullUrl, label, draft).

    The Bundle itself (without its resources) is validated with the R4B model;
    each resource is validated later, on its own, so errors name it.
    """
    if bundle.get("resourceType") != "Bundle":
        got = bundle.get("resourceType")
        raise FhirError(f"expected a Bundle, got {_shown(got) if got is not None else 'no resourceType'}",
                        where, "resourceType")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise FhirError("must be a list", where, "entry")
    shell = {k: v for k, v in bundle.items() if k != "entry"}
    if not require_type:
        shell.setdefault("type", "collection")
    shell["entry"] = []
    out = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise FhirError("must be an object", where, f"entry[{n}]")
        shell["entry"].append({k: v for k, v in entry.items() if k != "resource"})
        resource = entry.get("resource")
        if resource is None:
            continue  # e.g. a transaction-response entry: nothing to screen
        if not isinstance(resource, dict):
            raise FhirError("must be an object", where, f"entry[{n}].resource")
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        out.append((resource, full_url, _label(resource, full_url, f"{where} entry {n}"), draft))
    _validate(model_class("Bundle"), shell, where)
    return out


def read_resources(resources: Iterable[tuple[dict, str | None, str, bool]], knowledge=None, *,
                   today: date | None = None, patient_id: str | None = None) -> FhirInputs:
    """Read (resource, fullUrl, label, draft) tuples (see `bundle_resources`) into the screener's inputs.

    `patient_id`, when given (the CDS Hooks `context.patientId`), is the patient
    every resource must be about.
    """
    knowledge = _knowledge(knowledge)
    index = knowledge.index
    today = today or datetime.now(UTC).date()
    reader = _Reader(index, today)
    parsed = []
    for raw, full_url, label, draft in resources:
        rtype = raw.get("resourceType")
        if not isinstance(rtype, str) or not rtype:
            raise FhirError("missing or not a string", label, "resourceType")
        try:
            cls = model_class(rtype)
        except (ValueError, KeyError):
            raise FhirError(f"{_shown(rtype)} is not a FHIR R4B resource type", label, "resourceType") from None
        if rtype not in READ_TYPES and rtype != "Medication":
            reader.ignored[rtype] += 1
            continue
        model = _validate(cls, raw, label)
        parsed.append((model, full_url, label, draft))
        if rtype == "Medication":
            for key in _keys(model, full_url):
                reader.medications[key] = model

    patients = [p for p in parsed if p[0].get_resource_type() == "Patient"]
    if len(patients) > 1:
        raise FhirError(f"holds {len(patients)} Patient resources ({', '.join(p[2] for p in patients)}); "
                        "give one patient per bundle", "Bundle", "entry")
    patient_keys: set[str] = set()
    if patients:
        model, full_url, label, _ = patients[0]
        patient_keys = set(_keys(model, full_url))
        if patient_id and model.id and model.id != patient_id:
            raise FhirError(f"is not the patient in context (Patient/{patient_id})", label, "id")
        reader.patient(model, label, full_url)
    if patient_id:
        patient_keys |= {f"Patient/{patient_id}", patient_id}
        reader.patient_ref = reader.patient_ref or f"Patient/{patient_id}"

    for model, full_url, label, draft in parsed:
        rtype = model.get_resource_type()
        if rtype in ("Patient", "Medication"):
            continue
        _check_subject(model, rtype, label, patient_keys)
        reference = f"{rtype}/{model.id}" if model.id else full_url
        if rtype in ("MedicationStatement", "MedicationRequest"):
            reader.medication(model, rtype, label, reference, draft)
        elif rtype == "Condition":
            reader.named(model, "condition", label, reference, draft)
        else:
            reader.named(model, "allergy", label, reference, draft)
    return reader.result()


# --- validation and labels ----------------------------------------------------------------


def _validate(cls, raw: dict, label: str):
    from pydantic import ValidationError

    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        msg = first.get("msg", "invalid").split("\n")[0].strip()
        got = first.get("input")
        missing = first.get("type") in ("missing", "model_field_validation.missing")
        if not missing and isinstance(got, (str, int, float)):
            msg += f" (got {_shown(got)})"
        raise FhirError(msg + more, label, _field_path(first.get("loc", ()))) from None
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        # fhir.resources raises plain errors for a few shapes (e.g. an unknown resourceType inside a resource).
        raise FhirError(f"not valid R4B ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})",
                        label) from None


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("root", "resource_type"):
            out += "" if part == "root" else (".resourceType" if out else "resourceType")
        else:
            out += f".{part}" if out else str(part)
    return out or "(resource)"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _label(raw: dict, full_url: str | None, fallback: str) -> str:
    rtype = raw.get("resourceType") if isinstance(raw.get("resourceType"), str) else "resource"
    rid = raw.get("id")
    if isinstance(rid, str) and rid:
        return f"{rtype}/{rid}"
    if full_url:
        return f"{rtype} {full_url}"
    return f"{rtype} ({fallback})"


def _keys(model, full_url: str | None) -> list[str]:
    keys = []
    if model.id:
        keys += [f"{model.get_resource_type()}/{model.id}", f"#{model.id}"]
    if full_url:
        keys.append(full_url)
    return keys


def _check_subject(model, rtype: str, label: str, patient_keys: set[str]) -> None:
    """Refuse a resource about another patient than the bundle's (mixing patients is never right)."""
    if not patient_keys:
        return
    field_name = "patient" if rtype == "AllergyIntolerance" else "subject"
    ref = getattr(model, field_name, None)
    target = getattr(ref, "reference", None) if ref is not None else None
    if not target:
        return
    if target in patient_keys or any(target.endswith("/" + k) for k in patient_keys if "/" in k):
        return
    named = sorted(patient_keys, key=lambda k: (not k.startswith("Patient/"), k))[0]  # "Patient/p1", not "#p1"
    raise FhirError(f"refers to {target}, not to this bundle's patient ({named})",
                    label, f"{field_name}.reference")


def _status_codes(concept) -> set[str]:
    """The codes of a CodeableConcept status (clinicalStatus, verificationStatus)."""
    if concept is None:
        return set()
    return {c.code for c in (concept.coding or []) if c.code}


# --- the reader ---------------------------------------------------------------------------


class _Reader:
    """Collects items, skips, notes and the age while resources are read."""

    def __init__(self, index: Index, today: date):
        self.index = index
        self.today = today
        self.items: list[Item] = []
        self.skipped: list[Skipped] = []
        self.notes: list[tuple[str, str]] = []
        self.ignored: Counter = Counter()
        self.medications: dict[str, Any] = {}
        self.age: float | None = None
        self.age_source = ""
        self.patient_ref: str | None = None

    def result(self) -> FhirInputs:
        return FhirInputs(items=tuple(self.items), age=self.age, patient=self.patient_ref,
                          skipped=tuple(self.skipped), notes=tuple(self.notes),
                          ignored=tuple(sorted(self.ignored.items())), age_source=self.age_source)

    # Patient -------------------------------------------------------------------------

    def patient(self, model, label: str, full_url: str | None) -> None:
        self.patient_ref = f"Patient/{model.id}" if model.id else full_url
        born = model.birthDate
        if born is None:
            return
        if isinstance(born, datetime):
            born = born.date()
        if isinstance(born, str):
            parts = [int(p) for p in born.split("-")]
            self.notes.append((label, f"birthDate {born} has no {'month' if len(parts) == 1 else 'day'}: "
                                      f"age counted from {'1 January' if len(parts) == 1 else 'the 1st of the month'}"))
            born = date(parts[0], parts[1] if len(parts) > 1 else 1, 1)
        years = self.today.year - born.year - ((self.today.month, self.today.day) < (born.month, born.day))
        if not 0 <= years <= 130:
            raise FhirError(f"gives an age of {years} years on {self.today.isoformat()}", label, "birthDate")
        self.age = float(years)
        self.age_source = label

    # medications ---------------------------------------------------------------------

    def medication(self, model, rtype: str, label: str, reference: str | None, draft: bool) -> None:
        status = model.status or ""
        if status in INACTIVE_MEDICATION:
            self.skipped.append(Skipped(label, f"status is {status}"))
            return
        if rtype == "MedicationRequest" and model.doNotPerform:
            self.skipped.append(Skipped(label, "doNotPerform: an order not to give it"))
            return
        concept, where = self._medication_concept(model, label)
        dosages = (model.dosage if rtype == "MedicationStatement" else model.dosageInstruction) or []
        notes: list[str] = []
        # A structured dosage is passed on as numbers; a dosage given only as text is read as text.
        dosing = _dosing(dosages[0], notes) if dosages else None
        sig = dosages[0].text.strip() if dosages and dosing is None and dosages[0].text else ""
        if len(dosages) > 1:
            notes.append(f"{len(dosages)} dosages: only the first was read")
        days = self._duration(model, rtype, dosages[0] if dosages else None)
        if days is not None:
            if dosing is not None:
                dosing = replace(dosing, duration_days=days)
            elif not re.search(r"\b(?:x|for)\s?\d", sig):
                dosing = Dosing(duration_days=days) if not sig else None
                sig = f"{sig} x {days:g} days".strip() if sig else sig
        entry, note = self._medication_entry(concept, sig, label, where)
        if note:
            notes.append(note)
        if dosing is not None:
            shown = f"{entry}: {describe_dosing(dosing)}" if describe_dosing(dosing) else entry
            self.items.append(Item("medication", shown, label, reference, draft, "; ".join(notes), dosing, entry))
        else:
            self.items.append(Item("medication", entry, label, reference, draft, "; ".join(notes)))
        if notes:
            self.notes.append((label, "; ".join(notes)))

    def _medication_concept(self, model, label: str):
        """The CodeableConcept naming the medication, and the field it is in."""
        if model.medicationCodeableConcept is not None:
            return model.medicationCodeableConcept, "medicationCodeableConcept"
        ref = model.medicationReference
        target = ref.reference if ref is not None else None
        if target:
            med = self.medications.get(target)
            if med is None:
                for contained in model.contained or []:
                    if contained.get_resource_type() == "Medication" and f"#{contained.id}" == target:
                        med = contained
            if med is not None and med.code is not None:
                return med.code, f"medicationReference ({target}).code"
            if med is None and ref.display:
                return _Text(ref.display), "medicationReference.display"
            raise FhirError(f"{target} is not in the bundle (and has no display)", label, "medicationReference")
        if ref is not None and ref.display:
            return _Text(ref.display), "medicationReference.display"
        raise FhirError("names no medication", label, "medication[x]")

    def _duration(self, model, rtype: str, dosage) -> float | None:
        repeat = getattr(getattr(dosage, "timing", None), "repeat", None) if dosage is not None else None
        for quantity in (getattr(repeat, "boundsDuration", None),
                         getattr(getattr(model, "dispenseRequest", None), "expectedSupplyDuration", None)
                         if rtype == "MedicationRequest" else None):
            days = _quantity_days(quantity)
            if days is not None:
                return days
        if rtype == "MedicationStatement" and model.effectivePeriod is not None and model.effectivePeriod.start:
            start = _as_date(model.effectivePeriod.start)
            end = _as_date(model.effectivePeriod.end) if model.effectivePeriod.end else self.today
            if start and end and (end - start).days >= 1:
                return float((end - start).days)
        return None

    def _medication_entry(self, concept, sig: str, label: str, where: str) -> tuple[str, str]:
        """The entry to screen: a recognised name (code first) with the dosing text, and a note if any."""
        index = self.index
        coded = None
        for coding in getattr(concept, "coding", None) or []:
            system = SYSTEM_URIS.get((coding.system or "").rstrip("/"))
            if system in ("rxnorm", "unii", "ndc") and coding.code:
                med, problem = self._read(f"{system}:{coding.code}", label, f"{where}.coding")
                if problem is None and med.ingredients:
                    if system == "ndc":  # the product itself, with its exact strengths
                        return f"ndc:{coding.code} {sig}".strip(), ""
                    coded = med
                    break
        text = _concept_text(concept)
        names = []
        if text:
            clean = _clean_name(text)
            names += [clean] if clean == text else [clean, text]
        if coded is not None:
            shown = display_name(index, coded.concept)
            strength = _STRENGTH.search(text or "")
            if strength and len(coded.ingredients) == 1 and not _mass_dose(sig):
                names.append(f"{shown} {strength.group()}")
            names.append(shown)
        for name in names:
            entry = f"{name} {sig}".strip()
            if len(entry) > 200:
                continue
            med, problem = self._read(entry, label, f"{where}.text")
            same = coded is None or set(med.ingredients) == set(coded.ingredients)
            if problem is None and med.ingredients and same:
                return entry, ""
        if coded is not None:
            return coded.input, f"dosage not read with the name: screened as {coded.input} without dose checks"
        for name in names:  # the name alone, when the dosing text is what could not be read
            med, problem = self._read(name, label, f"{where}.text")
            if problem is None and med.ingredients and sig:
                return name, f"dosing text '{sig}' not read: no dose checks"
        if names:
            entry = f"{names[0]} {sig}".strip()
            return (entry if len(entry) <= 200 else names[0][:200]), ""  # screened, and reported unrecognised
        codes = [f"{c.system or '?'}|{c.code}" for c in getattr(concept, "coding", None) or [] if c.code]
        if codes:
            return codes[0][:200], ""
        raise FhirError("has neither a code nor a text", label, where)

    def _read(self, text: str, label: str, where: str):
        try:
            text = clean_entry(text, "medication")
        except InputError as exc:
            raise FhirError(str(exc), label, where) from None
        key = ("fhir-medication", text)
        # The index's bounded memo: a service sees many distinct texts.
        return memoised(self.index, key, read_medication, self.index, text)

    # conditions and allergies ----------------------------------------------------------

    def named(self, model, field_name: str, label: str, reference: str | None, draft: bool) -> None:
        verification = _status_codes(model.verificationStatus) & NOT_VERIFIED
        if verification:
            self.skipped.append(Skipped(label, f"verificationStatus is {sorted(verification)[0]}"))
            return
        clinical = _status_codes(model.clinicalStatus) & INACTIVE_CLINICAL
        if clinical:
            self.skipped.append(Skipped(label, f"clinicalStatus is {sorted(clinical)[0]}"))
            return
        hedge = ""
        if field_name == "condition":
            hedge = next((c for c in UNCERTAIN_VERIFICATION if c in _status_codes(model.verificationStatus)), "")
        concept = model.code
        if field_name == "allergy":
            categories = set(model.category or [])
            if categories and not categories & {"medication", "biologic"}:
                self.skipped.append(Skipped(label, f"category is {', '.join(sorted(categories))}: "
                                                   "not a medication allergy"))
                return
            allergy_codes = {c.code for c in (getattr(concept, "coding", None) or [])}
            if allergy_codes & NO_KNOWN_ALLERGY:
                self.skipped.append(Skipped(label, "records no known allergy"))
                return
        if concept is None:
            raise FhirError("is missing: nothing to screen", label, "code")
        candidates = []
        for coding in concept.coding or []:
            system = SYSTEM_URIS.get((coding.system or "").rstrip("/"))
            if system and coding.code:
                candidates.append(f"{system}:{coding.code}")
        text = _concept_text(concept)
        for candidate in candidates + ([text] if text else []):
            try:
                entry = clean_entry(candidate, field_name)
            except InputError as exc:
                raise FhirError(str(exc), label, "code") from None
            hit = read_named(self.index, entry, field_name)
            if isinstance(hit, (tuple, Noted)):
                self.items.append(Item(field_name, f"{hedge}: {entry}" if hedge else entry, label, reference, draft))
                return
        shown = text or (candidates[0] if candidates else None)
        if shown is None:
            codes = [f"{c.system or '?'}|{c.code}" for c in concept.coding or [] if c.code]
            if not codes:
                raise FhirError("has neither a code nor a text", label, "code")
            shown = codes[0]
        try:
            entry = clean_entry(shown[:200], field_name)
        except InputError as exc:
            raise FhirError(str(exc), label, "code") from None
        # reported unrecognised by the screen
        self.items.append(Item(field_name, f"{hedge}: {entry}" if hedge else entry, label, reference, draft))


class _Text:
    """Stands in for a CodeableConcept when only a display text names the medication."""

    coding = None

    def __init__(self, text: str):
        self.text = text


def _concept_text(concept) -> str:
    text = getattr(concept, "text", None)
    if text and text.strip():
        return text.strip()
    for coding in getattr(concept, "coding", None) or []:
        if coding.display and coding.display.strip():
            return coding.display.strip()
    return ""


def _clean_name(text: str) -> str:
    """An RxNorm-style display without what the dosing parser cannot read: dose forms, [Brand], concentrations."""
    text = _BRACKETS.sub(" ", text)
    text = _CONCENTRATION.sub(" ", text)
    text = _DOSE_FORM.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip(" ,;/") or text


def _mass_dose(sig: str) -> bool:
    return bool(re.search(r"\d\s*(?:mg|mcg|g)\b", sig))


def _number(value) -> float:
    return float(value)


def _dosing(dosage, notes: list[str]) -> Dosing | None:
    """One FHIR Dosage as numbers: the dose, doses a day, as needed, a daily limit; None when it has
    nothing structured (then its text is read as dosing text)."""
    values: dict[str, Any] = {}
    unread: list[str] = []
    for dose_rate in dosage.doseAndRate or []:
        quantity = dose_rate.doseQuantity or (dose_rate.doseRange.high if dose_rate.doseRange else None)
        if quantity is None or quantity.value is None:
            continue
        unit = (quantity.code or quantity.unit or "").strip().lower()
        value = float(quantity.value)
        if unit in _MASS_UNITS:
            values["dose_mg"] = value * _MASS_TO_MG[_MASS_UNITS[unit]]
        elif unit in _COUNT_UNITS or (quantity.unit or "").strip().lower() in _COUNT_UNITS:
            values["units_per_dose"], values["unit"] = value, "tablet"
        elif unit in ("ml", "mL".lower()):
            values["units_per_dose"], values["unit"] = value, "mL"
        else:
            unread.append(f"a dose in '{quantity.unit or quantity.code}'")
        break
    timing = dosage.timing
    repeat = timing.repeat if timing is not None else None
    if repeat is not None and (repeat.frequency or repeat.period):
        times = float(repeat.frequencyMax or repeat.frequency or 1)
        hours = float(repeat.period or 1) * _HOURS.get(repeat.periodUnit or "d", 0)
        if hours > 0 and times > 0:
            values["doses_per_day"] = times * 24 / hours
        else:
            unread.append("its timing")
    elif repeat is not None and repeat.when:
        values["doses_per_day"] = float(len(set(repeat.when)))
    elif timing is not None and timing.code is not None:
        code = next((c.code for c in timing.code.coding or [] if c.code), None) or (timing.code.text or "")
        per_day = _TIMING_PER_DAY.get(code.upper())
        if per_day is None:
            unread.append(f"timing code '{code}'")
        else:
            values["doses_per_day"] = per_day
    if dosage.asNeededBoolean or dosage.asNeededCodeableConcept is not None:
        values["prn"] = True
    for limit in [dosage.maxDosePerPeriod] if getattr(dosage, "maxDosePerPeriod", None) is not None else []:
        numerator, denominator = limit.numerator, limit.denominator
        if numerator is None or numerator.value is None or denominator is None or denominator.value is None:
            continue
        days = _quantity_days(denominator)
        unit = (numerator.code or numerator.unit or "").strip().lower()
        if days and unit in _MASS_UNITS:
            values["daily_mg"] = float(numerator.value) * _MASS_TO_MG[_MASS_UNITS[unit]] / days
        elif days and unit in _COUNT_UNITS:
            values["daily_units"] = float(numerator.value) / days
        else:
            unread.append("maxDosePerPeriod")
    if not values and not unread:
        return None
    if unread:
        notes.append("dosage not read (" + ", ".join(unread) + "): no dose checks")
    return Dosing(**values, unread="; ".join(f"could not read {u}" for u in unread))


def describe_dosing(dosing: Dosing) -> str:
    """A structured dosage in words, for reports ("1 tablet 4 times a day, 61 days"); it is never read back."""
    parts = []
    if dosing.dose_mg is not None:
        parts.append(f"{dosing.dose_mg:g} mg")
    elif dosing.units_per_dose is not None:
        parts.append(f"{dosing.units_per_dose:g} {dosing.unit or 'unit'}{'' if dosing.units_per_dose == 1 else 's'}")
    if dosing.doses_per_day is not None:
        parts.append(f"{dosing.doses_per_day:g} times a day")
    if dosing.prn:
        parts.append("as needed")
    if dosing.duration_days is not None:
        parts.append(f"{dosing.duration_days:g} days")
    return ", ".join(parts)


def _quantity_days(quantity) -> float | None:
    if quantity is None or quantity.value is None:
        return None
    unit = (quantity.code or quantity.unit or "").strip().lower()
    factor = _DAYS.get(unit)
    if factor is None:
        return None
    days = _number(quantity.value) * factor
    return round(days, 2) if days > 0 else None


def _as_date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            parts = [int(p) for p in value[:10].split("-")]
            return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
        except (ValueError, IndexError):
            return None
    return None
