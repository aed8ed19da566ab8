"""Opioid dose in morphine milligram equivalents (CDC 2022 factors, data/mme_factors.csv)."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

import screener
from screener.cli import cli
from screener.paths import bundled_data_dir


def mme_titles(*entries: str) -> list[str]:
    report = screener.screen(list(entries))
    return [f.title for f in report.findings if f.rule_id == "opioids-mme-50"]


def test_the_bundled_factors_are_the_cdc_2022_table():
    with (bundled_data_dir() / "mme_factors.csv").open(encoding="utf-8") as handle:
        rows = {r["drug"]: r for r in csv.DictReader(handle)}
    assert {d: (r["unit"], r["factor"]) for d, r in rows.items()} == {
        "codeine": ("mg", "0.15"), "fentanyl": ("mcg/hr", "2.4"), "hydrocodone": ("mg", "1.0"),
        "hydromorphone": ("mg", "5.0"), "methadone": ("mg", "4.7"), "morphine": ("mg", "1.0"),
        "oxycodone": ("mg", "1.5"), "oxymorphone": ("mg", "3.0"), "tapentadol": ("mg", "0.4"),
        "tramadol": ("mg", "0.2"), "buprenorphine": ("mg", "")}
    assert all("MMWR Recomm Rep 2022;71(No. RR-3)" in r["source"] for r in rows.values())
    assert all(r["checked"] and "cqframework/opioid-cds-r4" in r["checked_against"] for r in rows.values())


def test_the_factor_rows_quote_the_tables_own_cautions_and_footnotes():
    with (bundled_data_dir() / "mme_factors.csv").open(encoding="utf-8") as handle:
        rows = {r["drug"]: r["source"] for r in csv.DictReader(handle)}
    # Buprenorphine: Table cautions 6-7 first; the CDC's 2018 letter only as background.
    assert rows["buprenorphine"].index("partial µ-receptor agonist activity") < rows["buprenorphine"].index(
        "Background: CDC letter to the American Society of Addiction Medicine, 2018-01-04")
    assert "should not be applied to dosage decisions related to the management of opioid use disorder" in rows[
        "buprenorphine"]
    for drug in ("tapentadol", "tramadol"):
        assert f"it is unknown whether {drug} is associated with overdose in the same dose-dependent manner" in rows[
            drug]
    # The dose tiers were CDC's 2016-era calculating sheet, not a guideline.
    assert "2016-era sheet 'Calculating Total Daily Dose of Opioids for Safer Dosage'" in rows["methadone"]


@pytest.mark.parametrize(("entries", "title"), [
    (["oxycodone 10 mg q6h"], "Opioids 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day)"),
    (["methadone 10 mg tid"], "Opioids 141 MME a day: methadone 30 mg × 4.7 (threshold 50 MME a day)"),
    (["oxycodone 5 mg q6h", "Norco 10/325 q6h"],
     "Opioids 70 MME a day: oxycodone 20 mg × 1.5 + hydrocodone 40 mg × 1 (threshold 50 MME a day)"),
    (["tramadol 50 mg q6h"], None),           # 200 mg × 0.2 = 40 MME: under 50
    (["hydromorphone 2 mg q4h"], "Opioids 60 MME a day: hydromorphone 12 mg × 5 (threshold 50 MME a day)"),
    # Tylenol #3 is 300/30 mg and #4 300/60 mg (their label): once one product of two strengths, no MME.
    (["Tylenol #3 2 tabs q4h"], "Opioids 54 MME a day: codeine 360 mg × 0.15 (threshold 50 MME a day)"),
    (["Tylenol #4 1 tab q4h"], "Opioids 54 MME a day: codeine 360 mg × 0.15 (threshold 50 MME a day)"),
    (["Tylenol with Codeine 2 tabs q4h"], None),   # which of the two: not known, so no total
    # Each number of a pair in its own unit: 0.3 g/30 mg is 300 and 30 mg, never 300 and 30,000 mg; and
    # 10 mg/0.325 g is 10 and 325 mg, never 10 and 0.325 mg.
    (["acetaminophen/codeine 0.3 g/60 mg q4h"], "Opioids 54 MME a day: codeine 360 mg × 0.15 (threshold 50 MME a day)"),
    (["acetaminophen/codeine 300 mg/0.06 g q4h"],
     "Opioids 54 MME a day: codeine 360 mg × 0.15 (threshold 50 MME a day)"),
    (["oxycodone/acetaminophen 10 mg/0.325 g q6h"],
     "Opioids 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day)"),
    (["acetaminophen/codeine 0.3 g/30 mg q6h"], None),   # 120 mg × 0.15 = 18 MME
    # A unit for some numbers only: which unit the bare one is in cannot be told (0.3 g/30 was 30,000 mg).
    (["acetaminophen/codeine 0.3 g/60 q4h"], None),
    (["hydrocodone/acetaminophen 10 mg/0.325 q4h"], None),
])
def test_mme_a_day_adds_each_opioids_daily_mg_times_its_cdc_factor(entries, title):
    assert mme_titles(*entries) == ([title] if title else [])


@pytest.mark.parametrize("entry", ["acetaminophen/codeine 0.3 g/30 q4h", "hydrocodone/acetaminophen 5 mg/0.325 q6h",
                                   "butalbital/acetaminophen/caffeine 50 mg/0.325 g/40 q4h"])
def test_a_strength_with_a_unit_for_some_numbers_only_is_unread(entry):
    report = screener.screen([entry])
    assert report.medications[0].dosing.unread.startswith("a strength with a unit for some numbers only")
    assert report.status == "incomplete"


@pytest.mark.parametrize("entry", ["acetaminophen/codeine 12 mg/5 mL 10 mL q4h", "Roxicet 5 mg/5 mL 30 mL q6h"])
def test_one_concentration_for_a_combination_is_unread_never_dropped(entry):
    # The codeine's, as labels write it, or the acetaminophen's? It was dropped without a word, the screen complete.
    report = screener.screen([entry])
    assert report.medications[0].dosing.unread == ("one concentration for a product of 2 ingredients: whose it "
                                                   "is, or how it divides among them, cannot be told")
    assert report.status == "incomplete"


def test_an_opioid_whose_daily_amount_is_not_said_makes_the_total_a_lower_bound():
    assert mme_titles("oxycodone 10 mg q6h", "morphine") == [
        "Opioids at least 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day; morphine not counted: its "
        "daily amount is not given or not read)"]


def test_a_fentanyl_patch_counts_its_mcg_per_hour_times_the_cdc_factor():
    # CDC 2022 Table: fentanyl transdermal, in mcg/hr, 2.4: a 25 mcg/hr patch is 60 MME a day.
    assert mme_titles("fentanyl 25 mcg/hr patch q72h") == [
        "Opioids 60 MME a day: fentanyl 25 mcg/hr × 2.4 (threshold 50 MME a day)"]
    assert mme_titles("fentanyl 2 patches 12 mcg/hr every 72 hours") == [
        "Opioids 57.6 MME a day: fentanyl 24 mcg/hr × 2.4 (threshold 50 MME a day)"]
    assert mme_titles("fentanyl 12 mcg/hr patch q72h") == []  # 28.8 MME
    # A rate in mcg/hr without a patch is an infusion: not read, never converted.
    report = screener.screen(["fentanyl 50 mcg/hr iv"])
    assert report.medications[0].dosing.rate_mcg_per_hr is None and report.unrecognized


def test_buprenorphine_and_a_fentanyl_entry_without_its_rate_are_named_but_never_counted():
    (title,) = mme_titles("oxycodone 10 mg q6h", "Suboxone", "fentanyl")
    # The fentanyl left out makes the total a lower bound; buprenorphine has no factor to leave out.
    assert title.startswith("Opioids at least 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day; ")
    assert "fentanyl not counted: its CDC factor is per mcg/hr of a patch, not given" in title
    assert "buprenorphine not counted: the CDC table gives it no factor" in title
    # Buprenorphine alone, however much, has no MME finding.
    assert mme_titles("buprenorphine 8 mg tid") == []


def test_the_mme_finding_is_traceable_to_its_rule_and_the_cdc_guideline():
    report = screener.screen(["oxycodone 10 mg q6h"])
    (finding,) = [f for f in report.findings if f.rule_id == "opioids-mme-50"]
    assert finding.severity.value == "moderate" and finding.kind.value == "dose"
    assert finding.path == ('"oxycodone 10 mg q6h"', "oxycodone", "opioids", "⟷ rule:opioids-mme-50")
    assert any("Recommendation 4 and its supporting text" in s and "RR-3" in s for s in finding.sources)
    assert any("; HHS guidance on prescribing or co-prescribing naloxone to patients at high risk" in s
               for s in finding.sources)
    # 50 MME is Recommendation 4's; the sources name the Table by its title, never a file of this project.
    assert not any("Recommendation 8" in s or "data/" in s or ".csv" in s for s in finding.sources)
    assert "should pause and carefully reassess evidence of individual benefits and risks" in finding.advice
    assert "implement additional precautions, including increased frequency of follow-up" in finding.advice


def test_claims_give_mme_from_quantity_strength_and_days_supply(tmp_path):
    # 120 oxycodone 10 mg over 30 days = 40 mg a day = 60 MME a day.
    (tmp_path / "c.csv").write_text("patient_id,drug,fill_date,days_supply,quantity,strength\n"
                                    "p1,oxycodone,2024-01-01,30,120,10 mg\n"
                                    "p2,oxycodone,2024-01-01,30,60,10 mg\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["batch", str(tmp_path / "c.csv"), "-o", str(tmp_path / "f.csv")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "f.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["rule"] == "opioids-mme-50"]
    assert [(r["patient_id"], r["title"], r["inputs"]) for r in rows] == [
        ("p1", "Opioids 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day)",
         "oxycodone 10 mg: 120 over 30 days")]


def test_claims_of_fentanyl_patches_count_the_rate_from_the_strength_column_or_the_ndc(tmp_path):
    # DURAGESIC 25 mcg/hr (NDC 50458-0091-05 in the bundled FDA NDC Directory): 25 × 2.4 = 60 MME a day.
    (tmp_path / "c.csv").write_text("patient_id,drug,ndc,fill_date,days_supply,quantity,strength\n"
                                    "f1,fentanyl,,2024-01-01,30,10,25 mcg/hr\n"
                                    "f2,,50458-0091-05,2024-01-01,30,10,\n"
                                    "f3,fentanyl,,2024-01-01,30,10,12 mcg/hr\n"
                                    "f4,,50458-0091-05,2024-01-01,30,10,50 mcg/hr\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["batch", str(tmp_path / "c.csv"), "-o", str(tmp_path / "f.csv"),
                                      "--patients", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "f.csv").open(encoding="utf-8") as handle:
        titles = {r["patient_id"]: r["title"] for r in csv.DictReader(handle) if r["rule"] == "opioids-mme-50"}
    assert titles == {"f1": "Opioids 60 MME a day: fentanyl 25 mcg/hr × 2.4 (threshold 50 MME a day)",
                      "f2": "Opioids 60 MME a day: fentanyl 25 mcg/hr × 2.4 (threshold 50 MME a day)"}
    with (tmp_path / "p.csv").open(encoding="utf-8") as handle:
        patients = {r["patient_id"]: r for r in csv.DictReader(handle)}
    assert patients["f3"]["status"] == "no-findings"  # 28.8 MME
    assert "the text says 50 mcg/hr, the NDC's product 25 mcg/hr" in patients["f4"]["unrecognized"]


def claims_mme_titles(tmp_path, rows: str) -> dict[str, str]:
    """The MME finding's title for each patient of these claims (patient_id,drug,ndc,fill_date,days_supply,
    quantity,strength rows) that has one."""
    (tmp_path / "c.csv").write_text("patient_id,drug,ndc,fill_date,days_supply,quantity,strength\n" + rows,
                                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["batch", str(tmp_path / "c.csv"), "-o", str(tmp_path / "f.csv")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "f.csv").open(encoding="utf-8") as handle:
        return {r["patient_id"]: r["title"] for r in csv.DictReader(handle) if r["rule"] == "opioids-mme-50"}


def test_an_oral_liquid_named_by_its_ndc_counts_its_mg_per_ml(tmp_path):
    # Oxycodone 5 mg/5 mL (NDC 00054-0390-41): 1,500 mL over 30 days is 50 mg a day, 75 MME; methadone
    # concentrate 10 mg/mL (00054-0391-68): 90 mL over 30 days is 30 mg a day, 141 MME. A claim's quantity
    # of a liquid is its mL (NCPDP billing units); a sig's "5 mL" is one dose of it.
    titles = claims_mme_titles(tmp_path, "l1,,00054-0390-41,2024-01-01,30,1500,\n"
                                         "l2,,00054-0391-68,2024-01-01,30,90,\n"
                                         "l3,,00054-0390-41,2024-01-01,30,,\n")
    assert titles == {"l1": "Opioids 75 MME a day: oxycodone 50 mg × 1.5 (threshold 50 MME a day)",
                      "l2": "Opioids 141 MME a day: methadone 30 mg × 4.7 (threshold 50 MME a day)"}
    assert mme_titles("ndc:00054-0391-68 3 mL daily") == [
        "Opioids 141 MME a day: methadone 30 mg × 4.7 (threshold 50 MME a day)"]
    assert mme_titles("ndc:00054-0391-68 daily") == []  # no volume: no dose, never assumed


@pytest.mark.parametrize("entry", ["ndc:00054-0391-68 3 tabs daily", "ndc:00054-0391-68 3 daily"])
def test_a_liquids_dose_not_given_as_a_volume_is_declared_unread(entry):
    # Methadone 10 mg/mL: "3 tabs" or a bare "3" of it is no volume, so no 141 MME is made of it.
    report = screener.screen([entry])
    assert mme_titles(entry) == []
    assert [u.reason for u in report.unrecognized] == [
        "dose not checked for methadone: the NDC's product is a liquid (10 mg per mL): its dose is a volume in mL"]


def test_claims_of_fentanyl_patches_count_the_patches_a_supply_keeps_on_together(tmp_path):
    # The CDC's formula for prescription data: 25 mcg/hr × (patches ÷ days supply) × 7.2 (2.4 × the 3 days a
    # patch is worn). 20 patches over 30 days are two worn together: 120 MME a day; 5 are half of one: 30.
    titles = claims_mme_titles(tmp_path, "g1,,50458-0091-05,2024-01-01,30,20,\n"
                                         "g2,,50458-0091-05,2024-01-01,30,5,\n"
                                         "g3,fentanyl,,2024-01-01,15,10,25 mcg/hr\n")
    assert titles == {"g1": "Opioids 120 MME a day: fentanyl 50 mcg/hr × 2.4 (threshold 50 MME a day)",
                      "g3": "Opioids 120 MME a day: fentanyl 50 mcg/hr × 2.4 (threshold 50 MME a day)"}


@pytest.mark.parametrize("entry", [
    "hydromorphone 2 mg IV q4h", "morphine 10 mg injection q4h", "morphine 10 mg im q4h", "morphine 5 mg sc q4h",
    "morphine 1 mg intrathecal daily", "hydromorphone 1 mg epidural q4h", "fentanyl 100 mcg buccal q4h",
    "fentanyl 100 mcg sublingual q4h", "fentanyl 100 mcg intranasal q2h", "morphine 10 mg rectally q4h", "hydromorphone 1 suppository q6h",
])
def test_a_dose_by_a_route_the_cdc_factors_are_not_for_is_named_never_converted(entry):
    # CDC 2022 Table caution 1: the factors are for oral mg a day, and fentanyl transdermal mcg/hr only.
    # Alone it gives no total; beside an oral opioid it makes the total a lower bound.
    assert mme_titles(entry) == []
    (title,) = mme_titles("oxycodone 10 mg q6h", entry)
    assert title.startswith("Opioids at least 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day; ")
    assert " not counted (route): " in title and title.endswith(
        "; the CDC factors are for oral doses and fentanyl patches only)")


def test_the_route_is_named_as_read():
    assert mme_titles("oxycodone 10 mg q6h", "hydromorphone 2 mg IV q4h") == [
        "Opioids at least 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day; hydromorphone not counted "
        "(route): intravenous; the CDC factors are for oral doses and fentanyl patches only)"]


@pytest.mark.parametrize("entry", ["hydromorphone 2 mg po q4h", "hydromorphone 2 mg by mouth q4h",
                                   "hydromorphone 2 mg oral q4h", "hydromorphone 2 mg tablet q4h",
                                   "hydromorphone 2 mg q4h"])
def test_oral_doses_and_doses_that_name_no_route_are_counted(entry):
    assert mme_titles(entry) == ["Opioids 60 MME a day: hydromorphone 12 mg × 5 (threshold 50 MME a day)"]


def test_an_ndc_products_route_decides_when_the_text_names_none():
    # The FDA NDC Directory lists each product's route: 0406-0552 is an oral oxycodone 5 mg tablet (counted),
    # 0409-1312 hydromorphone 2 mg/mL for IM/IV/SC injection (never converted).
    assert mme_titles("NDC 0406-0552 2 tabs q6h", "oxycodone 10 mg q6h") == [
        "Opioids 120 MME a day: oxycodone 40 mg × 1.5 + oxycodone 40 mg × 1.5 (threshold 50 MME a day)"]
    assert mme_titles("NDC 0409-1312 2 mg q4h", "oxycodone 10 mg q6h") == [
        "Opioids at least 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day; hydromorphone not counted "
        "(route): intramuscular or intravenous or subcutaneous; the CDC factors are for oral doses and fentanyl "
        "patches only)"]


def test_with_opioid_use_disorder_methadone_and_buprenorphine_are_not_counted():
    # CDC 2022 Table caution 7: the factors are not for dosage decisions in opioid use disorder treatment.
    def titles(*entries, conditions):
        report = screener.screen(list(entries), conditions=list(conditions))
        return [f.title for f in report.findings if f.rule_id == "opioids-mme-50"]
    assert titles("methadone 30 mg daily", conditions=["F11.20"]) == []
    assert titles("methadone 30 mg daily", conditions=["F11.10"]) == []
    assert titles("methadone 30 mg daily", conditions=[]) == [
        "Opioids 141 MME a day: methadone 30 mg × 4.7 (threshold 50 MME a day)"]
    assert titles("methadone 30 mg daily", "oxycodone 10 mg q6h", conditions=["opioid use disorder"]) == [
        "Opioids 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day; methadone not counted (opioid use "
        "disorder): the CDC factors and thresholds are not for treatment of opioid use disorder)"]
    assert titles("Suboxone", "oxycodone 10 mg q6h", conditions=["F11.20"]) == [
        "Opioids 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day; buprenorphine not counted (opioid "
        "use disorder): the CDC factors and thresholds are not for treatment of opioid use disorder)"]
    # Another condition leaves methadone counted (and the memo keeps the two patients apart).
    assert titles("methadone 30 mg daily", "oxycodone 10 mg q6h", conditions=["pregnancy"]) == [
        "Opioids 201 MME a day: methadone 30 mg × 4.7 + oxycodone 40 mg × 1.5 (threshold 50 MME a day)"]


def test_opioid_use_disorder_in_check_names_why_methadone_is_not_counted():
    result = CliRunner().invoke(cli, ["check", "methadone 10 mg tid", "oxycodone 10 mg q6h", "-c", "F11.20",
                                      "--format", "json"])
    titles = [f["title"] for f in json.loads(result.stdout)["findings"] if "MME" in f["title"]]
    assert titles == [
        "Opioids 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day; methadone not counted (opioid use "
        "disorder): the CDC factors and thresholds are not for treatment of opioid use disorder)"]


def test_a_sigs_daily_most_of_patches_is_not_the_patches_worn():
    # "max 1 patch/day" is a limit the sig states, not a supply: one patch worn at a time, 28.8 and 60 MME.
    assert mme_titles("fentanyl 12 mcg/hr patch q72h, max 1 patch/day") == []
    assert mme_titles("fentanyl 25 mcg/hr patch max 1 patch per day") == [
        "Opioids 60 MME a day: fentanyl 25 mcg/hr × 2.4 (threshold 50 MME a day)"]
