"""`complete_name`: the names the page offers as a person types, from the names `check` recognises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.recognize import complete_name, read_named
from screener.text import normalize_name


@pytest.mark.parametrize(("field", "typed", "first"), [
    ("medication", "xan", "Xanax"),
    ("medication", "so", "Soma"),
    ("medication", "carisop", "carisoprodol"),
    ("condition", "preg", "Pregnancy"),
    ("condition", "cirr", "Cirrhosis"),
    ("allergy", "carb", "Carbamates"),
    ("allergy", "pen", "Penicillins"),
])
def test_the_knowledge_base_name_comes_first(kb, field, typed, first):
    assert complete_name(kb.index, typed, field)[0] == first


def test_a_concept_is_offered_once_under_its_own_name(kb):
    # "pregnant" and "pregnancy" are the same condition: its name is offered, not the synonym as well.
    names = complete_name(kb.index, "pregnan", "condition")
    assert names[0] == "Pregnancy"
    assert "pregnant" not in names


def test_names_from_the_fda_vocabulary_follow(kb):
    names = complete_name(kb.index, "hydro", "medication")
    # (hydroxyurea is a knowledge-base name: its FDA established pharmacologic class makes it a concept)
    assert names[:4] == ("hydrocodone", "hydroxyurea", "hydroxyzine", "hydromorphone")
    assert len(names) == 8


def test_a_misspelling_gets_the_suggestions_check_gives(kb):
    assert complete_name(kb.index, "xanx", "medication")[0] == "Xanax"


@pytest.mark.parametrize("typed", ["", "   ", "Soma 350 mg qid", "zzzzqqq"])
def test_nothing_to_complete(kb, typed):
    assert complete_name(kb.index, typed, "medication") == ()


def test_an_unknown_field_is_refused(kb):
    with pytest.raises(ValueError, match="field must be one of medication, condition, allergy"):
        complete_name(kb.index, "xan", "drug")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["p", "pr", "hep", "ren", "alc", "ckd", "sub", "lac", "co"]))
def test_every_condition_offered_is_recognised_by_check(kb, typed):
    # The list only completes: each name it offers is one `check` reads as a condition.
    for name in complete_name(kb.index, typed, "condition"):
        assert normalize_name(name).startswith(normalize_name(typed))
        hit = read_named(kb.index, name, "condition")
        assert not hasattr(hit, "reason"), (name, hit)
