"""FHIR in and out: a FHIR R4/R4B Bundle in, the screener's report (or a Bundle of DetectedIssue) out.

    >>> from screener.fhir import screen_bundle, detected_issues
    >>> result = screen_bundle(open("patient.json", "rb").read())   # doctest: +SKIP
    >>> result.report.findings                                       # the usual Report
    >>> result.inputs.references("Xanax")                            # which resource an input came from
    >>> detected_issues(result.report, result.inputs)                # a Bundle of DetectedIssue (a dict)

Reading (`read_bundle`, `read_resources`) parses and validates every resource
with the `fhir.resources` R4B models, imported only on this path: the plain
`screener check` never loads them. Patient (birthDate → age),
MedicationStatement and MedicationRequest (coded with RxNorm or UNII, or text;
dosage → strength, frequency, duration), Condition (ICD-10-CM or SNOMED CT, or
text) and AllergyIntolerance become the screener's text inputs, each
remembering the resource it came from. Inactive items (a stopped or completed
medication, a resolved or inactive condition or allergy, anything entered in
error or refuted) are not screened; they are listed in `FhirInputs.skipped`
with the reason. A bundle that is not valid FHIR raises `FhirError`, whose
message names the resource and the field.

Writing (`detected_issues`) turns any Report into a Bundle of DetectedIssue
resources, plus a Device that names the screener and the knowledge version and
an OperationOutcome that says whether the screen is complete. `implicated`
references appear only when the inputs came from FHIR.
"""

from __future__ import annotations

from .model import FhirError, FhirInputs, FhirReport, Item, Skipped
from .read import read_bundle, read_resources, screen_bundle
from .write import detected_issues

__all__ = [
    "FhirError",
    "FhirInputs",
    "FhirReport",
    "Item",
    "Skipped",
    "detected_issues",
    "read_bundle",
    "read_resources",
    "screen_bundle",
]
