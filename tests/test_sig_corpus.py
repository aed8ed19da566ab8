"""A corpus of real sig text: every string is read exactly or declared unread, never misread."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

import screener

CORPUS = Path(__file__).parent / "data" / "sigs.csv"
NUMBERS = ["units_per_dose", "dose_mg", "doses_per_day", "daily_mg", "daily_units", "duration_days", "quantity"]


def _rows() -> list[dict[str, str]]:
    with CORPUS.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _value(text: str) -> float | None:
    return float(text) if text.strip() else None


def _same(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-6)  # 0.333333 for a third


def reading(kb, entry: str) -> dict | None:
    """What the screener read from one entry, or None when it declared (part of) it unread."""
    try:
        report = kb.screen([entry])
    except screener.InputError:
        return None
    med = report.medications[0]
    if med.concept is None or med.dosing.unread:
        return None
    d = med.dosing
    return {
        "strength_mg": d.strengths,
        "units_per_dose": d.units_per_dose,
        "dose_mg": med.per_dose_mg(0) if len(med.ingredients) == 1 else None,
        "doses_per_day": d.doses_per_day,
        "daily_mg": d.daily_mg,
        "daily_units": d.daily_units,
        "duration_days": d.duration_days,
        "quantity": d.quantity,
    }


def misread(row: dict[str, str], got: dict) -> str:
    """Why a complete reading differs from the expectation ('' when it does not)."""
    if row["status"] == "unread":
        return f"read {got} where the text must be declared unread ({row['note']})"
    want_strengths = tuple(float(v) for v in row["strength_mg"].split("|")) if row["strength_mg"].strip() else ()
    problems = [f"{name}: got {got[name]}, want {row[name] or 'blank'}" for name in NUMBERS
                if not _same(got[name], _value(row[name]))]
    if len(want_strengths) != len(got["strength_mg"]) or not all(
            _same(a, b) for a, b in zip(got["strength_mg"], want_strengths)):
        problems.append(f"strength: got {got['strength_mg']}, want {want_strengths}")
    return "; ".join(problems)


def test_the_corpus_is_read_exactly_or_declared_unread(kb, capsys):
    rows = _rows()
    assert len(rows) >= 400
    exact, unread, wrong = 0, 0, []
    for n, row in enumerate(rows, start=2):
        got = reading(kb, row["entry"])
        if got is None:
            unread += 1
            continue
        problem = misread(row, got)
        if problem:
            wrong.append(f"line {n}: {row['entry']!r}: {problem}")
        else:
            exact += 1
    with capsys.disabled():
        print(f"\nsig corpus: {len(rows)} strings, {exact} read exactly, {unread} declared unread, "
              f"{len(wrong)} misread")
    assert wrong == []


@pytest.mark.parametrize("column", ["sig", "source", "source_ref", "licence"])
def test_every_string_has_a_public_source_and_a_licence_that_allows_it(column):
    for row in _rows():
        assert row[column].strip(), row
        if column == "licence":
            assert any(word in row["licence"] for word in ("Apache-2.0", "MIT", "CC0", "Public domain")), row
