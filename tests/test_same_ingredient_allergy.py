"""An allergy to the very ingredient taken is contraindicated for every drug the knowledge knows (issue 13)."""

from __future__ import annotations

import csv

import pytest

import screener
from screener.cli import cli


@pytest.mark.parametrize("medication, allergy, drug", [
    ("Xanax 0.5 mg bid", "alprazolam", "alprazolam"), ("Ativan 1 mg", "lorazepam", "lorazepam"),
    ("gabapentin", "Neurontin", "gabapentin"), ("codeine", "codeine", "codeine"),
    ("Percocet 5/325", "oxycodone", "oxycodone"), ("Soma", "carisoprodol", "carisoprodol"),
])
def test_an_allergy_to_the_ingredient_taken_is_contraindicated(medication, allergy, drug):
    report = screener.screen([medication], allergies=[allergy])
    [finding] = [f for f in report.findings if f.kind.value == "drug-allergy"]
    assert (finding.rule_id, finding.severity.value) == ("same-ingredient-allergy", "contraindicated")
    assert finding.concepts[0] == drug


def test_a_different_member_of_the_class_keeps_the_class_rule():
    [finding] = screener.screen(["oxycodone"], allergies=["codeine"]).findings
    assert (finding.rule_id, finding.severity.value) == ("opioids-allergy-opioids", "moderate")


def test_batch_finds_the_same_allergy_as_check(runner, tmp_path):
    (tmp_path / "p.csv").write_text("patient_id,medications,allergies\n1,Ativan 1 mg,lorazepam\n2,Ativan,NKDA\n",
                                    encoding="utf-8")
    result = runner.invoke(cli, ["batch", str(tmp_path / "p.csv"), "-o", str(tmp_path / "f.csv")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "f.csv").open(encoding="utf-8")))
    assert [(r["patient_id"], r["rule"], r["severity"]) for r in rows if r["kind"] == "drug-allergy"] == [
        ("1", "same-ingredient-allergy", "contraindicated")]


def test_the_wildcard_allergy_rule_names_any_ingredient_on_both_sides(tiny_dir):
    from screener.validate import validate

    with (tiny_dir / "conditions.csv").open("a", encoding="utf-8") as f:
        f.write("same,*,allergy,benzos,major,s,a,p,label,S,2026-12-01,E\n")
    assert [str(p) for p in validate(tiny_dir)] == [
        "conditions.csv:5:target: an allergy rule for any ingredient ('*') names '*' (the same ingredient) or "
        "'*class' (a class it belongs to) as its target"]
