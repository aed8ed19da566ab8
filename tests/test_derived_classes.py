"""Class memberships from the FDA's indexing, curated rows winning, and coverage said plainly (issue 12)."""

from __future__ import annotations

import json

import pytest

import screener
from screener.cli import cli
from screener.model import Coverage, Status

UNII_E, UNII_F, UNII_G = "EEEEEEEEE1", "FFFFFFFFF1", "GGGGGGGGG1"


@pytest.fixture
def derived_dir(tiny_dir):
    """The tiny knowledge with an FDA class table: drug-e and drug-f are indexed as benzodiazepines (drug-e is
    refused by class_exclusions.csv), drug-b (curated is_a benzos) is indexed too, drug-g only as a statin."""
    (tiny_dir / "ndc").mkdir()
    (tiny_dir / "ndc" / "substance_classes.tsv").write_text(
        "unii\tsubstance\tfda_class\tproducts\n"
        f"{UNII_E}\tDRUG E\tBenzodiazepine [EPC]\t3\n"
        f"{UNII_F}\tDRUG F\tBenzodiazepine [EPC]\t12\n"
        f"{UNII_G}\tDRUG G\tHMG-CoA Reductase Inhibitor [EPC]\t40\n", encoding="utf-8")
    concepts = (tiny_dir / "concepts.csv").read_text(encoding="utf-8")
    (tiny_dir / "concepts.csv").write_text(concepts.replace(
        "drug-b,drug,drug-b,,,test", "drug-b,drug,drug-b,,unii:BBBBBBBBB1,test"), encoding="utf-8")
    with (tiny_dir / "ndc" / "substance_classes.tsv").open("a", encoding="utf-8") as f:
        f.write("BBBBBBBBB1\tDRUG B\tBenzodiazepine [EPC]\t5\n")
    return tiny_dir


def test_a_drug_indexed_with_a_mapped_class_joins_it_and_the_path_says_so(derived_dir):
    kb = screener.load_knowledge(derived_dir, use_cache=False)
    report = kb.screen(["drug-a", f"unii:{UNII_F}"])
    [finding] = report.findings
    assert finding.rule_id == "a+benzos"
    assert finding.derived == ("drug-f is_a benzos — FDA EPC 'Benzodiazepine'",)
    assert finding.sources[0] == "S2"
    assert finding.sources[1] == "FDA EPC 'Benzodiazepine' indexed on 12 drug f products (FDA NDC Directory); " \
                                 "mapped to benzos by fda_classes.csv: S16"
    assert report.status is Status.FINDINGS


def test_curated_rows_win_and_an_exclusion_refuses_a_membership(derived_dir):
    kb = screener.load_knowledge(derived_dir, use_cache=False)
    # drug-b is curated is_a benzos: the FDA indexing adds nothing, so its findings cite no derivation.
    [finding] = kb.screen(["drug-a", "drug-b"]).findings
    assert finding.derived == ()
    # drug-e is refused: recognised (by its UNII), but nothing classifies it.
    report = kb.screen(["drug-a", f"unii:{UNII_E}"])
    assert report.findings == ()
    assert report.status is Status.INCOMPLETE
    assert report.medications[1].coverage is Coverage.NOT_COVERED
    explanation = kb.explain(f"unii:{UNII_E}")
    assert explanation.excluded == ("drug-e is not taken as benzos: R1 (S17)",)


def test_an_unmapped_fda_class_classifies_nothing(derived_dir):
    kb = screener.load_knowledge(derived_dir, use_cache=False)
    report = kb.screen([f"unii:{UNII_G}"])
    # Its established pharmacologic class is a class of its own (for allergies to it), so drug-g is a
    # concept; but no rule names that class, so its interactions are still not covered.
    [med] = report.medications
    assert (med.concept, kb.index.up["drug-g"].keys() - {"drug-g"}) == ("drug-g", {"epc-hmg-coa-reductase-inhibitor"})
    assert med.coverage is Coverage.NOT_COVERED
    assert report.status is Status.INCOMPLETE


def test_without_an_fda_class_table_nothing_is_derived(tiny_dir):
    kb = screener.load_knowledge(tiny_dir, use_cache=False)
    assert kb.index.derived == {}


# --- the bundled knowledge --------------------------------------------------------------------------


@pytest.mark.parametrize("drug, rule", [
    ("nalbuphine", "carisoprodol+opioids"),
    ("sufentanil", "carisoprodol+opioids"),
    ("prochlorperazine", "carisoprodol+antipsychotics"),
    ("Compazine", "carisoprodol+antipsychotics"),
    ("dronabinol", "carisoprodol+other-cns-depressants"),
    ("carbamazepine", "carisoprodol+cyp2c19-inducers"),
])
def test_the_reviewers_missed_drugs_now_fire_through_the_fda_indexing(kb, drug, rule):
    [finding] = [f for f in kb.screen(["carisoprodol", drug]).findings if f.kind.value == "drug-drug"]
    assert finding.rule_id == rule
    assert finding.derived and ("— FDA EPC" in finding.derived[0] or "— FDA MoA" in finding.derived[0])
    assert any("FDA NDC Directory" in s for s in finding.sources)


@pytest.mark.parametrize("drug, rule", [
    ("fluconazole", "carisoprodol+cyp2c19-inhibitors"),
    ("Diflucan", "carisoprodol+cyp2c19-inhibitors"),
    ("Nexium", "carisoprodol+cyp2c19-inhibitors"),
    ("ticlopidine", "carisoprodol+cyp2c19-inhibitors"),
    ("apalutamide", "carisoprodol+cyp2c19-inducers"),
    ("pentazocine", "carisoprodol+opioids"),
])
def test_curated_rows_from_the_cyp2c19_and_label_evidence(kb, drug, rule):
    findings = [f for f in kb.screen(["carisoprodol", drug]).findings if f.kind.value == "drug-drug"]
    assert [f.rule_id for f in findings] == [rule]
    assert findings[0].derived == ()  # a curated row, with its own source


def test_carisoprodol_and_fluconazole_is_not_clean(runner):
    result = runner.invoke(cli, ["check", "carisoprodol", "fluconazole", "-f", "json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["findings"][0]["rule"] == "carisoprodol+cyp2c19-inhibitors"


def test_a_drug_nothing_classifies_makes_the_screen_incomplete(runner):
    result = runner.invoke(cli, ["check", "Soma", "lisinopril", "--width", "100"])
    assert result.exit_code == 3
    assert ('  ? "lisinopril" (medication): lisinopril is a recognised FDA substance, but this knowledge base\n'
            "    does not classify it: its interactions were not checked") in result.stdout
    # A finding at --fail-on still wins the exit code; the status stays incomplete.
    result = runner.invoke(cli, ["check", "Soma", "Xanax", "lisinopril", "-f", "json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["status"] == "incomplete"


def test_explain_works_for_every_recognised_name_and_code(runner):
    for name in ("lisinopril", "unii:E7199S1YWR", "Zestril"):
        result = runner.invoke(cli, ["explain", name, "-f", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["coverage"] == "not-covered"
    result = runner.invoke(cli, ["explain", "0037-2001-01", "-f", "json"])
    data = json.loads(result.stdout)
    assert (data["id"], data["recognised_as"]) == ("soma", "NDC 00037-2001-01: Soma 350 mg tablet")
    assert "Muscle Relaxant [EPC]" in data["fda_classes"]
    data = json.loads(runner.invoke(cli, ["explain", "nalbuphine", "-f", "json"]).stdout)
    assert data["coverage"] == "classified"
    # a mixed agonist-antagonist: the partial-agonist class, which is_a opioids (issue 13)
    assert any(line.startswith("nalbuphine is_a opioid-partial-agonists — FDA EPC 'Opioid Agonist/Antagonist' (FDA EPC")
               for line in data["derived"])


def test_the_scope_is_said_in_data_info_and_in_every_report(runner):
    info = runner.invoke(cli, ["data", "info"]).stdout
    assert "scope: drugs       " in info and "Any other recognised medication is reported as not covered" in info
    report = json.loads(runner.invoke(cli, ["check", "Soma", "-f", "json"]).stdout)
    assert report["scope"].startswith("acetaminophen, alcohol, aspirin, carisoprodol, codeine, diazepam, ketamine, "
                                      "meprobamate, quazepam, sodium oxybate, tramadol and 16 drug classes; "
                                      "20 conditions;")


def test_validate_checks_the_mapping_against_the_fda_indexing(derived_dir):
    from screener.validate import validate

    with (derived_dir / "fda_classes.csv").open("a", encoding="utf-8") as f:
        f.write("Benzodiazepine [EPX],benzos,S18,\nBenzodiazepines [MoA],benzos,S19,\n")
    with (derived_dir / "class_exclusions.csv").open("a", encoding="utf-8") as f:
        f.write("drug-zz,benzos,R2,S20\ndrug g,benzos,R3,S21\n")
    assert [str(p) for p in validate(derived_dir)] == [
        "class_exclusions.csv:3:drug: 'drug-zz' is neither a concept nor a substance in ndc/substance_classes.tsv",
        "class_exclusions.csv:4:drug: 'drug g' is not derived into benzos from the FDA indexing: this exclusion "
        "refuses nothing",
        "fda_classes.csv:3:fda_class: 'Benzodiazepine [EPX]' is not a valid fda_class",
        "fda_classes.csv:4:fda_class: 'Benzodiazepines [MoA]' is indexed on no substance in "
        "ndc/substance_classes.tsv",
    ]
