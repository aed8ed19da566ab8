"""The `screener` command line: exact outputs, exit codes, the JSON contract, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

import screener
from screener import FindingKind, Severity, Status
from screener.cli import cli
from screener.formats import OutputFormat

TINY_CHECK = ["check", "drug-a 150 mg", "Brand B", "xx", "-c", "cirrhosis"]

TINY_FOOT = """SCREENED
  medication "drug-a 150 mg" → drug-a; 150 mg/dose
  medication "Brand B" → drug-b
  condition  "cirrhosis" → cirrhosis
  knowledge  {version}
  scope      drug-a, drug-c, drug-d and 2 drug classes; 1 condition; any other
             medication is reported as not covered (`screener data info` lists
             the scope)

SOURCES
  [1] S2
  [2] S5
  [3] S8
  [4] S11
"""


def test_text_report_is_grouped_by_severity_with_summary_on_stderr(runner, tiny_dir):
    # The short form: three lines a finding, one a counselling point, the sources once, numbered.
    version = screener.load_knowledge(tiny_dir).version
    result = runner.invoke(cli, [*TINY_CHECK, "--knowledge", str(tiny_dir)])
    assert result.exit_code == 1
    assert result.stdout == f'''MAJOR (1)
  ● drug-drug · drug-a + drug-b [1]
    class rule
    Do: adv

MODERATE (2)
  ● drug-condition · drug-a + cirrhosis [2]
    liver
    Do: adv
  ● dose · drug-a 150 mg per dose (limit 100 mg) [3]
    single
    Do: adv

NOT RECOGNISED OR NOT CHECKED: this screen is incomplete
  ? "xx" (medication): not found in the knowledge base or the FDA vocabulary

COUNSEL THE PATIENT (one line each; --counsel for the full text)
  - driving (drug-a): Do not drive. [4]

{TINY_FOOT.format(version=version)}
More: --details gives each finding's why, path, patient wording and sections.
'''
    assert result.stderr == ("screener: 3 findings (1 major, 2 moderate); 1 input not recognised or not checked: "
                             "screen incomplete.\n")


def test_details_give_each_finding_in_full_and_the_same_status(runner, tiny_dir):
    version = screener.load_knowledge(tiny_dir).version
    short = runner.invoke(cli, [*TINY_CHECK, "--knowledge", str(tiny_dir)])
    result = runner.invoke(cli, [*TINY_CHECK, "--knowledge", str(tiny_dir), "--details"])
    assert (result.exit_code, result.stderr) == (short.exit_code, short.stderr)
    assert result.stdout == f'''MAJOR (1)
  ● drug-drug · drug-a + drug-b
    Effect:   class rule
    Do:       adv
    Patient:  pl
    Path:     "drug-a 150 mg" → drug-a ⟷ benzos ← drug-b ← brand-b ← "Brand B"
    Source:   [1]
    Rule:     a+benzos (label; ncpdp:DD v3:DRG)

MODERATE (2)
  ● drug-condition · drug-a + cirrhosis
    Effect:   liver
    Do:       adv
    Patient:  pl
    Path:     "drug-a 150 mg" → drug-a ⟷ liver-disease ← cirrhosis ← "cirrhosis"
    Source:   [2]
    Rule:     a-liver (label; ncpdp:MC v3:COND)

  ● dose · drug-a 150 mg per dose (limit 100 mg)
    Effect:   single
    Do:       adv
    Patient:  pl
    Path:     "drug-a 150 mg" → drug-a
    Source:   [3]
    Rule:     a-single (label; ncpdp:HD v3:DOSEH)

NOT RECOGNISED OR NOT CHECKED: this screen is incomplete
  ? "xx" (medication): not found in the knowledge base or the FDA vocabulary

COUNSEL THE PATIENT
  - driving (drug-a): Do not drive. [4]

{TINY_FOOT.format(version=version)}'''


def test_json_report_contract(runner, tiny_dir):
    version = screener.load_knowledge(tiny_dir).version
    result = runner.invoke(cli, ["check", "drug-a", "drug-c", "--age", "70", "-f", "json", "--knowledge", str(tiny_dir)])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "status": "findings",
        "message": "2 cautions found.",
        "knowledge_version": version,
        "scope": "drug-a, drug-c, drug-d and 2 drug classes; 1 condition; any other medication is reported as not "
                 "covered (`screener data info` lists the scope)",
        "layers": [],
        "findings": [
            {
                "kind": "drug-drug", "severity": "moderate", "concepts": ["drug-a", "drug-c"],
                "inputs": ["drug-a", "drug-c"], "title": "drug-a + drug-c", "summary": "specific rule",
                "mechanism": "", "advice": "adv", "plain": "pl",
                "path": ['"drug-a"', "drug-a", "⟷ rule:a+c", "drug-c", '"drug-c"'],
                "sources": ["S3"], "evidence": "label", "rule": "a+c", "layer": "bundled", "codes": {"ncpdp": "DD", "v3": "DRG"},
            },
            {
                "kind": "drug-age", "severity": "moderate", "concepts": ["drug-a"], "inputs": ["drug-a", "age 70"],
                "title": "drug-a at age 70 (rule: >65)", "summary": "old", "mechanism": "", "advice": "adv",
                "plain": "pl", "path": ['"drug-a"', "drug-a", "⟷ rule:a-old", "age 70"], "sources": ["S7"],
                "evidence": "label", "rule": "a-old", "layer": "bundled", "codes": {"ncpdp": "PA", "v3": "GEALRT"},
            },
        ],
        "suppressed": [],
        "counselling": [{"concept": "drug-a", "topic": "driving", "text": "Do not drive.", "source": "S11"}],
        "unrecognized": [],
        "screened": {
            "medications": [
                {"input": "drug-a", "concept": "drug-a", "concepts": ["drug-a"], "via": "knowledge base",
                 "coverage": "classified"},
                {"input": "drug-c", "concept": "drug-c", "concepts": ["drug-c"], "via": "knowledge base",
                 "coverage": "classified"},
            ],
            "conditions": [],
            "allergies": [],
            "noted": [],
            "age": 70,
        },
    }
    assert result.stderr == "screener: 2 findings (2 moderate).\n"


def test_library_to_dict_is_the_json_output(runner, kb):
    result = runner.invoke(cli, ["check", "Soma 350 mg qid", "Xanax", "-c", "pregnancy", "-f", "json"])
    report = screener.screen(["Soma 350 mg qid", "Xanax"], conditions=["pregnancy"])
    assert json.loads(result.stdout) == json.loads(json.dumps(report.to_dict()))


@pytest.mark.parametrize(
    "args, code",
    [
        (["drug-a"], 0),                                   # recognised, nothing found
        (["drug-a", "drug-d"], 0),                          # a minor finding is below the default --fail-on
        (["drug-a", "drug-d", "--fail-on", "minor"], 1),
        (["drug-a", "Brand B"], 1),                         # major ≥ moderate
        (["drug-a", "Brand B", "--fail-on", "contraindicated"], 0),
        (["drug-a", "nonesuch"], 3),                        # incomplete, nothing at or above --fail-on
        (["drug-a", "drug-d", "nonesuch"], 3),              # a minor finding does not hide incompleteness
        (["drug-a", "Brand B", "nonesuch"], 1),             # findings at --fail-on win over incompleteness
        ([], 2),                                            # nothing to screen
        (["drug-a", "--age", "-1"], 2),
        (["drug-a", "--age", "old"], 2),
        (["drug-a", "--fail-on", "severe"], 2),
        (["drug-a", "--format", "xml"], 2),
    ],
)
def test_exit_codes(runner, tiny_dir, args, code):
    result = runner.invoke(cli, ["check", *args, "--knowledge", str(tiny_dir)])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output


def test_min_severity_hides_findings_but_exit_code_counts_them(runner, tiny_dir):
    result = runner.invoke(cli, ["check", "drug-a", "drug-c", "--min-severity", "major", "--knowledge", str(tiny_dir)])
    assert result.exit_code == 1
    assert "drug-a + drug-c" not in result.stdout
    # Never "No cautions found" over a finding that is only hidden.
    assert result.stdout.startswith("No finding at or above major; 1 finding below major not shown.\n")
    assert result.stderr == "screener: 1 finding (1 moderate); 1 below --min-severity not shown.\n"


@pytest.mark.parametrize(
    "args, message",
    [
        ([""], "Error: an empty medication entry was given; remove it or write the name\n"),
        (["   "], "Error: an empty medication entry was given; remove it or write the name\n"),
        (["x" * 10_000], "Error: medication entry 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' is 10000 characters long; "
                         "the limit is 200\n"),
        (["drug-a\x00"], "Error: medication entry 'drug-a?' contains control or unassigned characters (U+0000)\n"),
        (["drug-a\x1b[31m"], "Error: medication entry 'drug-a?[31m' contains control or unassigned characters "
                             "(U+001B)\n"),
        (["drug-a", "-c", ""], "Error: an empty condition entry was given; remove it or write the name\n"),
        (["drug-a", "-a", "\x07"], "Error: allergy entry '?' contains control or unassigned characters (U+0007)\n"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(runner, tiny_dir, args, message):
    result = runner.invoke(cli, ["check", *args, "--knowledge", str(tiny_dir)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message


def test_no_medication_is_a_usage_error(runner):
    result = runner.invoke(cli, ["check", "-c", "pregnancy"])
    assert result.exit_code == 2
    assert "Error: give at least one medication to screen" in result.stderr


@pytest.mark.parametrize("text", ["Sóma", "ＳＯＭＡ", "soma\u200b", "🙂", "Ω≈ç√∫", "ｓｏｍａ 350ｍｇ", "\u202eamos"])
def test_odd_unicode_never_raises(runner, text):
    result = runner.invoke(cli, ["check", text, "-f", "json"])
    assert result.exit_code in (0, 1, 2, 3)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_fullwidth_and_zero_width_forms_are_recognised(runner):
    for text in ["ＳＯＭＡ", "soma\u200b", "ｓｏｍａ 350ｍｇ"]:
        result = runner.invoke(cli, ["check", text, "-f", "json"])
        report = json.loads(result.stdout)
        assert report["screened"]["medications"][0]["concepts"] == ["carisoprodol"], text


def test_accented_name_is_not_silently_corrected(runner):
    result = runner.invoke(cli, ["check", "Sóma", "-f", "json"])
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["unrecognized"][0]["input"] == "Sóma"


def test_an_unambiguous_misspelling_is_assumed_and_said(runner):
    result = runner.invoke(cli, ["check", "carisoprodal 350 mg qid", "alprazalam", "-f", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(m["assumed"], m["concepts"]) for m in report["screened"]["medications"]] == [
        ("carisoprodol", ["carisoprodol"]), ("alprazolam", ["alprazolam"])]
    assert report["screened"]["medications"][0]["doses_per_day"] == 4
    text = runner.invoke(cli, ["check", "carisoprodal", "alprazalam"]).stdout
    assert ('NAMES ASSUMED: check them\n'
            '  ~ "carisoprodal" was read as carisoprodol (near match (knowledge base))\n'
            '  ~ "alprazalam" was read as alprazolam (near match (knowledge base))\n') in text


def test_an_ambiguous_misspelling_is_unrecognised_with_suggestions(runner):
    result = runner.invoke(cli, ["check", "zanax", "-f", "json"])  # too short to assume: Xanax? Zantac?
    assert result.exit_code == 3
    [problem] = json.loads(result.stdout)["unrecognized"]
    assert problem["input"] == "zanax"
    assert "Xanax" in problem["suggestions"]


def test_bad_knowledge_directory_is_one_line(runner, tmp_path):
    result = runner.invoke(cli, ["check", "soma", "--knowledge", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.stderr == f"Error: knowledge: knowledge directory not found: {tmp_path / 'nope'}\n"


def test_explain_shows_classes_rules_and_sources(runner):
    result = runner.invoke(cli, ["explain", "Soma"])
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("Soma (product, id soma)")
    assert "ingredients: carisoprodol" in out
    assert "carisoprodol+opioids" in out and "SOMA label" in out


def test_explain_a_drug_lists_products_and_inherited_rules(runner, tiny_dir):
    result = runner.invoke(cli, ["explain", "drug-b", "--knowledge", str(tiny_dir)])
    assert result.exit_code == 0
    assert result.stdout == """drug-b (drug, id drug-b)
  source: test
  classes:
    drug-b → benzos
    drug-b → benzos → sedatives
  in products: brand-b
  rules (4):
    contraindicated drug-allergy   drug-a + benzos (via benzos)
      allergy [a-allergy; S6]
    major           drug-drug      drug-a + benzos (via benzos)
      class rule [a+benzos; S2]
    major           combination    drug-a + benzos + drug-d (via benzos)
      three [triple; S4]
    minor           drug-drug      sedatives + sedatives (via sedatives)
      general [sed+sed; S1]
"""


def test_explain_unknown_name_suggests(runner):
    result = runner.invoke(cli, ["explain", "xanaxx"])
    assert result.exit_code == 1
    assert result.stderr == "Error: 'xanaxx' is not in the knowledge base. Did you mean: Xanax?\n"


def test_explain_json(runner):
    result = runner.invoke(cli, ["explain", "pregnancy", "-f", "json"])
    data = json.loads(result.stdout)
    assert data["id"] == "pregnancy" and data["kind"] == "condition"
    assert any(rule["id"] == "carisoprodol-pregnancy" for rule in data["rules"])


def test_every_command_has_help(runner):
    ctx = click.Context(cli)
    assert {"check", "explain", "batch", "data", "graph", "serve"} <= set(cli.list_commands(ctx))
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command.help, name
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.stdout


def test_python_dash_m_screener_runs():
    result = subprocess.run([sys.executable, "-m", "screener", "--version"], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, f"screener, version {screener.__version__}\n")


@pytest.mark.parametrize("enum, values", [
    (Severity, ["contraindicated", "major", "moderate", "minor"]),
    (FindingKind, ["drug-drug", "drug-condition", "drug-allergy", "duplicate", "dose", "duration", "drug-age",
                   "combination"]),
    (Status, ["findings", "no-findings", "incomplete"]),
    (OutputFormat, ["text", "json", "fhir"]),
])
def test_closed_vocabularies(enum, values):
    assert [member.value for member in enum] == values


def test_cli_choices_follow_the_enums():
    check = cli.commands["check"]
    options = {p.name: p for p in check.params}
    assert isinstance(options["fail_on"].type, click.Choice)
    assert list(options["fail_on"].type.choices) == [s.value for s in Severity]
    assert list(options["fmt"].type.choices) == [f.value for f in OutputFormat]
