"""Drug classes and drug-drug rules of issue 13 point 3: the complete opioid class (partial agonists and mixed
agonist-antagonists with their own rule against full agonists), CYP2C19 perpetrators, antipsychotics,
cannabinoids, kratom, ketamine/esketamine and other sedating agents, each met with carisoprodol or an opioid."""

from __future__ import annotations

import csv
import json

import pytest

from screener.cli import cli
from screener.paths import bundled_data_dir


def drug_drug(kb, *names):
    """(title, severity, rule id) of every drug-drug finding of a screen of `names`."""
    report = kb.screen(list(names))
    return [(f.title, f.severity.value, f.rule_id) for f in report.findings if f.kind.value == "drug-drug"]


# --- opioids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("drug, concept", [
    ("pentazocine", "pentazocine"),
    ("nalbuphine", "nalbuphine"),
    ("oliceridine", "oliceridine"),
    ("Olinvyk", "oliceridine"),
    ("Dsuvia", "sufentanil"),
    ("opium tincture", "opium"),
    ("paregoric", "opium"),
    ("Tuzistra XR", "codeine"),
    ("Brixadi", "buprenorphine"),
])
def test_opioids_old_and_new_meet_carisoprodol_at_major(kb, drug, concept):
    [(title, severity, _rule)] = [f for f in drug_drug(kb, "carisoprodol", drug) if f[2] == "carisoprodol+opioids"]
    assert (title, severity) == (f"carisoprodol + {concept}", "major")


def test_buprenorphine_with_a_full_agonist_gets_the_partial_agonist_rule(kb):
    assert drug_drug(kb, "buprenorphine", "oxycodone") == [
        ("buprenorphine + oxycodone", "major", "opioid-partial-agonists+opioids")]
    # the brand as well (Suboxone: buprenorphine with naloxone)
    assert drug_drug(kb, "Suboxone", "oxycodone") == [
        ("buprenorphine + oxycodone", "major", "opioid-partial-agonists+opioids")]


@pytest.mark.parametrize("drug", ["nalbuphine", "pentazocine", "butorphanol"])
def test_mixed_agonist_antagonists_with_a_full_agonist_get_the_partial_agonist_rule(kb, drug):
    [(_, severity, rule)] = drug_drug(kb, drug, "morphine")
    assert (severity, rule) == ("major", "opioid-partial-agonists+opioids")


def test_two_full_agonists_keep_the_opioid_plus_opioid_rule_with_its_own_citation(kb):
    assert drug_drug(kb, "oxycodone", "hydrocodone") == [("oxycodone + hydrocodone", "major", "opioids+opioids")]
    [finding] = kb.screen(["oxycodone", "hydrocodone"]).findings
    assert "gabapentinoid" not in " ".join(finding.sources).lower()
    assert "MMWR Recomm Rep 2022;71(3)" in " ".join(finding.sources)
    assert "additive opioid effects" not in finding.mechanism


def test_a_partial_agonist_still_meets_benzodiazepines_and_carisoprodol_as_an_opioid(kb):
    assert drug_drug(kb, "buprenorphine", "alprazolam") == [
        ("buprenorphine + alprazolam", "major", "opioids+benzodiazepines")]
    assert drug_drug(kb, "Suboxone", "carisoprodol") == [
        ("buprenorphine + carisoprodol", "major", "carisoprodol+opioids")]


def test_antidiarrhoeal_opioids_are_cns_depressants_not_boxed_warning_opioids(kb):
    # No opioid-class boxed warning on diphenoxylate or difenoxin labels: moderate with carisoprodol, and the
    # opioid's own boxed warning (other CNS depressants) makes them major with an opioid.
    assert drug_drug(kb, "carisoprodol", "diphenoxylate") == [
        ("carisoprodol + diphenoxylate", "moderate", "carisoprodol+other-cns-depressants")]
    assert drug_drug(kb, "Motofen", "oxycodone") == [("difenoxin + oxycodone", "major", "opioids+cns-depressants")]
    # loperamide stays out of the class (class_exclusions.csv)
    assert drug_drug(kb, "carisoprodol", "loperamide") == []


# --- CYP2C19 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("drug, concept, rule", [
    ("fluconazole", "fluconazole", "carisoprodol+cyp2c19-inhibitors"),
    ("esomeprazole", "esomeprazole", "carisoprodol+cyp2c19-inhibitors"),
    ("Nexium", "esomeprazole", "carisoprodol+cyp2c19-inhibitors"),
    ("apalutamide", "apalutamide", "carisoprodol+cyp2c19-inducers"),
])
def test_cyp2c19_perpetrators_meet_carisoprodol(kb, drug, concept, rule):
    assert drug_drug(kb, "carisoprodol", drug) == [(f"carisoprodol + {concept}", "moderate", rule)]


# --- antipsychotics -------------------------------------------------------------------------------------


@pytest.mark.parametrize("drug, concept", [
    ("prochlorperazine", "prochlorperazine"),
    ("Compazine", "prochlorperazine"),
    ("droperidol", "droperidol"),
    ("Caplyta", "lumateperone"),
    ("loxapine", "loxapine"),
])
def test_antipsychotics_meet_carisoprodol_at_moderate(kb, drug, concept):
    assert drug_drug(kb, "carisoprodol", drug) == [
        (f"carisoprodol + {concept}", "moderate", "carisoprodol+antipsychotics")]


def test_an_antipsychotic_with_an_opioid_is_major(kb):
    assert drug_drug(kb, "prochlorperazine", "oxycodone") == [
        ("prochlorperazine + oxycodone", "major", "opioids+cns-depressants")]


# --- cannabinoids, kratom, ketamine and other sedating agents -------------------------------------------


@pytest.mark.parametrize("drug, concept", [
    ("dronabinol", "dronabinol"),
    ("Syndros", "dronabinol"),
    ("marijuana", "cannabis"),
    ("weed", "cannabis"),
    ("CBD", "cannabidiol"),
    ("Epidiolex", "cannabidiol"),
    ("kratom", "kratom"),
    ("esketamine", "esketamine"),
    ("Spravato", "esketamine"),
    ("xylazine", "xylazine"),
    ("tianeptine", "tianeptine"),
    ("phenibut", "phenibut"),
    ("Zurzuvae", "zuranolone"),
])
def test_other_sedating_agents_meet_carisoprodol_at_moderate_and_an_opioid_at_major(kb, drug, concept):
    assert drug_drug(kb, "carisoprodol", drug) == [
        (f"carisoprodol + {concept}", "moderate", "carisoprodol+other-cns-depressants")]
    assert drug_drug(kb, "oxycodone", drug) == [(f"oxycodone + {concept}", "major", "opioids+cns-depressants")]


def test_ketamine_has_its_own_major_rule_with_other_cns_depressants(kb):
    assert drug_drug(kb, "ketamine", "alprazolam") == [
        ("ketamine + alprazolam", "major", "ketamine+cns-depressants")]
    assert drug_drug(kb, "Ketalar", "oxycodone") == [("ketamine + oxycodone", "major", "ketamine+cns-depressants")]


def test_remimazolam_is_a_benzodiazepine(kb):
    assert drug_drug(kb, "Byfavo", "fentanyl") == [("remimazolam + fentanyl", "major", "opioids+benzodiazepines")]


def test_kratom_and_dronabinol_through_the_cli(runner):
    result = runner.invoke(cli, ["check", "kratom", "carisoprodol", "-f", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert [(f["title"], f["severity"], f["rule"]) for f in report["findings"]] == [
        ("kratom + carisoprodol", "moderate", "carisoprodol+other-cns-depressants")]
    assert report["status"] == "findings"
    assert any(c["topic"] == "fda-warning" for c in report["counselling"])
    result = runner.invoke(cli, ["check", "dronabinol", "oxycodone", "-f", "json"])
    [finding] = json.loads(result.stdout)["findings"]
    assert (finding["severity"], finding["rule"]) == ("major", "opioids+cns-depressants")


def test_every_new_rule_row_records_when_and_against_what_it_was_checked():
    with (bundled_data_dir() / "interactions.csv").open(encoding="utf-8", newline="") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    for rule_id in ("opioids+opioids", "opioid-partial-agonists+opioids", "ketamine+cns-depressants"):
        assert rows[rule_id]["checked"] == "2026-12-01" and rows[rule_id]["checked_against"]
