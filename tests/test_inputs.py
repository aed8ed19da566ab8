"""What people type: dosing text, and arbitrary text that must never raise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import screener
from screener import InputError
from screener.recognize.sig import read_sig
from screener.text import normalize_name


@pytest.mark.parametrize(
    "text, strength, units, per_day, days",
    [
        ("350 mg qid", 350, None, 4, None),
        ("350mg QID", 350, None, 4, None),
        ("250 mg tid", 250, None, 3, None),
        ("350 mg three times a day and at bedtime", 350, None, 4, None),
        ("350 mg tid and hs", 350, None, 4, None),
        ("350 mg q6h", 350, None, 4, None),
        ("every 8 hours", None, None, 3, None),
        ("1-2 tabs q4-6h prn", None, 2, 6, None),
        ("two tablets at bedtime", None, 2, 1, None),
        ("hs", None, None, 1, None),
        ("bid x 30 days", None, None, 2, 30),
        ("daily for 4 weeks", None, None, 1, 28),
        ("x2 weeks", None, None, None, 14),
        ("0.5 g bid", 500, None, 2, None),

        ("350 mg 4x/day", 350, None, 4, None),
        ("1 tab po tid prn", None, 1, 3, None),
        ("350mg q6h", 350, None, 4, None),
        ("1-2 tabs qid", None, 2, 4, None),
        ("BID", None, None, 2, None),

        ("take 2 tablets by mouth every 8 hours as needed for pain", None, 2, 3, None),
        ("350 mg 1 tablet three times daily x 14 days", 350, 1, 3, 14),
        # Dotted Latin one after another is two abbreviations, not one run of letters.
        ("350 mg tablet t.i.d. p.o.", 350, None, 3, None),
        ("1 tab p.o. q.h.s. p.r.n.", None, 1, 1, None),
    ],
)
def test_dosing_text(text, strength, units, per_day, days):
    sig = read_sig(text)
    assert (sig.strengths, sig.units_per_dose, sig.doses_per_day, sig.duration_days, sig.unread) == (
        (strength,) if strength is not None else (), units, per_day, days, "")


@pytest.mark.parametrize("text, quantity", [("#84", 84), ("qty 30", 30), ("disp: 120", 120), ("tid #90", 90)])
def test_quantity(text, quantity):
    sig = read_sig(text)
    assert (sig.quantity, sig.unread) == (quantity, "")


def test_a_stated_daily_maximum_is_read_whole():
    sig = read_sig("1 tab tid, max 1,050 mg per day")
    assert (sig.daily_mg, sig.doses_per_day, sig.unread) == (1050, 3, "")


def test_tablets_times_strength_and_range_upper_bound_reach_the_dose_checks(kb):
    report = kb.screen(["carisoprodol 250 mg 1-2 tabs qid #84"])
    titles = [f.title for f in report.findings]
    assert titles == ["carisoprodol 2,000 mg a day (limit 1,400 mg)", "carisoprodol 500 mg per dose (limit 350 mg)"]
    assert report.medications[0].quantity == 84


@pytest.mark.parametrize("text, leftover", [("q6h sometimes", "sometimes"), ("1 tab tid xyz 3", "xyz 3")])
def test_what_cannot_be_read_is_returned(text, leftover):
    assert read_sig(text).leftover == leftover
    assert read_sig(text).unread == f"could not read '{leftover}'"


@pytest.mark.parametrize("text, expected", [("St. John's Wort", "st johns wort"), ("  Tylenol  #3 ", "tylenol 3"),
                                            ("ＳＯＭＡ", "soma"), ("Xanax-XR", "xanax xr")])
def test_normalize_name(text, expected):
    assert normalize_name(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_read_sig_never_raises(text):
    read_sig(text)


@settings(max_examples=300, deadline=None)
@given(
    meds=st.lists(st.text(max_size=60), max_size=5),
    conditions=st.lists(st.text(max_size=30), max_size=3),
    allergies=st.lists(st.text(max_size=30), max_size=2),
    age=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_screen_never_raises_anything_but_input_error(kb, meds, conditions, allergies, age):
    try:
        report = kb.screen(meds, conditions, allergies, age)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    # Every entry is accounted for: screened or reported.
    assert len(report.medications) == len(meds)
    unrecognised_conditions = [u for u in report.unrecognized if u.field == "condition"]
    assert len(report.conditions) + len(unrecognised_conditions) == len(conditions)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["Soma", "Norco", "Xanax", "gabapentin", "alcohol", "omeprazole", "Percocet",
                                 "carisoprodol 500 mg qid", "meprobamate", "zolpidem"]), min_size=1, max_size=5),
       st.randoms())
def test_screening_does_not_depend_on_input_order(kb, meds, rnd):
    shuffled = list(meds)
    rnd.shuffle(shuffled)
    key = lambda r: sorted((f.kind.value, f.rule_id, tuple(sorted(f.concepts))) for f in r.findings)  # noqa: E731
    assert key(kb.screen(meds)) == key(kb.screen(shuffled))


def test_a_string_instead_of_a_list_is_refused(kb):
    with pytest.raises(InputError, match="lists of entries"):
        kb.screen("Soma Xanax")


@pytest.mark.parametrize("age", [-1, 131, float("nan"), "ten"])
def test_impossible_age(kb, age):
    with pytest.raises(InputError):
        kb.screen(["Soma"], age=age)


def test_top_level_screen_uses_the_bundled_knowledge():
    report = screener.screen(["Soma", "Xanax"])
    assert report.findings[0].concepts == ("carisoprodol", "alprazolam")
