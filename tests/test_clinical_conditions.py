"""Clinical content of issue 13: respiratory conditions, safety-sensitive work, older adults, alcohol,
porphyria by type, carbamate allergies and acetaminophen summed across products.

Each test pins a rule id and a severity that a cited row of data/conditions.csv or data/dosing.csv gives
(docs/knowledge-decisions.md says why each grade is what it is).
"""

from __future__ import annotations

import json

import pytest

from screener.cli import cli


def findings(kb, meds, **patient):
    return [f.to_dict() for f in kb.screen(meds, **patient).findings]


def rules(kb, meds, **patient):
    return {(f["rule"], f["severity"]) for f in findings(kb, meds, **patient)}


def of_kind(kb, kind, meds, **patient):
    return [f for f in findings(kb, meds, **patient) if f["kind"] == kind]


# --- respiratory conditions -------------------------------------------------------------------------------


@pytest.mark.parametrize("condition", ["COPD", "J44.9", "emphysema", "chronic bronchitis", "J43.9", "J41.0"])
def test_copd_with_an_opioid_is_a_moderate_condition_finding(kb, condition):
    (finding,) = of_kind(kb, "drug-condition", ["oxycodone"], conditions=[condition])
    assert (finding["rule"], finding["severity"]) == ("opioids-respiratory-compromise", "moderate")
    assert finding["title"] == "oxycodone + Chronic obstructive pulmonary disease"
    assert "8220e596-f32e-49cf-a11c-0c79209c3633" in finding["sources"][0]


def test_copd_with_gabapentin_cites_the_fda_communication_of_december_2019(kb):
    (finding,) = of_kind(kb, "drug-condition", ["gabapentin"], conditions=["J44.9"])
    assert (finding["rule"], finding["severity"]) == ("gabapentinoids-respiratory-compromise", "moderate")
    assert finding["title"] == "gabapentin + Chronic obstructive pulmonary disease"
    assert "2019-12-19" in finding["sources"][0] and finding["evidence"] == "regulator"


def test_chronic_respiratory_failure_with_an_opioid_is_major(kb):
    for condition in ("J96.11", "chronic respiratory failure", "on home oxygen", "Z99.81"):
        assert ("opioids-respiratory-insufficiency", "major") in rules(kb, ["Norco"], conditions=[condition])


@pytest.mark.parametrize("condition", ["OSA", "G47.33", "obstructive sleep apnea", "sleep apnoea", "G47.30"])
def test_sleep_apnoea_with_an_opioid_and_with_diazepam(kb, condition):
    assert ("opioids-sleep-apnea", "moderate") in rules(kb, ["oxycodone"], conditions=[condition])
    assert ("diazepam-sleep-apnea", "contraindicated") in rules(kb, ["Valium"], conditions=[condition])


def test_sleep_apnoea_alone_is_not_a_gabapentinoid_rule(kb):
    """The FDA communication names COPD and reduced lung function, not sleep apnoea."""
    assert of_kind(kb, "drug-condition", ["gabapentin"], conditions=["OSA"]) == []


def test_copd_without_a_respiratory_depressant_gives_no_condition_finding(kb):
    assert of_kind(kb, "drug-condition", ["carisoprodol"], conditions=["COPD"]) == []


# --- safety-sensitive work ------------------------------------------------------------------------------------


@pytest.mark.parametrize("condition", ["truck driver", "commercial driver", "CDL", "pilot", "heavy machinery operator"])
def test_safety_sensitive_work_with_carisoprodol_is_major(kb, condition):
    (finding,) = of_kind(kb, "drug-condition", ["Soma 350 mg tid"], conditions=[condition])
    assert (finding["rule"], finding["severity"]) == ("carisoprodol-safety-sensitive-work", "major")
    assert finding["title"] == "carisoprodol + Safety-sensitive work or professional driving"
    assert "391.41(b)(12)" in finding["sources"][0]


def test_safety_sensitive_work_with_another_cns_depressant_is_moderate_and_the_counselling_stays(kb):
    assert ("cns-depressants-safety-sensitive-work", "moderate") in rules(kb, ["alprazolam"],
                                                                            conditions=["truck driver"])
    report = kb.screen(["Soma"], conditions=["truck driver"])
    assert "driving" in {c.topic for c in report.counselling}


# --- older adults ---------------------------------------------------------------------------------------------


def test_the_age_rule_starts_at_65_as_the_beers_criteria_do(kb, runner):
    (finding,) = of_kind(kb, "drug-age", ["carisoprodol"], age=65)
    assert (finding["rule"], finding["severity"]) == ("carisoprodol-age-over-65", "major")
    assert finding["title"] == "carisoprodol at age 65 (rule: >=65)"
    assert "doi 10.1111/jgs.18372" in finding["sources"][0]
    assert of_kind(kb, "drug-age", ["carisoprodol"], age=64) == []
    assert of_kind(kb, "drug-age", ["carisoprodol"], age=64.9) == []
    result = runner.invoke(cli, ["check", "carisoprodol", "--age", "65", "--format", "json"])
    assert result.exit_code == 1
    assert [f["rule"] for f in json.loads(result.stdout)["findings"]] == ["carisoprodol-age-over-65"]


# --- alcohol graded by what was said --------------------------------------------------------------------------


@pytest.mark.parametrize("condition, rule, severity", [
    ("social drinker", "carisoprodol-alcohol-use", "moderate"),
    ("drinks alcohol", "carisoprodol-alcohol-use", "moderate"),
    ("F10.90", "carisoprodol-alcohol-use", "moderate"),
    ("F10.99", "carisoprodol-alcohol-use", "moderate"),
    ("alcohol use disorder", "carisoprodol-alcohol-use-disorder", "major"),
    ("alcoholism", "carisoprodol-alcohol-use-disorder", "major"),
    ("F10.10", "carisoprodol-alcohol-use-disorder", "major"),
    ("F10.20", "carisoprodol-alcohol-use-disorder", "major"),
    ("F10.21", "carisoprodol-alcohol-use-disorder", "major"),
])
def test_alcohol_use_is_not_alcohol_use_disorder(kb, condition, rule, severity):
    (finding,) = of_kind(kb, "drug-condition", ["carisoprodol"], conditions=[condition])
    assert (finding["rule"], finding["severity"]) == (rule, severity)


# --- porphyria by type ----------------------------------------------------------------------------------------


def test_porphyria_codes_by_type(kb):
    assert rules(kb, ["carisoprodol"], conditions=["E80.21"]) == {("carisoprodol-acute-intermittent-porphyria",
                                                                   "contraindicated")}
    assert rules(kb, ["carisoprodol"], conditions=["E80.29"]) == {("carisoprodol-acute-hepatic-porphyria", "major")}
    assert rules(kb, ["carisoprodol"], conditions=["hereditary coproporphyria"]) == {
        ("carisoprodol-acute-hepatic-porphyria", "major")}
    assert rules(kb, ["carisoprodol"], conditions=["E80.20"]) == {("carisoprodol-porphyria", "major")}
    # Cutaneous forms are recognised, with no carisoprodol rule (the label contraindicates an acute type).
    for condition in ("E80.1", "E80.0", "porphyria cutanea tarda", "erythropoietic protoporphyria"):
        report = kb.screen(["carisoprodol"], conditions=[condition])
        assert not report.findings
        assert not report.unrecognized


def test_meprobamate_keeps_its_porphyria_rules_for_the_acute_types(kb):
    assert ("meprobamate-acute-intermittent-porphyria", "contraindicated") in rules(kb, ["meprobamate"],
                                                                                    conditions=["E80.21"])
    assert ("meprobamate-porphyria", "major") in rules(kb, ["meprobamate"], conditions=["E80.29"])


# --- carbamate allergies --------------------------------------------------------------------------------------


def test_methocarbamol_and_felbamate_allergies_with_carisoprodol(kb):
    (metho,) = of_kind(kb, "drug-allergy", ["carisoprodol"], allergies=["methocarbamol"])
    assert (metho["rule"], metho["severity"]) == ("carisoprodol-allergy-methocarbamol", "moderate")
    assert metho["title"] == "carisoprodol + methocarbamol"
    (robaxin,) = of_kind(kb, "drug-allergy", ["carisoprodol"], allergies=["Robaxin"])
    assert robaxin["rule"] == "carisoprodol-allergy-methocarbamol"
    (felb,) = of_kind(kb, "drug-allergy", ["carisoprodol"], allergies=["felbamate"])
    assert (felb["rule"], felb["severity"]) == ("carisoprodol-allergy-felbamate", "contraindicated")
    assert ("carisoprodol-allergy-carbamates", "contraindicated") in rules(kb, ["carisoprodol"],
                                                                          allergies=["meprobamate"])


def test_felbamate_itself_is_contraindicated_after_a_carbamate_allergy(kb):
    assert ("felbamate-allergy-carbamates", "contraindicated") in rules(kb, ["felbamate"], allergies=["carisoprodol"])
    assert ("meprobamate-allergy-methocarbamol", "moderate") in rules(kb, ["meprobamate"],
                                                                      allergies=["methocarbamol"])


# --- acetaminophen summed across products ---------------------------------------------------------------------


def test_acetaminophen_from_norco_and_tylenol_is_summed_into_one_daily_dose_finding(kb):
    doses = of_kind(kb, "dose", ["Norco 10/325 2 tabs q4h", "Tylenol Extra Strength 500 mg 2 tabs qid"])
    assert [(f["rule"], f["severity"], f["title"]) for f in doses] == [
        ("acetaminophen-max-daily-dose", "major", "acetaminophen 7,900 mg a day (limit 4,000 mg)"),
        # Norco's hydrocodone, 10 mg × 2 tablets × 6 a day, is also 120 MME a day (CDC 2022 factor 1).
        ("opioids-mme-50", "moderate", "Opioids 120 MME a day: hydrocodone 120 mg × 1 (threshold 50 MME a day)")]
    assert of_kind(kb, "dose", ["Tylenol Extra Strength 500 mg 2 tabs qid"]) == []  # exactly 4,000 mg
    assert [f["rule"] for f in of_kind(kb, "dose", ["Norco 10/325 2 tabs q4h"])] == ["opioids-mme-50"]  # 3,900 mg


# --- codeine and tramadol in children and while breastfeeding (FDA, 2017-04-20) ---------------------------------


@pytest.mark.parametrize(("meds", "age", "rule"), [
    (["Tylenol #3 1 tab q6h"], 8, "codeine-age-under-12"),
    (["Soma Compound with Codeine 1 tab qid"], 10, "codeine-age-under-12"),
    (["tramadol 50 mg q6h"], 11, "tramadol-age-under-12"),
])
def test_codeine_and_tramadol_are_contraindicated_under_12(kb, meds, age, rule):
    (finding,) = [f for f in of_kind(kb, "drug-age", meds, age=age) if f["rule"] == rule]
    assert finding["severity"] == "contraindicated" and finding["evidence"] == "regulator"
    assert "2017-04-20" in finding["sources"][0]


def test_at_12_and_over_the_under_12_rules_do_not_fire(kb):
    assert not [f for f in of_kind(kb, "drug-age", ["Tylenol #3", "tramadol"], age=12)
                if f["rule"] in ("codeine-age-under-12", "tramadol-age-under-12")]


@pytest.mark.parametrize(("meds", "rule"), [(["Tylenol #3"], "codeine-lactation"),
                                            (["tramadol 50 mg"], "tramadol-lactation")])
def test_codeine_and_tramadol_while_breastfeeding_are_major(kb, meds, rule):
    assert (rule, "major") in rules(kb, meds, conditions=["breastfeeding"])
