"""Display thresholds filter what is shown, never the truth: status and message count every finding."""

from __future__ import annotations

import json

import pytest

from screener.cli import cli


@pytest.mark.parametrize("floor", ["contraindicated", "major", "moderate", "minor"])
def test_min_severity_never_changes_status_or_message(runner, floor):
    full = json.loads(runner.invoke(cli, ["check", "Soma 500 mg qid", "Xanax", "-f", "json"]).stdout)
    shown = json.loads(runner.invoke(cli, ["check", "Soma 500 mg qid", "Xanax", "-f", "json",
                                           "--min-severity", floor]).stdout)
    assert (shown["status"], shown["message"]) == (full["status"], full["message"]) == ("findings", "4 cautions found.")
    below = [f for f in full["findings"] if f not in shown["findings"]]
    assert len(shown["findings"]) + len(below) == len(full["findings"])
    assert shown.get("hidden") == ({"count": len(below), "below": floor} if below else None)


def test_every_format_says_how_many_findings_are_not_shown(runner):
    args = ["check", "Soma", "Xanax", "--min-severity", "contraindicated"]
    text = runner.invoke(cli, args)
    assert text.exit_code == 1  # the major finding still counts for --fail-on
    assert text.stdout.startswith("No finding at or above contraindicated; 1 finding below contraindicated "
                                  "not shown.\n")
    assert "No cautions found" not in text.stdout
    assert text.stderr == "screener: 1 finding (1 major); 1 below --min-severity not shown.\n"

    report = json.loads(runner.invoke(cli, [*args, "-f", "json"]).stdout)
    assert (report["status"], report["message"], report["findings"]) == ("findings", "1 caution found.", [])
    assert report["hidden"] == {"count": 1, "below": "contraindicated"}

    bundle = json.loads(runner.invoke(cli, [*args, "-f", "fhir"]).stdout)
    outcome = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome")
    diagnostics = [issue["diagnostics"] for issue in outcome["issue"]]
    assert diagnostics[0].startswith("screener status findings: 1 caution found.")
    assert "1 finding below contraindicated not shown (display threshold; they count in the status)" in diagnostics
    assert not any(e["resource"]["resourceType"] == "DetectedIssue" for e in bundle["entry"])


def test_shown_findings_are_followed_by_the_count_of_those_not_shown(runner):
    result = runner.invoke(cli, ["check", "Soma 500 mg qid", "--min-severity", "major"])
    assert "\n(2 findings below major not shown: --min-severity major)\n" in result.stdout


def test_fail_on_changes_the_exit_code_only(runner):
    result = runner.invoke(cli, ["check", "Soma", "Xanax", "--fail-on", "contraindicated", "-f", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["status"] == "findings"
