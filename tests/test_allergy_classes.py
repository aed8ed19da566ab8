"""Drug-class allergies: an allergy written as a class ("penicillin", "PCN", "sulfa", "NSAID") is
recognised, and an allergy to a class (or to one of its members) gives a drug-allergy finding for a
member drug, with the severity of the rule's cited source. Cross-sensitivity between classes only
where a source says so: penicillin allergy and a cephalosporin (moderate), but no "sulfa" finding for
sulfonamide non-antibiotics such as furosemide (Strom BL et al., N Engl J Med 2003)."""

from __future__ import annotations

import json

import pytest

import screener
from screener.cli import cli


def allergy_findings(kb, medication, allergy):
    report = kb.screen([medication], allergies=[allergy])
    assert report.allergies, f"{allergy!r} was not recognised as an allergy"
    return report, [f for f in report.findings if f.kind.value == "drug-allergy"]


@pytest.mark.parametrize("allergy, concept", [
    ("penicillin", "penicillins"),
    ("PCN", "penicillins"),
    ("pcn allergy", "penicillins"),
    ("cephalosporins", "cephalosporins"),
    ("sulfa", "sulfonamide-antibiotics"),
    ("Sulfa drugs", "sulfonamide-antibiotics"),
    ("sulfonamides", "sulfonamide-antibiotics"),
    ("NSAID", "nsaids"),
    ("nsaids", "nsaids"),
    ("non-steroidal anti-inflammatories", "nsaids"),
    ("opiates", "opioids"),
    ("narcotics", "opioids"),
    ("codeine", "codeine"),
    ("ACE inhibitors", "ace-inhibitors"),
    ("macrolides", "macrolides"),
])
def test_class_allergies_are_recognised(kb, allergy, concept):
    report = kb.screen([], allergies=[allergy])
    assert report.allergies == ((allergy, concept),)
    assert not report.unrecognized


@pytest.mark.parametrize("allergy", ["penicillin", "PCN"])
def test_penicillin_allergy_and_amoxicillin_is_contraindicated(kb, allergy):
    _, [finding] = allergy_findings(kb, "amoxicillin", allergy)
    assert finding.rule_id == "penicillins-allergy-penicillins"
    assert finding.severity.value == "contraindicated"
    assert "0079b186-7455-b9d7-e063-6294a90a56e1" in " ".join(finding.sources)  # amoxicillin label §4


def test_an_allergy_to_one_penicillin_covers_another(kb):
    _, [finding] = allergy_findings(kb, "ampicillin", "amoxicillin")
    assert finding.rule_id == "penicillins-allergy-penicillins"
    assert finding.severity.value == "contraindicated"


def test_penicillin_allergy_and_a_cephalosporin_is_moderate_not_contraindicated(kb):
    _, [finding] = allergy_findings(kb, "cephalexin", "penicillin")
    assert finding.rule_id == "cephalosporins-allergy-penicillins"
    assert finding.severity.value == "moderate"
    assert "up to 10%" in " ".join(finding.sources) and "JAMA 2019" in " ".join(finding.sources)
    assert "10.1016/j.jaci.2022.08.028" in " ".join(finding.sources)  # the 2022 practice parameter


def test_cephalosporin_allergy_and_a_cephalosporin(kb):
    _, [finding] = allergy_findings(kb, "cefdinir", "cephalexin")
    assert (finding.rule_id, finding.severity.value) == ("cephalosporins-allergy-cephalosporins", "contraindicated")


def test_sulfa_allergy_and_bactrim(kb):
    _, [finding] = allergy_findings(kb, "Bactrim", "sulfa")
    assert finding.rule_id == "sulfonamide-antibiotics-allergy-sulfonamide-antibiotics"
    assert finding.severity.value == "contraindicated"
    assert "sulfamethoxazole" in finding.concepts


@pytest.mark.parametrize("medication", ["furosemide", "hydrochlorothiazide", "celecoxib"])
def test_sulfa_allergy_gives_nothing_for_sulfonamide_non_antibiotics(kb, medication):
    # Strom BL et al., N Engl J Med 2003;349:1628-35: no cross-reactivity, only a general tendency to allergy.
    _, findings = allergy_findings(kb, medication, "sulfa")
    assert findings == []


@pytest.mark.parametrize("medication, ingredient", [("ibuprofen", "ibuprofen"), ("aspirin", "aspirin"),
                                                    ("ketorolac", "ketorolac"), ("Soma Compound", "aspirin")])
def test_nsaid_allergy_covers_every_nsaid_aspirin_included(kb, medication, ingredient):
    _, [finding] = allergy_findings(kb, medication, "NSAID")
    assert finding.rule_id == "nsaids-allergy-nsaids"
    assert finding.severity.value == "contraindicated"
    assert ingredient in finding.concepts


def test_aspirin_allergy_and_an_nsaid(kb):
    _, [finding] = allergy_findings(kb, "naproxen", "aspirin")
    assert (finding.rule_id, finding.severity.value) == ("nsaids-allergy-nsaids", "contraindicated")


def test_codeine_allergy_and_oxycodone_is_moderate_with_pseudoallergy_advice(kb):
    _, [finding] = allergy_findings(kb, "oxycodone", "codeine")
    assert finding.rule_id == "opioids-allergy-opioids"
    assert finding.severity.value == "moderate"
    assert "histamine" in finding.advice and "10.1177/0310057X1204000204" in " ".join(finding.sources)


def test_other_classes_with_a_label_contraindication(kb):
    cases = [("lisinopril", "ACE inhibitors", "ace-inhibitors-allergy-ace-inhibitors"),
             ("enalapril", "lisinopril", "ace-inhibitors-allergy-ace-inhibitors"),
             ("Zithromax", "erythromycin", "azithromycin-allergy-macrolides"),
             ("doxycycline hyclate 100 mg bid", "tetracyclines", "doxycycline-allergy-tetracyclines")]
    for medication, allergy, rule in cases:
        _, [finding] = allergy_findings(kb, medication, allergy)
        assert (finding.rule_id, finding.severity.value) == (rule, "contraindicated"), medication


def test_a_dye_the_fda_indexed_as_an_ace_inhibitor_is_not_one(kb):
    _, findings = allergy_findings(kb, "D&C Yellow No. 10", "ACE inhibitors")
    assert findings == []


def test_unrelated_classes_do_not_cross(kb):
    for medication, allergy in [("amoxicillin", "sulfa"), ("ibuprofen", "penicillin"),
                                ("Bactrim", "NSAID"), ("azithromycin", "penicillin")]:
        _, findings = allergy_findings(kb, medication, allergy)
        assert findings == [], (medication, allergy)


def test_the_public_screen_function(kb):
    report = screener.screen(["amoxicillin"], allergies=["penicillin"], knowledge=kb)
    assert [f.rule_id for f in report.findings] == ["penicillins-allergy-penicillins"]


def test_check_amoxicillin_with_a_penicillin_allergy_reads_well(runner):
    result = runner.invoke(cli, ["check", "amoxicillin", "-a", "penicillin", "--details", "--width", "100"])
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert out.startswith("CONTRAINDICATED (1)\n  ● drug-allergy · amoxicillin + Penicillins\n")
    assert '"amoxicillin" → amoxicillin → penicillins ⟷ penicillins ← "penicillin"' in out
    assert "FDA EPC 'Penicillin-class Antibacterial'" in out
    assert 'allergy    "penicillin" → penicillins' in out
    assert "not recognised" not in out
    data = json.loads(runner.invoke(cli, ["check", "amoxicillin", "-a", "penicillin", "-f", "json"]).stdout)
    assert data["screened"]["allergies"] == [{"input": "penicillin", "concept": "penicillins"}]
    assert [f["rule"] for f in data["findings"]] == ["penicillins-allergy-penicillins"]
