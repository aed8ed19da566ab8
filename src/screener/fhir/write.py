"""Write a Report as a FHIR R4B Bundle of DetectedIssue resources (plain dicts, no FHIR library needed).

The Bundle (type `collection`) holds:
- a Device naming the screener, with the software and knowledge versions; every
  DetectedIssue's `author` points at it;
- one DetectedIssue per finding: `status` preliminary (a machine screen, not yet
  reviewed), `code` (HL7 v3 ActCode: DRG, ALGY, DUPTHPGEN, DUPTHPCLS, COND, PREG,
  LACT, DOSEH, DOSEDUR, AGE, GEALRT …), `severity` (contraindicated and major →
  high, moderate → moderate, minor → low), `patient` and `implicated` (only when
  the inputs came from FHIR), `detail` (the effect, why, the path and what to
  do), `reference` (a link to the first source that has one: a DailyMed label,
  a DOI, PubMed, an NCBI Bookshelf page), and `identifier` (the rule id);
- an OperationOutcome saying what the screen concluded: the status line (never
  "safe"), each input not recognised (the screen is then incomplete), and each
  resource skipped or read only in part.

Ids are UUID v5 of the content, so the same report gives the same ids.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from ..model import Finding, Report, Severity
from ..version import __version__
from .model import FhirInputs

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_CODE_DISPLAY = {
    "DRG": "Drug Interaction Alert",
    "ALGY": "Allergy Alert",
    "RALG": "Related Allergy Alert",
    "DUPTHPY": "Duplicate Therapy Alert",
    "DUPTHPCLS": "Duplicate Therapeutic Class Alert",
    "DUPTHPGEN": "Duplicate Generic Alert",
    "COND": "Condition Alert",
    "PREG": "Pregnancy Alert",
    "LACT": "Lactation Alert",
    "AGE": "Age Alert",
    "GEALRT": "Geriatric Alert",
    "ABUSE": "Commonly Abused Drug Alert",
    "DOSEH": "High Dose Alert",
    "MDOSE": "Maximum Dosage Reached",
    "DOSEDUR": "Dose Duration Alert",
}
"""Display names of the HL7 v3 ActCode detected-issue codes the screener uses."""

SEVERITY = {
    Severity.CONTRAINDICATED: "high",
    Severity.MAJOR: "high",
    Severity.MODERATE: "moderate",
    Severity.MINOR: "low",
}
"""Screener severity → DetectedIssue.severity."""

RULE_SYSTEM = "urn:screener:rule"
"""Identifier system of a DetectedIssue's rule id (the `rule` of the JSON report)."""
_NAMESPACE = uuid.UUID("6f1c5b0e-7a51-4c43-9d0f-5c3b9b1f2a10")

_LINKS = [
    (re.compile(r"setid\s+([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.I),
     "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid={}"),
    (re.compile(r"\bdoi\s+(10\.\d{4,9}/[^\s;,)]+)", re.I), "https://doi.org/{}"),
    (re.compile(r"\bPMID\s+(\d+)"), "https://pubmed.ncbi.nlm.nih.gov/{}/"),
    (re.compile(r"\b(NBK\d+)\b"), "https://www.ncbi.nlm.nih.gov/books/{}/"),
]


def source_url(sources: tuple[str, ...] | list[str]) -> str | None:
    """A link to the first source that names a DailyMed setid, a DOI, a PMID or an NCBI Bookshelf id."""
    for text in sources:
        for pattern, template in _LINKS:
            match = pattern.search(text)
            if match:
                return template.format(match.group(1))
    return None


def v3_code(finding: Finding) -> str | None:
    """The finding's HL7 v3 ActCode, when its rule has one."""
    return dict(finding.codes).get("v3")


def finding_detail(finding: Finding, path: str | None = None) -> str:
    """The effect, why, the path, what to do, for the patient, and the sources, one per line."""
    from ..formats.text_format import path_text

    lines = [f"{finding.title}: {finding.summary}"]
    if finding.mechanism:
        lines.append(f"Why: {finding.mechanism}")
    lines.append(f"Path: {path or path_text(finding)}")
    lines.append(f"Do: {finding.advice}")
    lines.append(f"Patient: {finding.plain}")
    lines.append(f"Source: {'; '.join(finding.sources)}")
    return "\n".join(lines)


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def detected_issues(report: Report, inputs: FhirInputs | None = None, *, now: datetime | None = None) -> dict[str, Any]:
    """The report as a FHIR R4B Bundle (a JSON-ready dict) of DetectedIssue, a Device and an OperationOutcome.

    `inputs` (from `read_bundle`) adds `patient` and `implicated` references;
    without it (a plain `screener check`) the issues reference no resources.
    """
    now = now or datetime.now(UTC)
    stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    version = report.knowledge_version
    device_id = _uid("device", __version__, version)
    device = {
        "resourceType": "Device",
        "id": device_id,
        "deviceName": [{"name": "screener", "type": "manufacturer-name"}],
        "version": [
            {"type": {"text": "software"}, "value": __version__},
            {"type": {"text": "knowledge"}, "value": version},
            *({"type": {"text": "knowledge layer"}, "value": layer} for layer in report.layers),
        ],
    }
    entries: list[dict[str, Any]] = [{"fullUrl": f"urn:uuid:{device_id}", "resource": device}]
    patient = inputs.patient if inputs is not None else None
    for finding in report.findings:
        issue = detected_issue(finding, version, device_id, inputs, stamp)
        entries.append({"fullUrl": f"urn:uuid:{issue['id']}", "resource": issue})
    outcome = operation_outcome(report, inputs)
    entries.append({"fullUrl": f"urn:uuid:{outcome['id']}", "resource": outcome})
    bundle_id = _uid("bundle", version, *(e["resource"]["id"] for e in entries), patient or "")
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"tag": [{"system": "urn:screener:knowledge-version", "code": version}]},
        "type": "collection",
        "timestamp": stamp,
        "entry": entries,
    }


def detected_issue(finding: Finding, version: str, device_id: str, inputs: FhirInputs | None,
                   stamp: str) -> dict[str, Any]:
    """One finding as a DetectedIssue resource (a dict)."""
    implicated = inputs.implicated(finding) if inputs is not None else ()
    issue_id = _uid("issue", version, finding.rule_id, *finding.concepts, *finding.inputs, *implicated)
    code = v3_code(finding)
    concept: dict[str, Any] = {"text": f"{finding.kind.value}: {finding.title}"}
    if code:
        coding = {"system": ACT_CODE, "code": code}
        if code in ACT_CODE_DISPLAY:
            coding["display"] = ACT_CODE_DISPLAY[code]
        concept["coding"] = [coding]
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": issue_id,
        "identifier": [{"system": RULE_SYSTEM, "value": finding.rule_id}],
        "status": "preliminary",
        "code": concept,
        "severity": SEVERITY[finding.severity],
        "identifiedDateTime": stamp,
        "author": {"reference": f"urn:uuid:{device_id}", "display": f"screener (knowledge {version})"},
        "detail": finding_detail(finding),
    }
    if inputs is not None and inputs.patient:
        issue["patient"] = {"reference": inputs.patient}
    if implicated:
        issue["implicated"] = [{"reference": ref} for ref in implicated]
    url = source_url(finding.sources)
    if url:
        issue["reference"] = url
    return issue


def operation_outcome(report: Report, inputs: FhirInputs | None) -> dict[str, Any]:
    """What the screen concluded, as an OperationOutcome: status, unrecognised inputs, skipped resources."""
    issues: list[dict[str, Any]] = [{
        "severity": "warning" if report.unrecognized else "information",
        "code": "incomplete" if report.unrecognized else "informational",
        "diagnostics": (f"screener status {report.status.value}: {report.message} "
                        f"(knowledge {report.knowledge_version})"),
    }]
    if report.hidden and report.hidden_below is not None:
        issues.append({"severity": "information", "code": "informational",
                       "diagnostics": f"{report.hidden_text} (display threshold; they count in the status)"})
    if report.scope:
        issues.append({"severity": "information", "code": "informational",
                       "diagnostics": f"knowledge scope: {report.scope}"})
    for off in report.suppressed:
        issues.append({"severity": "information", "code": "suppressed",
                       "diagnostics": f"{off.severity.value} {off.kind.value} {off.title} (rule {off.rule_id}) would "
                                      f"have applied: switched off by knowledge layer '{off.layer}': {off.reason}"})
    for item in report.unrecognized:
        text = f'{item.field} "{item.input}" not recognised or not checked: {item.reason}'
        if item.suggestions:
            text += f". Did you mean: {', '.join(item.suggestions)}?"
        where = [i.resource for i in inputs.items_for(item.input)] if inputs is not None else []
        if where:
            text += f" (from {', '.join(dict.fromkeys(w for w in where if w))})"
        issues.append({"severity": "warning", "code": "not-found", "diagnostics": text})
    if inputs is not None:
        for skipped in inputs.skipped:
            issues.append({"severity": "information", "code": "informational",
                           "diagnostics": f"{skipped.resource} not screened: {skipped.reason}"})
        for resource, note in inputs.notes:
            issues.append({"severity": "information", "code": "informational", "diagnostics": f"{resource}: {note}"})
    outcome_id = _uid("outcome", report.knowledge_version, *(i["diagnostics"] for i in issues))
    return {"resourceType": "OperationOutcome", "id": outcome_id, "issue": issues}
