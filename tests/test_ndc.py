"""National Drug Codes: every usual written form, the bundled FDA NDC Directory, and its build (issue 12)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import screener
from screener.cli import cli
from screener.ndc import Ndc, NdcDirectory, NdcFormatError, read_ndc
from screener.ndc.build import build

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@given(st.text(alphabet="0123456789", min_size=4, max_size=4), st.text(alphabet="0123456789", min_size=3, max_size=3),
       st.text(alphabet="0123456789", min_size=1, max_size=1))
def test_every_written_form_of_an_ndc_reads_as_the_same_eleven_digits(labeler4, product3, package1):
    # One package NDC, written in each form that can express it.
    labeler, product, package = "0" + labeler4, "0" + product3, "0" + package1
    eleven = labeler + product + package
    forms = [f"{labeler4}-{product}-{package}", f"{labeler}-{product3}-{package}", f"{labeler}-{product}-{package1}",
             f"{labeler}-{product}-{package}", eleven, f"ndc:{eleven}", f"NDC: {labeler}-{product}-{package}"]
    assert {read_ndc(form) for form in forms} == {Ndc(eleven)}
    assert str(Ndc(eleven)) == f"{labeler}-{product}-{package}"
    assert read_ndc(f"{labeler4}-{product}") == read_ndc(f"{labeler}-{product}") == Ndc(labeler + product)


@pytest.mark.parametrize("text, reason", [
    ("0037200101", "10 digits without hyphens"),
    ("00372001", "8 digits without hyphens"),
    ("123-4567-89", "is not an NDC"),
    ("1234-567-89", "segments of 4-3-2 digits"),
    ("0037-2001-0001", "is not an NDC"),
])
def test_forms_that_cannot_be_read_one_way_are_refused_with_the_reason(text, reason):
    with pytest.raises(NdcFormatError, match=reason):
        read_ndc(text)


def test_an_ndc_resolves_to_its_product_with_its_strength(runner):
    result = runner.invoke(cli, ["check", "00037200101 2 tabs qid", "Xanax", "-f", "json"])
    report = json.loads(result.stdout)
    med = report["screened"]["medications"][0]
    assert (med["concept"], med["concepts"], med["via"]) == ("soma", ["carisoprodol"],
                                                             "NDC 00037-2001-01: Soma 350 mg tablet")
    assert med["strength_from"] == "ndc" and med["daily_mg"] == 2800
    titles = [f["title"] for f in report["findings"]]
    assert "carisoprodol 2,800 mg a day (limit 1,400 mg)" in titles and "carisoprodol + alprazolam" in titles


def test_an_ndc_alone_gives_no_dose_it_does_not_say():
    report = screener.screen(["0037-2001-01 qid"])
    assert report.medications[0].per_unit_mg == (350,)
    assert report.medications[0].per_day_mg() is None  # how many tablets a dose is not said
    assert not [f for f in report.findings if f.kind.value == "dose"]


@pytest.mark.parametrize("entry, reason", [
    ("99999-9999-99", "NDC 99999-9999-99 is not in the FDA NDC Directory"),
    ("0037200101", "could be read more than one way"),
    ("0037-2001-01 500 mg", "the text says 500 mg, the NDC's product 350 mg"),
])
def test_an_ndc_that_cannot_be_screened_is_reported_in_its_normalised_form(runner, entry, reason):
    result = runner.invoke(cli, ["check", entry, "-f", "json"])
    assert result.exit_code == 3
    [item] = json.loads(result.stdout)["unrecognized"]
    assert reason in item["reason"]


@pytest.mark.parametrize("entry, note", [
    ("21695-606", "the listing is excluded from the NDC Directory"),
    ("0037-2001-99", "package 00037-2001-99 is not listed (its product 00037-2001 is)"),
])
def test_an_excluded_or_unlisted_ndc_is_recognised_and_says_so(entry, note):
    report = screener.screen([entry])
    med = report.medications[0]
    assert med.ingredients == ("carisoprodol",) and note in med.note
    assert note in med.reading()


def test_a_fhir_ndc_coding_is_read_as_the_product(runner, tmp_path):
    from fhir_fixtures import bundle, patient, statement

    med = statement("m1", dosage=[{"doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet"}}],
                                   "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}}}])
    med["medicationCodeableConcept"] = {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "00037200101"}]}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle(patient(), med)), encoding="utf-8")
    report = json.loads(runner.invoke(cli, ["check", "--fhir", str(path), "-f", "json"]).stdout)
    assert report["screened"]["medications"][0]["via"] == "NDC 00037-2001-01: Soma 350 mg tablet"
    assert "carisoprodol 2,800 mg a day (limit 1,400 mg)" in [f["title"] for f in report["findings"]]


def test_claims_name_drugs_by_ndc(runner, tmp_path):
    claims = tmp_path / "c.csv"
    claims.write_text("patient_id,ndc,fill_date,days_supply\n"
                      "c1,00037-2001-01,2024-03-01,30\nc1,0009-0029-01,2024-03-05,30\n"
                      "c2,99999-9999-99,2024-03-01,10\n", encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(claims), "-o", str(tmp_path / "f.csv"), "--patients",
                                 str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    import csv

    rows = {r["patient_id"]: r for r in csv.DictReader((tmp_path / "p.csv").open(encoding="utf-8"))}
    assert rows["c1"]["status"] == "findings" and rows["c1"]["highest_severity"] == "major"
    assert rows["c2"]["status"] == "incomplete" and "not in the FDA NDC Directory" in rows["c2"]["unrecognized"]


PRODUCT = ("PRODUCTID\tPRODUCTNDC\tPRODUCTTYPENAME\tPROPRIETARYNAME\tPROPRIETARYNAMESUFFIX\tNONPROPRIETARYNAME\t"
           "DOSAGEFORMNAME\tROUTENAME\tSTARTMARKETINGDATE\tENDMARKETINGDATE\tMARKETINGCATEGORYNAME\tAPPLICATIONNUMBER\t"
           "LABELERNAME\tSUBSTANCENAME\tACTIVE_NUMERATOR_STRENGTH\tACTIVE_INGRED_UNIT\tPHARM_CLASSES\tDEASCHEDULE\t"
           "NDC_EXCLUDE_FLAG\tLISTING_RECORD_CERTIFIED_THROUGH\n")


def product_row(ndc, name, substances, strengths, units, classes="", route="ORAL", flag="N", through="20201231",
                end=""):
    return "\t".join([f"{ndc}_x", ndc, "HUMAN PRESCRIPTION DRUG", name, "", name.lower(), "TABLET", route, "20100101",
                      end, "NDA", "NDA1", "Lab", substances, strengths, units, classes, "", flag, through]) + "\n"


def test_the_build_keeps_every_product_and_derives_classes_only_from_single_systemic_products(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "product.txt").write_text(PRODUCT + "".join([
        product_row("0037-2001", "Soma", "CARISOPRODOL", "350", "mg/1", "Muscle Relaxant [EPC]"),
        product_row("0037-2001", "Soma", "CARISOPRODOL", "350", "mg/1", "", flag="E", through="20171231"),
        product_row("1234-5678", "Duo", "HYDROCODONE BITARTRATE; ACETAMINOPHEN", "10; 325", "mg/1; mg/1",
                    "Opioid Agonist [EPC]"),
        product_row("12345-678", "Eyes", "FLUCONAZOLE", "1", "mg/mL", "Cytochrome P450 2C19 Inhibitors [MoA]",
                    route="OPHTHALMIC"),
    ]), encoding="latin-1")
    (source / "package.txt").write_text(
        "PRODUCTID\tPRODUCTNDC\tNDCPACKAGECODE\tPACKAGEDESCRIPTION\tSTARTMARKETINGDATE\tENDMARKETINGDATE\t"
        "NDC_EXCLUDE_FLAG\tSAMPLE_PACKAGE\n0037-2001_x\t0037-2001\t0037-2001-01\t100 TABLET\t20100101\t\tN\tN\n",
        encoding="latin-1")
    out = tmp_path / "ndc"
    manifest = build([source], out, date="2026-11-30")
    assert (manifest["products"], manifest["packages"], manifest["source_date"]) == (3, 1, "2026-11-30")
    directory = NdcDirectory(out)
    soma = directory.product(read_ndc("0037-2001-01"))
    assert soma is not None and soma.listing == "listed" and soma.per_unit_mg() == (350,)  # the listed copy wins
    duo = directory.product(read_ndc("01234-5678"))
    assert duo is not None and duo.per_unit_mg() == (10, 325) and len(duo.uniis) == 2 and all(duo.uniis)
    assert directory.package(read_ndc("00037-2001-01")) == ("000372001", "")
    classes = (out / "substance_classes.tsv").read_text(encoding="utf-8").splitlines()
    # Only Soma is a single-ingredient product by a systemic route: the combination and the eye drop say nothing.
    assert [line.split("\t")[1:3] for line in classes[1:]] == [["CARISOPRODOL", "Muscle Relaxant [EPC]"]]


def test_an_ndc_with_its_own_dose_text_is_read_as_one_tablet_a_dose():
    # "350mg" beside an NDC of the 350 mg tablet is the dose, not a second product: 6 doses x 350 mg.
    report = screener.screen(["0037-2001-01 350mg q4h"])
    assert report.medications[0].per_day_mg() == 2100
    assert "carisoprodol 2,100 mg a day (limit 1,400 mg)" in [f.title for f in report.findings]


def test_an_ndc_written_with_another_medication_is_reported_not_half_read():
    report = screener.screen(["0037-2001-01 and Xanax"])
    assert report.status.value == "incomplete"
    [item] = report.unrecognized
    assert "holds more than one medication" in item.reason


def test_a_brand_and_a_salt_of_one_ingredient_are_a_duplicate():
    report = screener.screen(["Compazine", "prochlorperazine edisylate"])
    assert [f.title for f in report.findings] == ["prochlorperazine listed twice"]


def test_explain_a_brand_shows_the_rules_of_its_ingredient(runner):
    result = runner.invoke(cli, ["explain", "Latuda"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("lurasidone (drug, id lurasidone)")
    assert "lurasidone is_a antipsychotics — FDA EPC 'Atypical Antipsychotic'" in result.stdout
    assert "opioids + cns-depressants (via cns-depressants)" in result.stdout


def _claims_rows(runner, tmp_path, body):
    import csv

    claims = tmp_path / "c.csv"
    claims.write_text(body, encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(claims), "-o", str(tmp_path / "f.csv"), "--patients",
                                 str(tmp_path / "p.csv")])
    assert result.exit_code in (0, 3), result.output
    return {r["patient_id"]: r for r in csv.DictReader((tmp_path / "p.csv").open(encoding="utf-8"))}, result


def test_claims_ndcs_that_lost_their_leading_zeros_are_padded_to_eleven_digits(runner, tmp_path):
    rows, _ = _claims_rows(runner, tmp_path, "patient_id,ndc,fill_date,days_supply\n"
                                             "c1,37200101,2024-03-01,30\nc1,NDC:00009002901,2024-03-05,30\n")
    assert rows["c1"]["status"] == "findings" and rows["c1"]["highest_severity"] == "major"


def test_a_claims_strength_that_contradicts_its_ndc_is_reported(runner, tmp_path):
    rows, _ = _claims_rows(runner, tmp_path, "patient_id,ndc,strength,fill_date,days_supply\n"
                                             "c1,00037200101,500,2024-03-01,30\nc2,00037200101,350,2024-03-01,30\n")
    assert rows["c1"]["status"] == "incomplete"
    assert "the text says 500 mg, the NDC's product 350 mg" in rows["c1"]["unrecognized"]
    assert rows["c2"]["status"] != "incomplete"


def test_a_claim_whose_drug_and_ndc_name_different_drugs_is_an_invalid_row(runner, tmp_path):
    rows, _ = _claims_rows(runner, tmp_path, "patient_id,drug,ndc,fill_date,days_supply\n"
                                                  "c1,Xanax,00037200101,2024-03-01,30\n"
                                                  "c2,Soma,00037200101,2024-03-01,30\n")
    assert rows["c1"]["status"] == "invalid"
    assert rows["c1"]["error"] == "line 2: drug 'Xanax' and ndc 00037200101 name different drugs"
    assert rows["c2"]["status"] != "incomplete"
