"""What the walk remembers changes nothing it reports.

Pairs of entries are walked once per (concept, ingredients) of the two and then given the entries' own
texts; the memo makes room by dropping the walk's combinations before the readings. Both are only worth
having if every report stays exactly what a walk from nothing gives.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import screener
import screener.memo
from screener.rules import FAMILIES, Scope
from screener.screening import read_entry

# The same drugs under several texts (brands, strengths, sigs), so that a pair's walk is reused for texts
# it was not made for; and the same text twice.
NAMES = ["Soma", "Soma 350 mg tid", "carisoprodol 250 mg qhs", "Soma Compound with Codeine", "Norco", "Vicodin",
         "hydrocodone 10 mg bid", "Percocet 1-2 tabs q4-6h prn", "oxycodone 5 mg q6h", "Xanax", "alprazolam 0.5 mg",
         "Klonopin", "zolpidem 10 mg hs", "gabapentin", "Lyrica", "alcohol", "Tylenol #3", "T3 1 tab q6h", "meprobamate",
         "omeprazole", "fluconazole", "Suboxone", "Cassipa", "Subutex", "quetiapine", "lisinopril", "xyzzymab",
         "42858-0493 1 patch SL", "Fiorinal #3"]
PAIR_FAMILIES = [family for family in FAMILIES if family.scope is Scope.PAIR]
PAIR_KINDS = {family.kind for family in PAIR_FAMILIES}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NAMES), st.sampled_from(NAMES))
def test_a_pair_reports_what_its_families_give_for_these_very_entries(kb, first, second):
    index = kb.index
    med_1, med_2 = read_entry(index, first)[0], read_entry(index, second)[0]
    direct: dict = {}
    if med_1.ingredients and med_2.ingredients:
        for family in PAIR_FAMILIES:
            for key, finding in family.pair(index, index.families[family.name], med_1, med_2):
                direct.setdefault(key, finding)
    got = [f for f in kb.screen([first, second]).findings if f.kind in PAIR_KINDS]
    assert sorted(got, key=repr) == sorted(direct.values(), key=repr)
    for finding in got:  # each names these inputs, and its path starts and ends at them
        assert finding.inputs == (first, second)
        assert finding.path[0] == f'"{first}"' and finding.path[-1] == f'"{second}"'


PATIENTS = [(NAMES[i:i + 4], ["pregnancy", "cirrhosis", "hypertension", "K74.60"][i % 4:i % 4 + 2],
             ["meprobamate", "NKDA", "codeine (itching)"][i % 3:i % 3 + 1], 30 + i) for i in range(len(NAMES))]


def test_a_full_memo_makes_room_without_changing_a_report(monkeypatch):
    expected = [screener.load_knowledge().screen(*p).to_dict() for p in PATIENTS]
    monkeypatch.setattr(screener.memo, "MEMO_LIMIT", 60)
    monkeypatch.setattr(screener.memo, "READING_LIMIT", 25)
    knowledge = screener.load_knowledge()
    knowledge.index.memo.clear()
    sizes = []
    for _ in range(3):  # again and again, as a batch sees the same charts
        got = []
        for p in PATIENTS:
            got.append(knowledge.screen(*p).to_dict())
            sizes.append(len(knowledge.index.memo))
        assert got == expected
    assert max(sizes) <= 60 + 5  # one result over the limit at most per memoised call of a screen


@pytest.mark.parametrize("readings", [0, 10, 40])
def test_an_eviction_keeps_what_the_knowledge_alone_decides(monkeypatch, readings):
    monkeypatch.setattr(screener.memo, "READING_LIMIT", 25)
    memo = {("plan",): "plan", ("suggestion-pool",): "pool"}
    memo.update({("medication", f"drug {i}"): i for i in range(readings)})
    memo.update({("pair", f"a {i}", "b"): () for i in range(50)})
    screener.memo.evict(memo)
    assert memo[("plan",)] == "plan" and memo[("suggestion-pool",)] == "pool"
    assert not any(key[0] == "pair" for key in memo)  # the walk's combinations go first
    kept = sum(key[0] == "medication" for key in memo)
    assert kept == (readings if readings + 2 <= 25 else 0)  # readings too, once there are too many
