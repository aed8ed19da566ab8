"""CDS Hooks request shapes: the prefetch templates, the two services, and the pydantic models of a call."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&status=active",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}&clinical-status=active",
}
"""Prefetch templates (CDS Hooks): the patient and their active medications, conditions and allergies."""

SERVICES: dict[str, dict[str, Any]] = {
    "screener-order-select": {
        "hook": "order-select",
        "id": "screener-order-select",
        "title": "screener: medication cautions for the selected orders",
        "description": ("Screens the selected draft medication orders against the patient's active medications, "
                        "conditions, allergies and age: interactions, duplicates, dose, duration, pregnancy, "
                        "lactation, hepatic and renal impairment, age and allergy cautions, each with its source."),
        "prefetch": PREFETCH,
    },
    "screener-order-sign": {
        "hook": "order-sign",
        "id": "screener-order-sign",
        "title": "screener: medication cautions before signing",
        "description": ("Screens every draft medication order against the patient's active record before signing; "
                        "a retry of the same hook instance gets the same cards, and a card order-select already "
                        "showed in the same workflow is not repeated unless it is critical."),
        "prefetch": PREFETCH,
    },
}


class FhirAuthorization(BaseModel):
    """The OAuth token the EHR grants for its FHIR server (CDS Hooks `fhirAuthorization`)."""

    model_config = ConfigDict(extra="allow")
    access_token: str = Field(max_length=10_000)
    token_type: str = "Bearer"


class HookContext(BaseModel):
    """`context` of order-select and order-sign."""

    model_config = ConfigDict(extra="allow")
    userId: str | None = Field(default=None, max_length=1000)
    patientId: str = Field(min_length=1, max_length=200)
    encounterId: str | None = Field(default=None, max_length=1000)
    selections: list[str] | None = None
    draftOrders: dict[str, Any]


def _searchset(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


EXAMPLE_CALL: dict[str, Any] = {
    "hook": "order-sign",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {
        "userId": "Practitioner/example",
        "patientId": "example",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
            "resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/example"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "2101"}], "text": "carisoprodol 350 MG Oral Tablet"},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]}}]},
    },
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "example", "birthDate": "1970-01-01"},
        "medicationRequests": _searchset({
            "resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/example"}, "medicationCodeableConcept": {"text": "Xanax 0.5 mg"}}),
        "medicationStatements": _searchset(),
        "conditions": _searchset(),
        "allergies": _searchset(),
    },
}
"""An order-sign call: carisoprodol ordered for a patient on alprazolam (the OpenAPI example)."""


class HookRequest(BaseModel):
    """A CDS Hooks service call."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLE_CALL]})
    hook: str = Field(min_length=1, max_length=200)
    hookInstance: str = Field(min_length=1, max_length=200)
    fhirServer: str | None = Field(default=None, max_length=2000)
    fhirAuthorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, dict[str, Any] | None] | None = None


class OverrideReason(BaseModel):
    """Why a clinician overrode a card."""

    model_config = ConfigDict(extra="allow")
    reason: dict[str, Any] | None = None
    userComment: str | None = Field(default=None, max_length=10_000)


class FeedbackItem(BaseModel):
    """One card's outcome."""

    model_config = ConfigDict(extra="allow")
    card: str = Field(min_length=1, max_length=200)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str = Field(min_length=1, max_length=100)


class Feedback(BaseModel):
    """A feedback call."""

    model_config = ConfigDict(extra="allow")
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=1000)
