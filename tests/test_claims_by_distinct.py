"""Claims are read once per distinct value and walked with shared caches: the results must be what reading
each claim, and each patient, on its own gives (hypothesis against simple references)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.batch import screen_frame
from screener.batch.claims import COB, ConcurrentUse, busiest_window, entry_lists
from screener.batch.engine import lists_from_items

intervals = st.lists(st.tuples(st.integers(0, 400), st.integers(1, 120)), min_size=1, max_size=8)


def merged(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint (first, last) intervals of (first day, days) pairs: what the walk hands over."""
    out: list[list[int]] = []
    for s, e in sorted((s, s + d - 1) for s, d in pairs):
        if out and s <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def busiest_by_day(days: list[tuple[int, int]], window: int) -> tuple[int, int]:
    """The reference: every day of the span marked, every window summed."""
    first, last = days[0][0], days[-1][1]
    on = np.zeros(last - first + 1, dtype=np.int64)
    for s, e in days:
        on[s - first:e - first + 1] = 1
    total = np.concatenate(([0], np.cumsum(on)))
    width = min(window, len(on))
    sums = total[width:] - total[:-width]
    at = int(np.argmax(sums))
    return first + at + int(np.argmax(on[at:at + width])), int(sums.max())


@settings(max_examples=500, deadline=None)
@given(intervals, st.integers(1, 200))
def test_the_busiest_window_is_the_one_every_window_summed_finds(pairs, window):
    days = merged(pairs)
    assert busiest_window(days, window) == busiest_by_day(days, window)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["a", "b", "c", "d", "e"])), max_size=30))
def test_entry_lists_by_code_are_the_lists_of_their_texts(rows):
    rows = list(dict.fromkeys(rows))  # distinct (patient, text), in file order
    texts = np.asarray(["e", "d", "c", "b", "a", "unused"], dtype=object)
    code = {t: i for i, t in enumerate(texts)}
    patient = np.asarray([p for p, _ in rows], dtype=np.int64)
    lists, list_code = entry_lists(patient, 7, np.asarray([code[t] for _, t in rows], dtype=np.int64), texts)
    expected = lists_from_items(patient, 7, pd.Series([t for _, t in rows], dtype="str"))
    assert lists.texts == expected.texts
    assert lists.offsets.tolist() == expected.offsets.tolist() and lists.codes.tolist() == expected.codes.tolist()
    assert all(lists.texts[list_code[code[t]]] == t for _, t in rows)


# Drug texts as claims write them (some the same drug in other words, some beside an NDC, which decides what
# is screened), each with its ingredient (for the measure's classes), its NDC and strengths a claim may give
# beside it (each pair a different entry text: early refills are carried over per entry text).
DRUGS = {"oxycodone": ("oxycodone", "", ["5 mg", "10", ""]), "OXYCODONE HCL 5 MG TABLET": ("oxycodone", "", ["", "10"]),
         "Percocet": ("oxycodone", "", [""]), "Norco": ("hydrocodone", "", ["", "10-325"]),
         "Xanax 1 mg": ("alprazolam", "", ["", "2"]), "alprazolam": ("alprazolam", "", ["0.5", "1 mg"]),
         "XANAX TABS": ("alprazolam", "0009-0029-01", [""]), "ALPRAZOLAM 0.25": ("alprazolam", "0009-0029-01", [""]),
         "SOMA 350 MG TABLET": ("carisoprodol", "", ["", "250"]), "carisoprodol": ("carisoprodol", "", ["350 mg", "250", ""]),
         "SOMA BRAND": ("carisoprodol", "00037-2001-01", [""]), "CARISOPRODOL TAB": ("carisoprodol", "00037-2001-01", [""]),
         "gabapentin": ("gabapentin", "", ["300"]), "lisinopril": ("lisinopril", "", ["10 mg"])}
OPIOIDS, BENZODIAZEPINES = {"oxycodone", "hydrocodone"}, {"alprazolam"}
START = date(2024, 1, 1)

claims = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(sorted(DRUGS)), st.integers(0, 120),
                            st.sampled_from([7, 14, 30, 30, 90]), st.sampled_from([0, 30, 120, 180]),
                            st.integers(0, 2)),
                  min_size=1, max_size=25)


def strength(row) -> str:
    choices = DRUGS[row[1]][2]
    return choices[row[5] % len(choices)]


def frame_of(rows) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": [f"m{r[0]}" for r in rows], "drug": [r[1] for r in rows],
                         "ndc": [DRUGS[r[1]][1] for r in rows], "strength": [strength(r) for r in rows],
                         "fill_date": [(START + timedelta(days=r[2])).isoformat() for r in rows],
                         "days_supply": [str(r[3]) for r in rows], "quantity": [str(r[4]) for r in rows]})


def findings_of(findings: pd.DataFrame) -> set[tuple]:
    return set(findings[["patient_id", "kind", "rule", "title", "inputs", "overlap_start", "overlap_days"]]
               .astype(str).itertuples(index=False, name=None))


@settings(max_examples=25, deadline=None)
@given(claims)
def test_each_member_gets_what_its_claims_screened_alone_get(rows):
    findings, patients = screen_frame(frame_of(rows), layout="claims")
    alone_findings: set[tuple] = set()
    for member in sorted({p for p, *_ in rows}):
        f, p = screen_frame(frame_of([r for r in rows if r[0] == member]), layout="claims")
        alone_findings |= findings_of(f)
        # Everything but the line, which counts in the frame screened.
        together = patients.set_index("patient_id").drop(columns="line").loc[f"m{member}"].to_dict()
        assert together == p.set_index("patient_id").drop(columns="line").iloc[0].to_dict()
    assert findings_of(findings) == alone_findings


def measure_by_hand(rows, measure: ConcurrentUse) -> dict[str, str]:
    """The measure's words, claim by claim: each drug's class from the table above, days on hand counted."""
    out = {}
    for member in sorted({p for p, *_ in rows}):
        mine = [r for r in rows if r[0] == member]
        first = [r for r in mine if DRUGS[r[1]][0] in OPIOIDS]
        second = [r for r in mine if DRUGS[r[1]][0] in BENZODIAZEPINES]
        if len({r[2] for r in first}) < measure.min_claims_first or sum(r[3] for r in first) < measure.min_days_first:
            out[f"m{member}"] = "not in denominator"
            continue

        def on_hand(some) -> set[int]:
            days: set[int] = set()
            ends: dict[object, int] = {}
            for _, drug, s, n, _, written in sorted(some, key=lambda claim: claim[2]):
                text = DRUGS[drug][1] or (drug, DRUGS[drug][2][written % len(DRUGS[drug][2])])  # the NDC decides
                if measure.stockpile and text in ends and s <= ends[text]:
                    s = ends[text] + 1
                ends[text] = max(ends.get(text, s + n - 1), s + n - 1)
                days.update(range(s, s + n + measure.grace_days))
            return days

        overlap = len(on_hand(first) & on_hand(second)) if second else 0
        met = len({r[2] for r in second}) >= measure.min_claims_second and overlap >= measure.min_overlap_days
        out[f"m{member}"] = f"{'met' if met else 'not met'} ({overlap} days)"
    return out


@settings(max_examples=60, deadline=None)
@given(claims, st.integers(0, 10), st.booleans(), st.integers(1, 40))
def test_a_concurrent_use_measure_is_what_counting_by_hand_gives(rows, grace, stockpile, overlap):
    from dataclasses import replace

    measure = replace(COB, name="x", grace_days=grace, stockpile=stockpile, min_overlap_days=overlap)
    _, patients = screen_frame(frame_of(rows), layout="claims", measures=(measure,))
    assert patients.set_index("patient_id")["measure_x"].to_dict() == measure_by_hand(rows, measure)


def test_members_with_the_same_supply_are_each_named_by_their_own_claim():
    # The supply (NDC, quantity, days) is the same; the drug text beside the NDC is each member's own, and the
    # dose finding names it, however the work for the first member is reused for the second.
    rows = [("m1", "SOMA BRAND"), ("m2", "CARISOPRODOL TAB"), ("m3", "SOMA BRAND")]
    frame = pd.DataFrame({"patient_id": [m for m, _ in rows], "drug": [d for _, d in rows],
                          "ndc": ["00037-2001-01"] * 3, "fill_date": ["2024-01-01"] * 3, "days_supply": ["30"] * 3,
                          "quantity": ["180"] * 3})
    findings, _ = screen_frame(frame, layout="claims")
    dose = findings[findings["kind"] == "dose"].set_index("patient_id")["inputs"].to_dict()
    assert dose == {m: f"{d} (ndc:00037-2001-01): 180 over 30 days" for m, d in rows}
