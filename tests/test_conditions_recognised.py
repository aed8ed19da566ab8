"""Conditions and allergies recognised without a rule here are shown, never "incomplete" (issue 13, points 1-2).

Every ICD-10-CM code of the bundled release is known; common names and abbreviations
(data/condition_names.csv) resolve to ICD-10-CM codes; non-drug allergens
(data/allergens.csv) are recognised as not drug-related. Only invalid codes and
text nobody can place are unrecognised.
"""

from __future__ import annotations

import csv
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import screener
from screener.cli import cli
from screener.model import Status


@pytest.mark.parametrize("text, recognised_as", [
    ("HTN", "ICD-10-CM I10 Essential (primary) hypertension"),
    ("hypertension", "ICD-10-CM I10 Essential (primary) hypertension"),
    ("T2DM", "ICD-10-CM E11.9 Type 2 diabetes mellitus without complications"),
    ("E119", "ICD-10-CM E11.9 Type 2 diabetes mellitus without complications"),
    ("e11.9", "ICD-10-CM E11.9 Type 2 diabetes mellitus without complications"),
    ("icd10:E11.9", "ICD-10-CM E11.9 Type 2 diabetes mellitus without complications"),
    ("http://hl7.org/fhir/sid/icd-10-cm|E11.9", "ICD-10-CM E11.9 Type 2 diabetes mellitus without complications"),
    ("GERD", "ICD-10-CM K21.9 Gastro-esophageal reflux disease without esophagitis"),
    ("CHF", "ICD-10-CM I50.9 Heart failure, unspecified"),
    ("AFib", "ICD-10-CM I48.91 Unspecified atrial fibrillation"),
    ("asthma", "ICD-10-CM J45.909 Unspecified asthma, uncomplicated"),
    ("E11", "ICD-10-CM E11 Type 2 diabetes mellitus"),
])
def test_a_common_condition_no_rule_is_about_is_recognised_not_incomplete(text, recognised_as):
    report = screener.screen(["carisoprodol"], conditions=[text])
    assert report.status is Status.NO_FINDINGS
    [noted] = report.noted
    assert (noted.input, noted.field, noted.recognised_as) == (text, "condition", recognised_as)


def test_a_name_or_code_the_knowledge_has_rules_for_reaches_its_rule():
    for text in ("ESRD on dialysis", "N18.6"):
        report = screener.screen(["carisoprodol"], conditions=[text])
        assert report.conditions == ((text, "end-stage-renal-disease"),)
        assert report.findings and not report.noted


@pytest.mark.parametrize("text, reason, suggestions", [
    ("E11.99", "E11.99 is not in ICD-10-CM April 2026 (CMS); the nearest code above it is E11.9", ("E11.9",)),
    ("bad knee", "not recognised as a condition, a common name of one, or an ICD-10-CM code", ()),
    ("hypertenshun", "not recognised as a condition, a common name of one, or an ICD-10-CM code",
     ("hypertension",)),
])
def test_only_invalid_codes_and_text_nobody_can_place_are_unrecognised(text, reason, suggestions):
    report = screener.screen(["carisoprodol"], conditions=[text])
    assert report.status is Status.INCOMPLETE
    [item] = report.unrecognized
    assert item.reason == reason
    assert item.suggestions[: len(suggestions)] == suggestions


@pytest.mark.parametrize("text, recognised_as", [
    ("latex", "an environment allergen, not a medication"),
    ("peanuts", "a food allergen, not a medication"),
    ("Shellfish", "a food allergen, not a medication"),
    ("bee stings", "an environment allergen, not a medication"),
])
def test_a_non_drug_allergy_is_recognised_as_not_drug_related(text, recognised_as):
    report = screener.screen(["carisoprodol"], allergies=[text])
    assert report.status is Status.NO_FINDINGS
    assert [(n.input, n.recognised_as) for n in report.noted] == [(text, recognised_as)]


@pytest.mark.parametrize("text", ["NKDA", "NKA", "nkma", "No known drug allergies", "no allergies", "none known"])
def test_no_known_allergies_records_none(text):
    report = screener.screen(["carisoprodol"], allergies=[text])
    assert (report.allergies, report.noted, report.unrecognized) == ((), (), ())


def test_nkfa_says_nothing_about_drugs_and_is_not_taken_as_no_allergies():
    assert screener.screen(["carisoprodol"], allergies=["NKFA"]).status is Status.INCOMPLETE


def test_the_report_shows_what_each_was_recognised_as(runner):
    result = runner.invoke(cli, ["check", "meprobamate", "-c", "HTN", "-a", "latex", "--width", "100"])
    assert result.exit_code == 0, result.output
    assert ('  condition  "HTN" → ICD-10-CM I10 Essential (primary) hypertension: recognised, no rules here\n'
            '  allergy    "latex" → an environment allergen, not a medication: recognised, no rules here\n'
            ) in result.stdout
    report = json.loads(runner.invoke(cli, ["check", "meprobamate", "-c", "HTN", "-f", "json"]).stdout)
    assert report["status"] == "no-findings"
    assert report["screened"]["noted"] == [{"input": "HTN", "field": "condition",
                                            "recognised_as": "ICD-10-CM I10 Essential (primary) hypertension",
                                            "code": "icd10:I10", "rules": "none in this knowledge base"}]


def test_batch_patients_with_ordinary_comorbidities_are_not_incomplete(runner, tmp_path):
    patients = tmp_path / "p.csv"
    patients.write_text("patient_id,medications,conditions,allergies,age\n"
                        "1,meprobamate,HTN; E11.9; GERD,latex; NKDA,70\n"
                        "2,meprobamate,E11.99,,40\n", encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(patients), "-o", str(tmp_path / "f.csv"), "--patients",
                                 str(tmp_path / "s.csv")])
    assert result.exit_code in (0, 3), result.output
    rows = {r["patient_id"]: r for r in csv.DictReader((tmp_path / "s.csv").open(encoding="utf-8"))}
    assert rows["1"]["status"] != "incomplete"
    assert rows["2"]["status"] == "incomplete" and "E11.99 is not in ICD-10-CM" in rows["2"]["unrecognized"]


def test_a_fhir_condition_coded_in_icd10cm_is_recognised(runner, tmp_path):
    from fhir_fixtures import bundle, patient, statement

    condition = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                 "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                "code": "active"}]},
                 "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]}}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle(patient(), statement("m1", text="meprobamate"), condition)), encoding="utf-8")
    report = json.loads(runner.invoke(cli, ["check", "--fhir", str(path), "-f", "json"]).stdout)
    assert report["unrecognized"] == []
    assert report["screened"]["noted"][0]["code"] == "icd10:I10"


def _every_code() -> list[str]:
    from screener.icd10cm import load_icd10cm
    from screener.paths import bundled_data_dir

    table = load_icd10cm(str(bundled_data_dir()))
    assert table is not None
    return [c.code for c in table.codes() if not c.is_block]


EVERY_CODE = _every_code()


@settings(max_examples=300, deadline=None)
@given(code=st.sampled_from(EVERY_CODE), undotted=st.booleans(), lower=st.booleans())
def test_every_valid_icd10cm_code_is_recognised_in_any_written_form(code, undotted, lower):
    written = code.replace(".", "") if undotted else code
    written = written.lower() if lower else written
    report = screener.screen(["meprobamate"], conditions=[written])
    assert report.unrecognized == ()
    recognised = report.conditions or tuple((n.input, n.code) for n in report.noted)
    assert len(recognised) == 1


@pytest.mark.parametrize("text, concept", [
    ("PCN (hives)", "penicillins"), ("sulfa - rash", "sulfonamide-antibiotics"),
    ("Penicillin: anaphylaxis", "penicillins"), ("Soma (rash)", "soma"),
])
def test_an_allergy_written_with_its_reaction_is_read_by_its_name(text, concept):
    report = screener.screen(["amoxicillin", "Soma", "Bactrim"], allergies=[text])
    assert report.allergies == ((text, concept),)
    assert any(f.kind.value == "drug-allergy" and text in f.inputs for f in report.findings)


def test_a_reaction_does_not_make_an_unknown_allergen_known():
    report = screener.screen(["Soma"], allergies=["qwz (rash)"])
    assert [u.input for u in report.unrecognized] == ["qwz (rash)"]
