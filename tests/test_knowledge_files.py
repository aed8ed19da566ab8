"""Bad knowledge files fail with a KnowledgeError that names the file, the line and the problem.

Each test starts from the tiny knowledge base (conftest.TINY) and breaks one
thing. Lines count from 1 and include the header, so the first data row of a
file is line 2. In TINY: concepts.csv has rows on lines 2-11, relations.csv
2-10, interactions.csv 2-5, conditions.csv 2-4, dosing.csv 2-4 and
counselling.csv 2.

Also here: the same failures through the CLI, the compiled cache, and a few
invariants of the shipped knowledge files.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import screener
from screener.api import load_knowledge
from screener.cli import cli
from screener.errors import KnowledgeError
from screener.knowledge.loader import KNOWLEDGE_FILES, REQUIRED_FILES, read_tables
from screener.paths import bundled_data_dir

# --------------------------------------------------------------------------------------------
# helpers


def read_rows(directory: Path, name: str) -> list[list[str]]:
    with (directory / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def write_rows(directory: Path, name: str, rows: list[list[str]]) -> None:
    with (directory / name).open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def set_cell(line: int, column: str, value: str):
    """A mutation: set `column` of the row on `line` (1 = header) to `value`."""

    def mutate(rows: list[list[str]]) -> None:
        rows[line - 1][rows[0].index(column)] = value

    return mutate


def add_row(**cells: str):
    """A mutation: append a row; columns not given are empty."""

    def mutate(rows: list[list[str]]) -> None:
        rows.append([cells.get(column, "") for column in rows[0]])

    return mutate


def rule(**cells: str) -> dict[str, str]:
    """The cells every rule file needs, overridden by `cells`."""
    base = {"severity": "moderate", "summary": "sum", "advice": "adv", "plain": "pl", "evidence": "label", "source": "S"}
    base.update(cells)
    return base


def breaks(directory: Path, name: str, mutate) -> Path:
    rows = read_rows(directory, name)
    mutate(rows)
    write_rows(directory, name, rows)
    return directory


def load_error(directory: Path) -> KnowledgeError:
    """Load `directory` (bypassing the cache) and return the KnowledgeError it raises."""
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(directory, use_cache=False)
    return info.value


def assert_error(error: KnowledgeError, where: str, phrase: str) -> None:
    message = str(error)
    file, _, line = where.partition(":")
    assert message.startswith(f"{where}: "), message
    assert phrase in message, message
    assert error.file == file
    assert error.line == (int(line) if line else None)
    assert "\n" not in message


# --------------------------------------------------------------------------------------------
# one broken thing per case: (file, mutation, expected "file:line", key phrase)

CASES = [
    # ambiguous_names.csv, condition_history.csv
    pytest.param("ambiguous_names.csv", set_cell(2, "meanings", "drug-a"), "ambiguous_names.csv:2",
                 "needs at least two meanings", id="ambiguous-one-meaning"),
    pytest.param("condition_history.csv", set_cell(2, "reading", "sometimes"), "condition_history.csv:2",
                 "is not one of past, current", id="history-bad-reading"),
    pytest.param("condition_history.csv", set_cell(2, "condition", "drug-a"), "condition_history.csv:2",
                 "is not a condition in concepts.csv", id="history-not-a-condition"),
    # condition_negations.csv: only a condition's own names and exact codes (a narrower one says nothing of it)
    pytest.param("condition_negations.csv", set_cell(2, "names", "liver disease"), "condition_negations.csv:2",
                 "'liver disease' is not a name or synonym of 'cirrhosis'", id="negation-name-of-another"),
    pytest.param("condition_negations.csv", set_cell(2, "names", "icd10:K74"), "condition_negations.csv:2",
                 "'icd10:K74' is not an exact condition_codes.csv row of 'cirrhosis'", id="negation-prefix-code"),
    pytest.param("condition_negations.csv", set_cell(2, "condition", "drug-a"), "condition_negations.csv:2",
                 "is not a condition in concepts.csv", id="negation-not-a-condition"),
    # concepts.csv
    pytest.param("concepts.csv", set_cell(4, "id", "Drug_A"), "concepts.csv:4", "is not a valid id",
                 id="bad-concept-id"),
    pytest.param("concepts.csv", set_cell(5, "kind", "medicine"), "concepts.csv:5", "unknown kind 'medicine'",
                 id="unknown-concept-kind"),
    pytest.param("concepts.csv", add_row(id="drug-a", kind="drug", name="another a", source="S"),
                 "concepts.csv:12", "concept id 'drug-a' is defined twice (first at line 4)",
                 id="duplicate-concept-id"),
    pytest.param("concepts.csv",
                 lambda rows: (set_cell(5, "synonyms", "alpha|beta")(rows), set_cell(6, "synonyms", "Alpha")(rows)),
                 "concepts.csv:6", "name 'Alpha' of 'drug-c' is already a name of 'drug-b' (line 5)",
                 id="synonym-of-two-concepts"),
    pytest.param("concepts.csv", set_cell(7, "name", "Drug A"), "concepts.csv:7",
                 "is already a name of 'drug-a'", id="name-is-another-concepts-id"),
    pytest.param("concepts.csv", set_cell(4, "codes", "rxnorm:123|atc:N03BA02"), "concepts.csv:4",
                 "code 'atc:N03BA02' is not system:code", id="bad-code-system"),
    pytest.param("concepts.csv", set_cell(4, "codes", "rxnorm 2101"), "concepts.csv:4",
                 "code 'rxnorm 2101' is not system:code", id="bad-code-format"),
    pytest.param("concepts.csv", set_cell(8, "source", ""), "concepts.csv:8", "'source' is empty",
                 id="concept-empty-source"),
    # relations.csv
    pytest.param("relations.csv", set_cell(3, "object", "hypnotics"), "relations.csv:3",
                 "object 'hypnotics' is not a concept in concepts.csv", id="relation-unknown-object"),
    pytest.param("relations.csv", set_cell(7, "subject", "brand-z"), "relations.csv:7",
                 "subject 'brand-z' is not a concept in concepts.csv", id="relation-unknown-subject"),
    pytest.param("relations.csv", set_cell(4, "relation", "member_of"), "relations.csv:4",
                 "unknown relation 'member_of'", id="unknown-relation"),
    pytest.param("relations.csv", add_row(subject="cirrhosis", relation="is_a", object="sedatives", source="S"),
                 "relations.csv:11", "'cirrhosis' (condition) is_a 'sedatives' (class) joins the wrong kinds",
                 id="condition-is-a-class"),
    pytest.param("relations.csv", add_row(subject="drug-a", relation="has_ingredient", object="drug-b", source="S"),
                 "relations.csv:11", "joins the wrong kinds", id="drug-has-ingredient"),
    pytest.param("relations.csv", add_row(subject="benzos", relation="is_a", object="benzos", source="S"),
                 "relations.csv:11", "'benzos' is_a itself", id="self-relation"),
    pytest.param("relations.csv", add_row(subject="drug-b", relation="is_a", object="benzos", source="S"),
                 "relations.csv:11", "relation repeats line 3", id="repeated-relation"),
    pytest.param("relations.csv", add_row(subject="sedatives", relation="is_a", object="benzos", source="S"),
                 "relations.csv:11", "is_a cycle: sedatives → benzos → sedatives", id="is-a-cycle"),
    pytest.param("relations.csv", add_row(subject="liver-disease", relation="is_a", object="cirrhosis", source="S"),
                 "relations.csv:11", "is_a cycle", id="is-a-cycle-conditions"),
    # interactions.csv
    pytest.param("interactions.csv", set_cell(5, "a", "cirrhosis"), "interactions.csv:5",
                 "a 'cirrhosis' is a condition; expected class or drug or substance", id="combination-condition-as-a"),
    pytest.param("interactions.csv", set_cell(4, "b", "cirrhosis"), "interactions.csv:4",
                 "b 'cirrhosis' is a condition", id="pair-condition-operand"),
    pytest.param("interactions.csv", set_cell(3, "severity", "severe"), "interactions.csv:3",
                 "unknown severity 'severe'", id="unknown-severity"),
    pytest.param("interactions.csv", set_cell(4, "evidence", "anecdote"), "interactions.csv:4",
                 "unknown evidence 'anecdote'", id="unknown-evidence"),
    pytest.param("interactions.csv", set_cell(3, "kind", "drug-food"), "interactions.csv:3",
                 "unknown kind 'drug-food'", id="unknown-interaction-kind"),
    pytest.param("interactions.csv", set_cell(3, "id", "A+Benzos"), "interactions.csv:3",
                 "rule id 'A+Benzos' is not valid", id="bad-rule-id"),
    pytest.param("interactions.csv", set_cell(4, "b", "drug-z"), "interactions.csv:4",
                 "b 'drug-z' is not a concept in concepts.csv", id="interaction-unknown-concept"),
    pytest.param("interactions.csv", set_cell(4, "b", "cirrhosis"), "interactions.csv:4",
                 "b 'cirrhosis' is a condition; expected", id="interaction-with-condition"),
    pytest.param("interactions.csv", add_row(id="c+a", kind="drug-drug", a="drug-c", b="drug-a", **rule()),
                 "interactions.csv:6", "rule 'c+a' covers the same case as 'a+c' (interactions.csv:4)",
                 id="same-case-twice"),
    pytest.param("interactions.csv", add_row(id="a-twice", kind="duplicate", a="drug-a", b="drug-b", **rule()),
                 "interactions.csv:6", "a duplicate rule names one concept twice (a = b)",
                 id="duplicate-rule-a-ne-b"),
    pytest.param("interactions.csv", set_cell(4, "c", "drug-d"), "interactions.csv:4",
                 "'c' is only for combination rules", id="c-on-drug-drug-rule"),
    pytest.param("interactions.csv", set_cell(5, "c", ""), "interactions.csv:5", "'c' is empty",
                 id="combination-without-c"),
    pytest.param("interactions.csv", set_cell(2, "summary", ""), "interactions.csv:2", "'summary' is empty",
                 id="interaction-empty-summary"),
    # conditions.csv
    pytest.param("conditions.csv", set_cell(4, "target", "over 65"), "conditions.csv:4",
                 "age target 'over 65' is not <N, <=N, >N or >=N", id="bad-age-expression"),
    pytest.param("conditions.csv", set_cell(4, "target", "65+"), "conditions.csv:4",
                 "age target '65+' is not", id="bad-age-expression-suffix"),
    pytest.param("conditions.csv", set_cell(2, "target", "hepatitis"), "conditions.csv:2",
                 "target 'hepatitis' is not a concept in concepts.csv", id="condition-unknown-target"),
    pytest.param("conditions.csv", set_cell(2, "target", "drug-b"), "conditions.csv:2",
                 "target 'drug-b' is a drug; expected condition", id="condition-target-is-drug"),
    pytest.param("conditions.csv", set_cell(3, "drug", "drug-z"), "conditions.csv:3",
                 "drug 'drug-z' is not a concept in concepts.csv", id="condition-unknown-drug"),
    pytest.param("conditions.csv", set_cell(3, "context", "genotype"), "conditions.csv:3",
                 "unknown context 'genotype'", id="unknown-context"),
    pytest.param("conditions.csv", set_cell(2, "severity", "Major"), "conditions.csv:2",
                 "unknown severity 'Major'", id="condition-severity-case"),
    # dosing.csv
    pytest.param("dosing.csv", set_cell(2, "value", "lots"), "dosing.csv:2", "value 'lots' is not a positive number",
                 id="dose-not-a-number"),
    pytest.param("dosing.csv", set_cell(3, "value", "300mg"), "dosing.csv:3",
                 "value '300mg' is not a positive number", id="dose-with-unit"),
    pytest.param("dosing.csv", set_cell(3, "value", "-5"), "dosing.csv:3", "value '-5' is not a positive number",
                 id="dose-negative"),
    pytest.param("dosing.csv", set_cell(2, "value", "100|200"), "dosing.csv:2", "value '100|200' should be one number",
                 id="dose-two-values"),
    pytest.param("dosing.csv", set_cell(4, "limit", "max_weekly_dose"), "dosing.csv:4",
                 "unknown limit 'max_weekly_dose'", id="unknown-dose-limit"),
    pytest.param("dosing.csv", set_cell(2, "drug", "sedatives"), "dosing.csv:2",
                 "drug 'sedatives' is a class; expected drug", id="dose-on-class"),
    pytest.param("dosing.csv", add_row(id="a-single-2", drug="drug-a", limit="max_single_dose", value="50", **rule()),
                 "dosing.csv:5", "rule 'a-single-2' covers the same case as 'a-single' (dosing.csv:2)",
                 id="dose-same-limit-twice"),
    # rule ids are unique across the three rule files
    pytest.param("conditions.csv", set_cell(3, "id", "a+c"), "conditions.csv:3",
                 "rule id 'a+c' is also used at interactions.csv:4", id="rule-id-interactions-and-conditions"),
    pytest.param("dosing.csv", set_cell(4, "id", "a-liver"), "dosing.csv:4",
                 "rule id 'a-liver' is also used at conditions.csv:2", id="rule-id-conditions-and-dosing"),
    pytest.param("interactions.csv", set_cell(3, "id", "a+c"), "interactions.csv:4",
                 "rule id 'a+c' is also used at interactions.csv:3", id="rule-id-within-a-file"),
    # counselling.csv
    pytest.param("counselling.csv", set_cell(2, "concept", "drug-z"), "counselling.csv:2",
                 "concept 'drug-z' is not a concept in concepts.csv", id="counselling-unknown-concept"),
    pytest.param("counselling.csv", set_cell(2, "concept", "cirrhosis"), "counselling.csv:2",
                 "concept 'cirrhosis' is a condition", id="counselling-for-condition"),
    pytest.param("counselling.csv", add_row(id="a-drive", concept="drug-b", topic="t", text="x", source="S"),
                 "counselling.csv:3", "counselling id 'a-drive' is defined twice", id="counselling-duplicate-id"),
]

# every rule file (and every other file) rejects an empty source, on the row that lacks it
EMPTY_SOURCE = [
    pytest.param("interactions.csv", 3, id="interactions"),
    pytest.param("conditions.csv", 4, id="conditions"),
    pytest.param("dosing.csv", 2, id="dosing"),
    pytest.param("relations.csv", 5, id="relations"),
    pytest.param("counselling.csv", 2, id="counselling"),
    pytest.param("concepts.csv", 3, id="concepts"),
]


@pytest.mark.parametrize(("name", "mutate", "where", "phrase"), CASES)
def test_bad_row_names_file_line_and_problem(tiny_dir, name, mutate, where, phrase):
    assert_error(load_error(breaks(tiny_dir, name, mutate)), where, phrase)


@pytest.mark.parametrize(("name", "line"), EMPTY_SOURCE)
def test_empty_source_is_rejected(tiny_dir, name, line):
    breaks(tiny_dir, name, set_cell(line, "source", "   "))
    assert_error(load_error(tiny_dir), f"{name}:{line}", "'source' is empty")


@pytest.mark.parametrize("name", ["interactions.csv", "conditions.csv", "dosing.csv"])
def test_rule_with_unknown_concept_is_rejected(tiny_dir, name):
    column = "a" if name == "interactions.csv" else "drug"
    breaks(tiny_dir, name, set_cell(2, column, "no-such-drug"))
    assert_error(load_error(tiny_dir), f"{name}:2", f"{column} 'no-such-drug' is not a concept in concepts.csv")


def test_read_tables_raises_the_same_error_without_networkx(tiny_dir):
    """The loader alone (no graph) already reports row problems."""
    breaks(tiny_dir, "dosing.csv", set_cell(2, "value", "lots"))
    with pytest.raises(KnowledgeError) as info:
        read_tables(tiny_dir)
    assert_error(info.value, "dosing.csv:2", "is not a positive number")


# --------------------------------------------------------------------------------------------
# whole-file problems


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_missing_required_file(tiny_dir, name):
    (tiny_dir / name).unlink()
    error = load_error(tiny_dir)
    # There is no line to point at: the message is "<file>: <problem>".
    assert str(error) == f"{name}: required knowledge file is missing"
    assert (error.file, error.line) == (name, None)


@pytest.mark.parametrize("name", sorted(set(KNOWLEDGE_FILES) - set(REQUIRED_FILES)))
def test_missing_optional_file_is_fine(tiny_dir, name):
    (tiny_dir / name).unlink()
    knowledge = load_knowledge(tiny_dir, use_cache=False)
    assert knowledge.index.rules


def test_missing_directory(tmp_path):
    with pytest.raises(KnowledgeError, match="knowledge directory not found"):
        load_knowledge(tmp_path / "nowhere")


@pytest.mark.parametrize("name", KNOWLEDGE_FILES)
def test_empty_file(tiny_dir, name):
    (tiny_dir / name).write_bytes(b"")
    assert_error(load_error(tiny_dir), f"{name}:1", "file is empty (expected a header row)")


def test_unknown_column(tiny_dir):
    rows = read_rows(tiny_dir, "interactions.csv")
    write_rows(tiny_dir, "interactions.csv", [rows[0] + ["notes"]] + [row + ["x"] for row in rows[1:]])
    assert_error(load_error(tiny_dir), "interactions.csv:1", "unknown column(s) notes; expected id, kind")


def test_misspelt_column(tiny_dir):
    breaks(tiny_dir, "conditions.csv", set_cell(1, "severity", "severty"))
    assert_error(load_error(tiny_dir), "conditions.csv:1", "unknown column(s) severty")


def test_missing_column(tiny_dir):
    rows = read_rows(tiny_dir, "relations.csv")
    write_rows(tiny_dir, "relations.csv", [row[:3] for row in rows])
    assert_error(load_error(tiny_dir), "relations.csv:1", "missing column(s) source")


def test_optional_columns_may_be_absent(tiny_dir):
    rows = read_rows(tiny_dir, "interactions.csv")
    keep = [i for i, column in enumerate(rows[0]) if column != "mechanism"]
    write_rows(tiny_dir, "interactions.csv", [[row[i] for i in keep] for row in rows])
    assert load_knowledge(tiny_dir, use_cache=False).index.rules["a+c"].mechanism == ""


def test_column_named_twice(tiny_dir):
    rows = read_rows(tiny_dir, "counselling.csv")
    write_rows(tiny_dir, "counselling.csv", [row + [row[-1]] for row in rows])
    assert_error(load_error(tiny_dir), "counselling.csv:1", "a column name appears twice")


def test_columns_may_come_in_any_order(tiny_dir):
    rows = read_rows(tiny_dir, "relations.csv")
    write_rows(tiny_dir, "relations.csv", [list(reversed(row)) for row in rows])
    report = load_knowledge(tiny_dir, use_cache=False).screen(["drug-a", "Brand B"])
    assert [f.rule_id for f in report.findings] == ["a+benzos"]  # is_a and has_ingredient still read


def append_bytes(directory: Path, name: str, data: bytes) -> None:
    with (directory / name).open("ab") as handle:
        handle.write(data)


@pytest.mark.parametrize(
    ("row", "found"),
    [
        # an unquoted comma in free text splits the cell in two
        (b"b+c,drug-drug,drug-b,drug-c,,minor,Sedation, drowsiness,,adv,pl,label,S,2026-12-01,E\n", 15),
        # a cell lost
        (b"b+c,drug-drug,drug-b,drug-c,minor,sum,,adv,pl,label,S,2026-12-01,E\n", 13),
    ],
    ids=["unquoted-comma", "cell-missing"],
)
def test_row_with_wrong_number_of_cells(tiny_dir, row, found):
    append_bytes(tiny_dir, "interactions.csv", row)
    assert_error(load_error(tiny_dir), "interactions.csv:6", f"expected 14 cells, found {found} (check quoting")


def test_wrong_number_of_cells_after_multiline_quoted_cell(tiny_dir):
    """A quoted cell may hold a line break; the line counted is the one the broken row ends on."""
    append_bytes(tiny_dir, "counselling.csv", b'b-note,drug-b,driving,"two\nlines",S,2026-12-01,E\n' b"c-note,drug-c,driving,S,2026-12-01,E\n")
    assert_error(load_error(tiny_dir), "counselling.csv:5", "expected 7 cells, found 6")


def test_blank_lines_are_skipped_but_counted(tiny_dir):
    append_bytes(tiny_dir, "dosing.csv", b"\n,,,,,,,,,,,\n" b"b-days,drug-b,max_duration,0,moderate,s,a,p,label,S,2026-12-01,E\n")
    assert_error(load_error(tiny_dir), "dosing.csv:7", "value '0' is not a positive number")


def test_non_utf8_bytes_name_the_file(tiny_dir):
    append_bytes(tiny_dir, "concepts.csv", "drug-e,drug,caf\u00e9ine,,,S\n".encode("latin-1"))
    error = load_error(tiny_dir)
    assert str(error).startswith("concepts.csv")
    assert "not UTF-8 text" in str(error)


def test_non_utf8_bytes_name_the_line(tiny_dir):
    append_bytes(tiny_dir, "concepts.csv", "drug-e,drug,caf\u00e9ine,,,S\n".encode("latin-1"))
    assert_error(load_error(tiny_dir), "concepts.csv:12", "not UTF-8 text")


def test_non_utf8_byte_offset_is_the_file_offset(data_copy):
    path = data_copy / "relations.csv"
    offset = path.stat().st_size  # relations.csv is larger than 8 KiB
    assert offset > 8192
    append_bytes(data_copy, "relations.csv", b"opioids,is_a,cns-depr\xe9ssants,S\n")
    error = load_error(data_copy)
    assert f"at byte {offset + len(b'opioids,is_a,cns-depr')}" in str(error)


BROKEN_QUOTING = [
    pytest.param(b'b-note,drug-b,driving,"unclosed,S\n', id="unclosed-quote"),
    pytest.param(b'b-note,drug-b,driving,"say"s,S\n', id="text-after-closing-quote"),
]


@pytest.mark.parametrize("row", BROKEN_QUOTING)
def test_malformed_csv_names_the_file(tiny_dir, row):
    append_bytes(tiny_dir, "counselling.csv", row)
    error = load_error(tiny_dir)
    assert str(error).startswith("counselling.csv")
    assert "malformed CSV" in str(error)


@pytest.mark.parametrize("row", BROKEN_QUOTING)
def test_malformed_csv_names_the_line(tiny_dir, row):
    append_bytes(tiny_dir, "counselling.csv", row)
    assert_error(load_error(tiny_dir), "counselling.csv:3", "malformed CSV")


# --------------------------------------------------------------------------------------------
# the same failures through the CLI: exit 2, one line on stderr, no traceback

CLI_CASES = [
    pytest.param(name, mutate, where, phrase, id=param.id)
    for param in CASES
    for name, mutate, where, phrase in [param.values]
]


def assert_cli_error(result, where: str, phrase: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: knowledge: {where}: "), lines[0]
    assert phrase in lines[0]
    assert "Traceback" not in result.output
    assert "Usage:" not in result.stderr


@pytest.mark.parametrize(("name", "mutate", "where", "phrase"), CLI_CASES)
def test_cli_reports_bad_knowledge(runner, tiny_dir, name, mutate, where, phrase):
    breaks(tiny_dir, name, mutate)
    result = runner.invoke(cli, ["check", "carisoprodol", "--knowledge", str(tiny_dir)])
    assert_cli_error(result, where, phrase)


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_cli_missing_required_file(runner, tiny_dir, name):
    (tiny_dir / name).unlink()
    result = runner.invoke(cli, ["check", "carisoprodol", "--knowledge", str(tiny_dir)])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert result.stderr == f"Error: knowledge: {name}: required knowledge file is missing\n"
    assert "Traceback" not in result.output


def test_cli_raw_file_problems(runner, tiny_dir, tmp_path):
    """Empty file, wrong cell count, non-UTF-8 and broken quoting: exit 2, one line, no traceback."""
    cases = [
        ("empty", lambda d: (d / "dosing.csv").write_bytes(b""), "dosing.csv:1", "file is empty"),
        ("cells", lambda d: append_bytes(d, "relations.csv", b"drug-a,is_a,sedatives,S,extra\n"),
         "relations.csv:11", "expected 4 cells, found 5"),
        ("utf8", lambda d: append_bytes(d, "concepts.csv", b"drug-e,drug,caf\xe9ine,,,S\n"),
         "concepts.csv", "not UTF-8 text"),
        ("quote", lambda d: append_bytes(d, "counselling.csv", b'x,drug-b,t,"open,S\n'),
         "counselling.csv", "malformed CSV"),
    ]
    for label, damage, where, phrase in cases:
        directory = tmp_path / label
        shutil.copytree(tiny_dir, directory)
        damage(directory)
        result = runner.invoke(cli, ["check", "carisoprodol", "--knowledge", str(directory)])
        assert result.exit_code == 2, label
        assert isinstance(result.exception, SystemExit), label
        assert re.fullmatch(rf"Error: knowledge: {re.escape(where)}(:\d+)?: [^\n]*{re.escape(phrase)}[^\n]*\n",
                            result.stderr), result.stderr
        assert "Traceback" not in result.output


def test_cli_explain_reports_bad_knowledge(runner, tiny_dir):
    breaks(tiny_dir, "interactions.csv", set_cell(3, "severity", "severe"))
    result = runner.invoke(cli, ["explain", "drug-a", "--knowledge", str(tiny_dir)])
    assert_cli_error(result, "interactions.csv:3", "unknown severity 'severe'")


def test_cli_missing_knowledge_directory(runner, tmp_path):
    result = runner.invoke(cli, ["check", "carisoprodol", "--knowledge", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: ")


# --------------------------------------------------------------------------------------------
# the compiled cache


def test_cache_sees_an_edited_csv(data_copy):
    before = load_knowledge(data_copy)
    assert before.version.startswith(f"{screener.__version__}+")
    assert before.screen(["carisoprodol", "testazine"]).unrecognized

    original = {name: (data_copy / name).read_bytes() for name in ("concepts.csv", "interactions.csv")}
    concepts = read_rows(data_copy, "concepts.csv")
    concepts.append(["testazine", "drug", "Testazine", "testazine tabs", "", "test"])
    write_rows(data_copy, "concepts.csv", concepts)
    interactions = read_rows(data_copy, "interactions.csv")
    interactions.append(["carisoprodol+testazine", "drug-drug", "carisoprodol", "testazine", "", "major",
                         "test summary", "", "adv", "pl", "label", "test source", "2026-12-01", "test"])
    write_rows(data_copy, "interactions.csv", interactions)

    after = load_knowledge(data_copy)
    assert after.version != before.version
    assert "carisoprodol+testazine" in after.index.rules
    report = after.screen(["carisoprodol", "testazine"])
    assert not report.unrecognized
    assert "carisoprodol+testazine" in {f.rule_id for f in report.findings}

    # And back: restoring the old bytes gives the old version (and the old cached index).
    for name, raw in original.items():
        (data_copy / name).write_bytes(raw)
    again = load_knowledge(data_copy)
    assert again.version == before.version
    assert "carisoprodol+testazine" not in again.index.rules


def test_cache_sees_a_one_byte_edit(tiny_dir):
    before = load_knowledge(tiny_dir)
    assert before.index.rules["a+c"].severity.value == "moderate"
    breaks(tiny_dir, "interactions.csv", set_cell(4, "severity", "major"))
    after = load_knowledge(tiny_dir)
    assert after.version != before.version
    assert after.index.rules["a+c"].severity.value == "major"


def test_cache_sees_an_added_optional_file(tiny_dir):
    (tiny_dir / "counselling.csv").unlink()
    before = load_knowledge(tiny_dir)
    write_rows(tiny_dir, "counselling.csv", [["id", "concept", "topic", "text", "source"],
                                             ["a-drive", "drug-a", "driving", "Do not drive.", "S"]])
    after = load_knowledge(tiny_dir)
    assert after.version != before.version
    assert after.index.counselling


def test_a_bad_edit_is_not_hidden_by_the_cache(tiny_dir):
    load_knowledge(tiny_dir)  # warm
    breaks(tiny_dir, "interactions.csv", set_cell(3, "severity", "severe"))
    with pytest.raises(KnowledgeError, match=r"^interactions\.csv:3: unknown severity"):
        load_knowledge(tiny_dir)


def test_loading_twice_gives_the_same_version(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SCREENER_CACHE_DIR", str(tmp_path / "cache"))
    first = load_knowledge(tiny_dir)
    cached = list((tmp_path / "cache").glob("index-*.pickle"))
    assert len(cached) == 1
    second = load_knowledge(tiny_dir)
    uncached = load_knowledge(tiny_dir, use_cache=False)
    assert first.version == second.version == uncached.version
    assert re.fullmatch(rf"{re.escape(screener.__version__)}\+[0-9a-f]{{12}}\.unii\d{{8}}\.ndc\d{{8}}\.icd\d{{8}}",
                        first.version)
    assert list((tmp_path / "cache").glob("index-*.pickle")) == cached


def test_same_content_in_two_directories_has_the_same_version(tiny_dir, tmp_path):
    other = shutil.copytree(tiny_dir, tmp_path / "other")
    assert load_knowledge(tiny_dir).version == load_knowledge(other).version
    assert load_knowledge(other).directory == other


def test_corrupt_cache_file_is_rebuilt(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SCREENER_CACHE_DIR", str(tmp_path / "cache"))
    version = load_knowledge(tiny_dir).version
    (cached,) = (tmp_path / "cache").glob("index-*.pickle")
    cached.write_bytes(b"not a pickle")
    assert load_knowledge(tiny_dir).version == version


def run_python(code: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SCREENER_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


PROBE = """
import sys, screener.cli
code = screener.cli.cli.main({args!r}, standalone_mode=False, prog_name="screener")
print("EXIT", code)
print("HEAVY", 'networkx' in sys.modules, 'pandas' in sys.modules)
"""


def probe(args: list[str], cache: Path) -> tuple[int, bool, bool]:
    proc = run_python(PROBE.format(args=args), cache)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    exit_line, heavy_line = lines[-2].split(), lines[-1].split()
    assert exit_line[0] == "EXIT" and heavy_line[0] == "HEAVY", proc.stdout
    return int(exit_line[1]), heavy_line[1] == "True", heavy_line[2] == "True"


def test_check_with_a_warm_cache_imports_neither_networkx_nor_pandas(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    args = ["check", "Soma 350 mg qid", "Xanax", "--condition", "pregnancy"]

    # Control: with a cold cache the index is compiled, which does import networkx.
    assert probe(args, cache) == (1, True, False)
    assert list(cache.glob("index-*.pickle"))

    # Warm: nothing heavy.
    assert probe(args, cache) == (1, False, False)

    # Warming in-process (same SCREENER_CACHE_DIR) works for the subprocess too.
    other = tmp_path / "cache2"
    monkeypatch.setenv("SCREENER_CACHE_DIR", str(other))
    load_knowledge()
    assert probe(args, other) == (1, False, False)


def test_check_with_knowledge_dir_and_warm_cache_is_light(tiny_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SCREENER_CACHE_DIR", str(cache))
    load_knowledge(tiny_dir)
    code, networkx, pandas = probe(["check", "drug-a", "drug-c", "--knowledge", str(tiny_dir)], cache)
    assert code == 1
    assert (networkx, pandas) == (False, False)


# --------------------------------------------------------------------------------------------
# the shipped knowledge files

HEADERS = {
    "concepts.csv": "id,kind,name,synonyms,codes,source",
    "relations.csv": "subject,relation,object,source",
    "interactions.csv": "id,kind,a,b,c,severity,summary,mechanism,advice,plain,evidence,source,checked,checked_against",
    "conditions.csv": "id,drug,context,target,severity,summary,advice,plain,evidence,source,checked,checked_against",
    "dosing.csv": "id,drug,product,limit,value,severity,summary,advice,plain,evidence,source,checked,checked_against",
    "counselling.csv": "id,concept,topic,text,source,checked,checked_against",
    "mme_factors.csv": "drug,unit,factor,source,checked,checked_against",
    "condition_codes.csv": "system,code,match,condition,source",
    "strengths.csv": "product,ingredients,strengths,unit,form,source",
    "fda_classes.csv": "fda_class,class,source,note",
    "class_exclusions.csv": "drug,class,reason,source",
    "condition_names.csv": "name,icd10cm,source",
    "allergens.csv": "name,category,source",
    "ambiguous_names.csv": "name,meanings,source",
    "condition_history.csv": "condition,reading,source",
    "condition_negations.csv": "condition,names,source",
    "rule_exceptions.csv": "rule,drug,entries,reason,source,checked,checked_against",
}


def test_every_knowledge_file_is_shipped():
    assert set(HEADERS) == set(KNOWLEDGE_FILES)
    assert sorted(p.name for p in bundled_data_dir().glob("*.csv")) == sorted(KNOWLEDGE_FILES)


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_shipped_header_is_pinned(name):
    raw = (bundled_data_dir() / name).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no byte-order mark"
    assert raw.split(b"\n", 1)[0].decode("utf-8").rstrip("\r") == HEADERS[name]


@pytest.mark.parametrize("name", ["interactions.csv", "conditions.csv", "dosing.csv"])
def test_every_shipped_rule_has_a_source(name):
    with (bundled_data_dir() / name).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    missing = [row["id"] for row in rows if not (row.get("source") or "").strip()]
    assert missing == []


def test_bundled_knowledge_loads_without_the_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SCREENER_CACHE_DIR", str(cache))
    knowledge = load_knowledge(use_cache=False)
    assert knowledge.version.startswith(f"{screener.__version__}+")
    assert knowledge.directory == bundled_data_dir()
    assert len(knowledge.index.rules) > 30
    assert not cache.exists() or not any(cache.iterdir()), "use_cache=False writes no cache"
    tables = read_tables(bundled_data_dir())
    assert {r.id for r in tables.rules} == set(knowledge.index.rules)
    assert knowledge.version == load_knowledge().version


def test_files_edited_after_loading_are_never_mixed_with_the_compiled_index(data_copy):
    knowledge = load_knowledge(data_copy)
    assert knowledge.explain("Soma").id == "soma"
    with (data_copy / "concepts.csv").open("a", encoding="utf-8") as handle:
        handle.write("newdrug,drug,newdrug,,,test\n")
    with pytest.raises(KnowledgeError, match="changed after they were loaded; load the knowledge again"):
        knowledge.tables()
    with pytest.raises(KnowledgeError, match="changed after they were loaded"):
        knowledge.explain("Soma")
    assert load_knowledge(data_copy).explain("newdrug").id == "newdrug"
