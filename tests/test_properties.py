"""Properties that must hold for any patient (hypothesis over generated patients)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

NAMES = ["Soma", "Soma 500 mg qid", "carisoprodol 350 mg tid x 30 days", "Norco", "Xanax", "Percocet", "gabapentin",
         "alcohol", "omeprazole", "rifampin", "meprobamate", "zolpidem", "cyclobenzaprine", "Tylenol", "Tylenol #3",
         "lisinopril", "Zestril", "aspirin", "quetiapine", "xyzzymab", "amitriptyline", "Lyrica", "Suboxone"]
CONDITIONS = ["pregnancy", "breastfeeding", "cirrhosis", "CKD stage 4", "AIP", "alcohol use disorder", "K74.60",
              "history of drug abuse", "nonsense-condition"]
ALLERGIES = ["meprobamate", "carbamates", "NKDA", "penicillin"]

patients = st.fixed_dictionaries({
    "medications": st.lists(st.sampled_from(NAMES), min_size=1, max_size=6),
    "conditions": st.lists(st.sampled_from(CONDITIONS), max_size=3),
    "allergies": st.lists(st.sampled_from(ALLERGIES), max_size=2),
    "age": st.one_of(st.none(), st.integers(0, 110)),
})


def keys(report, exclude_input=None):
    """What each finding is about: kind, rule and concepts (inputs aside)."""
    return {(f.kind.value, f.rule_id, frozenset(f.concepts)) for f in report.findings
            if exclude_input is None or exclude_input not in f.inputs}


@settings(max_examples=200, deadline=None)
@given(patients, st.sampled_from(NAMES))
def test_adding_a_medication_never_removes_a_finding_about_the_others(kb, patient, extra):
    before = kb.screen(**patient)
    after = kb.screen(patient["medications"] + [extra], patient["conditions"], patient["allergies"], patient["age"])
    # Each finding is still there; it may name more (a combination gains the new opioid).
    for kind, rule, concepts in keys(before):
        assert any(k == kind and r == rule and c >= concepts for k, r, c in keys(after)), (kind, rule, concepts)


def test_a_combination_names_every_drug_in_each_role(kb):
    report = kb.screen(["Soma", "Xanax", "Percocet", "Norco"])
    (combination,) = [f for f in report.findings if f.kind.value == "combination"]
    assert set(combination.concepts) == {"carisoprodol", "alprazolam", "oxycodone", "hydrocodone"}
    assert set(combination.inputs) == {"Soma", "Xanax", "Percocet", "Norco"}


@settings(max_examples=200, deadline=None)
@given(patients, st.randoms())
def test_screening_is_independent_of_input_order(kb, patient, rnd):
    shuffled = {name: list(value) if isinstance(value, list) else value for name, value in patient.items()}
    for name in ("medications", "conditions", "allergies"):
        rnd.shuffle(shuffled[name])
    assert keys(kb.screen(**patient)) == keys(kb.screen(**shuffled))
    assert {u.input for u in kb.screen(**patient).unrecognized} == {u.input for u in kb.screen(**shuffled).unrecognized}


@settings(max_examples=200, deadline=None)
@given(patients)
def test_every_concept_in_a_finding_comes_from_the_inputs_or_lies_on_its_path(kb, patient):
    report = kb.screen(**patient)
    resolved = {x for med in report.medications for x in med.ingredients}
    resolved |= {concept for _, concept in report.conditions + report.allergies}
    for finding in report.findings:
        for concept in finding.concepts:
            assert concept in resolved or concept in finding.path, (finding.title, concept)
        # The path begins at something the patient gave.
        assert finding.path[0].startswith('"') and finding.path[0].strip('"') in finding.inputs


@settings(max_examples=200, deadline=None)
@given(patients)
def test_every_input_is_accounted_for(kb, patient):
    report = kb.screen(**patient)
    assert len(report.medications) == len(patient["medications"])
    unrecognised = [u for u in report.unrecognized if u.field == "condition"]
    assert len(report.conditions) + len(unrecognised) == len(patient["conditions"])
    if report.unrecognized:
        assert report.status.value == "incomplete"
