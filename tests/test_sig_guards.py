"""The sig reader's guards (`_Reader.has`, `_Reader.units`) only save work: they never change a reading.

Each rule of the grammar is skipped when the text lacks a word that every one of its
matches contains. Readings with the guards are compared with readings where every rule
runs, on token salads drawn from the sig corpus and the grammar's own words.
"""

from __future__ import annotations

import csv
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from screener.recognize import sig

CORPUS = Path(__file__).parent / "data" / "sigs.csv"
WORDS = sorted({w for row in csv.DictReader(CORPUS.open(encoding="utf-8")) for w in row["entry"].split()}
               | {"1t", "q3d", "q 3", "½", "1–2", "tsp", "tbsp", "t.i.d.", "p.o.", "1,400", "max", "per", "day",
                  "then", "taper", "mon", "weekly", "kg", "units", "stat", "8:00", "am", "alternating", "one/two"})


def _unguarded(text: str, before: str) -> sig.Dosing:
    has, units = sig._Reader.has, sig._Reader.units
    sig._Reader.has = lambda self, *words: True  # every rule runs
    sig._Reader.units = lambda self: sig._UNIT  # with every unit word in its patterns
    try:
        return sig.read_sig(text, before)
    finally:
        sig._Reader.has, sig._Reader.units = has, units


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=10).map(" ".join),
       st.sampled_from(["", "1 tab", "take 2"]))
def test_guards_never_change_a_reading(text, before):
    assert sig.read_sig(text, before) == _unguarded(text, before)
