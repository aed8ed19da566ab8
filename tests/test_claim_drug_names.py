"""Drug names as pharmacy claims and pharmacists write them: salts cut short, strengths joined by a dash.

The FDA NDC Directory itself lists "HYDROCODONE BIT/APAP" (NDC 45865-0411); payers' drug descriptions write
"ZOLPIDEM TART 10 MG" and "METOPROLOL SUCC ER"; a pharmacist types "Norco 5-325" for "Norco 5/325". Each is read
as what it names, or declared unread; a word that may name something else ("pot") is never read past.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from screener.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def check(runner, *entries: str) -> tuple[int, dict]:
    result = runner.invoke(cli, ["check", *entries, "--format", "json"])
    return result.exit_code, json.loads(result.stdout)


def screened(report: dict) -> list[tuple[list[str], list | None]]:
    """(ingredients, per-ingredient mg per unit) of each medication read."""
    out = []
    for med in report["screened"]["medications"]:
        amounts = med.get("amounts")
        if amounts is None and "strength_mg" in med:
            amounts = [med["strength_mg"]]
        elif amounts is not None:
            amounts = [a["per_unit_mg"] for a in amounts]
        out.append((med["concepts"], amounts))
    return out


def claims_run(runner, tmp_path: Path, rows: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(findings, patients by id) of a claims export in the payer's own column names."""
    source = tmp_path / "claims.csv"
    source.write_text("MemberID,NDC,Drug Name,Fill Date,Days Supply,Qty,Strength\n" + rows, encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(source), "--column", "patient_id=MemberID", "--column", "ndc=NDC",
                                 "--column", "drug=Drug Name", "--column", "fill_date=Fill Date",
                                 "--column", "days_supply=Days Supply", "--column", "quantity=Qty",
                                 "--column", "strength=Strength", "-o", str(tmp_path / "f.csv"),
                                 "--patients", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    read = lambda name: pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)  # noqa: E731
    return read("f.csv"), read("p.csv").set_index("patient_id")


@pytest.mark.parametrize(("entry", "ingredients", "strengths"), [
    ("HYDROCODONE BIT/APAP 5-325MG TAB", ["hydrocodone", "acetaminophen"], [5, 325]),
    ("hydrocodone bit/apap", ["hydrocodone", "acetaminophen"], None),
    ("ZOLPIDEM TART 10 MG", ["zolpidem"], [10]),
    ("zolpidem tart. 10 mg qhs", ["zolpidem"], [10]),
    ("codeine phos 30 mg", ["codeine"], [30]),
    ("doxylamine succ 25 mg", ["doxylamine"], [25]),
])
def test_a_salt_cut_short_after_a_substance_is_read_with_it(runner, entry, ingredients, strengths):
    _, report = check(runner, entry)
    assert report["unrecognized"] == []
    assert screened(report) == [(ingredients, strengths)]


def test_before_salts_were_read_the_combination_was_half_screened(runner):
    # The reviewer's claim text beside Xanax: both ingredients of the combination meet the benzodiazepine.
    code, report = check(runner, "HYDROCODONE BIT/APAP 5-325MG TAB", "Xanax")
    assert code == 1 and report["unrecognized"] == []
    titles = [f["title"] for f in report["findings"] if f["kind"] == "drug-drug"]
    assert any("hydrocodone" in t and "alprazolam" in t for t in titles), titles


@pytest.mark.parametrize(("entry", "left"), [
    ("oxycodone pot", "pot"),                       # "pot" may be cannabis: never read as potassium
    ("lisinopril pot chloride", "pot chloride"),    # potassium chloride is a medicine of its own
    ("trimethoprim sulf", "sulf"),                  # "sulf" may be a sulfonamide (sulfamethoxazole)
    ("CODEINE SULF 30 MG", "sulf"),
    ("magnesium cit 500 mg", "cit"),                # magnesium citrate is a medicine of its own
    ("oxycodone bit", "bit"),                       # no FDA name is oxycodone bitartrate
])
def test_a_word_that_may_name_something_else_is_not_read_past(runner, entry, left):
    code, report = check(runner, entry)
    assert code == 3
    assert [u["input"] for u in report["unrecognized"]] == [entry]
    assert f"could not read '{left}'" in report["unrecognized"][0]["reason"]


@pytest.mark.parametrize(("entry", "ingredients", "strengths"), [
    ("Norco 5-325", ["hydrocodone", "acetaminophen"], [5, 325]),
    ("Norco 10-325 1 tab q6h prn", ["hydrocodone", "acetaminophen"], [10, 325]),
    ("TRAMADOL-ACETAMINOPHEN 37.5-325", ["tramadol", "acetaminophen"], [37.5, 325]),
    ("CODEINE/APAP 30-300", ["codeine", "acetaminophen"], [30, 300]),
])
def test_marketed_strengths_joined_by_a_dash_are_read_as_with_a_slash(runner, entry, ingredients, strengths):
    _, report = check(runner, entry)
    assert report["unrecognized"] == []
    assert screened(report) == [(ingredients, strengths)]
    med = report["screened"]["medications"][0]
    written = entry.split()[1] if entry.startswith("Norco") else entry.split()[-1]
    assert med["unit_assumed"] == (f"{written} read as {written.replace('-', '/')} mg: "
                                   "a marketed strength of this product")


def test_a_dashed_pair_that_is_no_marketed_strength_is_declared_unread(runner):
    code, report = check(runner, "Norco 7-325")
    assert code == 3
    assert report["unrecognized"] == [{"input": "Norco 7-325", "field": "medication", "suggestions": [],
                                       "reason": "dose not checked for Norco: 7-325 (no unit; give it, e.g. "
                                                 "'7-325 mg')"}]


@pytest.mark.parametrize("entry", ["Norco 1-2 q6h", "Norco 1-2 tabs q4-6h"])
def test_two_small_rising_numbers_still_count_tablets(runner, entry):
    _, report = check(runner, entry)
    med = report["screened"]["medications"][0]
    assert report["unrecognized"] == [] and med["units_per_dose"] == 2 and "amounts" not in med


def test_a_claim_whose_text_cuts_its_salt_short_agrees_with_its_ndc(runner, tmp_path: Path):
    _, patients = claims_run(runner, tmp_path,
                             "1,0023-6002-01,HYDROCODONE BIT/APAP 5-325MG TAB,2024-01-02,30,120,\n"
                             "2,0023-6002-01,HYDROCODONE BIT/APAP 10-325MG TAB,2024-01-02,30,120,\n")
    assert patients.loc["1", "status"] == "no-findings" and patients.loc["1", "error"] == ""
    # The text's 10 mg is not the NDC's 5 mg tablet: which was dispensed cannot be told.
    assert patients.loc["2", "status"] == "invalid"
    assert patients.loc["2", "error"] == ("line 3: drug 'HYDROCODONE BIT/APAP 10-325MG TAB' and ndc 0023-6002-01 "
                                          "give different strengths (10 mg + 325 mg in the text, 5 mg + 325 mg in "
                                          "the NDC's product)")


def test_a_claim_text_read_only_in_part_is_held_to_what_was_read(runner, tmp_path: Path):
    _, patients = claims_run(runner, tmp_path,
                             "1,0023-6002-01,HYDROCOD/APAP 5-325,2024-01-02,30,120,\n"    # 'hydrocod' is not read
                             "2,0023-6002-01,ALPRAZOLAM 1MG XYZ,2024-01-02,30,120,\n")    # alprazolam is not in Norco
    # The NDC decides what is screened: Norco 5/325, 4 tablets a day, no finding and nothing unread.
    assert (patients.loc["1", "status"], patients.loc["1", "error"]) == ("no-findings", "")
    assert patients.loc["2", "error"] == "line 3: drug 'ALPRAZOLAM 1MG XYZ' and ndc 0023-6002-01 name different drugs"


# --- a strength written where a count of tablets could stand ------------------------------------------------


@pytest.mark.parametrize(("entry", "strengths", "assumed"), [
    ("NORCO 10-325 TAB", [10, 325], "10-325 read as 10/325 mg: a marketed strength of this product"),
    ("SOMA COMPOUND 200-325 TAB qid", [200, 325], "200-325 read as 200/325 mg: a marketed strength of this product"),
    ("CARISOPRODOL TAB 350MG", [350], None),
    ("OXYCODONE HCL ORAL TAB 10 MG", [10], None),
])
def test_a_strength_before_or_after_the_form_is_the_strength_of_one_tablet_never_a_count(runner, entry, strengths,
                                                                                       assumed):
    # 'SOMA COMPOUND 200-325 TAB qid' was 65,000 mg of
    # carisoprodol a dose (325 tablets), a major finding of a dose nobody wrote.
    _, report = check(runner, entry)
    med = report["screened"]["medications"][0]
    assert report["unrecognized"] == [] and report["findings"] == []
    assert screened(report)[0][1] == strengths
    assert "units_per_dose" not in med and med.get("unit_assumed") == assumed


def test_a_claim_with_the_form_before_its_strength_column_gets_its_daily_dose(runner, tmp_path: Path):
    findings, patients = claims_run(runner, tmp_path,
                                    "1,,CARISOPRODOL TAB,2024-01-02,30,180,350MG\n"
                                    "2,,OXYCODONE 5MG/0ML SOLN,2024-01-02,30,300,\n"
                                    "3,,Soma 350 mg,2024-01-02,14,56,\n")
    assert findings[findings["kind"] == "dose"]["title"].tolist() == ["carisoprodol 2,100 mg a day (limit 1,400 mg)"]
    # A concentration per 0 mL is declared unread: the run goes on, and every patient is in the output.
    assert patients.index.tolist() == ["1", "2", "3"]
    assert patients.loc["2", "status"] == "incomplete"
    assert "a concentration per 0 mL (5 mg/0 ml)" in patients.loc["2", "unrecognized"]


# --- names cut short, near matches and liquids --------------------------------------------------------------


CUT_SHORT = "'cod' joined to a medicine may be a name cut short (codeine?): it is never guessed; write the name in full"


@pytest.mark.parametrize("entry", ["APAP/COD 300-30MG TAB", "CARISOPRODOL/ASA/COD", "PROMETHAZINE/COD SYRUP",
                                   "COD/APAP"])
def test_cod_joined_to_a_medicine_is_never_read_as_the_fish(runner, entry):
    # The FDA vocabulary's 'cod' is the fish (an allergen extract): APAP/COD was acetaminophen with cod, and
    # the codeine's opioid findings were lost without a word.
    code, report = check(runner, entry, "Xanax")
    assert code == 3
    assert report["unrecognized"] == [{"input": entry, "field": "medication", "reason": CUT_SHORT,
                                       "suggestions": ["codeine"]}]


def test_two_words_apart_are_never_one_misspelt_name(runner):
    # PROMETH/COD was read as the brand Promethacon (promethazine alone), with the screen called complete.
    code, report = check(runner, "PROMETH/COD SYRUP")
    assert code == 3
    assert report["screened"]["medications"][0]["concepts"] == []
    assert report["unrecognized"][0]["reason"] == "not found in the knowledge base or the FDA vocabulary"


def test_a_claim_text_with_cod_beside_its_ndc_is_screened_by_the_ndc(runner, tmp_path):
    findings, patients = claims_run(runner, tmp_path,
                                    "1,00093-0150-01,APAP/COD 300-30MG TAB,2024-01-02,30,120,\n"
                                    "1,,ALPRAZOLAM 1MG TAB,2024-01-02,30,60,\n")
    assert patients.loc["1", "error"] == ""
    pair = findings[findings["kind"] == "drug-drug"]
    assert any("codeine" in c and "alprazolam" in c for c in pair["concepts"]), pair["concepts"].tolist()


@pytest.mark.parametrize(("entry", "reason"), [
    ("ndc:00054-0390-41 10 mg q4h", "10 mg beside the NDC of a liquid (1 mg per mL): give the dose as a volume in "
                                    "mL, or the concentration"),
    ("ndc:00054-0390-41 10 mg/5 mL 10 mL q4h", "the text says 2 mg per mL, the NDC's product 1 mg per mL"),
    ("ndc:00054-0390-41 5 mg 10 mL q4h", "the text says 5 mg in 10 mL, the NDC's product 1 mg per mL"),
])
def test_a_liquid_ndc_and_a_text_that_disagree_are_declared_unread(runner, entry, reason):
    code, report = check(runner, entry)
    assert code == 3
    assert report["unrecognized"][0]["reason"] == f"dose not checked for oxycodone: {reason}"


def test_a_liquid_ndc_with_its_own_concentration_written_gets_its_mme(runner):
    # The written strength set the NDC's per-mL strength aside: no dose, and no MME finding.
    _, report = check(runner, "ndc:00054-0390-41 5MG/5ML 10 mL q4h")
    assert report["unrecognized"] == []
    assert [f["title"] for f in report["findings"] if f["kind"] == "dose"] == [
        "Opioids 90 MME a day: oxycodone 60 mg × 1.5 (threshold 50 MME a day)"]


def test_claims_of_liquids_compare_the_written_concentration_with_the_ndc(runner, tmp_path):
    findings, patients = claims_run(runner, tmp_path,
                                    "1,00054-0390-41,OXYCODONE HCL 5MG/5ML SOLN,2024-01-02,30,1500,5MG/5ML\n"
                                    "2,00054-0390-41,OXYCODONE HCL 100MG/5ML CONC,2024-01-02,30,1500,\n")
    assert patients.loc["1", "error"] == ""
    assert findings[(findings["patient_id"] == "1") & (findings["kind"] == "dose")]["title"].tolist() == [
        "Opioids 75 MME a day: oxycodone 50 mg × 1.5 (threshold 50 MME a day)"]
    assert patients.loc["2", "error"] == ("line 3: drug 'OXYCODONE HCL 100MG/5ML CONC' and ndc 00054-0390-41 give "
                                          "different strengths (20 mg per mL in the text, 1 mg per mL in the NDC's "
                                          "product)")


@pytest.mark.parametrize(("entry", "number"), [("ACETAMINOPHEN W/CODEINE #3", "#3"), ("APAP/CODEINE #3", "#3"),
                                               ("ACETAMINOPHEN-CODEINE #4 TAB", "#4")])
def test_a_number_after_codeine_combined_by_name_is_a_numbered_product_never_a_quantity(runner, entry, number):
    code, report = check(runner, entry, "Xanax")
    med = report["screened"]["medications"][0]
    assert code == 1  # the findings; the screen is incomplete all the same
    assert med["concepts"] == ["acetaminophen", "codeine"] and "quantity" not in med
    reason = report["unrecognized"][0]["reason"]
    assert reason.startswith("dose not checked for ") and reason.endswith(
        f": '{number}' after the names is a numbered product's strength, not read (write the strengths)")
    assert any("codeine" in f["concepts"] for f in report["findings"])  # its interactions are still found


def test_a_numbered_codeine_combination_with_its_strengths_written_is_read_from_them(runner):
    _, report = check(runner, "ACETAMINOPHEN-CODEINE #3 300-30 MG TAB")
    assert report["unrecognized"] == []
    assert screened(report) == [(["acetaminophen", "codeine"], [300, 30])]


def test_a_number_after_other_names_joined_is_still_a_quantity(runner):
    # Only codeine combinations are numbered (Tylenol with Codeine No. 3): '#8' of Percocet's generics is 8.
    _, report = check(runner, "oxycodone/acetaminophen #8 1 tab q6h")
    assert report["screened"]["medications"][0]["quantity"] == 8


@pytest.mark.parametrize(("entry", "reason"), [
    # 'Soma 350 mg 30 tabs' was one dose of 10,500 mg, a major finding of the quantity to dispense.
    ("methadone 10 mg 12 tabs daily", "12 tabs a dose (more than 10: a quantity to dispense, or a strength "
                                      "without its unit? write '#12', or the unit)"),
    ("Soma 350 mg 30 tabs", "30 tabs a dose (more than 10: a quantity to dispense, or a strength without its unit? "
                            "write '#30', or the unit)"),
    ("Norco 2-1 q6h", "a range that runs downwards (2-1)"),
    # 350 tablets, or a strength without its unit? Read as either, it was a guess.
    ("CARISOPRODOL 350 TAB", "350 tab a dose (more than 10: a quantity to dispense, or a strength without its "
                             "unit? write '#350', or the unit)"),
    ("oxycodone 30 tabs 1 q6h", "30 tabs a dose (more than 10: a quantity to dispense, or a strength without its "
                                "unit? write '#30', or the unit)"),
    # 10 patches is 30 days of fentanyl, not one application (600 MME).
    ("fentanyl 25 mcg/hr patch q72h 10 patches", "10 patches a dose (more than 3: a quantity to dispense, or a "
                                                 "strength without its unit? write '#10', or the unit)"),
    # 0 tablets a dose made a daily total of 0 mg, which passes every limit.
    ("SOMA 350MG 0 TAB qid", "an amount of 0 (units per dose)"),
    ("Soma 0 mg", "an amount of 0 (mg)"),
    ("Soma 350 mg qid x 0 days", "an amount of 0 (days)"),
    ("FENTANYL 0MCG/HR PATCH", "an amount of 0 (mcg/hr)"),
    ("Soma 350 mg 0 times a day", "an amount of 0 (doses a day)"),
])
def test_an_amount_no_dose_holds_is_declared_unread_never_read_as_a_dose(runner, entry, reason):
    code, report = check(runner, entry)
    assert code == 3
    assert report["unrecognized"][0]["reason"].endswith(f": {reason}")


@pytest.mark.parametrize("entry", ["hydrocortisone/urea", "acetaminophen/honey", "dexamethasone/tobra", "apap/k"])
def test_a_short_word_joined_is_refused_only_when_it_starts_a_medicine_of_the_rules(runner, entry):
    _, report = check(runner, entry)
    assert len(report["screened"]["medications"][0]["concepts"]) == 2
    assert not any("cut short" in u["reason"] for u in report["unrecognized"])


def test_a_claim_text_that_disagrees_with_its_ndc_in_part_is_invalid_not_a_crash(runner, tmp_path):
    # 'HYDROCODONE 5MG XYZ' beside a Norco NDC ended the run with KeyError (exit 4, no output at all).
    _, patients = claims_run(runner, tmp_path,
                             "1,0023-6002-01,HYDROCODONE 5MG XYZ,2024-01-02,30,120,\n"
                             "2,0023-6002-01,HYDROCOD/APAP 10-325,2024-01-02,30,120,\n"
                             "3,0023-6002-01,HYDROCOD/APAP 5-325,2024-01-02,30,120,\n")
    assert patients.loc["1", "error"] == ""    # hydrocodone 5 mg is the product's: nothing disagrees
    assert patients.loc["2", "error"] == ("line 3: drug 'HYDROCOD/APAP 10-325' and ndc 0023-6002-01 give different "
                                          "strengths (the text, read only in part, writes 10 mg; the NDC's product is "
                                          "5 mg + 325 mg)")
    assert patients.loc["3", "error"] == ""


@pytest.mark.parametrize(("ndc", "text"), [
    ("00093015001", "ACETAMINOPHEN-CODEINE #3 TABLET"),   # '#3' is no strength
    ("50458051360", "TYLENOL-CODEINE NO.3 TABLET"),
    ("50458051560", "TYLENOL-CODEINE NO.4 TABLET"),
    ("0023-6002-01", "NORCO TAB 100"),                   # 100 tablets in the package
    ("0023-6002-01", "HYDROCODONE/APAP 5MG"),
])
def test_payer_texts_that_agree_with_their_ndc_are_screened(runner, tmp_path, ndc, text):
    _, patients = claims_run(runner, tmp_path, f"1,{ndc},{text},2024-01-02,30,120,\n")
    assert (patients.loc["1", "status"], patients.loc["1", "error"]) == ("no-findings", "")


def test_a_numbered_product_text_beside_the_other_numbers_ndc_is_invalid(runner, tmp_path):
    # 'TYLENOL #3' (300/30 mg) with the NDC of the No. 4 tablet (300/60): which was dispensed cannot be told.
    _, patients = claims_run(runner, tmp_path, "1,50458051560,TYLENOL #3,2024-01-02,30,120,\n")
    assert patients.loc["1", "error"] == ("line 2: drug 'TYLENOL #3' and ndc 50458051560 give different strengths "
                                          "(300 mg + 30 mg in the text, 300 mg + 60 mg in the NDC's product)")


# --- typed by a pharmacist (a probe of check) -------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "reason"), [
    # Another medicine after 'prn' or 'as needed' was read as what this one is for, and dropped.
    ("Soma 350 mg tid prn spasm with Norco", "holds more than one medication (Soma, Norco); list each medication "
                                             "separately"),
    ("Soma 350 mg tid as needed Xanax", "holds more than one medication (Soma, Xanax); list each medication "
                                        "separately"),
    # ... also where words read elsewhere follow it, or its own dose is not read.
    ("Soma 350 mg prn spasm with Norco tid", "holds more than one medication (Soma, Norco); list each medication "
                                             "separately"),
    ("Soma 350 mg tid prn spasm with Norco 5/325", "holds more than one medication (Soma, Norco); list each "
                                                   "medication separately"),
    # 325 mg per 15 mL was read as hydrocodone's concentration (a dose of 7.5 mg where 15 mg was written).
    ("hydrocodone 7.5 mg/325 mg per 15 mL 30 mL q4h", "dose not checked for hydrocodone: a concentration of more "
                                                      "than one ingredient (325 mg per 15 ml)"),
    # 30 before the frequency was 30 tablets a dose: 31,500 mg a day.
    ("Soma 350 30 tid", "dose not checked for Soma: 30 before the frequency (more than 10 units a dose: a quantity "
                        "to dispense? write it with its unit)"),
])
def test_what_a_pharmacist_types_is_read_exactly_or_declared(runner, entry, reason):
    code, report = check(runner, entry)
    assert code == 3
    assert report["unrecognized"][0]["reason"] == reason


@pytest.mark.parametrize("entry", ["APAP #3", "acetaminophen #3 1 tab q4h prn"])
def test_a_number_after_acetaminophen_is_reported_as_a_possible_codeine_combination(runner, entry):
    # It was a quantity of 3, and with Soma the carisoprodol and codeine finding was lost without a word.
    code, report = check(runner, "Soma", entry)
    assert code == 3
    assert report["unrecognized"][0]["reason"].startswith(
        "'#3' after acetaminophen may number a codeine combination (as in Tylenol #3, Tylenol with Codeine)")


@pytest.mark.parametrize("entry", ["T#3", "T-3", "T 3"])
def test_t3_written_with_a_mark_is_the_ambiguous_abbreviation_not_liothyronine(runner, entry):
    code, report = check(runner, entry)
    assert code == 3 and report["screened"]["medications"][0]["concepts"] == []
    assert report["unrecognized"][0]["suggestions"] == ["liothyronine",
                                                        "acetaminophen and codeine (Tylenol with Codeine No. 3)"]


# --- a third review: numbered names with tablet words, medicines inside phrases ----------------------------------


@pytest.mark.parametrize(("entry", "concept", "strengths"), [
    ("TYLENOL #3 TABLET", "tylenol-with-codeine-3", [300, 30]),
    ("Tylenol No. 3 tab", "tylenol-with-codeine-3", [300, 30]),
    ("Tylenol #4 tab", "tylenol-with-codeine-4", [300, 60]),
    ("Tylenol with Codeine #3 tablets 1-2 q4h", "tylenol-with-codeine-3", [300, 30]),
])
def test_a_numbered_product_is_read_whatever_tablet_word_follows(runner, entry, concept, strengths):
    _, report = check(runner, entry)
    med = report["screened"]["medications"][0]
    assert (med["concept"], [a["per_unit_mg"] for a in med["amounts"]]) == (concept, strengths)
    assert report["unrecognized"] == []


@pytest.mark.parametrize("entry", ["TYLENOL 3 TAB", "Tylenol 3 tabs q6h"])
def test_a_bare_number_between_a_name_and_a_tablet_word_is_asked_never_guessed(runner, entry):
    # Tylenol with Codeine No. 3, or 3 tablets of Tylenol? Read as either, it was a guess: as Tylenol, the
    # codeine was lost. The numbered product is screened (it holds Tylenol's acetaminophen), the dose unread.
    code, report = check(runner, entry)
    assert code == 3 and report["screened"]["medications"][0]["concepts"] == ["acetaminophen", "codeine"]
    assert report["unrecognized"][0]["reason"] == (
        "dose not checked for Tylenol with Codeine No. 3: 'tylenol 3' and a tablet word: Tylenol with Codeine No. 3, "
        "or 3 tablets of tylenol? (write 'tylenol #3', or the count after the dose)")


@pytest.mark.parametrize("entry", ["lorazepam 1 mg q4h prn alcohol withdrawal", "methadone 60 mg daily for heroin addiction",
                                   "Soma 350 mg prn for pain (no tylenol)", "Soma 350 mg tid prn spasm no alcohol"])
def test_a_medicine_inside_what_an_entry_is_for_is_no_second_medication(runner, entry):
    _, report = check(runner, entry)
    assert not any("more than one medication" in u["reason"] for u in report["unrecognized"])


@pytest.mark.parametrize(("entry", "quantity"), [("fluconazole #1", 1), ("oxycodone #8 1 tab q6h", 8)])
def test_a_number_after_a_generic_no_codeine_product_is_numbered_after_is_a_quantity(runner, entry, quantity):
    _, report = check(runner, entry)
    assert report["screened"]["medications"][0]["quantity"] == quantity


def test_claim_texts_with_a_form_or_a_fraction_agree_with_their_ndc(runner, tmp_path):
    # 'ULTRAM ER' was compared with plain Ultram's 50 mg tablet, '1/2' and '1-2' taken for strengths: invalid.
    _, patients = claims_run(runner, tmp_path,
                             "1,21695-0292-30,ULTRAM ER,2024-01-02,30,30,\n"
                             "2,0023-6002-01,HYDROCOD/APAP 5/325MG 1/2,2024-01-02,30,120,\n"
                             "3,0023-6002-01,HYDROCOD/APAP 5-325 X 1-2,2024-01-02,30,120,\n")
    assert patients["error"].tolist() == ["", "", ""]


# --- a named combination product written with a strength it does not have ----------------------------------------


@pytest.mark.parametrize(("entry", "ingredients", "reason"), [
    ("Tylenol #3 300/60 mg", {"acetaminophen", "codeine"},
     "dose not checked for Tylenol with Codeine No. 3: 300/60 mg, as read, is not a strength of Tylenol with "
     "Codeine No. 3 (300/30 mg)"),
    ("Norco 5/500 mg 1 tab q6h", {"hydrocodone", "acetaminophen"},
     "dose not checked for Norco: 5/500 mg, as read, is not a strength of Norco (5/325, 7.5/325, 10/325 mg)"),
    # Two tablets written as their total: likely, and so asked, never read as such.
    ("Tylenol #3 600/60 mg q4h", {"acetaminophen", "codeine"},
     "dose not checked for Tylenol with Codeine No. 3: 600/60 mg, as read, is not a strength of Tylenol with "
     "Codeine No. 3 (300/30 mg); 2 × 300/30 mg a dose? write the strength and the count ('300/30 mg, 2 tabs')"),
    ("Norco 0.02 g/650 mg q6h", {"hydrocodone", "acetaminophen"},
     "dose not checked for Norco: 20/650 mg, as read, is not a strength of Norco (5/325, 7.5/325, 10/325 mg); "
     "2 × 10/325 mg a dose? write the strength and the count ('10/325 mg, 2 tabs')"),
    # Sold as a solution too (listed first): held to its tablets, not to nothing.
    ("Roxicet 10/325 mg q6h", {"oxycodone", "acetaminophen"},
     "dose not checked for Roxicet: 10/325 mg, as read, is not a strength of Roxicet (5/325 mg)"),
])
def test_a_combination_product_with_a_strength_it_is_not_sold_in_is_unread(runner, entry, ingredients, reason):
    # No. 3 is 300/30 and 300/60 is No. 4: which of the name and the numbers is wrong cannot be told, so the dose is
    # not read at either; the ingredients are still screened.
    code, report = check(runner, entry)
    assert code == 3 and report["status"] == "incomplete"
    assert [u["reason"] for u in report["unrecognized"]] == [reason]
    assert "amounts" not in report["screened"]["medications"][0]
    assert set(report["screened"]["medications"][0]["concepts"]) == ingredients


@pytest.mark.parametrize("entry", ["Tylenol #3 300/30 mg", "Norco 7.5/325 mg 1 tab q6h", "Norco 5-325 2 tabs q6h",
                                   "acetaminophen/codeine 300/60", "Soma 700 mg"])
def test_a_marketed_strength_or_a_name_without_one_product_is_read_as_written(runner, entry):
    _, report = check(runner, entry)
    assert not any("not a strength of" in u["reason"] for u in report["unrecognized"])


@pytest.mark.parametrize("entry", [
    # "Tylenol #3 5 mL" was 5 tablets' worth, 150 mg of codeine a dose: a tablet's strength says nothing of a mL.
    "Tylenol #3 5 mL q6h", "Tylenol #3 2 puffs q6h", "Roxicet 5 mL q6h", "Roxicet 1 packet q6h",
    # Sold as a liquid too, a count without its unit may be mL: "Methadose 10 daily" is 10 mL of the 10 mg/mL
    # concentrate as well as 10 tablets of 40 mg (a 1,880 MME finding), "Roxicet 5" 5 mL or 5 tablets.
    "Methadose 10 daily", "Roxicet 5 q6h", "Tylenol PM 10 qhs", "Dilaudid 2 q4h"])
def test_a_strength_per_unit_is_never_given_to_another_unit_or_to_a_count_that_may_be_ml(runner, entry):
    _, report = check(runner, entry)
    med = report["screened"]["medications"][0]
    assert "amounts" not in med and "dose_mg" not in med, med
    assert not [f for f in report["findings"] if f["kind"] == "dose"]


@pytest.mark.parametrize(("entry", "per_dose"), [
    ("Roxicet 1 tab q6h", [5, 325]), ("Tylenol #3 2 q4h", [600, 60]), ("Nayzilam 4 sprays daily", None)])
def test_a_count_in_the_products_own_unit_takes_its_only_strength(runner, entry, per_dose):
    _, report = check(runner, entry)
    med = report["screened"]["medications"][0]
    if per_dose is None:  # one ingredient: its dose in mg (5 mg a spray)
        assert med["dose_mg"] == 20
    else:
        assert [a["per_dose_mg"] for a in med["amounts"]] == per_dose


def test_a_claim_for_a_product_sold_as_a_liquid_too_gives_no_daily_dose_from_its_quantity(runner, tmp_path):
    # 300 of Methadose over 30 days: 10 tablets of 40 mg a day, or 10 mL of the 10 mg/mL concentrate?
    findings, _ = claims_run(runner, tmp_path, "1,,METHADOSE,2024-01-02,30,300,\n")
    assert not [t for t in findings["title"] if "MME" in t], findings["title"].tolist()


def test_a_claim_text_with_a_strength_its_product_is_not_sold_in_is_compared_in_full_with_its_ndc(runner, tmp_path):
    # Unread for its name, the text was still read in full: the reason compares every strength, and a reversed
    # pair (325/10 for Norco's 10/325) is no agreement with the NDC's product.
    _, patients = claims_run(runner, tmp_path, "1,50090-0006-01,TYLENOL #3 300/60 MG,2024-01-02,10,40,\n"
                                               "2,0023-6022-01,NORCO 325/10 MG,2024-01-02,10,40,\n")
    assert patients.loc["1", "status"] == patients.loc["2", "status"] == "invalid"
    assert patients.loc["1", "error"].endswith(
        "give different strengths (300 mg + 60 mg in the text, 300 mg + 30 mg in the NDC's product)")
    assert "give different strengths (325 mg + 10 mg in the text" in patients.loc["2", "error"]


@pytest.mark.parametrize(("entry", "strengths"), [
    ("FIORICET 50-300-40 MG CAP", [50, 300, 40]),    # a claim text: a strength for each of three ingredients
    ("Fioricet 50-300-40 q4h", [50, 300, 40]),       # without a unit: read as a marketed strength of Fioricet
    ("Fioricet 50-325-40 q4h", None),                # not one of them (Esgic's): the unit is asked, not assumed
])
def test_three_strengths_joined_by_dashes_are_read_for_a_three_ingredient_product(runner, entry, strengths):
    _, report = check(runner, entry)
    med = report["screened"]["medications"][0]
    assert [a["per_unit_mg"] for a in med.get("amounts", [])] == (strengths or [])
    assert any("could not read" in u["reason"] or "no unit" in u["reason"]
               for u in report["unrecognized"]) == (strengths is None)
