"""Allergies to the classes the FDA indexes, and to any class (issue 13, point 2).

Every FDA established pharmacologic class ([EPC]) in the bundled NDC extract is recognised as an
allergy by its FDA name, with or without the tag and in the plural; the everyday forms people type
("fluoroquinolones", "statins", "beta blockers") are curated names with a source. An allergy to such a
class meets its members: with the class's own cited rule where one exists (quinolones: contraindicated,
CIPRO §4.1), else with the honestly worded fallback `class-allergy` (moderate: ask what the reaction
was), which holds for every class, curated or FDA. A member the knowledge base does not otherwise
classify stays "not covered" for its interactions.
"""

from __future__ import annotations

import json

import pytest

from screener.cli import cli

CIPRO_TEXT = """\
CONTRAINDICATED (1)
  ● drug-allergy · ciprofloxacin + Quinolone antibacterials [1-5]
    Quinolone (fluoroquinolone) allergy and a quinolone antibacterial…
    Do: Do not dispense; record the reaction and choose an antibacterial…

NOT RECOGNISED OR NOT CHECKED: this screen is incomplete
  ? "ciprofloxacin" (medication): ciprofloxacin is a recognised FDA substance,
    but this knowledge base does not classify it: its interactions were not
    checked
"""


def allergy_findings(report):
    return [(f.rule_id, f.severity.value, f.title) for f in report.findings if f.kind.value == "drug-allergy"]


def test_ciprofloxacin_and_a_fluoroquinolone_allergy_is_contraindicated(runner):
    result = runner.invoke(cli, ["check", "ciprofloxacin", "-a", "fluoroquinolones"])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(CIPRO_TEXT)
    assert '  allergy    "fluoroquinolones" → quinolones\n' in result.stdout
    report = json.loads(runner.invoke(cli, ["check", "ciprofloxacin", "-a", "fluoroquinolones", "-f", "json"]).stdout)
    [finding] = report["findings"]
    assert (finding["rule"], finding["severity"], finding["concepts"], finding["inputs"]) == (
        "quinolones-allergy-quinolones", "contraindicated", ["ciprofloxacin", "quinolones"],
        ["ciprofloxacin", "fluoroquinolones"])
    assert "888dc7f9-ad9c-4c00-8d50-8ddfd9bd27c0" in finding["sources"][0]  # CIPRO label §4.1


def test_the_issue_example_reads_all_three_allergies(kb):
    # `screener check ciprofloxacin -a fluoroquinolones -a statins -a quinolone`: each allergy recognised (none
    # "not recognised as a medication, class or substance"), one finding (both quinolone forms are one class).
    report = kb.screen(["ciprofloxacin"], allergies=["fluoroquinolones", "statins", "quinolone"])
    assert report.allergies == (("fluoroquinolones", "quinolones"), ("statins", "statins"), ("quinolone", "quinolones"))
    assert [u.field for u in report.unrecognized] == ["medication"]  # ciprofloxacin's interactions: not covered
    assert allergy_findings(report) == [
        ("quinolones-allergy-quinolones", "contraindicated", "ciprofloxacin + Quinolone antibacterials")]


def test_a_statin_and_a_statin_allergy_gives_the_moderate_class_finding(kb):
    report = kb.screen(["simvastatin 20 mg daily"], allergies=["statins"])
    [finding] = report.findings
    assert (finding.rule_id, finding.severity.value, finding.title) == (
        "class-allergy", "moderate", "simvastatin + Statins (HMG-CoA reductase inhibitors)")
    assert finding.summary.startswith("Allergy recorded to a drug class this medicine belongs to")
    assert finding.advice.startswith("Ask what the reaction was, to which drug and when, before dispensing.")
    assert "doi 10.1016/j.jaci.2022.08.028" in " ".join(finding.sources)  # the 2022 practice parameter
    assert finding.path == ('"simvastatin 20 mg daily"', "simvastatin", "statins", "⟷ rule:class-allergy", "statins",
                            '"statins"')
    # The allergy was read and matched; the statin's interactions are still not checked.
    assert report.medications[0].not_covered == ("simvastatin",)
    assert report.status.value == "incomplete"


@pytest.mark.parametrize("allergy, concept", [
    ("Quinolone Antimicrobial [EPC]", "epc-quinolone-antimicrobial"),
    ("quinolone antimicrobial", "epc-quinolone-antimicrobial"),
    ("Quinolone Antimicrobials", "epc-quinolone-antimicrobial"),
    ("HMG-CoA Reductase Inhibitor [EPC]", "epc-hmg-coa-reductase-inhibitor"),
    ("HMG-CoA reductase inhibitors", "epc-hmg-coa-reductase-inhibitor"),
    ("Sulfonylurea [EPC]", "epc-sulfonylurea"),
    ("sulfonylureas", "epc-sulfonylurea"),
    ("beta-Adrenergic Blocker [EPC]", "epc-beta-adrenergic-blocker"),
    ("beta blockers", "beta-blockers"),
    ("Beta-blocker", "beta-blockers"),
    ("statin", "statins"),
    ("fluoroquinolone", "quinolones"),
    ("Macrolide Antimicrobial [EPC]", "epc-macrolide-antimicrobial"),
    ("macrolides", "macrolides"),
    ("tetracyclines", "tetracyclines"),
    ("ACE inhibitors", "ace-inhibitors"),
])
def test_fda_classes_are_recognised_by_their_names(kb, allergy, concept):
    report = kb.screen(["Soma"], allergies=[allergy])
    assert (report.allergies, report.unrecognized) == (((allergy, concept),), ())


@pytest.mark.parametrize("drug", ["levofloxacin", "moxifloxacin", "ofloxacin", "Cipro 500 mg bid"])
def test_every_fluoroquinolone_meets_the_quinolone_rule(kb, drug):
    report = kb.screen([drug], allergies=["Quinolone Antimicrobial [EPC]"])
    assert [(r, s) for r, s, _ in allergy_findings(report)] == [("quinolones-allergy-quinolones", "contraindicated")]


def test_a_curated_class_rule_wins_over_the_fallback(kb):
    report = kb.screen(["amoxicillin"], allergies=["Penicillin-class Antibacterial [EPC]"])
    assert [(r, s) for r, s, _ in allergy_findings(report)] == [("penicillins-allergy-penicillins", "contraindicated")]


def test_an_fda_class_means_its_members_only(kb):
    # "General Anesthetic [EPC]" is mapped into other-cns-depressants; dronabinol is another CNS depressant,
    # but not a general anaesthetic: no allergy finding for it.
    report = kb.screen(["propofol", "dronabinol"], allergies=["General Anesthetic [EPC]"])
    assert [(r, t) for r, _, t in allergy_findings(report)] == [
        ("class-allergy", "propofol + General Anesthetic [EPC]")]


@pytest.mark.parametrize("medication, allergy, title", [
    ("alprazolam", "benzodiazepines", "alprazolam + Benzodiazepines"),  # a curated class the FDA indexes
    ("pregabalin", "gabapentinoids", "pregabalin + Gabapentinoids"),  # a curated class it does not
])
def test_a_curated_class_allergy_meets_its_members(kb, medication, allergy, title):
    report = kb.screen([medication], allergies=[allergy])
    assert allergy_findings(report) == [("class-allergy", "moderate", title)]


def test_an_allergy_to_one_drug_is_not_an_allergy_to_its_class(kb):
    # No source here says an atorvastatin allergy extends to simvastatin: no finding is invented.
    report = kb.screen(["simvastatin"], allergies=["atorvastatin"])
    assert allergy_findings(report) == []


def test_a_substance_the_fda_vocabulary_names_is_that_substance_not_its_class(kb):
    # 'Progesterone [EPC]' is a class; "progesterone" written alone is the hormone itself.
    report = kb.screen(["Soma"], allergies=["progesterone", "Progesterone [EPC]"])
    assert report.allergies == (("progesterone", "progesterone"), ("Progesterone [EPC]", "epc-progesterone"))


def test_a_class_with_no_member_among_the_medications_gives_nothing_and_leaves_the_screen_complete(runner):
    result = runner.invoke(cli, ["check", "Soma 350 mg tid", "-a", "statins", "-a", "Sulfonylurea [EPC]",
                                 "-f", "json"])
    report = json.loads(result.stdout)
    assert [f["kind"] for f in report["findings"] if f["kind"] == "drug-allergy"] == []
    assert report["unrecognized"] == []
    assert report["status"] != "incomplete"
    assert result.exit_code in (0, 1)


def test_an_unknown_word_is_still_unrecognised_with_suggestions(runner):
    result = runner.invoke(cli, ["check", "Soma", "-a", "xyzzyquin", "-f", "json"])
    assert result.exit_code == 3
    [item] = json.loads(result.stdout)["unrecognized"]
    assert (item["input"], item["field"], item["reason"]) == (
        "xyzzyquin", "allergy", "not recognised as a medication, class or substance")
    assert item["suggestions"]


def test_the_rules_table_describes_the_fallback(runner):
    result = runner.invoke(cli, ["data", "rules"])
    assert result.exit_code == 0
    [line] = [line for line in result.stdout.splitlines() if line.startswith("| class-allergy |")]
    assert "| drug-allergy | any ingredient, allergy to a class it belongs to | moderate |" in line


def test_an_exclusion_from_a_class_holds_for_the_fda_class_mapped_into_it(kb):
    # loperamide is refused from opioids (class_exclusions.csv); 'Opioid Agonist [EPC]', mapped into opioids,
    # does not let it back in, and explain still names the exclusion.
    assert set(kb.index.up["loperamide"]) == {"loperamide"}
    report = kb.screen(["loperamide"], allergies=["Opioid Agonist [EPC]"])
    assert (report.allergies, report.findings) == ((("Opioid Agonist [EPC]", "epc-opioid-agonist"),), ())
    assert kb.explain("loperamide").excluded[0].startswith("loperamide is not taken as opioids: ")
