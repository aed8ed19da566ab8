"""FHIR in and out: reading a Bundle into the screener's inputs, skipping inactive items, DetectedIssue output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.detectedissue import DetectedIssue

from fhir_fixtures import TODAY, allergy, bundle, condition, patient, request, statement, tablet_dose
from screener.cli import cli
from screener.fhir import FhirError, detected_issues, read_bundle, screen_bundle

SOMA_CODE = "2101"  # RxNorm carisoprodol (ingredient), verified in data/concepts.csv


def record() -> dict:
    """A patient on Soma and Xanax with cirrhosis and a meprobamate allergy, plus inactive items."""
    return bundle(
        patient("p1", "1950-06-01"),
        statement("ms1", "Soma 350 MG Oral Tablet", SOMA_CODE, dosage=tablet_dose(4),
                  effectivePeriod={"start": "2025-04-01"}),
        request("mr1", "alprazolam 0.5 MG Oral Tablet", "308048",
                dosage=[{"timing": {"code": {"coding": [{"code": "BID"}]}}}]),
        statement("ms2", "Norco", status="stopped"),
        request("mr2", "oxycodone 5 MG Oral Tablet", status="entered-in-error"),
        condition("c1", "Cirrhosis of liver", icd10="K74.60"),
        condition("c2", "pregnancy", clinical="resolved"),
        condition("c3", "breastfeeding", verification="refuted"),
        allergy("a1", "meprobamate"),
        allergy("a2", "carbamates", clinical="inactive"),
        allergy("a3", "peanut", category=["food"]),
        {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "blood pressure"}},
    )


@pytest.fixture
def bundle_file(tmp_path):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(record()))
    return path


# --- reading --------------------------------------------------------------------------------


def test_read_bundle_maps_each_resource_to_an_input(kb):
    inputs = read_bundle(record(), kb, today=TODAY)
    assert inputs.patient == "Patient/p1"
    assert inputs.age == 75
    fields = [(i.field, i.resource) for i in inputs.items]
    assert fields == [("medication", "MedicationStatement/ms1"), ("medication", "MedicationRequest/mr1"),
                      ("condition", "Condition/c1"), ("allergy", "AllergyIntolerance/a1")]
    soma, xanax = inputs.medications
    # Structured dosages go to the screen as numbers, never as text read again.
    assert (soma.text, soma.name) == ("Soma 350 MG: 1 tablet, 4 times a day, 61 days", "Soma 350 MG")
    assert (soma.dosing.units_per_dose, soma.dosing.unit, soma.dosing.doses_per_day, soma.dosing.duration_days) == (
        1, "tablet", 4, 61)
    assert (xanax.text, xanax.dosing.doses_per_day) == ("alprazolam 0.5 MG: 2 times a day", 2)
    assert inputs.conditions == ("icd10:K74.60",)
    assert inputs.references(soma.text) == ("MedicationStatement/ms1",)
    assert dict(inputs.ignored) == {"Observation": 1}


def test_inactive_items_are_skipped_and_reported(kb):
    inputs = read_bundle(record(), kb, today=TODAY)
    assert {s.resource: s.reason for s in inputs.skipped} == {
        "MedicationStatement/ms2": "status is stopped",
        "MedicationRequest/mr2": "status is entered-in-error",
        "Condition/c2": "clinicalStatus is resolved",
        "Condition/c3": "verificationStatus is refuted",
        "AllergyIntolerance/a2": "clinicalStatus is inactive",
        "AllergyIntolerance/a3": "category is food: not a medication allergy",
    }
    assert not any("Norco" in str(m) or "oxycodone" in str(m) for m in inputs.medications)


def test_screen_bundle_reads_dose_duration_and_codes(kb):
    result = screen_bundle(record(), kb, today=TODAY)
    report = result.report
    kinds = {(f.kind.value, f.severity.value) for f in report.findings}
    assert ("drug-allergy", "contraindicated") in kinds
    assert ("drug-drug", "major") in kinds          # carisoprodol + alprazolam
    assert ("drug-condition", "moderate") in kinds  # cirrhosis from ICD-10-CM K74.60
    assert ("duration", "moderate") in kinds        # effectivePeriod since 2025-04-01: 61 days
    assert ("drug-age", "major") in kinds           # born 1950: 75 (AGS Beers 2023: avoid from 65)
    soma = report.medications[0]
    assert (soma.strength_mg, soma.units_per_dose, soma.doses_per_day, soma.duration_days) == (350, 1, 4, 61)
    assert report.status.value == "findings"
    data = result.to_dict()
    assert data["fhir"]["patient"] == "Patient/p1"
    assert len(data["fhir"]["skipped"]) == 6


def test_code_is_preferred_and_text_alone_works(kb):
    coded = read_bundle(bundle(statement("m", text="Prosoma 500mg", code=SOMA_CODE)), kb)
    assert coded.medications == ("Prosoma 500mg",)  # the text agrees with the code, so its strength is kept
    disagree = read_bundle(bundle(statement("m", text="Xanax", code=SOMA_CODE)), kb)
    assert disagree.medications == ("carisoprodol",)  # the code wins over a text naming something else
    text_only = read_bundle(bundle(statement("m", text="Xanax 0.5 mg")), kb)
    assert text_only.medications == ("Xanax 0.5 mg",)


def test_dose_in_mg_timing_every_hours_and_supply_duration(kb):
    med = request("m", code=SOMA_CODE, dosage=[{
        "timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}},
        "doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mg", "code": "mg"}}]}],
        dispenseRequest={"expectedSupplyDuration": {"value": 4, "unit": "weeks", "code": "wk"}})
    report = screen_bundle(bundle(med), kb).report
    med = report.medications[0]
    assert (med.dose_mg, med.doses_per_day, med.duration_days) == (500, 4, 28)
    assert {f.kind.value for f in report.findings} >= {"dose", "duration"}


def test_unreadable_dose_unit_is_noted_not_guessed(kb):
    med = statement("m", code=SOMA_CODE, dosage=[{"doseAndRate": [{"doseQuantity": {"value": 5, "unit": "puffs"}}]}])
    inputs = read_bundle(bundle(med), kb)
    assert inputs.items[0].note == "dosage not read (a dose in 'puffs'): no dose checks"
    report = screen_bundle(bundle(med), kb).report
    assert report.medications[0].dose_mg is None
    assert report.status.value == "incomplete"
    assert "dose not checked for carisoprodol: could not read a dose in 'puffs'" in report.unrecognized[0].reason


def test_a_dose_in_ml_is_read_as_a_volume_with_no_strength_assumed(kb):
    med = statement("m", code=SOMA_CODE, dosage=[{"doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mL"}}]}])
    soma = screen_bundle(bundle(med), kb).report.medications[0]
    assert (soma.dosing.units_per_dose, soma.dosing.unit, soma.dose_mg) == (5, "mL", None)


def test_medication_reference_to_a_medication_in_the_bundle(kb):
    medication = {"resourceType": "Medication", "id": "med1",
                  "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": SOMA_CODE}]}}
    order = request("m", status="active")
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/med1"}
    inputs = read_bundle(bundle(medication, order), kb)
    assert inputs.medications == ("carisoprodol",)


def test_unrecognised_fhir_inputs_make_the_screen_incomplete(kb):
    result = screen_bundle(bundle(statement("m", text="xyzzymab 10 mg"), condition("c", "wobbly knees")), kb)
    assert result.report.status.value == "incomplete"
    assert {u.input for u in result.report.unrecognized} == {"xyzzymab 10 mg", "wobbly knees"}


def test_no_known_allergy_code_is_skipped(kb):
    nka = allergy("a", "No known drug allergy")
    nka["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "409137002"}]}
    inputs = read_bundle(bundle(nka), kb)
    assert inputs.allergies == () and inputs.skipped[0].reason == "records no known allergy"


# --- malformed bundles ------------------------------------------------------------------------


@pytest.mark.parametrize("doc, resource, field", [
    (bundle(statement("ms1", "Soma", dosage=[{"timing": {"repeat": {"frequency": "often"}}}])),
     "MedicationStatement/ms1", "dosage[0].timing.repeat.frequency"),
    (bundle({"resourceType": "MedicationStatement", "id": "ms9", "subject": {"reference": "Patient/p1"},
             "medicationCodeableConcept": {"text": "Soma"}}), "MedicationStatement/ms9", "status"),
    (bundle(patient("p1", "19x0")), "Patient/p1", "birthDate"),
    (bundle({"resourceType": "Frobnication", "id": "f1"}), "Frobnication/f1", "resourceType"),
    (bundle(condition("c1", "cirrhosis"), kind=""), "Bundle", "type"),
    (bundle(patient("p1"), statement("ms1", "Soma", pid="p2")), "MedicationStatement/ms1", "subject.reference"),
    ({"resourceType": "Patient", "id": "p1"}, "Bundle", "resourceType"),
])
def test_malformed_bundle_names_resource_and_field(kb, doc, resource, field):
    with pytest.raises(FhirError) as info:
        read_bundle(doc, kb)
    assert (info.value.resource, info.value.field) == (resource, field)
    assert resource in str(info.value) and field in str(info.value)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b'{"resourceType": "Bundle", "type": "collection", '
                                 b'"entry": [{"resource": {"resourceType": "Patient", "birthDate": NaN}}]}'])
def test_not_a_json_object_is_a_fhir_error(kb, raw):
    with pytest.raises(FhirError):
        read_bundle(raw, kb)


# --- the CLI ---------------------------------------------------------------------------------


def test_check_fhir_text_reports_sources_and_skips(runner, bundle_file):
    result = runner.invoke(cli, ["check", "--fhir", str(bundle_file)])
    assert result.exit_code == 1, result.output
    assert "FROM FHIR (Patient/p1)" in result.stdout
    assert '"icd10:K74.60" ← Condition/c1' in result.stdout
    assert "MedicationStatement/ms2: status is stopped" in result.stdout
    assert "AllergyIntolerance/a3: category is food: not a medication allergy" in result.stdout


def test_check_fhir_json_adds_the_fhir_key(runner, bundle_file):
    result = runner.invoke(cli, ["check", "--fhir", str(bundle_file), "-f", "json"])
    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert data["status"] == "findings"
    assert [i["resource"] for i in data["fhir"]["inputs"]][:2] == ["MedicationStatement/ms1", "MedicationRequest/mr1"]
    assert {s["resource"] for s in data["fhir"]["skipped"]} >= {"MedicationStatement/ms2", "Condition/c2"}


def test_check_fhir_format_validates_as_r4b_and_implicates_inputs(runner, bundle_file):
    result = runner.invoke(cli, ["check", "--fhir", str(bundle_file), "-f", "fhir"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    parsed = Bundle.model_validate(data)
    issues = [e.resource for e in parsed.entry if e.resource.get_resource_type() == "DetectedIssue"]
    assert issues and all(isinstance(i, DetectedIssue) for i in issues)
    by_code = {i.code.coding[0].code: i for i in issues if i.code.coding}
    allergy_issue = by_code["ALGY"]
    assert allergy_issue.severity == "high" and allergy_issue.patient.reference == "Patient/p1"
    assert {r.reference for r in allergy_issue.implicated} == {"MedicationStatement/ms1", "AllergyIntolerance/a1"}
    assert "setid=6297cf20-830a-11dc-94c8-0002a5d5c51b" in allergy_issue.reference
    assert "Path:" in allergy_issue.detail and "Do:" in allergy_issue.detail
    assert by_code["DRG"].severity == "high"
    assert by_code["COND"].severity == "moderate"
    assert {r.reference for r in by_code["COND"].implicated} == {"MedicationStatement/ms1", "Condition/c1"}
    assert {r.reference for r in by_code["GEALRT"].implicated} == {"MedicationStatement/ms1", "Patient/p1"}
    device = next(e.resource for e in parsed.entry if e.resource.get_resource_type() == "Device")
    versions = {v.type.text: v.value for v in device.version}
    assert versions["knowledge"].startswith("0.1.0+")
    outcome = next(e.resource for e in parsed.entry if e.resource.get_resource_type() == "OperationOutcome")
    assert any("MedicationStatement/ms2 not screened: status is stopped" in i.diagnostics for i in outcome.issue)


def test_plain_check_fhir_format_has_no_implicated(runner):
    result = runner.invoke(cli, ["check", "Soma 350 mg qid", "Xanax", "-c", "pregnancy", "-f", "fhir"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    Bundle.model_validate(data)
    issues = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "DetectedIssue"]
    assert issues
    assert all("implicated" not in i and "patient" not in i for i in issues)
    assert {i["severity"] for i in issues} <= {"high", "moderate", "low"}
    assert {c["code"] for i in issues for c in i["code"].get("coding", [])} >= {"DRG", "PREG"}


def test_minor_maps_to_low_and_incomplete_shows_in_operation_outcome(kb):
    report = kb.screen(["carisoprodol 500 mg", "xyzzymab"])
    data = detected_issues(report)
    Bundle.model_validate(data)
    severities = {e["resource"]["severity"] for e in data["entry"] if e["resource"]["resourceType"] == "DetectedIssue"}
    assert "low" in severities
    outcome = data["entry"][-1]["resource"]
    assert outcome["issue"][0]["code"] == "incomplete"
    assert any('"xyzzymab" not recognised' in i["diagnostics"] for i in outcome["issue"])


def test_fhir_ids_are_stable(kb):
    report = kb.screen(["Soma", "Xanax"])
    first, second = detected_issues(report), detected_issues(report)
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


def test_check_fhir_merges_command_line_inputs(runner, tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle(patient("p1", None), statement("ms1", "Soma"))))
    result = runner.invoke(cli, ["check", "--fhir", str(path), "Xanax", "-c", "pregnancy", "-f", "json"])
    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert {(i["input"], i["resource"]) for i in data["fhir"]["inputs"]} == {
        ("Soma", "MedicationStatement/ms1"), ("Xanax", ""), ("pregnancy", "")}
    fhir_out = runner.invoke(cli, ["check", "--fhir", str(path), "Xanax", "-f", "fhir"])
    issue = next(e["resource"] for e in json.loads(fhir_out.stdout)["entry"]
                 if e["resource"]["resourceType"] == "DetectedIssue")
    assert issue["implicated"] == [{"reference": "MedicationStatement/ms1"}]  # Xanax has no resource


def test_check_fhir_age_given_twice_is_a_usage_error(runner, bundle_file):
    result = runner.invoke(cli, ["check", "--fhir", str(bundle_file), "--age", "40"])
    assert result.exit_code == 2
    assert "the age is given twice" in result.stderr


def test_check_fhir_malformed_exits_2_naming_resource_and_field(runner, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle(statement("ms1", "Soma", dosage=[{"timing": {"repeat": {"frequency": "x"}}}]))))
    result = runner.invoke(cli, ["check", "--fhir", str(path)])
    assert result.exit_code == 2
    assert "Error: FHIR MedicationStatement/ms1: dosage[0].timing.repeat.frequency:" in result.stderr


def test_check_fhir_reads_stdin(runner):
    result = runner.invoke(cli, ["check", "--fhir", "-", "-f", "json"],
                           input=json.dumps(bundle(statement("ms1", "Soma"), statement("ms2", "Xanax"))))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["findings"][0]["kind"] == "drug-drug"


def test_explain_has_no_fhir_format(runner):
    result = runner.invoke(cli, ["explain", "Soma", "-f", "fhir"])
    assert result.exit_code == 2
    assert "use text or json" in result.stderr


def test_check_path_does_not_import_fhir_or_service_libraries():
    code = ("import sys; from screener.cli import cli\n"
            "try:\n    cli(['check', 'Soma', 'Xanax', '-f', 'fhir'], standalone_mode=False)\nexcept SystemExit: pass\n"
            "print(sorted(m for m in ('fastapi', 'pydantic', 'fhir.resources', 'uvicorn', 'starlette')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_readme_example_bundle(kb):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "fhir-example-bundle.json"
    result = screen_bundle(path.read_bytes(), kb, today=TODAY)
    assert [i.resource for i in result.inputs.items] == ["MedicationStatement/ms1", "MedicationRequest/mr1",
                                                         "Condition/c1"]
    assert {s.resource: s.reason for s in result.inputs.skipped} == {
        "MedicationStatement/ms2": "status is stopped", "AllergyIntolerance/a1": "clinicalStatus is resolved"}
    issues = [e["resource"] for e in detected_issues(result.report, result.inputs)["entry"]
              if e["resource"]["resourceType"] == "DetectedIssue"]
    assert [(i["severity"], i["code"]["coding"][0]["code"]) for i in issues] == [
        ("high", "DRG"), ("high", "GEALRT"), ("moderate", "COND")]


@pytest.mark.parametrize("status", ["provisional", "differential", "unconfirmed"])
def test_an_uncertain_condition_is_read_as_the_typed_uncertain_one(kb, status):
    # OSA provisional is not OSA: a rule is about it, so the screen is incomplete, as for a typed "? OSA".
    result = screen_bundle(bundle(statement("m", text="oxycodone"), condition("c1", icd10="G47.33",
                                                                              verification=status)), kb)
    report = result.report
    assert [f for f in report.findings if f.kind.value == "drug-condition"] == []
    [problem] = report.unrecognized
    assert (problem.input, problem.reason) == (
        f"{status}: icd10:G47.33", f"an uncertain diagnosis ('{status}' Obstructive sleep apnoea): neither screened "
                                   "as it nor ruled out; give 'icd10:G47.33' if the patient has it, or confirm it is "
                                   "absent")
    assert report.status.value == "incomplete"
    assert result.inputs.references(problem.input) == ("Condition/c1",)
    # No rule is about hypertension: recognised, whichever it is.
    other = screen_bundle(bundle(statement("m", text="oxycodone"), condition("c2", icd10="I10", verification=status)),
                          kb).report
    assert [n.text for n in other.noted] == [f"ICD-10-CM I10 Essential (primary) hypertension, uncertain "
                                             f"('{status}'): no rule here either way: recognised, no rules here"]
    assert other.unrecognized == ()


def test_a_confirmed_condition_is_screened_and_a_refuted_one_skipped(kb):
    confirmed = screen_bundle(bundle(statement("m", text="oxycodone"),
                                     condition("c1", icd10="G47.33", verification="confirmed")), kb).report
    assert [f.concepts[-1] for f in confirmed.findings if f.kind.value == "drug-condition"] == [
        "obstructive-sleep-apnea"]
    refuted = read_bundle(bundle(condition("c1", icd10="G47.33", verification="refuted")), kb)
    assert refuted.conditions == () and refuted.skipped[0].reason == "verificationStatus is refuted"
