"""The walk on a tiny, fully known knowledge base: inheritance, most-specific rule, each rule family."""

from __future__ import annotations

import pytest

import screener
from conftest import TINY, write_knowledge
from screener import FindingKind, Severity, Status


def by_rule(report):
    return {f.rule_id: f for f in report.findings}


def test_a_class_rule_applies_to_each_member_through_a_brand(tiny):
    report = tiny.screen(["drug-a", "Brand B"])
    finding = by_rule(report)["a+benzos"]
    assert finding.kind is FindingKind.DRUG_DRUG
    assert finding.severity is Severity.MAJOR
    assert finding.concepts == ("drug-a", "drug-b")
    assert finding.inputs == ("drug-a", "Brand B")
    assert finding.path == ('"drug-a"', "drug-a", "⟷ rule:a+benzos", "benzos", "drug-b", "brand-b", '"Brand B"')


def test_the_most_specific_rule_wins_even_when_less_severe(tiny):
    # drug-c is a benzo: a+benzos (major, distance 1) loses to a+c (moderate, distance 0).
    report = tiny.screen(["drug-a", "drug-c"])
    assert [f.rule_id for f in report.findings] == ["a+c"]
    assert report.findings[0].severity is Severity.MODERATE


def test_the_general_rule_applies_when_nothing_more_specific_exists(tiny):
    report = tiny.screen(["drug-a", "drug-d"])
    assert [f.rule_id for f in report.findings] == ["sed+sed"]
    assert report.findings[0].path == ('"drug-a"', "drug-a", "sedatives", "⟷ rule:sed+sed", "sedatives", "drug-d",
                                       '"drug-d"')


def test_ties_go_to_the_more_severe_rule(tiny_dir):
    tables = {k: [list(r) for r in v] for k, v in TINY.items()}
    # Two rules at the same distance from (drug-b, drug-d): benzos+drug-d (minor) and drug-b+sedatives (major).
    tables["interactions.csv"] += [
        ["benzos+d", "drug-drug", "benzos", "drug-d", "", "minor", "m", "", "adv", "pl", "label", "S", "2026-12-01", "E"],
        ["b+sed", "drug-drug", "drug-b", "sedatives", "", "major", "M", "", "adv", "pl", "label", "S", "2026-12-01", "E"],
    ]
    kb = screener.load_knowledge(write_knowledge(tiny_dir, tables))
    assert [f.rule_id for f in kb.screen(["drug-b", "drug-d"]).findings] == ["b+sed"]


def test_pair_order_does_not_change_the_finding(tiny):
    forward = tiny.screen(["drug-a", "drug-c"]).findings
    backward = tiny.screen(["drug-c", "drug-a"]).findings
    assert [(f.rule_id, set(f.concepts)) for f in forward] == [(f.rule_id, set(f.concepts)) for f in backward]
    assert backward[0].inputs == ("drug-c", "drug-a")


def test_ingredients_of_one_product_are_not_paired_with_each_other(tiny):
    # Combo CD holds drug-c and drug-d; its own labelling covers them.
    assert tiny.screen(["Combo CD"]).findings == ()


def test_a_combination_product_is_screened_as_all_its_ingredients(tiny):
    rules = set(by_rule(tiny.screen(["drug-a", "Combo CD"])))
    assert {"a+c", "sed+sed"} <= rules


def test_combination_needs_three_distinct_drugs(tiny):
    assert "triple" in by_rule(tiny.screen(["drug-a", "Brand B", "drug-d"]))
    assert "triple" not in by_rule(tiny.screen(["drug-a", "Brand B"]))
    finding = by_rule(tiny.screen(["drug-a", "Combo CD"]))
    assert "triple" in finding  # drug-c (a benzo) and drug-d come from one product
    assert finding["triple"].concepts == ("drug-a", "drug-c", "drug-d")


def test_narrower_condition_inherits_the_broader_rule(tiny):
    [finding] = tiny.screen(["drug-a"], conditions=["cirrhosis"]).findings
    assert finding.rule_id == "a-liver"
    assert finding.kind is FindingKind.DRUG_CONDITION
    assert finding.path[-3:] == ("liver-disease", "cirrhosis", '"cirrhosis"')


def test_allergy_to_a_class_member_triggers_the_class_rule(tiny):
    [finding] = tiny.screen(["drug-a"], allergies=["drug-c"]).findings
    assert (finding.rule_id, finding.severity) == ("a-allergy", Severity.CONTRAINDICATED)
    assert finding.inputs == ("drug-a", "drug-c")


def test_allergy_given_as_a_product_uses_its_ingredients(tiny):
    [finding] = tiny.screen(["drug-a"], allergies=["Combo CD"]).findings
    assert finding.rule_id == "a-allergy"
    assert finding.path[-3:] == ("drug-c", "combo-cd", '"Combo CD"')


def test_no_known_allergies_is_accepted(tiny):
    report = tiny.screen(["drug-a"], allergies=["NKDA"])
    assert report.status is Status.NO_FINDINGS


@pytest.mark.parametrize("age, fires", [(65, False), (65.5, True), (90, True), (20, False)])
def test_age_rules(tiny, age, fires):
    report = tiny.screen(["drug-a"], age=age)
    assert ("a-old" in by_rule(report)) is fires


def test_dose_single_daily_and_duration(tiny):
    report = tiny.screen(["drug-a 150 mg tid x 3 weeks"])
    titles = {f.rule_id: f.title for f in report.findings}
    assert titles == {
        "a-single": "drug-a 150 mg per dose (limit 100 mg)",
        "a-daily": "drug-a 450 mg a day (limit 300 mg)",
        "a-days": "drug-a for 21 days (limit 14 days)",
    }


def test_daily_doses_add_up_across_entries(tiny):
    report = tiny.screen(["drug-a 100 mg bid", "drug-a 100 mg daily", "drug-a 50 mg bid"])
    daily = by_rule(report)["a-daily"]
    assert daily.title == "drug-a 400 mg a day (limit 300 mg)"
    assert daily.inputs == ("drug-a 100 mg bid", "drug-a 100 mg daily", "drug-a 50 mg bid")


def test_tablets_times_strength_is_the_dose(tiny):
    assert "a-single" in by_rule(tiny.screen(["drug-a 60 mg 2 tabs daily"]))
    assert "a-single" not in by_rule(tiny.screen(["drug-a 60 mg 1 tab daily"]))


def test_counselling_is_listed_once(tiny):
    report = tiny.screen(["drug-a", "drug-a 10 mg"])
    assert [c.text for c in report.counselling] == ["Do not drive."]


def test_same_finding_through_two_entries_is_merged(tiny):
    report = tiny.screen(["drug-a", "Brand B", "drug-b"])
    finding = by_rule(report)["a+benzos"]
    assert finding.inputs == ("drug-a", "Brand B", "drug-b")


def test_unrecognised_inputs_make_the_report_incomplete(tiny):
    report = tiny.screen(["drug-a", "drug-zz"], conditions=["liver disaese"], allergies=["qwzxv"])
    assert report.status is Status.INCOMPLETE
    assert [(u.input, u.field) for u in report.unrecognized] == [
        ("drug-zz", "medication"), ("liver disaese", "condition"), ("qwzxv", "allergy")]
    assert report.unrecognized[1].suggestions == ("liver disease",)


def test_a_class_is_not_a_medication(tiny):
    [problem] = tiny.screen(["benzos"]).unrecognized
    assert problem.reason == "is a drug class, not a medication; name the medication"
    assert problem.suggestions == ("drug-b", "drug-c")


def test_a_condition_given_as_a_medication_says_where_it_belongs(tiny):
    [problem] = tiny.screen(["cirrhosis"]).unrecognized
    assert problem.reason == "is a condition; give it as a condition (-c)"


def test_unreadable_dosing_text_is_reported_not_dropped(tiny):
    report = tiny.screen(["drug-a 350 qid"])
    assert report.status is Status.INCOMPLETE
    [problem] = report.unrecognized
    assert problem.reason == "dose not checked for drug-a: 350 (no unit; give it, e.g. '350 mg')"
    assert report.medications[0].concept == "drug-a"
    assert report.medications[0].dose_mg is None


def test_two_names_in_one_entry_are_reported(tiny):
    [problem] = tiny.screen(["drug-a drug-d"]).unrecognized
    assert "holds more than one medication" in problem.reason


def test_report_status_and_highest_severity(tiny):
    report = tiny.screen(["drug-a", "Brand B"])
    assert report.status is Status.FINDINGS
    assert report.highest_severity is Severity.MAJOR
    assert tiny.screen(["drug-a"]).highest_severity is None
