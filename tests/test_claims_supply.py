"""Claims as payers send them: the daily dose from quantity, strength and days supply."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from screener.cli import cli

EXPORT_COLUMNS = ["--column", "patient_id=MemberID", "--column", "ndc=NDC", "--column", "drug=Drug Name",
                  "--column", "fill_date=Fill Date", "--column", "days_supply=Days Supply",
                  "--column", "quantity=Qty", "--column", "strength=Strength"]
HEADER = "MemberID,NDC,Drug Name,Fill Date,Days Supply,Qty,Strength\n"


@pytest.fixture
def runner():
    return CliRunner()


def screen(runner, tmp_path: Path, rows: str, *options: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    source = tmp_path / "claims.csv"
    source.write_text(HEADER + rows, encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(source), *EXPORT_COLUMNS, *options, "-o", str(tmp_path / "f.csv"),
                                 "--patients", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    read = lambda name: pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)  # noqa: E731
    return read("f.csv"), read("p.csv").set_index("patient_id")


def dose_titles(findings: pd.DataFrame, patient: str) -> list[str]:
    mine = findings[(findings["patient_id"] == patient) & (findings["kind"] == "dose")]
    return mine["title"].tolist()


def test_quantity_times_strength_over_days_supply_is_the_daily_dose(runner, tmp_path):
    findings, _ = screen(runner, tmp_path,
                         "m1,,carisoprodol,2024-01-01,30,180,350\n"     # strength column: 2,100 mg a day
                         "m2,00037-2001-01,CARISOPRODOL 350 MG TABLET,2024-01-01,30,180,\n"  # strength from the NDC
                         "m3,,Soma 350 mg,2024-01-01,30,180,\n"         # strength in the drug text
                         "m4,,carisoprodol,2024-01-01,30,120,350\n")    # 1,400 mg a day: at the limit, no finding
    for patient, shown in (("m1", "carisoprodol 350 mg"), ("m2", "CARISOPRODOL 350 MG TABLET (ndc:00037-2001-01)"),
                           ("m3", "Soma 350 mg")):
        assert dose_titles(findings, patient) == ["carisoprodol 2,100 mg a day (limit 1,400 mg)"], patient
        row = findings[(findings["patient_id"] == patient) & (findings["kind"] == "dose")].iloc[0]
        assert row["inputs"] == f"{shown}: 180 over 30 days"
        assert row["rule"] == "carisoprodol-max-daily-dose" and "DailyMed setid 6297cf20" in row["source"]
        assert (row["overlap_start"], row["overlap_days"]) == ("2024-01-01", "30")
    assert dose_titles(findings, "m4") == []


def test_a_strength_that_is_not_known_or_not_read_gives_no_daily_dose(runner, tmp_path):
    findings, patients = screen(runner, tmp_path,
                                "m1,,carisoprodol,2024-01-01,30,180,\n"          # no strength anywhere
                                "m2,,carisoprodol,2024-01-01,30,180,350 mgs?\n"  # a strength that is not read
                                "m3,,carisoprodol,2024-01-01,30,,350\n")         # no quantity
    for patient in ("m1", "m2", "m3"):
        assert dose_titles(findings, patient) == [], patient
    assert patients.loc["m2", "status"] == "incomplete"


def test_claims_of_the_same_drug_on_hand_together_add_their_units_a_day(runner, tmp_path):
    # Two fills of 100 tablets for 30 days overlap from 2024-01-20 to 2024-01-30: 6.67 tablets a day then.
    findings, _ = screen(runner, tmp_path,
                         "m1,00037200101,,2024-01-01,30,100,350\n"
                         "m1,00037200101,,2024-01-20,30,100,350\n")
    row = findings[findings["kind"] == "dose"].iloc[0]
    assert row["title"] == "carisoprodol 2,333.333333 mg a day (limit 1,400 mg)"
    assert row["inputs"] == "ndc:00037200101 350 mg: 100 over 30 days + 100 over 30 days"
    assert (row["overlap_start"], row["overlap_days"]) == ("2024-01-20", "11")


def test_a_refill_written_another_way_is_the_same_supply_not_a_duplicate(runner, tmp_path):
    # The same NDC in two forms, the same text in another case, two packages of one product (oxycodone 10 mg
    # tablets, 00603-4993-21 and -28): each pair is one drug refilled, with its units a day added while both
    # are on hand, and each claim still named as the payer wrote it.
    findings, patients = screen(runner, tmp_path,
                                "r1,00037-2001-01,,2024-03-01,30,90,\n"
                                "r1,00037200101,,2024-03-21,30,90,\n"
                                "r2,,carisoprodol,2024-03-01,30,90,350 mg\n"
                                "r2,,Carisoprodol,2024-03-21,30,90,350 mg\n"
                                "r3,00603-4993-21,,2024-01-01,30,60,\n"
                                "r3,00603-4993-28,,2024-01-20,30,60,\n"
                                "r3,,alprazolam,2024-02-10,30,30,0.5 mg\n"
                                "r3,,alprazolam,2024-03-01,30,30,0.5 mg\n"
                                "r4,,Carisoprodol,2024-03-01,30,90,350 mg\n",
                                "--measure", "sp=cob,stockpile=yes")
    assert "duplicate" not in set(findings["kind"])
    shown = findings.set_index(["patient_id", "kind"])["inputs"]
    assert shown["r1", "dose"] == "ndc:00037-2001-01: 90 over 30 days + 90 over 30 days"
    assert shown["r2", "dose"] == "carisoprodol 350 mg: 90 over 30 days + 90 over 30 days"
    assert shown["r3", "dose"] == "ndc:00603-4993-21: 60 over 30 days + 60 over 30 days"
    assert shown["r4", "duration"] == "Carisoprodol 350 mg"  # its own spelling, though r2 wrote it first
    # Stockpiling carries the early refill over as one drug's: oxycodone is on hand 2024-01-01 to 2024-02-29,
    # alprazolam from 2024-02-10: 20 days together (as two drugs, the refill was not carried: 9 days).
    assert patients.loc["r3", "measure_sp"] == "not met (20 days)"


def test_different_strengths_or_unrecognised_texts_stay_apart(runner, tmp_path):
    # Two strengths of one drug are two entries, as `check` lists them; two unrecognised texts are never one.
    findings, patients = screen(runner, tmp_path,
                                "d1,,oxycodone,2024-01-01,30,60,5 mg\n"
                                "d1,,oxycodone,2024-01-05,30,60,10 mg\n"
                                "d2,,zzfoo,2024-01-01,30,60,5 mg\n"
                                "d2,,zzbar,2024-01-01,30,60,5 mg\n")
    assert findings[(findings["patient_id"] == "d1") & (findings["kind"] == "duplicate")]["inputs"].tolist() == [
        "oxycodone 5 mg; oxycodone 10 mg"]
    assert patients.loc["d2", "unrecognized_count"] == "2"


def test_two_products_of_one_drug_and_strength_stay_two_supplies(runner, tmp_path):
    # Oxycodone 10 mg: an extended-release tablet (00093-5731-01) beside an immediate-release one
    # (00603-4993-21) is two drugs on hand, as `check` lists them, not one refilled.
    findings, _ = screen(runner, tmp_path,
                         "x1,00093-5731-01,,2024-01-01,30,60,\n"
                         "x1,00603-4993-21,,2024-01-01,30,60,\n")
    assert findings[findings["kind"] == "duplicate"]["inputs"].tolist() == [
        "ndc:00093-5731-01; ndc:00603-4993-21"]


def test_the_daily_dose_of_a_combination_product_counts_each_ingredient(runner, tmp_path):
    # Soma Compound (carisoprodol 200 mg + aspirin 325 mg): 8 a day is 1,600 mg of carisoprodol.
    findings, _ = screen(runner, tmp_path, "m1,,Soma Compound,2024-01-01,10,80,\n")
    assert any(t.startswith("carisoprodol 1,600 mg a day") for t in dose_titles(findings, "m1"))


COB_CLAIMS = ("a,,oxycodone,2024-01-01,30,120,5 mg\na,,oxycodone,2024-02-01,30,120,5 mg\n"
              "a,,alprazolam,2024-01-10,30,30,0.5 mg\na,,alprazolam,2024-02-09,30,30,0.5 mg\n"
              "b,,oxycodone,2024-01-01,30,120,5 mg\nb,,oxycodone,2024-02-01,30,120,5 mg\n"
              "b,,alprazolam,2024-01-10,30,30,0.5 mg\n"                                  # one benzodiazepine claim
              "c,,oxycodone,2024-01-01,10,40,5 mg\nc,,alprazolam,2024-01-01,30,30,0.5 mg\n"  # one opioid claim
              "d,,Percocet,2024-01-01,14,56,\nd,,Norco,2024-01-15,14,56,\n"
              "d,,Xanax 1 mg,2024-01-01,14,28,\nd,,Xanax 1 mg,2024-01-15,14,28,\n")    # 28 days of overlap


def test_the_pqa_cob_measure_is_a_patients_column(runner, tmp_path):
    _, patients = screen(runner, tmp_path, COB_CLAIMS)
    assert patients["measure_cob"].to_dict() == {
        "a": "met (51 days)", "b": "not met (29 days)", "c": "not in denominator", "d": "not met (28 days)"}


def test_the_cob_preset_is_the_published_definition():
    from screener.batch.claims import COB

    assert (COB.first, COB.second, COB.min_claims_first, COB.min_days_first, COB.min_claims_second,
            COB.min_overlap_days, COB.grace_days, COB.stockpile) == ("opioids", "benzodiazepines", 2, 15, 2, 30,
                                                                     0, False)
    assert "#3389" in COB.source
    # What the measure has that claims do not carry is said, not silently dropped; and each clause is credited
    # to the text that states it (p4qm.org's numerator names only the 30 days).
    for said in ("individuals ≥18 years of age", "during the measurement year",
                 "Not applied here: the age (claims carry none), the measurement year (the claims file is taken as "
                 "one period", "≥2 benzodiazepine claims on different dates of service (PQA's COB measure overview"):
        assert said in COB.source
    assert COB.parameters() == ("cob: opioids ≥2 claims on different dates and ≥15 days' supply; benzodiazepines "
                                "≥2 claims on different dates; ≥30 days of overlap; grace 0 days; stockpiling "
                                "not adjusted")


def test_grace_days_and_stockpiling_change_the_days_on_hand():
    from dataclasses import replace

    from screener.batch.claims import COB, _on_days

    refills = [("oxycodone 5 mg", 0, 30), ("oxycodone 5 mg", 20, 30)]  # refilled 10 days early
    assert len(_on_days(refills, COB)) == 50
    assert len(_on_days(refills, replace(COB, stockpile=True))) == 60   # the early refill is carried over
    assert len(_on_days([("x", 0, 10), ("x", 15, 10)], replace(COB, grace_days=5))) == 30  # gap closed by grace


def test_the_readme_claims_export_example_gives_what_the_readme_shows(runner, tmp_path):
    example = Path(__file__).resolve().parents[1] / "examples" / "claims_export.csv"
    result = runner.invoke(cli, ["batch", str(example), *EXPORT_COLUMNS, "-o", str(tmp_path / "f.csv"),
                                 "--patients", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    findings = pd.read_csv(tmp_path / "f.csv", dtype=str, keep_default_na=False)
    got = findings[["patient_id", "kind", "title", "inputs", "overlap_start", "overlap_days"]].values.tolist()
    assert got == [
        ["5001", "dose", "carisoprodol 2,100 mg a day (limit 1,400 mg)",
         "CARISOPRODOL 350 MG TABLET (ndc:00037-2001-01): 180 over 30 days", "2024-03-01", "30"],
        ["5001", "duration", "carisoprodol supplied for 30 of 90 days (limit 21 days)",
         "CARISOPRODOL 350 MG TABLET (ndc:00037-2001-01)", "2024-03-01", "30"],
        ["5002", "drug-drug", "oxycodone + alprazolam", "oxycodone 10 mg; alprazolam 0.5 mg", "2024-01-05", "56"],
        ["5002", "dose", "Opioids 60 MME a day: oxycodone 40 mg × 1.5 (threshold 50 MME a day)",
         "oxycodone 10 mg: 120 over 30 days", "2024-01-01", "60"]]
    patients = pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False)
    assert patients["measure_cob"].tolist() == ["not in denominator", "met (56 days)"]


def test_an_ndc_decides_and_the_drug_text_beside_it_names_the_claim(runner, tmp_path):
    findings, patients = screen(runner, tmp_path,
                                "m1,00037200101,Soma Brand Tabs,2024-01-01,30,120,\n"
                                "m1,0009-0029-01,alprazolam (Xanax) 0.25mg,2024-01-05,30,30,\n")
    pair = findings[findings["kind"] == "drug-drug"].iloc[0]
    assert pair["title"] == "carisoprodol + alprazolam"
    assert pair["inputs"] == "Soma Brand Tabs (ndc:00037200101); alprazolam (Xanax) 0.25mg (ndc:0009-0029-01)"
    assert patients.loc["m1", "status"] == "findings"


def test_measures_are_chosen_on_the_command_line_and_reported_with_their_parameters(runner, tmp_path):
    _, patients = screen(runner, tmp_path, COB_CLAIMS, "--measure", "cob",
                         "--measure", "loose=cob,second-claims=1,grace=7", "--measure", "strict=cob,overlap=60,grace=7")
    assert patients["measure_cob"].to_dict() == {
        "a": "met (51 days)", "b": "not met (29 days)", "c": "not in denominator", "d": "not met (28 days)"}
    # One benzodiazepine claim is enough, and 7 days after each supply count: b's 1-day gap is closed.
    assert patients["measure_loose"]["b"] == "met (37 days)"
    assert patients["measure_strict"]["a"] == "not met (59 days)"
    result = runner.invoke(cli, ["batch", str(tmp_path / "claims.csv"), *EXPORT_COLUMNS, "-o", str(tmp_path / "g.csv"),
                                 "--measure", "cob7=cob,grace=7"])
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1] == (
        "screener batch: measure_cob7 = cob7: opioids ≥2 claims on different dates and ≥15 days' supply; "
        "benzodiazepines ≥2 claims on different dates; ≥30 days of overlap; grace 7 days; stockpiling not adjusted")


@pytest.mark.parametrize(("spec", "message"), [
    ("pqa", "'pqa' is not a preset (known: cob)"),
    ("cob,grace=x", "grace is a whole number of days or claims (0-3650), not 'x'"),
    ("cob,stockpile=maybe", "stockpile is yes or no, not 'maybe'"),
    ("cob,colour=red", "'colour=red' is not a setting=value"),
])
def test_a_measure_that_cannot_be_read_is_a_usage_error(runner, tmp_path, spec, message):
    (tmp_path / "claims.csv").write_text(HEADER + COB_CLAIMS, encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(tmp_path / "claims.csv"), *EXPORT_COLUMNS, "--measure", spec])
    assert result.exit_code == 2 and message in result.output


def test_a_measure_of_a_class_the_knowledge_lacks_is_one_line_and_exit_2(runner, tmp_path):
    (tmp_path / "claims.csv").write_text(HEADER + COB_CLAIMS, encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(tmp_path / "claims.csv"), *EXPORT_COLUMNS, "-o", str(tmp_path / "f.csv"),
                                 "--measure", "x=cob,first=opiods"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: measure 'x': 'opiods' is not a class of this knowledge "
                                     "(`screener explain NAME` shows what a concept is)")


def test_a_fill_date_without_its_day_is_not_a_date(runner, tmp_path):
    # ISO 8601 allows "2024-03" and "2024"; a claim's supply starts on a day, and none is made up.
    _, patients = screen(runner, tmp_path,
                         "e1,,carisoprodol,2024-03,30,120,350\n"
                         "e2,,carisoprodol,2024,30,120,350\n"
                         "e3,,carisoprodol,2024-03-01 00:00:00,30,120,350\n"  # a spreadsheet's date and time
                         "e4,,carisoprodol,20240301,30,120,350\n"
                         "e5,,carisoprodol,3/1/2024,30,120,350\n")
    assert patients.loc["e1", "error"] == "line 2: fill_date '2024-03' is not a date (use YYYY-MM-DD)"
    assert patients.loc["e2", "error"] == "line 3: fill_date '2024' is not a date (use YYYY-MM-DD)"
    assert patients.loc[["e3", "e4", "e5"], "status"].tolist() == ["findings"] * 3


def test_a_drug_text_whose_strength_is_not_the_ndcs_makes_the_claim_invalid(runner, tmp_path):
    # Which was dispensed, 250 mg or the NDC's 350 mg, cannot be told: no dose is computed from either.
    findings, patients = screen(runner, tmp_path,
                                "s1,00037-2001-01,CARISOPRODOL 250 MG TAB,2024-03-01,30,180,\n"
                                "s2,00037-2001-01,CARISOPRODOL 350 MG TAB,2024-03-01,30,180,\n"
                                "s3,00037-2001-01,SOMA,2024-03-01,30,180,\n")
    assert patients.loc["s1", "error"] == ("line 2: drug 'CARISOPRODOL 250 MG TAB' and ndc 00037-2001-01 give "
                                           "different strengths (250 mg in the text, 350 mg in the NDC's product)")
    assert "s1" not in set(findings["patient_id"])
    for patient in ("s2", "s3"):
        assert dose_titles(findings, patient) == ["carisoprodol 2,100 mg a day (limit 1,400 mg)"], patient


def test_a_text_and_an_ndc_of_the_same_strengths_agree_however_written(runner, tmp_path):
    # In another order (acetaminophen/oxycodone 325/5 with the NDC listing oxycodone first), in mcg-sized
    # mg (0.175 mg is 175 mcg), or a liquid's mg per dose beside its mg per mL: none is a disagreement.
    findings, patients = screen(runner, tmp_path,
                                "a2,00228-2981,ACETAMINOPHEN/OXYCODONE 325/5 MG TAB,2024-01-01,30,120,\n"
                                "a5,00185-0724,ASPIRIN/CARISOPRODOL 325/200 MG,2024-01-01,30,120,\n"
                                "v1,00074-7070-19,LEVOTHYROXINE 0.175 MG TAB,2024-03-01,30,30,\n"
                                "l3,00054-0390-41,OXYCODONE HCL 5 MG,2024-01-01,30,1500,\n")
    assert (patients["error"] == "").all(), patients["error"].to_dict()
    assert dose_titles(findings, "l3") == ["Opioids 75 MME a day: oxycodone 50 mg × 1.5 (threshold 50 MME a day)"]


def test_a_drug_text_that_cannot_be_an_entry_makes_its_claim_invalid_not_the_run(runner, tmp_path):
    _, patients = screen(runner, tmp_path,
                                "z1,,\u200b,2024-01-01,30,10,\n"
                                "z2,,soma,2024-01-01,30,10,350\n"
                                f"z3,00037-2001-01,{'x' * 250},2024-01-01,30,10,\n")
    assert patients.loc["z1", "error"] == "line 2: an empty medication entry was given; remove it or write the name"
    assert patients.loc["z3", "error"].endswith("is 250 characters long; the limit is 200")
    assert patients.loc["z2", "status"] == "findings"


def test_a_fill_date_with_a_time_and_an_offset_is_the_day_written(runner, tmp_path):
    findings, _ = screen(runner, tmp_path,
                         "t1,00037200101,,2024-03-01T23:30:00-05:00,30,90,\n"
                         "t2,00037200101,,2024-03-02,30,90,\n")
    starts = findings[findings["kind"] == "duration"].set_index("patient_id")["overlap_start"]
    assert starts.to_dict() == {"t1": "2024-03-01", "t2": "2024-03-02"}


def test_refills_written_without_spaces_join(runner, tmp_path):
    findings, _ = screen(runner, tmp_path,
                         "w1,,CARISOPRODOL 350MG,2024-03-01,30,90,\n"
                         "w1,,carisoprodol 350 mg,2024-03-21,30,90,\n")
    assert "duplicate" not in set(findings["kind"])


def test_the_highest_daily_amount_an_early_refill_reaches_names_the_finding(runner, tmp_path):
    # One fill alone is over the limit; on the 11 days both are on hand the total is twice that. The first
    # span's amount used to name the finding: '2,100 mg a day' hid the 4,200. Monthly fills that differ a
    # little (180 then 170 tablets) stay one finding.
    findings, _ = screen(runner, tmp_path,
                         "m1,,Soma 350 mg,2024-01-01,30,180,\n"
                         "m1,,Soma 350 mg,2024-01-20,30,180,\n"
                         "m2,,oxycodone 10 mg,2024-01-01,30,180,\n"
                         "m2,,oxycodone 10 mg,2024-01-20,30,180,\n"
                         "m3,,oxycodone 10 mg,2024-01-01,30,180,\n"
                         "m3,,oxycodone 10 mg,2024-01-31,30,170,\n")
    dose = findings[findings["kind"] == "dose"]
    got = sorted(zip(dose["patient_id"], dose["title"], dose["overlap_start"], dose["overlap_days"]))
    assert got == [
        ("m1", "carisoprodol 4,200 mg a day (limit 1,400 mg)", "2024-01-01", "49"),
        ("m2", "Opioids 180 MME a day: oxycodone 120 mg × 1.5 (threshold 50 MME a day)", "2024-01-01", "49"),
        ("m3", "Opioids 90 MME a day: oxycodone 60 mg × 1.5 (threshold 50 MME a day)", "2024-01-01", "60"),
    ]
