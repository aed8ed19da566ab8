"""Local knowledge layers: brands, synonyms, rules, severity overrides and switched-off rules."""

from __future__ import annotations

import json

import pytest

import screener
from conftest import write_knowledge
from screener import KnowledgeError, Severity
from screener.cli import cli


@pytest.fixture
def hospital(tmp_path):
    """A local layer named 'hospital' over the bundled knowledge."""
    return write_knowledge(tmp_path / "hospital", {
        "concepts.csv": [
            ["id", "kind", "name", "synonyms", "codes", "source"],
            ["relaxo", "product", "Relaxo", "", "", "St Elsewhere formulary 2026"],
            ["carisoprodol", "drug", "", "karisoprodol|CSP", "", "St Elsewhere abbreviations list"],
        ],
        "relations.csv": [
            ["subject", "relation", "object", "source"],
            ["relaxo", "has_ingredient", "carisoprodol", "St Elsewhere formulary 2026"],
        ],
        "overrides.csv": [
            ["rule", "action", "severity", "reason", "source"],
            ["carisoprodol+cyp2c19-inhibitors", "severity", "minor", "P&T: alert fatigue, impact unknown per label",
             "St Elsewhere P&T 2026-03"],
            ["carisoprodol-age-over-65", "off", "", "geriatric screening done by the ward team", "P&T 2026-03"],
        ],
    })


def test_local_brand_and_synonyms_are_recognised(hospital):
    kb = screener.load_knowledge(layers=[hospital])
    report = kb.screen(["Relaxo", "CSP 350 mg", "karisoprodol", "Xanax"])
    assert [m.ingredients for m in report.medications] == [("carisoprodol",)] * 3 + [("alprazolam",)]
    assert report.unrecognized == ()


def test_a_severity_override_changes_the_finding_and_says_so(hospital):
    before = screener.load_knowledge().screen(["carisoprodol", "omeprazole"]).findings[0]
    assert before.severity is Severity.MODERATE and before.layer == "bundled"
    finding = screener.load_knowledge(layers=[hospital]).screen(["carisoprodol", "omeprazole"]).findings[0]
    assert (finding.severity, finding.layer) == (Severity.MINOR, "hospital")
    assert finding.override == ("severity moderate → minor by layer 'hospital': P&T: alert fatigue, impact unknown "
                                "per label (St Elsewhere P&T 2026-03)")


def test_a_switched_off_rule_no_longer_fires_and_is_listed(hospital, runner):
    kb = screener.load_knowledge(layers=[hospital])
    report = kb.screen(["carisoprodol"], age=70)
    assert [f.kind.value for f in report.findings] == []
    result = runner.invoke(cli, ["data", "info", "--data", str(hospital), "--format", "json"])
    info = json.loads(result.stdout)
    assert info["disabled"] == [{"rule": "carisoprodol-age-over-65", "layer": "hospital",
                                 "reason": "geriatric screening done by the ward team (P&T 2026-03)"}]


def test_a_switched_off_rule_that_would_have_fired_is_listed_in_every_report(hospital, runner):
    kb = screener.load_knowledge(layers=[hospital])
    report = kb.screen(["carisoprodol"], age=70)
    assert report.layers == ("hospital",)
    assert [s.to_dict() for s in report.suppressed] == [{
        "rule": "carisoprodol-age-over-65", "kind": "drug-age", "severity": "major",
        "title": "carisoprodol at age 70 (rule: >=65)", "inputs": ["carisoprodol", "age 70"], "layer": "hospital",
        "reason": "geriatric screening done by the ward team (P&T 2026-03)"}]
    assert report.message == ("No cautions found in this knowledge base for the recognised inputs; "
                              "1 rule switched off by a local layer would have applied.")
    # Not listed when it would not have fired (age 40), and never without layers.
    assert kb.screen(["carisoprodol"], age=40).suppressed == ()
    assert screener.load_knowledge().screen(["carisoprodol"], age=70).suppressed == ()

    text = runner.invoke(cli, ["check", "carisoprodol", "--age", "70", "--data", str(hospital), "--width", "100"]).stdout
    assert ("SWITCHED OFF BY A LOCAL LAYER: these would have applied\n"
            "  - major drug-age · carisoprodol at age 70 (rule: >=65) (rule carisoprodol-age-over-65): switched\n"
            "    off by layer 'hospital': geriatric screening done by the ward team (P&T 2026-03)\n") in text
    assert "\n  layers     hospital (local, over the bundled knowledge)\n\nSOURCES\n" in text  # the foot, before the sources
    as_json = json.loads(runner.invoke(cli, ["check", "carisoprodol", "--age", "70", "--data", str(hospital),
                                             "-f", "json"]).stdout)
    assert as_json["layers"] == ["hospital"] and as_json["suppressed"][0]["rule"] == "carisoprodol-age-over-65"


def test_fhir_output_and_cards_name_the_layers_and_the_suppressed_rules(hospital):
    from screener.fhir.write import detected_issues

    report = screener.load_knowledge(layers=[hospital]).screen(["carisoprodol"], age=70)
    bundle = detected_issues(report)
    device = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Device")
    assert {"type": {"text": "knowledge layer"}, "value": "hospital"} in device["version"]
    outcome = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome")
    assert [i["code"] for i in outcome["issue"]] == ["informational", "informational", "suppressed"]
    assert outcome["issue"][1]["diagnostics"].startswith("knowledge scope: ")
    assert "rule carisoprodol-age-over-65) would have applied: switched off by knowledge layer 'hospital'" in (
        outcome["issue"][2]["diagnostics"])


def test_a_local_rule_covering_a_bundled_case_is_refused(tmp_path):
    layer = write_knowledge(tmp_path / "ward", {
        "interactions.csv": [
            ["id", "kind", "a", "b", "c", "severity", "summary", "mechanism", "advice", "plain", "evidence", "source"],
            ["ward-lisinopril-twice", "duplicate", "carisoprodol", "carisoprodol", "", "contraindicated", "x", "",
             "a", "p", "secondary", "ward policy"],
        ],
    })
    with pytest.raises(KnowledgeError, match="covers the same case as 'duplicate-carisoprodol'"):
        screener.load_knowledge(layers=[layer])


def test_a_local_rule_id_may_not_shadow_a_bundled_one(tmp_path):
    layer = write_knowledge(tmp_path / "ward", {
        "interactions.csv": [
            ["id", "kind", "a", "b", "c", "severity", "summary", "mechanism", "advice", "plain", "evidence", "source"],
            ["carisoprodol+opioids", "drug-drug", "carisoprodol", "alcohol", "", "minor", "x", "", "a", "p",
             "secondary", "ward policy"],
        ],
    })
    with pytest.raises(KnowledgeError) as error:
        screener.load_knowledge(layers=[layer])
    assert str(error.value).startswith(f"{layer / 'interactions.csv'}:2: rule id 'carisoprodol+opioids' is also used")


def test_a_new_local_rule_fires_with_its_layer(tmp_path):
    layer = write_knowledge(tmp_path / "ward", {
        "conditions.csv": [
            ["id", "drug", "context", "target", "severity", "summary", "advice", "plain", "evidence", "source"],
            ["ward-carisoprodol-seizures", "carisoprodol", "condition", "seizure-disorder", "major", "Ward rule",
             "Ask neurology", "Tell your doctor", "secondary", "Ward 7 policy 12"],
        ],
    })
    with pytest.raises(KnowledgeError, match="covers the same case"):
        screener.load_knowledge(layers=[layer])  # the bundled knowledge already has carisoprodol × seizures
    (layer / "conditions.csv").write_text(
        "id,drug,context,target,severity,summary,advice,plain,evidence,source\n"
        "ward-carisoprodol-aki,carisoprodol,condition,acute-kidney-injury,major,Ward rule,Ask nephrology,"
        "Tell your doctor,secondary,Ward 7 policy 12\n", encoding="utf-8")
    kb = screener.load_knowledge(layers=[layer])
    [finding] = kb.screen(["Soma"], conditions=["acute kidney injury"]).findings
    assert (finding.rule_id, finding.layer, finding.severity) == ("ward-carisoprodol-aki", "ward", Severity.MAJOR)


def test_layers_change_the_knowledge_version(hospital):
    assert screener.load_knowledge(layers=[hospital]).version != screener.load_knowledge().version


def test_the_environment_variable_and_the_option_agree(hospital, runner, monkeypatch):
    by_option = runner.invoke(cli, ["check", "carisoprodol", "omeprazole", "--data", str(hospital), "-f", "json"])
    monkeypatch.setenv("SCREENER_DATA", str(hospital))
    by_env = runner.invoke(cli, ["check", "carisoprodol", "omeprazole", "-f", "json"])
    assert json.loads(by_option.stdout) == json.loads(by_env.stdout)
    assert json.loads(by_env.stdout)["findings"][0]["layer"] == "hospital"


def test_text_output_names_the_layer_and_the_change(hospital, runner):
    short = runner.invoke(cli, ["check", "carisoprodol", "omeprazole", "--data", str(hospital)])
    assert "  ● drug-drug · carisoprodol + omeprazole (changed by layer hospital) [1, 2]\n" in short.stdout
    result = runner.invoke(cli, ["check", "carisoprodol", "omeprazole", "--data", str(hospital), "--details"])
    text = " ".join(result.stdout.split())  # the report wraps long lines
    assert "Rule: carisoprodol+cyp2c19-inhibitors (label; layer hospital; ncpdp:DD v3:DRG)" in text
    assert "Changed: severity moderate → minor by layer 'hospital'" in text


def test_an_override_for_an_unknown_rule_names_its_line(tmp_path):
    layer = write_knowledge(tmp_path / "bad", {"overrides.csv": [
        ["rule", "action", "severity", "reason", "source"], ["no-such-rule", "off", "", "r", "s"]]})
    with pytest.raises(KnowledgeError, match=r"overrides.csv:2: rule 'no-such-rule' is not in the knowledge"):
        screener.load_knowledge(layers=[layer])


def test_a_missing_layer_is_a_one_line_error(runner, tmp_path):
    result = runner.invoke(cli, ["check", "Soma", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.stderr == f"Error: knowledge: knowledge layer not found: {tmp_path / 'nope'}\n"


@pytest.mark.parametrize("reason, source, missing", [("", "P&T 2026-03", "reason"), ("alert fatigue", "  ", "source")])
def test_an_override_needs_a_reason_and_a_source(tmp_path, reason, source, missing):
    layer = write_knowledge(tmp_path / "ward", {"overrides.csv": [
        ["rule", "action", "severity", "reason", "source"],
        ["carisoprodol+benzodiazepines", "off", "", reason, source]]})
    with pytest.raises(KnowledgeError, match=f"overrides.csv:2: '{missing}' is empty"):
        screener.load_knowledge(layers=[layer])
