"""Conditions written as a measurement or a grade: weeks of gestation, kidney function, Child-Pugh class.

Each is read by its published scale (`screener.recognize.measures`), or unread with the reason; none is left
"not recognised" for want of a name. Asserted through `screener check -f json`.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from screener.cli import cli


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def check(runner, condition: str) -> tuple[int, dict]:
    result = runner.invoke(cli, ["check", "Soma", "-c", condition, "-f", "json"])
    return result.exit_code, json.loads(result.stdout)


def screened_as(report: dict) -> list[str]:
    return [c["concept"] for c in report["screened"].get("conditions", [])]


def rules(report: dict) -> set[str]:
    return {f["rule"] for f in report["findings"]}


@pytest.mark.parametrize("written", ["pregnant 12 weeks", "12 weeks pregnant", "12 wks pregnant", "pregnant (12 weeks)",
                                     "pregnant 28+3 weeks gestation", "IUP at 8 weeks", "pregnant, 2nd trimester",
                                     "first trimester", "5 weeks pregnant", "43 weeks gestation pregnant"])
def test_weeks_of_gestation_or_a_trimester_are_pregnancy(runner, written):
    code, report = check(runner, written)
    assert screened_as(report) == ["pregnancy"] and "carisoprodol-pregnancy" in rules(report)
    assert code == 1 and not report["unrecognized"]


@pytest.mark.parametrize("written", ["eGFR 25", "GFR: 48 mL/min/1.73 m2", "CrCl < 30 mL/min", "creatinine clearance 40",
                                     "eGFR 75", "eGFR 89.9", "eGFR < 90", "eGFR 60-89", "eGFR ~40", "eGFR 1.6 mL/min"])
def test_a_kidney_function_under_90_is_renal_impairment(runner, written):
    # KDIGO 2012 G2-G5 (decreased); CKD stage 2 (N18.2, 60-89) already reads as renal impairment here.
    code, report = check(runner, written)
    assert screened_as(report) == ["renal-impairment"] and "carisoprodol-renal-impairment" in rules(report)
    assert code == 1 and not report["unrecognized"]


@pytest.mark.parametrize("written", ["eGFR 95", "eGFR >90", "CrCl 120 mL/min", "eGFR about 120"])
def test_a_kidney_function_of_90_or_more_is_recognised_and_meets_no_renal_rule(runner, written):
    _, report = check(runner, written)
    assert not report["unrecognized"] and "carisoprodol-renal-impairment" not in rules(report)
    assert report["status"] != "incomplete"
    assert "90 or more" in json.dumps(report)


@pytest.mark.parametrize(("written", "condition"), [("Child-Pugh B", "hepatic-impairment"),
                                                    ("child pugh class C", "hepatic-impairment"),
                                                    ("Child-Pugh score 8", "hepatic-impairment"),
                                                    ("Child–Pugh B", "hepatic-impairment"),
                                                    ("Child-Turcotte-Pugh B", "hepatic-impairment"),
                                                    ("CTP C", "hepatic-impairment"),
                                                    ("Child-Pugh B7", "hepatic-impairment"),
                                                    ("Child-Pugh A cirrhosis", "cirrhosis")])
def test_a_child_pugh_class_or_score_is_hepatic_impairment(runner, written, condition):
    code, report = check(runner, written)
    assert screened_as(report) == [condition] and "carisoprodol-hepatic-impairment" in rules(report)
    assert code == 1 and not report["unrecognized"]


@pytest.mark.parametrize(("written", "reason"), [
    ("eGFR > 30", ">30 mL/min does not say whether the kidney function is under 90 mL/min"),
    ("CrCl 300", "300 mL/min is outside the range of a kidney function"),
    ("pregnant 50 weeks", "50 weeks is not a week of a pregnancy (1 to 45)"),
    ("Child-Pugh score 3", "a Child-Pugh score of 3 is outside the scale (5 to 15)"),
    ("Child-Pugh A9", "Child-Pugh class A is not 9 points"),
    # About 90 is on neither side of 90; 80-100 neither.
    ("eGFR ~90", "~90 mL/min does not say whether the kidney function is under 90 mL/min"),
    ("eGFR 80-100", "80-100 mL/min does not say whether the kidney function is under 90 mL/min"),
    # Without a unit, 1.6 may be mL/s (SI): about 96 mL/min.
    ("eGFR 1.6", "1.6 without a unit may be mL/s (SI), not mL/min"),
    # A newborn's chart gives the patient's own gestational age at birth: never read as pregnancy.
    ("GA 30w", "a gestational age without 'pregnant' may be the patient's own at birth"),
    ("28 weeks gestation", "a gestational age without 'pregnant' may be the patient's own at birth"),
    # A result once is not the patient's state now.
    ("eGFR was 95", "not recognised as a condition"),
])
def test_a_measurement_off_its_scale_or_on_both_sides_of_it_is_unread(runner, written, reason):
    code, report = check(runner, written)
    assert code == 3 and report["status"] == "incomplete"
    assert len(report["unrecognized"]) == 1 and report["unrecognized"][0]["reason"].startswith(reason)
    assert not screened_as(report)


@pytest.mark.parametrize("written", ["no eGFR 25", "eGFR 25?", "r/o Child-Pugh B", "no pregnancy 12 weeks"])
def test_a_measurement_negated_or_uncertain_is_never_read_as_the_condition(runner, written):
    code, report = check(runner, written)
    assert not screened_as(report) and code == 3


@pytest.mark.parametrize("written", ["no eGFR 25", "r/o Child-Pugh B", "no pregnancy 12 weeks"])
def test_a_negated_measurement_says_it_is_read_neither_way(runner, written):
    _, report = check(runner, written)
    # Never "did you mean renal impairment?" for what the chart negated.
    assert report["unrecognized"] == [{"input": written, "field": "condition", "reason": (
        "a measurement written as absent, ruled out or uncertain is not read either way; give the patient's value"),
        "suggestions": []}]
