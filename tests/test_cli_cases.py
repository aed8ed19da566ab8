"""The issue's table of cases, through the CLI, on the bundled knowledge base."""

from __future__ import annotations

import json

import pytest

from screener.cli import cli


def run_json(runner, *args):
    result = runner.invoke(cli, ["check", *args, "--format", "json"])
    assert "Traceback" not in result.output
    return result, json.loads(result.stdout)


def kinds(report, kind):
    return [f for f in report["findings"] if f["kind"] == kind]


def test_carisoprodol_alprazolam_is_major_drug_drug_and_exits_1(runner):
    result, report = run_json(runner, "carisoprodol", "alprazolam")
    assert result.exit_code == 1
    [finding] = kinds(report, "drug-drug")
    assert finding["severity"] == "major"
    assert finding["concepts"] == ["carisoprodol", "alprazolam"]
    assert finding["path"][:2] == ['"carisoprodol"', "carisoprodol"]
    assert "benzodiazepines" in finding["path"]
    assert finding["sources"] and all(finding["sources"])


def test_soma_with_oxycodone_is_major(runner):
    result, report = run_json(runner, "Soma", "oxycodone")
    assert result.exit_code == 1
    [finding] = kinds(report, "drug-drug")
    assert (finding["severity"], finding["concepts"]) == ("major", ["carisoprodol", "oxycodone"])
    assert finding["path"][:3] == ['"Soma"', "soma", "carisoprodol"]
    assert "opioids" in finding["path"]


@pytest.mark.parametrize(
    "args, kind",
    [
        (["carisoprodol", "alcohol"], "drug-drug"),
        (["carisoprodol", "-c", "alcohol use disorder"], "drug-condition"),
    ],
)
def test_alcohol_as_drink_or_as_condition_is_major(runner, args, kind):
    result, report = run_json(runner, *args)
    assert result.exit_code == 1
    [finding] = kinds(report, kind)
    assert finding["severity"] == "major"
    assert any("alcohol" in c for c in finding["concepts"])


def test_alcohol_with_carisoprodol_uses_the_ncpdp_alcohol_code(runner):
    _, report = run_json(runner, "carisoprodol", "beer")
    [finding] = kinds(report, "drug-drug")
    assert finding["codes"] == {"ncpdp": "OH", "v3": "DRG"}


@pytest.mark.parametrize(
    "condition, concept, ncpdp",
    [
        ("pregnancy", "pregnancy", "PG"),
        ("breastfeeding", "lactation", "NR"),
        ("hepatic impairment", "hepatic-impairment", "MC"),
        ("renal impairment", "renal-impairment", "MC"),
    ],
)
def test_conditions_give_drug_condition_findings(runner, condition, concept, ncpdp):
    result, report = run_json(runner, "carisoprodol", "-c", condition)
    assert result.exit_code == 1
    [finding] = kinds(report, "drug-condition")
    assert finding["concepts"] == ["carisoprodol", concept]
    assert finding["codes"]["ncpdp"] == ncpdp
    assert finding["path"][-1] == f'"{condition}"'


def test_meprobamate_allergy_makes_carisoprodol_contraindicated(runner):
    result, report = run_json(runner, "carisoprodol", "-a", "meprobamate")
    assert result.exit_code == 1
    [finding] = kinds(report, "drug-allergy")
    assert finding["severity"] == "contraindicated"
    assert "carbamates" in finding["path"]


def test_labelled_dose_gives_no_dose_finding(runner):
    result, report = run_json(runner, "carisoprodol 350 mg qid")
    assert result.exit_code == 0
    assert report["status"] == "no-findings"
    assert report["findings"] == []
    assert report["screened"]["medications"][0] == {
        "input": "carisoprodol 350 mg qid",
        "concept": "carisoprodol",
        "concepts": ["carisoprodol"],
        "via": "knowledge base",
        "strength_mg": 350,
        "doses_per_day": 4,
        "dose_mg": 350,
        "daily_mg": 1400,
        "coverage": "classified",
    }


def test_500_mg_qid_gives_single_and_daily_dose_findings_and_strength_note(runner):
    result, report = run_json(runner, "carisoprodol 500 mg qid")
    assert result.exit_code == 1
    titles = {f["title"]: f["severity"] for f in kinds(report, "dose")}
    assert titles == {
        "carisoprodol 500 mg per dose (limit 350 mg)": "moderate",
        "carisoprodol 2,000 mg a day (limit 1,400 mg)": "major",
        "carisoprodol 500 mg is not a marketed strength (250, 350 mg)": "minor",
    }


def test_the_articles_own_regimen_is_caught(runner):
    """"Prosoma 500mg … three times a day and at bedtime": the article's error, caught."""
    result, report = run_json(runner, "Prosoma 500mg three times a day and at bedtime x 3 weeks")
    assert result.exit_code == 1
    titles = [f["title"] for f in report["findings"]]
    assert "carisoprodol 2,000 mg a day (limit 1,400 mg)" in titles
    assert not kinds(report, "duration")  # 21 days is within "two or three weeks"


def test_omeprazole_finding_names_cyp2c19(runner):
    _result, report = run_json(runner, "carisoprodol", "omeprazole")
    [finding] = kinds(report, "drug-drug")
    assert "CYP2C19" in finding["summary"] + finding.get("mechanism", "")
    assert "cyp2c19-inhibitors" in finding["path"]


def test_unknown_name_is_reported_and_exits_3(runner):
    result, report = run_json(runner, "carisoprodol", "xyzzymab")
    assert result.exit_code == 3
    assert report["status"] == "incomplete"
    assert report["unrecognized"] == [
        {"input": "xyzzymab", "field": "medication", "reason": "not found in the knowledge base or the FDA vocabulary", "suggestions": []}
    ]


def test_soma_norco_xanax_reports_three_pairs_and_the_triple(runner):
    result, report = run_json(runner, "Soma", "Norco", "Xanax")
    assert result.exit_code == 1
    pairs = {tuple(sorted(f["concepts"])) for f in kinds(report, "drug-drug")}
    assert pairs == {("alprazolam", "carisoprodol"), ("carisoprodol", "hydrocodone"), ("alprazolam", "hydrocodone")}
    [combo] = kinds(report, "combination")
    assert sorted(combo["concepts"]) == ["alprazolam", "carisoprodol", "hydrocodone"]
    assert combo["inputs"] == ["Soma", "Norco", "Xanax"]
    assert len(report["findings"]) == 4


@pytest.mark.parametrize(
    "args, kind, concepts",
    [
        (["Soma", "carisoprodol"], "duplicate", ["carisoprodol"]),
        (["Soma", "cyclobenzaprine"], "duplicate", ["carisoprodol", "cyclobenzaprine"]),
        (["carisoprodol", "meprobamate"], "drug-drug", ["carisoprodol", "meprobamate"]),
        (["carisoprodol", "-c", "acute intermittent porphyria"], "drug-condition",
         ["carisoprodol", "acute-intermittent-porphyria"]),
        (["carisoprodol", "-c", "cirrhosis"], "drug-condition", ["carisoprodol", "cirrhosis"]),
        (["carisoprodol", "-c", "CKD stage 4"], "drug-condition", ["carisoprodol", "ckd-stage-4"]),
        (["carisoprodol", "-c", "CYP2C19 poor metabolizer"], "drug-condition", ["carisoprodol", "cyp2c19-poor-metabolizer"]),
        (["carisoprodol", "-c", "substance use disorder"], "drug-condition", ["carisoprodol", "substance-use-disorder"]),
        (["carisoprodol", "--age", "12"], "drug-age", ["carisoprodol"]),
        (["carisoprodol", "--age", "70"], "drug-age", ["carisoprodol"]),
        (["carisoprodol 350 mg qid x 30 days"], "duration", ["carisoprodol"]),
        (["carisoprodol", "rifampin"], "drug-drug", ["carisoprodol", "rifampin"]),
        (["carisoprodol", "St. John's wort"], "drug-drug", ["carisoprodol", "st-johns-wort"]),
        (["carisoprodol", "gabapentin"], "drug-drug", ["carisoprodol", "gabapentin"]),
        (["carisoprodol", "amitriptyline"], "drug-drug", ["carisoprodol", "amitriptyline"]),
        (["Norco", "gabapentin"], "drug-drug", ["hydrocodone", "gabapentin"]),
        (["Percocet", "alcohol"], "drug-drug", ["oxycodone", "alcohol"]),
    ],
)
def test_each_rule_family_fires_on_the_bundled_knowledge(runner, args, kind, concepts):
    result, report = run_json(runner, *args)
    assert result.exit_code == 1, report
    assert concepts in [f["concepts"] for f in kinds(report, kind)]


@pytest.mark.parametrize("age", ["16", "40", "64"])
def test_no_age_finding_inside_the_studied_ages(runner, age):
    result, report = run_json(runner, "carisoprodol", "--age", age)
    assert (result.exit_code, kinds(report, "drug-age")) == (0, [])


def test_counselling_covers_driving_abuse_schedule_and_alcohol(runner):
    _, report = run_json(runner, "Soma")
    topics = {c["topic"] for c in report["counselling"]}
    assert {"driving", "dependence", "schedule", "alcohol"} <= topics
    assert all(c["source"] for c in report["counselling"])


def test_nothing_says_safe(runner):
    for args in (["lisinopril"], ["carisoprodol"], ["Soma", "Norco", "Xanax", "-c", "pregnancy"]):
        result = runner.invoke(cli, ["check", *args])
        assert "safe" not in result.output.lower().replace("unsafe", "")
