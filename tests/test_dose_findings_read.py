"""A dose finding states only what was read (issue 11).

Property: every number in the title of a dose or duration finding is a number of the
reading the report shows for that finding's entries (their strength, dose, count,
frequency, daily amount or duration), a limit or strength of the knowledge's dosing
rules, or the sum of the entries' daily amounts. An entry whose dosing was partly
unread never feeds a dose or duration finding.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import screener
from screener.cli import cli
from screener.model import FindingKind

DATA = Path(__file__).resolve().parents[1] / "data"
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")

NAMES = ["Soma", "carisoprodol", "Soma Compound", "carisoprodol/aspirin", "aspirin-carisoprodol",
         "carisoprodol and aspirin and codeine", "Soma Compound with Codeine", "Norco", "Xanax", "Tylenol",
         "hydrocodone/acetaminophen"]
STRENGTHS = ["", "350 mg", "250 mg", "350", "250", "500 mg", "1,400 mg", "0.125 mg", "200/325", "200 mg/325 mg",
             "200/325/16", "10/325", "10-325 mg", "700-350 mg", "-350 mg", "175 mg", ".5 mg", "1400 mg/day"]
COUNTS = ["", "1 tab", "1/2 tab", "½ tab", "2 tabs", "1-2 tabs", "one and a half tablets", "half a tablet",
          "3 tablets", "1 po", "1 t", "1.5 tabs", "take 2"]
FREQUENCIES = ["", "tid", "qid", "t.i.d.", "q.i.d.", "tid-qid", "BID-TID", "q4-6h", "bid", "daily", "q6h prn",
               "at bedtime", "three times a day and at bedtime", "every other blue moon", "prn", "p.o. t.i.d.",
               "q.h.s. p.r.n."]
DURATIONS = ["", "x 30 days", "for 2 weeks", "x1 month", "for up to 10 days", "x 21 days", "x 3 wks"]
EXTRAS = ["", "#120", "DAW", "RF0", "for muscle spasm", "sig:", "qty 30", "refills: 2", "max 1,050 mg per day",
          "max 4 tabs/day"]


def _limits() -> set[float]:
    """Every number the dosing rules hold (limits and marketed strengths)."""
    out: set[float] = set()
    with (DATA / "dosing.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out.update(float(v) for v in row["value"].split("|"))
    return out | set(FACTORS.values())


def _factors() -> dict[str, float]:
    """The MME conversion factors (an MME finding states each opioid's daily mg and its factor)."""
    with (DATA / "mme_factors.csv").open(encoding="utf-8") as f:
        return {row["drug"]: float(row["factor"]) for row in csv.DictReader(f) if row["factor"]}


FACTORS = _factors()


LIMITS = _limits()


def _numbers(text: str) -> set[float]:
    return {float(m.replace(",", "")) for m in NUMBER.findall(text)}


def _read_numbers(data: dict) -> set[float]:
    """The numbers of one entry's reading in the JSON report."""
    out = {float(data[k]) for k in ("strength_mg", "units_per_dose", "doses_per_day", "duration_days",
                                    "dose_mg", "daily_mg") if k in data}
    for amount in data.get("amounts", ()):
        out.update(float(v) for k, v in amount.items() if k.endswith("_mg"))
    return out


def _daily(data: dict, concept: str) -> float | None:
    if data.get("concepts") == [concept]:
        return data.get("daily_mg")
    return next((a.get("per_day_mg") for a in data.get("amounts", ()) if a["concept"] == concept), None)


entry = st.builds(
    lambda *parts: " ".join(p for p in parts if p),
    st.sampled_from(NAMES),
    st.one_of(st.sampled_from(STRENGTHS), st.integers(1, 5000).map(lambda n: f"{n:,} mg")),
    st.sampled_from(COUNTS), st.sampled_from(FREQUENCIES), st.sampled_from(DURATIONS), st.sampled_from(EXTRAS))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entry, min_size=1, max_size=4))
def test_every_number_in_a_dose_finding_was_read_or_is_a_limit(entries):
    report = screener.screen(entries)
    screened = {m["input"]: m for m in report.to_dict()["screened"]["medications"]}
    by_input = {m.input: m for m in report.medications}
    for finding in report.findings:
        if finding.kind not in (FindingKind.DOSE, FindingKind.DURATION):
            continue
        readings = [screened[i] for i in finding.inputs]
        for data in readings:
            assert "unparsed" not in data, (finding.title, data)
        allowed = set(LIMITS)
        for data in readings:
            allowed |= _read_numbers(data) | _numbers(by_input[data["input"]].reading())
        daily = [_daily(data, finding.concepts[0]) for data in readings]
        allowed.add(float(sum(v for v in daily if v is not None)))
        # An MME total: each opioid's daily mg (as read) times its factor, added up.
        allowed.add(round(sum((_daily(data, x) or 0) * FACTORS.get(x, 0) for x in finding.concepts
                              for data in readings if x in data.get("concepts", ())), 6))  # as reports show it
        stated = _numbers(finding.title)
        assert stated <= allowed, (finding.title, entries, stated - allowed)


@settings(max_examples=200, deadline=None)
@given(st.lists(entry, min_size=1, max_size=3))
def test_an_entry_partly_unread_is_reported_and_makes_the_screen_incomplete(entries):
    report = screener.screen(entries)
    for med in report.medications:
        if med.concept is not None and med.dosing.unread:
            assert report.status.value == "incomplete"
            assert any(u.input == med.input and "dose not checked" in u.reason for u in report.unrecognized)


def test_the_text_report_shows_each_reading():
    result = CliRunner().invoke(cli, ["check", "Soma 350 mg tid-qid", "Soma 1/2 tab tid",
                                      "Soma Compound 1 tab qid x 2 weeks", "alprazolam 0.125 mg tid",
                                      "--width", "100"])
    screened = result.output[result.output.index("SCREENED"):].splitlines()[1:5]
    assert screened == [
        '  medication "Soma 350 mg tid-qid" → carisoprodol; 350 mg/dose; 4×/day; 1,400 mg/day',
        '  medication "Soma 1/2 tab tid" → carisoprodol; 0.5 tablet/dose; 3×/day; mg not known: the strength',
        "    is not given",
        '  medication "Soma Compound 1 tab qid x 2 weeks" → carisoprodol, aspirin; carisoprodol 200 mg +',
    ]
    assert "alprazolam 0.125 mg tid\" → alprazolam; 0.125 mg/dose; 3×/day; 0.375 mg/day" in result.output


@pytest.mark.parametrize(("entry", "dose_mg", "daily_mg"), [
    ("Soma 350 mg ⅓ tab tid", 350 / 3, 350.0),       # was 116.66655 and 349.99965: a third to 6 digits
    ("Soma 350 1/2 tab tid", 175.0, 525.0),          # was '350.5 tab a dose', unread
    ("Soma 350 mg 1 1/2 tab tid", 525.0, 1575.0),
])
def test_a_fraction_of_a_tablet_is_read_in_full_and_never_joined_to_a_strength(entry, dose_mg, daily_mg):
    med = screener.screen([entry]).medications[0]
    assert not med.dosing.unread
    assert med.per_dose_mg(0) == pytest.approx(dose_mg, rel=1e-12)
    assert med.per_day_mg(0) == pytest.approx(daily_mg, rel=1e-12)


def test_a_combinations_strength_before_half_a_tablet_is_its_strength():
    med = screener.screen(["Norco 10/325 1/2 tab q6h"]).medications[0]   # was 10/325.5, unread
    assert med.per_unit_mg == (10.0, 325.0) and med.dosing.units_per_dose == 0.5


@pytest.mark.parametrize(("entry", "units", "quantity"), [
    ("Soma 350 mg #30 1/2 tab qhs", 0.5, 30),      # was '#30' and '.5 tab': 5 tablets, a 1,750 mg/day finding
    ("Norco 10/325 #30 1/2 tab q6h", 0.5, 30),     # was 5 tablets: 200 MME and 6,500 mg acetaminophen
    ("Soma 350 mg qty 30 1/2 tab qhs", 0.5, 30),   # was a quantity of 30.5, and the half tablet lost
    ("Soma 350 mg RF0 1/2 tab qhs", 0.5, None),
    ("Soma 350 mg refills 2 1/2 tab qhs", 0.5, None),
    ("Soma 350 mg 1½ tab tid", 1.5, None),         # NFKC wrote it '11⁄2': unread as 11/2
    ("Soma 350 mg RF 1 1 1/2 tab tid", 1.5, None),  # 'RF 1 1' was one number written twice: half a tablet
    ("Soma 350 mg RF: 2 2 1/2 tab tid", 2.5, None),
])
def test_a_number_to_dispense_or_refill_is_never_the_whole_part_of_a_mixed_number(entry, units, quantity):
    med = screener.screen([entry]).medications[0]
    assert not med.dosing.unread
    assert med.dosing.units_per_dose == units and med.dosing.quantity == quantity


@pytest.mark.parametrize("entry", ["Roxicet 5 1/2 tab q6h", "Roxicet 5½ tab q6h", "Valium 2 1/2 tab",
                                   "Tranxene 7 1/2 tab", "Xanax 1 1/2 tab", "Roxicet 5 and 1/2 tab q6h",
                                   "Roxicet 5 and a half tab q6h"])
def test_a_mixed_number_after_the_name_that_may_be_a_strength_is_unread(entry):
    # 5 1/2 tablets, or half a tablet of 5 mg (Roxicet 5/325)? Read as a count it raised a 7,150 mg
    # acetaminophen finding; Tranxene 7 1/2 may be one tablet of 7.5 mg.
    report = screener.screen([entry])
    assert "right after the name: a count of units, or a strength?" in report.medications[0].dosing.unread
    assert report.status == "incomplete"
    assert not [f for f in report.findings if f.kind == FindingKind.DOSE]


@pytest.mark.parametrize("entry", ["Soma 1 1/2 tab tid", "Methadose 5 1/2 tab daily"])
def test_a_mixed_number_after_the_name_that_is_no_strength_is_a_count(entry):
    assert not screener.screen([entry]).medications[0].dosing.unread


@pytest.mark.parametrize(("entry", "strength"), [("Tranxene 7 1/2 mg tid", 7.5), ("Valium 2 1/2 mg bid", 2.5)])
def test_a_mixed_number_with_its_unit_after_the_name_is_a_strength(entry, strength):
    med = screener.screen([entry]).medications[0]
    assert not med.dosing.unread and med.dosing.strengths == (strength,)


def test_a_daw_code_before_a_fraction_is_unread():
    # DAW code 1 and half a tablet, or DAW and one and a half tablets?
    report = screener.screen(["Soma 350 mg DAW 1 1/2 tab tid"])
    assert report.medications[0].dosing.unread.startswith("DAW 1 before a fraction")
    assert report.status == "incomplete"


@pytest.mark.parametrize("entry", ["Soma 350 mg DAW 2 tab tid", "Soma 350 mg DAW 1 tab tid"])
def test_a_daw_code_before_a_unit_is_unread(entry):
    # DAW code 2 and a tablet, or DAW and two tablets? Read as the code, the dose was one tablet (350 mg).
    report = screener.screen([entry])
    assert "before a unit (DAW code" in report.medications[0].dosing.unread and report.status == "incomplete"


@pytest.mark.parametrize(("entry", "units"), [("Soma 350 mg DAW1 1 tab tid", 1), ("Soma 350 mg DAW1 2 tab tid", 2)])
def test_a_glued_daw_code_then_a_count_is_both(entry, units):
    med = screener.screen([entry]).medications[0]
    assert not med.dosing.unread and med.dosing.daw and med.dosing.units_per_dose == units
