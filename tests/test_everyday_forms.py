"""Everyday ways of writing conditions, allergies and medications, found by a new-user trial (issue 13).

History prefixes ("h/o COPD", "hx of asthma", "s/p CABG", "family history of …"), allergy cells listing
several with commas, CKD stages as clinicians write them, error-prone abbreviations that are never
guessed (T3), heroin and non-medical drug use; and the clinical rows those readings reach (opioids in
acute/severe asthma and GI obstruction, quazepam in sleep apnoea, macrolide and tetracycline allergies).
Everything is asserted through `screener check -f json`; decisions are in docs/knowledge-decisions.md.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from screener.cli import cli


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def check(runner, meds, conditions=(), allergies=()):
    args = ["check", *meds, "-f", "json"]
    for c in conditions:
        args += ["-c", c]
    for a in allergies:
        args += ["-a", a]
    result = runner.invoke(cli, args)
    assert result.exit_code in (0, 1, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def condition_findings(report):
    return [(f["severity"], f["concepts"][-1], f["inputs"][-1]) for f in report["findings"]
            if f["kind"] == "drug-condition"]


def noted(report):
    return {n["input"]: n["recognised_as"] for n in report["screened"]["noted"]}


def unrecognised(report):
    return {u["input"]: (u["reason"], u["suggestions"]) for u in report["unrecognized"]}


# --- condition history prefixes ------------------------------------------------------------


@pytest.mark.parametrize("written", ["h/o COPD", "hx of COPD", "Hx COPD", "history of COPD", "PMH: COPD",
                                     "past history of COPD", "h/oCOPD"])
def test_a_history_of_a_chronic_condition_is_screened_as_it(runner, written):
    code, report = check(runner, ["oxycodone"], [written])
    assert condition_findings(report) == [("moderate", "copd", written)]
    assert code == 1 and report["unrecognized"] == []


@pytest.mark.parametrize(("written", "condition"), [
    ("hx of status asthmaticus", "Acute or severe bronchial asthma"),
    ("history of bowel obstruction", "Gastrointestinal obstruction or paralytic ileus"),
    ("h/o pregnancy", "Pregnancy"),
])
def test_a_history_of_an_episode_is_recognised_not_screened_as_current(runner, written, condition):
    _, report = check(runner, ["oxycodone", "Soma"], [written])
    assert condition_findings(report) == []
    prefix = re.match(r"^(hx of|history of|h/o)", written).group(1)
    assert noted(report) == {written: f"a history of {condition}: a past episode, not screened as current "
                                      f"(give it without '{prefix}' if it is current)"}
    assert report["unrecognized"] == []


def test_the_same_episode_now_is_screened(runner):
    _, report = check(runner, ["oxycodone"], ["status asthmaticus"])
    assert condition_findings(report) == [("contraindicated", "acute-severe-asthma", "status asthmaticus")]


@pytest.mark.parametrize(("written", "what"), [
    ("family history of alcoholism", "Alcohol use disorder"),
    ("FHx COPD", "Chronic obstructive pulmonary disease"),
    ("fam hx of hypertension", "ICD-10-CM I10 Essential (primary) hypertension"),
])
def test_a_family_history_is_never_the_patients_own_condition(runner, written, what):
    _, report = check(runner, ["Soma", "oxycodone"], [written])
    assert condition_findings(report) == []
    assert noted(report) == {written: f"a family history of {what}: not the patient's own condition"}
    assert report["unrecognized"] == []


def test_status_post_a_procedure_is_its_status_code(runner):
    _, report = check(runner, ["Soma"], ["s/p CABG", "s/p kidney transplant"])
    assert noted(report) == {"s/p CABG": "ICD-10-CM Z95.1 Presence of aortocoronary bypass graft",
                             "s/p kidney transplant": "s/p ICD-10-CM Z94.0 Kidney transplant status"}
    assert report["unrecognized"] == []


def test_a_history_of_something_unknown_stays_unrecognised(runner):
    code, report = check(runner, ["Soma"], ["h/o xyzzy"])
    assert code == 3
    assert unrecognised(report) == {"h/o xyzzy": (
        "h/o 'xyzzy': not recognised as a condition, a common name of one, or an ICD-10-CM code", [])}


def test_a_whole_name_with_history_in_it_wins_over_the_prefix(runner):
    # "history of DVT" is a code of its own (a personal history), not DVT now.
    _, report = check(runner, ["Soma"], ["history of DVT"])
    assert noted(report) == {
        "history of DVT": "ICD-10-CM Z86.718 Personal history of other venous thrombosis and embolism"}


# --- allergy cells that list several ------------------------------------------------------


def test_an_allergy_cell_with_commas_is_read_entry_by_entry(runner):
    code, report = check(runner, ["amoxicillin", "sulfamethoxazole"], [], ["PCN, sulfa, latex"])
    allergies = [(a["input"], a["concept"]) for a in report["screened"]["allergies"]]
    assert allergies == [("PCN", "penicillins"), ("sulfa", "sulfonamide-antibiotics")]
    assert noted(report) == {"latex": "an environment allergen, not a medication"}
    kinds = sorted((f["kind"], f["concepts"][0], f["inputs"][-1]) for f in report["findings"]
                   if f["kind"] == "drug-allergy")
    assert kinds == [("drug-allergy", "amoxicillin", "PCN"),
                     ("drug-allergy", "sulfamethoxazole", "sulfa")]
    # amoxicillin and sulfamethoxazole have allergy rules but no interaction rules: "not covered" for those.
    assert code == 1 and [u["field"] for u in report["unrecognized"]] == ["medication", "medication"]


def test_commas_inside_a_reaction_do_not_split(runner):
    _, report = check(runner, ["Soma"], [], ["meprobamate - hives, rash", "PCN (hives, rash), codeine"])
    allergies = [(a["input"], a["concept"]) for a in report["screened"]["allergies"]]
    assert allergies == [("meprobamate - hives, rash", "meprobamate"), ("PCN (hives, rash)", "penicillins"),
                         ("codeine", "codeine")]


def test_an_unknown_entry_in_a_list_is_reported_not_dropped(runner):
    code, report = check(runner, ["Soma"], [], ["sulfa, xyzzy"])
    assert code == 3
    assert list(unrecognised(report)) == ["xyzzy"]
    assert [a["input"] for a in report["screened"]["allergies"]] == ["sulfa"]


# --- CKD as clinicians write it ---------------------------------------------------------------


@pytest.mark.parametrize(("written", "condition"), [
    ("CKD4", "ckd-stage-4"), ("CKD stage 4", "ckd-stage-4"), ("CKD IV", "ckd-stage-4"), ("CKD stage IV", "ckd-stage-4"),
    ("CKD III", "ckd-stage-3"), ("CKD3b", "ckd-stage-3"), ("CKD stage IIIa", "ckd-stage-3"), ("CKD5", "ckd-stage-5"),
    ("CKD 5D", "end-stage-renal-disease"), ("ESRD on HD", "end-stage-renal-disease"),
    ("ESRD on PD", "end-stage-renal-disease"), ("on HD", "end-stage-renal-disease"), ("CKD2", "renal-impairment"),
])
def test_ckd_stages_are_read(runner, written, condition):
    _, report = check(runner, ["Soma"], [written])
    assert condition_findings(report) == [("moderate", condition, written)]


def test_ckd_stage_1_is_recognised_with_no_rule(runner):
    code, report = check(runner, ["Soma"], ["CKD I"])
    assert condition_findings(report) == [] and report["unrecognized"] == [] and code == 0


# --- never guessed: error-prone abbreviations ---------------------------------------------------


def test_t3_is_not_guessed(runner):
    code, report = check(runner, ["T3 1 tab q6h", "Soma"])
    assert code == 3
    assert unrecognised(report) == {"T3 1 tab q6h": (
        "'T3' is an error-prone abbreviation (it may mean liothyronine or acetaminophen and codeine (Tylenol with "
        "Codeine No. 3)); it is never guessed: write the medicine's name",
        ["liothyronine", "acetaminophen and codeine (Tylenol with Codeine No. 3)"])}
    assert [(m["input"], m["concepts"]) for m in report["screened"]["medications"]] == [
        ("T3 1 tab q6h", []), ("Soma", ["carisoprodol"])]


def test_an_ambiguous_allergy_is_not_guessed(runner):
    _, report = check(runner, ["Soma"], [], ["MS"])
    assert unrecognised(report)["MS"][1] == ["morphine sulfate", "magnesium sulfate"]


def test_a_longer_name_that_starts_with_an_abbreviation_is_read(runner):
    _, report = check(runner, ["MS Contin 15 mg bid", "Tylenol #3"])
    assert [m["concepts"] for m in report["screened"]["medications"]] == [["morphine"], ["acetaminophen", "codeine"]]
    assert report["unrecognized"] == []


# --- heroin and non-medical drug use ------------------------------------------------------------


def test_heroin_is_an_opioid(runner):
    _, report = check(runner, ["Soma", "heroin"])
    pairs = [(f["severity"], f["rule"]) for f in report["findings"] if f["kind"] == "drug-drug"]
    assert pairs == [("major", "carisoprodol+opioids")]
    assert report["unrecognized"] == []


@pytest.mark.parametrize("written", ["heroin use", "IVDU", "IV drug use", "F11.90", "F19.90", "illicit drug use"])
def test_non_medical_drug_use_meets_the_carisoprodol_abuse_rule(runner, written):
    _, report = check(runner, ["Soma"], [written])
    assert condition_findings(report) == [("major", "nonmedical-drug-use", written)]


@pytest.mark.parametrize("written", ["opioid use disorder", "OUD", "F11.20", "heroin addiction"])
def test_opioid_use_disorder_stays_a_use_disorder(runner, written):
    _, report = check(runner, ["Soma"], [written])
    assert condition_findings(report) == [("major", "opioid-use-disorder", written)]


# --- the clinical rows they reach, each with a source a pharmacist can look up ---------------------


SETID = re.compile(r"setid [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.mark.parametrize(("meds", "conditions", "allergies", "rule", "severity"), [
    (["oxycodone"], ["J45.902"], [], "opioids-acute-severe-asthma", "contraindicated"),
    (["Norco"], ["severe persistent asthma"], [], "opioids-acute-severe-asthma", "contraindicated"),
    (["morphine"], ["K56.0"], [], "opioids-gi-obstruction", "contraindicated"),
    (["hydromorphone"], ["small bowel obstruction"], [], "opioids-gi-obstruction", "contraindicated"),
    (["quazepam"], ["G47.33"], [], "quazepam-sleep-apnea", "contraindicated"),
    (["quazepam"], ["chronic respiratory failure"], [], "quazepam-respiratory-insufficiency", "contraindicated"),
    (["clarithromycin"], [], ["azithromycin"], "clarithromycin-allergy-macrolides", "contraindicated"),
    (["erythromycin"], [], ["macrolides"], "erythromycin-allergy-macrolides", "contraindicated"),
    (["minocycline"], [], ["doxycycline"], "minocycline-allergy-tetracyclines", "contraindicated"),
    (["tetracycline"], [], ["tetracyclines"], "tetracycline-allergy-tetracyclines", "contraindicated"),
])
def test_the_new_rows_fire_with_a_label_source(runner, meds, conditions, allergies, rule, severity):
    _, report = check(runner, meds, conditions, allergies)
    hits = [f for f in report["findings"] if f["rule"] == rule]
    assert [f["severity"] for f in hits] == [severity]
    assert SETID.search(" ".join(hits[0]["sources"]))


def test_uncomplicated_asthma_is_not_the_contraindication(runner):
    code, report = check(runner, ["oxycodone"], ["asthma", "J45.40"])
    assert condition_findings(report) == [] and code == 0


# --- a condition as a combination operand ---------------------------------------------------------


def test_carisoprodol_with_another_cns_depressant_in_respiratory_disease(runner):
    _, report = check(runner, ["Soma 350 mg tid", "Xanax 0.5 mg bid"], ["h/o COPD"])
    combos = [f for f in report["findings"] if f["kind"] == "combination"]
    assert [(f["rule"], f["severity"], f["inputs"], f["concepts"]) for f in combos] == [
        ("carisoprodol+cns-depressants+respiratory-compromise", "moderate",
         ["Soma 350 mg tid", "Xanax 0.5 mg bid", "h/o COPD"], ["carisoprodol", "alprazolam", "copd"])]
    assert combos[0]["path"][-4:] == ['"h/o COPD"', "copd", "respiratory-compromise",
                                      "⟷ rule:carisoprodol+cns-depressants+respiratory-compromise"]
    # Without the condition, or without a second CNS depressant, it does not fire.
    for meds, conditions in ((["Soma", "Xanax"], []), (["Soma"], ["COPD"]), (["Soma", "Xanax"], ["hx of asthma"])):
        _, report = check(runner, meds, conditions)
        assert [f for f in report["findings"] if f["kind"] == "combination"] == []


def test_batch_gives_check_the_condition_combination(tmp_path):
    # A layer rule whose drugs and condition no other rule joins: only the combination's own trigger can
    # flag these patients and keep their condition for the walk.
    import pandas as pd

    import screener
    from screener.batch import screen_frame

    layer = tmp_path / "local"
    layer.mkdir()
    (layer / "interactions.csv").write_text(
        "id,kind,a,b,c,severity,summary,mechanism,advice,plain,evidence,source\n"
        "omeprazole+nsaids+ckd-stage-1,combination,omeprazole,nsaids,ckd-stage-1,minor,a local rule,,adv,pl,"
        "label,Local P&T 2026-11\n", encoding="utf-8")
    kb = screener.load_knowledge(layers=[layer])
    patients = [("a", ["omeprazole", "ibuprofen"], ["CKD I"]), ("b", ["omeprazole", "ibuprofen"], []),
                ("c", ["omeprazole", "ibuprofen"], ["N18.1", "HTN"]), ("d", ["omeprazole"], ["CKD I"]),
                ("e", ["Soma", "Xanax"], ["COPD"])]
    frame = pd.DataFrame({"patient_id": [p for p, _, _ in patients],
                          "medications": ["; ".join(m) for _, m, _ in patients],
                          "conditions": ["; ".join(c) for _, _, c in patients],
                          "allergies": [""] * len(patients), "age": [""] * len(patients)})
    findings, _ = screen_frame(frame, knowledge=kb)
    got = findings.to_pandas() if hasattr(findings, "to_pandas") else findings
    batch = {p: sorted(got.loc[got["patient_id"] == p, "rule"]) for p, _, _ in patients}
    library = {p: sorted(f.rule_id for f in kb.screen(m, c, [], None).findings) for p, m, c in patients}
    assert batch == library
    assert "omeprazole+nsaids+ckd-stage-1" in batch["a"] and "omeprazole+nsaids+ckd-stage-1" in batch["c"]
    assert "carisoprodol+cns-depressants+respiratory-compromise" in batch["e"]
