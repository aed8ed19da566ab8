"""The FDA vocabulary: every substance and brand recognised, salts to parents, products to all ingredients."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from screener import Status
from screener.cli import cli
from screener.knowledge.loader import read_tables
from screener.recognize import fda_vocabulary as vocabulary
from screener.recognize import ingredient_for_unii
from screener.text import normalize_name
from screener.vocabulary.build import build, parent_of

NOT_IN_UNII = {"belladonna-alkaloids": "a mixture of alkaloids; UNII lists atropine, hyoscyamine and scopolamine apart",
               "7-hydroxymitragynine": "a kratom alkaloid the FDA UNII Names list of 2025-06-12 does not name"}
"""Knowledge-base ingredients with no single UNII substance, and why."""

VOCABULARY_SHORTER = {"tussionex": "UNII's COMPONENT rows give only hydrocodone polistirex for TUSSIONEX PENNKINETIC",
                      "cassipa": "UNII's COMPONENT rows give only naloxone for CASSIPA (buprenorphine and naloxone)"}
"""Knowledge-base products whose FDA COMPONENT rows list fewer ingredients than the label (the KB follows the label)."""


@pytest.mark.parametrize("entry, ingredients, via", [
    # A generic name indexed with an FDA established pharmacologic class is a concept of the knowledge base
    # (a member of that class, for allergies to it); a brand is still read through the FDA vocabulary. Neither
    # is covered: no interaction rule names them.
    ("amlodipine", ["amlodipine"], "knowledge base"),
    ("Norvasc", ["amlodipine"], "FDA vocabulary"),
    ("atorvastatin 40 mg daily", ["atorvastatin"], "knowledge base"),
    ("Lipitor 20mg", ["atorvastatin"], "FDA vocabulary"),
    ("metformin 500 mg bid", ["metformin"], "knowledge base"),
    ("Harvoni", ["ledipasvir", "sofosbuvir"], "FDA vocabulary"),
])
def test_drugs_without_rules_are_recognised_and_said_not_covered(runner, entry, ingredients, via):
    # Recognised, but nothing in the knowledge base classifies them: never a clean screen (exit 3).
    result = runner.invoke(cli, ["check", entry, "-f", "json"])
    assert result.exit_code == 3, result.stdout
    report = json.loads(result.stdout)
    assert report["status"] == "incomplete"
    [med] = report["screened"]["medications"]
    assert sorted(med["concepts"]) == ingredients
    assert med["via"] == via
    assert (med["coverage"], sorted(med["not_covered"])) == ("not-covered", ingredients)
    [item] = report["unrecognized"]
    assert item["reason"].endswith("but this knowledge base does not classify "
                                   f"{'it: its' if len(ingredients) == 1 else 'them: their'} interactions were not checked")


@pytest.mark.parametrize("entry, parent", [
    ("oxycodone hydrochloride", "oxycodone"),
    ("oxycodone hcl 5 mg q6h", "oxycodone"),
    ("hydrocodone bitartrate", "hydrocodone"),
    ("morphine sulfate 15 mg", "morphine"),
    ("alprazolam", "alprazolam"),
    ("codeine phosphate", "codeine"),
])
def test_salts_resolve_to_their_parent_so_its_rules_apply(kb, entry, parent):
    report = kb.screen(["Soma", entry])
    assert report.status is Status.FINDINGS, report.unrecognized
    assert report.medications[1].ingredients == (parent,)
    assert any(f.concepts == ("carisoprodol", parent) for f in report.findings)


def test_vocabulary_ingredients_count_for_duplicates(kb):
    report = kb.screen(["lisinopril 10 mg", "Zestril"])
    [finding] = report.findings
    assert (finding.kind.value, finding.title) == ("duplicate", "lisinopril listed twice")


def test_every_knowledge_base_ingredient_links_to_the_vocabulary(kb):
    """A name the rules know under another vocabulary name still links up: UNII display ↔ concept id."""
    index = kb.index
    vocab = vocabulary(index)
    unlinked = []
    for concept in read_tables(kb.directory).concepts:
        if concept.kind not in ("drug", "substance") or concept.id in NOT_IN_UNII:
            continue
        linked = set()
        for name in (concept.name, *concept.synonyms, concept.id):
            entry = vocab.lookup(normalize_name(name))
            if entry is not None and not entry.ambiguous and len(entry.ingredients[0]) == 1:
                linked.add(ingredient_for_unii(index, entry.ingredients[0][0]))
        codes = [c.removeprefix("unii:") for c in concept.codes if c.startswith("unii:")]
        linked.update(ingredient_for_unii(index, code) for code in codes)
        if concept.id not in linked:
            unlinked.append((concept.id, sorted(filter(None, linked))))
    assert unlinked == []


def test_knowledge_base_products_agree_with_the_fda_components(kb):
    index = kb.index
    vocab = vocabulary(index)
    disagree = []
    checked = 0
    for concept in read_tables(kb.directory).concepts:
        if concept.kind != "product" or concept.id in VOCABULARY_SHORTER:
            continue
        for name in (concept.name, *concept.synonyms):
            entry = vocab.lookup(normalize_name(name))
            if entry is None or entry.ambiguous:
                continue
            checked += 1
            fda = {ingredient_for_unii(index, u) for u in entry.ingredients[0]}
            if fda != set(index.ingredients[concept.id]):
                disagree.append((concept.id, name, sorted(fda)))
    assert checked > 100
    assert disagree == []


def test_knowledge_version_names_the_vocabulary_ndc_and_icd10cm_dates(kb):
    unii, ndc, icd = (json.loads((kb.directory / folder / "manifest.json").read_text())["source_date"].replace("-", "")
                      for folder in ("vocabulary", "ndc", "icd10cm"))
    assert kb.version.endswith(f".unii{unii}.ndc{ndc}.icd{icd}")


@pytest.mark.parametrize("entry, concept", [
    ("rxnorm:2101", "carisoprodol"),
    ("RxNorm:2101", "carisoprodol"),
    ("http://www.nlm.nih.gov/research/umls/rxnorm|2101", "carisoprodol"),
    ("unii:21925K482H", "carisoprodol"),
    ("http://fdasis.nlm.nih.gov|21925K482H", "carisoprodol"),
    ("unii:E7199S1YWR", "lisinopril"),
])
def test_medication_codes(kb, entry, concept):
    report = kb.screen([entry])
    assert [u for u in report.unrecognized if "not checked" not in u.reason] == []
    assert report.medications[0].ingredients == (concept,)


@pytest.mark.parametrize("entry", ["rxnorm:99999999", "unii:ZZZZZZZZZZ", "http://example.org/codes|2101"])
def test_unknown_codes_are_reported_never_guessed(kb, entry):
    report = kb.screen([entry])
    assert report.status is Status.INCOMPLETE
    assert report.medications[0].concept is None


def test_an_ambiguous_fda_name_is_not_guessed(tmp_path):
    source = tmp_path / "UNII_Names.txt"
    source.write_text(
        "Name\tTYPE\tUNII\tDisplay Name\n"
        "DRUGOL\tof\tAAAAAAAAAA\tDRUGOL\n"
        "DRUGOL HYDROCHLORIDE\tcn\tBBBBBBBBBB\tDRUGOL HYDROCHLORIDE\n"
        "BRANDY\tbn\tBBBBBBBBBB\tDRUGOL HYDROCHLORIDE\n"
        "MIXA COMPONENT DRUGOL HYDROCHLORIDE\tbn\tBBBBBBBBBB\tDRUGOL HYDROCHLORIDE\n"
        "MIXA COMPONENT OTHEROL\tbn\tCCCCCCCCCC\tOTHEROL\n"
        "OTHEROL\tof\tCCCCCCCCCC\tOTHEROL\n"
        "SAMENAME\tcn\tAAAAAAAAAA\tDRUGOL\n"
        "SAMENAME\tcn\tCCCCCCCCCC\tOTHEROL\n"
        "2-(1,1-DIMETHYL)PROPANE\tsys\tCCCCCCCCCC\tOTHEROL\n",
        encoding="utf-8",
    )
    manifest = build(source, tmp_path / "out")
    with gzip.open(tmp_path / "out" / "names.tsv.gz", "rt", encoding="utf-8") as handle:
        rows = {r[0]: (r[1], r[2]) for r in csv.reader(handle, delimiter="\t")}
    assert rows == {
        "brandy": ("bn", "AAAAAAAAAA"),                  # brand → salt → parent
        "drugol": ("of", "AAAAAAAAAA"),
        "drugol hydrochloride": ("cn", "AAAAAAAAAA"),    # salt → parent
        "mixa": ("product", "AAAAAAAAAA;CCCCCCCCCC"),   # combination → every ingredient
        "otherol": ("of", "CCCCCCCCCC"),
        "samename": ("ambiguous-cn", "AAAAAAAAAA|CCCCCCCCCC"),
    }
    assert manifest["names"] == 6


@pytest.mark.parametrize("display, parent", [
    ("OXYCODONE HYDROCHLORIDE", "OXYCODONE"),
    ("ATORVASTATIN CALCIUM TRIHYDRATE", "ATORVASTATIN"),
    ("SODIUM OXYBATE", None),        # a leading salt word is part of the name
    ("OXYCODONE", None),
])
def test_salt_stripping(display, parent):
    known = {"OXYCODONE": "X", "ATORVASTATIN": "Y", "SODIUM": "Z", "SODIUM OXYBATE": "W"}
    assert parent_of(display, known) == parent


MISSPELLINGS = Path(__file__).parent / "data" / "misspellings.csv"


def _misspellings():
    with MISSPELLINGS.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.skipif(not MISSPELLINGS.exists(), reason="misspellings list not present")
def test_real_misspellings_are_never_turned_into_another_drug_and_are_suggested(kb):
    rows = _misspellings()
    assert len(rows) >= 50
    index = kb.index
    wrong, missed = [], []
    for row in rows:
        intended = set(index.ingredients[row["intended"]])
        report = kb.screen([row["misspelling"]])
        med = report.medications[0]
        if med.concept is not None:
            if set(med.ingredients) != intended:
                wrong.append((row["misspelling"], med.assumed, row["intended"]))
            continue
        [problem] = report.unrecognized
        names = {normalize_name(s) for s in problem.suggestions}
        targets = {index.names.get(n) for n in names}
        if row["intended"] not in targets and not any(
                set(index.ingredients.get(t, ())) == intended for t in targets if t):
            missed.append((row["misspelling"], row["intended"], problem.suggestions))
    assert wrong == []                                   # never silently another drug
    assert len(missed) <= len(rows) // 10, missed        # at least 90% suggest the intended drug


@pytest.mark.parametrize("code, condition", [
    ("O09.90", "pregnancy"),
    ("icd10:O09.90", "pregnancy"),
    ("Z33.1", "pregnancy"),
    ("K74.60", "cirrhosis"),
    ("icd10:K74.60", "cirrhosis"),
    ("N18.4", "ckd-stage-4"),
    ("E80.21", "acute-intermittent-porphyria"),
    ("F10.20", "alcohol-use-disorder"),
    ("http://hl7.org/fhir/sid/icd-10-cm|F11.20", "opioid-use-disorder"),
    ("Z39.1", "lactation"),
    ("snomed:5602001", "opioid-use-disorder"),
])
def test_condition_codes_map_by_prefix(kb, code, condition):
    report = kb.screen(["carisoprodol"], conditions=[code])
    assert report.conditions == ((code, condition),)
    assert report.findings and report.findings[0].concepts == ("carisoprodol", condition)


@pytest.mark.parametrize("code, title", [
    ("F17.210", "ICD-10-CM F17.210 Nicotine dependence, cigarettes, uncomplicated"),
    ("icd10:A00.0", "ICD-10-CM A00.0 Cholera due to Vibrio cholerae 01, biovar cholerae"),
    ("I10", "ICD-10-CM I10 Essential (primary) hypertension"),
])
def test_a_valid_icd10cm_code_no_rule_is_about_is_recognised_with_its_title(kb, code, title):
    report = kb.screen(["carisoprodol"], conditions=[code])
    assert report.status is not Status.INCOMPLETE
    [noted] = report.noted
    assert (noted.input, noted.field, noted.recognised_as) == (code, "condition", title)


@pytest.mark.parametrize("code, reason", [
    ("Z99.99", "Z99.99 is not in ICD-10-CM April 2026 (CMS); the nearest code above it is Z99"),
    ("E11.99", "E11.99 is not in ICD-10-CM April 2026 (CMS); the nearest code above it is E11.9"),
    ("snomed:123456789", "snomed code 123456789 is not in the knowledge base (codes are never guessed)"),
])
def test_invalid_or_unmapped_codes_are_reported(kb, code, reason):
    report = kb.screen(["carisoprodol"], conditions=[code])
    assert report.status is Status.INCOMPLETE
    assert report.unrecognized[0].reason == reason


@pytest.mark.parametrize("code, concept", [("2670", "codeine"), ("3322", "diazepam"), ("448", "alcohol"),
                                           ("4337", "fentanyl"), ("1191", "aspirin"), ("704", "amitriptyline")])
def test_field_survey_rxcuis(kb, code, concept):
    assert kb.screen([f"rxnorm:{code}"]).medications[0].ingredients == (concept,)


def test_every_condition_code_row_cites_a_source(kb):
    with (kb.directory / "condition_codes.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 100
    assert all(row["source"].strip() for row in rows)
