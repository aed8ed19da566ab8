"""`screener data validate --data LAYER`: a local layer checked on its own and against its base, one fault each."""

from __future__ import annotations

import pytest

from conftest import write_knowledge
from screener.cli import cli
from screener.validate import validate_layers

OVERRIDES = ["rule", "action", "severity", "reason", "source"]
INTERACTIONS = ["id", "kind", "a", "b", "c", "severity", "summary", "mechanism", "advice", "plain", "evidence",
                "source", "checked", "checked_against"]
CONCEPTS = ["id", "kind", "name", "synonyms", "codes", "source"]
RELATIONS = ["subject", "relation", "object", "source"]


def rule(rid, a, b, severity="minor", **cells):
    row = dict(zip(INTERACTIONS, [rid, "drug-drug", a, b, "", severity, "s", "", "a", "p", "label", "ward",
                                  "2026-03-01", "ward P&T review"]))
    row.update(cells)
    return [row[c] for c in INTERACTIONS]


# (files of the layer, the one problem expected, with {layer} for the layer's path)
FAULTS = [
    pytest.param({"overrides.csv": [OVERRIDES, ["no-such-rule", "off", "", "r", "s"]]},
                 "{layer}/overrides.csv:2:rule: rule 'no-such-rule' is not in the knowledge below this layer",
                 id="override-of-a-missing-rule"),
    pytest.param({"overrides.csv": [OVERRIDES, ["a+c", "switch", "", "r", "s"]]},
                 "{layer}/overrides.csv:2:action: 'switch' is not an allowed action: ['severity', 'off']",
                 id="unknown-action"),
    pytest.param({"overrides.csv": [OVERRIDES, ["a+c", "severity", "severe", "r", "s"]]},
                 "{layer}/overrides.csv:2:severity: 'severe': not an allowed severity (contraindicated, major, "
                 "moderate, minor; empty for off)", id="bad-severity"),
    pytest.param({"overrides.csv": [OVERRIDES, ["a+c", "severity", "", "r", "s"]]},
                 "{layer}/overrides.csv:2:severity: unknown severity '' (expected one of contraindicated, major, "
                 "moderate, minor)", id="severity-change-without-a-severity"),
    pytest.param({"overrides.csv": [OVERRIDES, ["a+c", "off", "", "", "s"]]},
                 "{layer}/overrides.csv:2:reason: reason is empty", id="override-without-a-reason"),
    pytest.param({"overrides.csv": [OVERRIDES[:-1] + ["note"], ["a+c", "off", "", "r", "s"]]},
                 "{layer}/overrides.csv:1: unknown column(s) note; expected rule, action, severity, reason, source",
                 id="bad-header"),
    pytest.param({"interactions.csv": [INTERACTIONS, rule("a+c", "drug-b", "drug-d")]},
                 "{layer}/interactions.csv:2:id: rule id 'a+c' is also used at interactions.csv:4",
                 id="rule-id-used-below"),
    pytest.param({"interactions.csv": [INTERACTIONS, rule("c+a", "drug-c", "drug-a")]},
                 "{layer}/interactions.csv:2: rule 'c+a' covers the same case as 'a+c' (interactions.csv:4); "
                 "keep one",
                 id="rule-covering-a-case-below"),
    pytest.param({"interactions.csv": [INTERACTIONS, rule("b+nothing", "drug-b", "nothing")]},
                 "{layer}/interactions.csv:2:b: b 'nothing' is not a concept in concepts.csv",
                 id="unknown-concept"),
    pytest.param({"concepts.csv": [CONCEPTS, ["drug-a", "class", "", "A", "", "ward"]]},
                 "{layer}/concepts.csv:2:kind: concept 'drug-a' is a drug in concepts.csv; a layer may add names "
                 "to it, not change its kind", id="concept-changes-kind"),
    pytest.param({"concepts.csv": [CONCEPTS, ["drug-e", "drug", "drug-e", "", "", ""]]},
                 "{layer}/concepts.csv:2:source: source is empty", id="new-concept-without-a-source"),
    pytest.param({"relations.csv": [RELATIONS, ["sedatives", "is_a", "benzos", "ward"]]},
                 "{layer}/relations.csv:2: is_a cycle: sedatives → benzos → sedatives", id="cycle"),
    pytest.param({"interactions.csv": [INTERACTIONS, rule("benzos+d", "benzos", "drug-d"),
                                       rule("b+sed", "drug-b", "sedatives", "major")]},
                 "{layer}/interactions.csv:2:severity: rules 'b+sed' (major, {layer}/interactions.csv:3) and "
                 "'benzos+d' (minor) are equally specific for drug-b + drug-d but disagree on severity; make one "
                 "more specific or align them", id="tie"),
    pytest.param({"override.csv": [OVERRIDES, ["a+c", "off", "", "r", "s"]]},
                 "{layer}/override.csv: ignored: not one of the files a layer may hold (concepts.csv, relations.csv, "
                 "interactions.csv, conditions.csv, dosing.csv, counselling.csv, condition_codes.csv, strengths.csv, "
                 "fda_classes.csv, class_exclusions.csv, condition_names.csv, allergens.csv, mme_factors.csv, "
                 "ambiguous_names.csv, condition_history.csv, condition_negations.csv, rule_exceptions.csv, "
                 "overrides.csv)",
                 id="misnamed-file"),
]


@pytest.mark.parametrize("files, expected", FAULTS)
def test_one_fault_in_a_layer_is_named_by_the_layer_file(tiny_dir, tmp_path, runner, files, expected):
    layer = write_knowledge(tmp_path / "ward", files)
    expected = expected.format(layer=layer)
    assert [str(p) for p in validate_layers(tiny_dir, [layer])] == [expected]
    result = runner.invoke(cli, ["data", "validate", str(tiny_dir), "--data", str(layer)])
    assert (result.exit_code, result.stdout) == (1, expected + "\n")
    assert result.stderr == f"screener: 1 problem in 1 file of {tiny_dir} with layer {layer}.\n"


def test_a_layer_may_name_concepts_only_the_base_defines(tiny_dir, tmp_path, runner):
    layer = write_knowledge(tmp_path / "ward", {
        "concepts.csv": [CONCEPTS, ["drug-b", "", "", "bee", "", ""], ["brand-d", "product", "Brand D", "", "", "w"]],
        "relations.csv": [RELATIONS, ["brand-d", "has_ingredient", "drug-d", "ward"]],
        "interactions.csv": [INTERACTIONS, rule("b+d", "drug-b", "drug-d")],
        "overrides.csv": [OVERRIDES, ["a+c", "off", "", "ward policy", "P&T"], ["a+benzos", "severity", "minor", "r",
                                                                                "s"]],
    })
    assert validate_layers(tiny_dir, [layer]) == []
    result = runner.invoke(cli, ["data", "validate", "--knowledge", str(tiny_dir), "--data", str(layer)])
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == f"screener: {tiny_dir} with layer {layer} is valid.\n"


def test_every_fault_of_every_layer_at_once(tiny_dir, tmp_path):
    first = write_knowledge(tmp_path / "one", {
        "overrides.csv": [OVERRIDES, ["no-such-rule", "off", "", "r", "s"], ["a+c", "off", "", "r", "s"],
                          ["other-missing", "off", "", "r", "s"]],
        "interactions.csv": [INTERACTIONS, rule("b+nothing", "drug-b", "nothing"), rule("b+d", "drug-b", "drug-d")],
    })
    second = write_knowledge(tmp_path / "two", {
        "interactions.csv": [INTERACTIONS, rule("b+d", "drug-d", "drug-c", severity="extreme")],
    })
    assert [(p.file, p.line) for p in validate_layers(tiny_dir, [first, second])] == [
        (f"{first}/interactions.csv", 2), (f"{first}/overrides.csv", 2), (f"{first}/overrides.csv", 4),
        (f"{second}/interactions.csv", 2)]


def test_a_quoted_row_over_several_lines_is_set_aside_whole(tiny_dir, tmp_path):
    layer = tmp_path / "ward"
    layer.mkdir()
    (layer / "interactions.csv").write_text(
        ",".join(INTERACTIONS) + "\n"
        'b+nothing,drug-drug,drug-b,nothing,,minor,"two\nlines",,a,p,label,ward,2026-03-01,P&T\n'
        "b+d,drug-drug,drug-b,nothing-either,,minor,s,,a,p,label,ward,2026-03-01,P&T\n", encoding="utf-8")
    assert [str(p) for p in validate_layers(tiny_dir, [layer])] == [
        f"{layer}/interactions.csv:3:b: b 'nothing' is not a concept in concepts.csv",
        f"{layer}/interactions.csv:4:b: b 'nothing-either' is not a concept in concepts.csv"]


def test_a_missing_layer_is_a_problem(tiny_dir, tmp_path, runner):
    result = runner.invoke(cli, ["data", "validate", str(tiny_dir), "--data", str(tmp_path / "nope")])
    assert (result.exit_code, result.stdout) == (1, f"{tmp_path / 'nope'}: knowledge layer not found\n")


def test_layers_over_a_base_with_problems_are_checked_on_their_own(tiny_dir, tmp_path):
    (tiny_dir / "relations.csv").write_text("subject,relation,object,source\nx,is_a,y,S\n", encoding="utf-8")
    layer = write_knowledge(tmp_path / "ward", {"overrides.csv": [OVERRIDES, ["a+c", "off", "", "r", ""]]})
    problems = [str(p) for p in validate_layers(tiny_dir, [layer])]
    assert problems[-2:] == [f"{layer}: checked on its own only: the knowledge below it has problems",
                             f"{layer}/overrides.csv:2:source: source is empty"]
    # With the relations gone, the strengths naming their ingredients fail too.
    assert all(p.startswith(("relations.csv:", "strengths.csv:")) for p in problems[:-2])


def test_the_layers_in_screener_data_are_validated(tiny_dir, tmp_path, runner, monkeypatch):
    layer = write_knowledge(tmp_path / "ward", {"overrides.csv": [OVERRIDES, ["no-such-rule", "off", "", "r", "s"]]})
    monkeypatch.setenv("SCREENER_DATA", str(layer))
    result = runner.invoke(cli, ["data", "validate", str(tiny_dir)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{layer}/overrides.csv:2:rule: ")


def test_directory_and_knowledge_together_are_a_usage_error(tiny_dir, runner):
    result = runner.invoke(cli, ["data", "validate", str(tiny_dir), "--knowledge", str(tiny_dir)])
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: give the knowledge directory once: as DIRECTORY or with --knowledge, "
                                  "not both\n")
