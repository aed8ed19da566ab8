"""Small FHIR R4 resources for the FHIR and CDS Hooks tests (plain dicts, as an EHR sends them)."""

from __future__ import annotations

from datetime import date

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
TODAY = date(2025, 6, 1)


def patient(pid: str = "p1", birth: str | None = "1950-06-01") -> dict:
    out = {"resourceType": "Patient", "id": pid}
    if birth:
        out["birthDate"] = birth
    return out


def tablet_dose(per_day: int | None = 4, tablets: float = 1) -> list[dict]:
    dosage: dict = {"doseAndRate": [{"doseQuantity": {"value": tablets, "unit": "tablet",
                                                      "system": "http://unitsofmeasure.org", "code": "{tbl}"}}]}
    if per_day:
        dosage["timing"] = {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
    return [dosage]


def statement(mid: str, text: str | None = None, code: str | None = None, status: str = "active",
              dosage: list | None = None, pid: str = "p1", **extra) -> dict:
    concept: dict = {}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code}]
    if text:
        concept["text"] = text
    out = {"resourceType": "MedicationStatement", "id": mid, "status": status,
           "subject": {"reference": f"Patient/{pid}"}, "medicationCodeableConcept": concept}
    if dosage:
        out["dosage"] = dosage
    out.update(extra)
    return out


def request(mid: str, text: str | None = None, code: str | None = None, status: str = "active",
            dosage: list | None = None, pid: str = "p1", **extra) -> dict:
    concept: dict = {}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code}]
    if text:
        concept["text"] = text
    out = {"resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order",
           "subject": {"reference": f"Patient/{pid}"}, "medicationCodeableConcept": concept}
    if dosage:
        out["dosageInstruction"] = dosage
    out.update(extra)
    return out


def condition(cid: str, text: str | None = None, icd10: str | None = None, clinical: str | None = "active",
              verification: str | None = None, pid: str = "p1") -> dict:
    code: dict = {}
    if icd10:
        code["coding"] = [{"system": ICD10, "code": icd10}]
    if text:
        code["text"] = text
    out = {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{pid}"}, "code": code}
    if clinical:
        out["clinicalStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                             "code": clinical}]}
    if verification:
        out["verificationStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                                 "code": verification}]}
    return out


def allergy(aid: str, text: str, clinical: str | None = "active", category: list[str] | None = None,
            verification: str | None = None, pid: str = "p1") -> dict:
    out = {"resourceType": "AllergyIntolerance", "id": aid, "patient": {"reference": f"Patient/{pid}"},
           "code": {"text": text}}
    if clinical:
        out["clinicalStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                             "code": clinical}]}
    if verification:
        out["verificationStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": verification}]}
    if category:
        out["category"] = category
    return out


def bundle(*resources: dict, kind: str = "collection") -> dict:
    out = {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}
    if kind:
        out["type"] = kind
    return out


def walk(value):
    """Every (key, value) pair in nested JSON data."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield None, v
            yield from walk(v)
