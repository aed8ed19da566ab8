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
    for patient, shown in (("m1", "carisoprodol 350 mg"), ("m2", "ndc:00037-2001-01"), ("m3", "Soma 350 mg")):
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


def test_the_daily_dose_of_a_combination_product_counts_each_ingredient(runner, tmp_path):
    # Soma Compound (carisoprodol 200 mg + aspirin 325 mg): 8 a day is 1,600 mg of carisoprodol.
    findings, _ = screen(runner, tmp_path, "m1,,Soma Compound,2024-01-01,10,80,\n")
    assert any(t.startswith("carisoprodol 1,600 mg a day") for t in dose_titles(findings, "m1"))
