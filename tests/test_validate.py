"""`screener data validate` and `screener data info`: one fault per directory, named by file, line and column."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import TINY, write_knowledge
from screener.cli import cli
from screener.validate import Problem, validate


def append(directory, name, row):
    with (directory / name).open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(row)


RULE = ["x", "drug-drug", "drug-a", "drug-d", "", "minor", "s", "", "a", "p", "label", "S", "2026-12-01", "E"]


def with_cells(row, **cells):
    columns = TINY["interactions.csv"][0]
    out = list(row)
    for column, value in cells.items():
        out[columns.index(column)] = value
    return out


FAULTS = [
    pytest.param("interactions.csv", with_cells(RULE, severity="severe"),
                 "interactions.csv:6:severity: 'severe' is not an allowed severity: "
                 "['contraindicated', 'major', 'moderate', 'minor']", id="bad-severity"),
    pytest.param("interactions.csv", with_cells(RULE, evidence="blog"),
                 "interactions.csv:6:evidence: 'blog' is not an allowed evidence: "
                 "['label', 'regulator', 'secondary', 'article']", id="bad-evidence"),
    pytest.param("interactions.csv", with_cells(RULE, source=""), "interactions.csv:6:source: source is empty",
                 id="no-source"),
    pytest.param("conditions.csv", ["c", "drug-a", "condition", "liver-disease", "minor", "s", "a", "p", "label", "", "2026-12-01", "E"],
                 "conditions.csv:5:source: source is empty", id="no-source-conditions"),
    pytest.param("interactions.csv", with_cells(RULE, b="nothing"),
                 "interactions.csv:6:b: b 'nothing' is not a concept in concepts.csv", id="unknown-concept"),
    pytest.param("interactions.csv", with_cells(RULE, id="sed+sed", a="sedatives", b="sedatives"),
                 "interactions.csv:6:id: rule id 'sed+sed' is also used at interactions.csv:2", id="duplicate-id"),
    pytest.param("interactions.csv", with_cells(RULE, id="again", a="sedatives", b="sedatives", severity="major"),
                 "interactions.csv:6: rule 'again' covers the same case as 'sed+sed' (interactions.csv:2); keep one",
                 id="contradicting-rule"),
    pytest.param("concepts.csv", ["drug-e", "drug", "drug-e", "", "rxnorm:12ab", "S"],
                 "concepts.csv:12:codes: 'rxnorm:12ab': codes must be system:code in that system's format",
                 id="bad-code"),
    pytest.param("concepts.csv", ["Drug E", "drug", "drug-e", "", "", "S"],
                 "concepts.csv:12:id: 'Drug E' is not a valid id", id="bad-id"),
    pytest.param("relations.csv", ["sedatives", "is_a", "benzos", "S"],
                 "relations.csv:11: is_a cycle: sedatives → benzos → sedatives", id="cycle"),
    pytest.param("conditions.csv", ["c", "drug-a", "age", "old", "minor", "s", "a", "p", "label", "S", "2026-12-01", "E"],
                 "conditions.csv:5:target: age target 'old' is not <N, <=N, >N or >=N", id="bad-age"),
    pytest.param("interactions.csv", with_cells(RULE, checked=""),
                 "interactions.csv:6:checked: '': checked must be the date the row was last checked (YYYY-MM-DD, "
                 "not in the future)", id="no-check-date"),
    pytest.param("interactions.csv", with_cells(RULE, checked="2999-01-01"),
                 "interactions.csv:6:checked: '2999-01-01': checked must be the date the row was last checked "
                 "(YYYY-MM-DD, not in the future)", id="future-check-date"),
    pytest.param("conditions.csv", ["c", "drug-a", "condition", "liver-disease", "minor", "s", "a", "p", "label", "S",
                                    "2026-12-01", ""],
                 "conditions.csv:5:checked_against: checked_against is empty", id="no-evidence-checked"),
    pytest.param("condition_names.csv", ["sugar", "E11.99", "S"],
                 "condition_names.csv:4:icd10cm: 'E11.99' is not in ICD-10-CM April 2026 (CMS)", id="bad-name-code"),
    pytest.param("allergens.csv", ["dust", "indoor", "S"],
                 "allergens.csv:4:category: 'indoor' is not an allowed category: ['food', 'environment', 'biologic']",
                 id="bad-allergen-category"),
    pytest.param("condition_codes.csv", ["icd10", "K7", "prefix", "liver-disease", "S"],
                 "condition_codes.csv:4:code: code 'K7' is not in icd10 format", id="bad-icd10"),
]


@pytest.mark.parametrize("name, row, expected", FAULTS)
def test_one_fault_is_named_by_file_line_and_column(tiny_dir, runner, name, row, expected):
    assert validate(tiny_dir) == []
    append(tiny_dir, name, row)
    assert [str(p) for p in validate(tiny_dir)] == [expected]
    result = runner.invoke(cli, ["data", "validate", str(tiny_dir)])
    assert result.exit_code == 1
    assert result.stdout == expected + "\n"
    assert result.stderr == f"screener: 1 problem in 1 file of {tiny_dir}.\n"


def test_unknown_column_is_a_header_problem(tiny_dir):
    rows = [list(r) for r in TINY["relations.csv"]]
    rows[0][-1] = "citation"
    write_knowledge(tiny_dir, {"relations.csv": rows})
    problems = validate(tiny_dir)
    assert problems[0] == Problem("relations.csv", 1, "", "unknown column(s) citation; expected subject, relation, "
                                                          "object, source")


def test_every_fault_at_once(tiny_dir):
    append(tiny_dir, "interactions.csv", with_cells(RULE, severity="severe"))
    append(tiny_dir, "interactions.csv", with_cells(RULE, id="y", source=""))
    append(tiny_dir, "concepts.csv", ["drug-e", "drug", "drug-e", "", "rxnorm:12ab", "S"])
    lines = [(p.file, p.line) for p in validate(tiny_dir)]
    assert lines == [("concepts.csv", 12), ("interactions.csv", 6), ("interactions.csv", 7)]


def test_equally_specific_rules_that_disagree_are_reported(tiny_dir):
    append(tiny_dir, "interactions.csv", ["benzos+d", "drug-drug", "benzos", "drug-d", "", "minor", "m", "", "a",
                                          "p", "label", "S", "2026-12-01", "E"])
    append(tiny_dir, "interactions.csv", ["b+sed", "drug-drug", "drug-b", "sedatives", "", "major", "M", "", "a",
                                          "p", "label", "S", "2026-12-01", "E"])
    [problem] = validate(tiny_dir)
    assert problem.column == "severity"
    assert "'b+sed'" in problem.message and "'benzos+d'" in problem.message
    assert "equally specific for drug-b + drug-d" in problem.message


def test_the_bundled_knowledge_is_valid(runner):
    result = runner.invoke(cli, ["data", "validate"])
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr.endswith(" is valid.\n")


def test_info_prints_version_and_counts(runner, tiny_dir, tiny):
    result = runner.invoke(cli, ["data", "info", str(tiny_dir), "--format", "json"])
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["version"] == tiny.version
    assert info["concepts"] == {"class": 2, "condition": 2, "drug": 4, "product": 2}
    assert info["relations"] == {"has_ingredient": 3, "is_a": 6}
    assert info["rules"] == {"combination": 1, "dose": 2, "drug-age": 1, "drug-allergy": 1, "drug-condition": 1,
                             "drug-drug": 3, "duration": 1}
    assert (info["counselling"], info["condition_codes"]) == (1, 2)
    text = runner.invoke(cli, ["data", "info", str(tiny_dir)]).stdout
    assert text.splitlines()[0] == f"knowledge version  {tiny.version}"
