"""Batch screening gives the same answers as `check`, and accounts for every patient."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from screener.batch import screen_frame
from screener.batch.engine import ITEM_SEPARATOR, LIST_SEPARATOR, describe
from screener.batch.synthetic import Population
from screener.errors import InputError
from screener.model import FindingKind

# Rows that exercise the edges of the vectorised path; the generated ones add volume.
EDGE_ROWS = [
    ("e1", "Soma 350 mg qid; Xanax", "pregnancy", "", "70"),
    ("e2", "Soma;carisoprodol 350 mg", "", "", ""),                      # duplicate ingredient
    ("e3", "Norco;Vicodin;Xanax;Soma", "cirrhosis", "meprobamate", "50"),  # combination, allergy
    ("e4", "Soma;;Xanax;", "", "NKDA", "12"),                             # empty pieces, child
    ("e5", "Prosoma 500mg three times a day and at bedtime x 30 days", "", "", "40"),
    ("e6", "carisoprodol 350 mg qid; Soma 350 mg qid", "", "", "30"),     # daily total across entries
    ("e7", "ibuprofen; Advil", "", "", "30"),                             # duplicate of a quiet drug
    ("e8", "xyzzymab; Tylenol", "CKD stage 4", "penicillin", ""),         # unrecognised items only
    ("e9", "Soma 350", "", "", "200"),                                    # age out of range: invalid
    ("e10", "Soma", "", "", "abc"),                                       # bad age: invalid
    ("e11", "Soma\x07", "", "", ""),                                      # control character: invalid
    ("e12", "", "pregnancy", "", "30"),                                   # no medications
    ("e13", "Soma Compound with Codeine; Xanax; Klonopin", "", "carbamates", "80"),
    ("e14", "Xanax", "", "", ""),
    ("e15", "gabapentin; Norco; omeprazole; Soma 250 mg tid", "alcohol use disorder", "", "66"),
]


def population(kb, n: int, seed: int) -> pd.DataFrame:
    rows = list(Population(kb.index, seed, carisoprodol=0.35, caution=0.5, unknown=0.1, conditions=0.3,
                           allergies=0.3).rows(n))
    rows += EDGE_ROWS
    return pd.DataFrame(rows, columns=["patient_id", "medications", "conditions", "allergies", "age"])


def split(cell: str) -> list[str]:
    return [p.strip() for p in cell.split(";") if p.strip()]


def expected(kb, meds, conditions, allergies, age):
    """What `check` (the library) says for one patient, in the batch output's terms."""
    if not meds:  # `check` refuses a patient with no medication, and so does batch (invalid)
        return "invalid", [], ""
    try:
        report = kb.screen(meds, conditions, allergies, age if age.strip() else None)
    except InputError:
        return "invalid", [], ""
    rows = [(f.kind.value, f.severity.value, f.title, LIST_SEPARATOR.join(f.concepts),
             LIST_SEPARATOR.join(f.inputs), f.rule_id, dict(f.codes).get("ncpdp", ""), ITEM_SEPARATOR.join(f.sources))
            for f in report.findings]
    return report.status.value, rows, ITEM_SEPARATOR.join(describe(u) for u in report.unrecognized)


def actual(findings: pd.DataFrame, patients: pd.DataFrame):
    by_patient: dict[str, list] = {}
    for row in findings.astype("str").itertuples(index=False):
        by_patient.setdefault(row.patient_id, []).append(
            (row.kind, row.severity, row.title, row.concepts, row.inputs, row.rule, row.ncpdp, row.source))
    return by_patient


def test_batch_findings_equal_check_for_every_patient(kb):
    df = population(kb, 400, seed=11)
    findings, patients = screen_frame(df, knowledge=kb)
    assert len(patients) == len(df)
    assert patients["patient_id"].tolist() == df["patient_id"].tolist()
    got = actual(findings, patients)
    statuses = patients.set_index("patient_id")
    seen_findings = 0
    for row in df.itertuples(index=False):
        status, rows, unrecognized = expected(kb, split(row.medications), split(row.conditions),
                                              split(row.allergies), row.age)
        mine = statuses.loc[row.patient_id]
        assert mine["status"] == status, row
        if status == "invalid":
            assert mine["error"] != ""
            assert row.patient_id not in got
            continue
        assert got.get(row.patient_id, []) == rows, row
        assert mine["findings"] == len(rows)
        assert mine["unrecognized"] == unrecognized
        assert mine["highest_severity"] == (rows[0][1] if rows else "")
        seen_findings += len(rows)
    assert seen_findings == len(findings)
    # The sample must exercise every kind of finding, or the comparison proves little.
    assert set(findings["kind"].astype("str")) == {kind.value for kind in FindingKind}


def test_items_layout_equals_patients_layout(kb):
    df = population(kb, 150, seed=5)
    df = df[~df["patient_id"].isin(["e11"])]  # a control character cannot survive the items round trip
    items = []
    for row in df.itertuples(index=False):
        for med in split(row.medications):
            items.append((row.patient_id, "medication", med))
        for c in split(row.conditions):
            items.append((row.patient_id, "condition", c))
        for a in split(row.allergies):
            items.append((row.patient_id, "allergy", a))
        if row.age:
            items.append((row.patient_id, "age", row.age))
        if not (split(row.medications) or split(row.conditions) or split(row.allergies) or row.age):
            items.append((row.patient_id, "medication", ""))
    # Interleave patients: the items of one patient need not be together.
    rng = np.random.default_rng(3)
    items = [items[i] for i in rng.permutation(len(items))]
    long = pd.DataFrame(items, columns=["patient_id", "kind", "value"])
    f_items, p_items = screen_frame(long, knowledge=kb)
    f_rows, p_rows = screen_frame(df, knowledge=kb)
    assert sorted(p_items["patient_id"]) == sorted(df["patient_id"])
    by = p_items.set_index("patient_id")
    for row in p_rows.itertuples(index=False):
        assert by.loc[row.patient_id, "status"] == row.status
        assert by.loc[row.patient_id, "findings"] == row.findings
    # Same findings per patient; the input order of entries may differ, so compare as sets.
    key = ["patient_id", "kind", "severity", "rule", "concepts"]

    def norm(frame):
        frame = frame[key].astype("str")
        frame["concepts"] = frame["concepts"].map(lambda c: "; ".join(sorted(c.split("; "))))
        return frame.sort_values(key).reset_index(drop=True)

    pd.testing.assert_frame_equal(norm(f_items), norm(f_rows))


def test_screen_frame_maps_columns_and_accepts_numbers_and_missing_values(kb):
    df = pd.DataFrame({"member": [1, 2, 3], "drugs": ["Soma; Xanax", None, "Tylenol"], "years": [70.0, np.nan, 30]})
    findings, patients = screen_frame(df, knowledge=kb,
                                      columns={"patient_id": "member", "medications": "drugs", "age": "years"})
    assert patients["patient_id"].tolist() == [1, 2, 3]  # the caller's dtype (see test_notebook.py)
    assert patients["status"].astype("str").tolist() == ["findings", "invalid", "no-findings"]  # 2: no medication
    assert "carisoprodol at age 70 (rule: >=65)" in set(findings["title"].astype("str"))


@pytest.mark.parametrize("lisinopril", [1, 2])
def test_screen_frame_column_types_do_not_depend_on_how_many_patients_are_incomplete(kb, lisinopril):
    # One patient of three, or two, with an entry not checked: the unrecognized column is a categorical either way.
    drugs = ["lisinopril 10 mg"] * lisinopril + ["Soma; Xanax"] * (3 - lisinopril)
    _findings, patients = screen_frame(pd.DataFrame({"patient_id": ["a", "b", "c"], "medications": drugs}),
                                       knowledge=kb)
    assert patients["status"].astype("str").tolist().count("incomplete") == lisinopril
    assert isinstance(patients["unrecognized"].dtype, pd.CategoricalDtype)
    assert patients["unrecognized"].astype("str").str.startswith("lisinopril 10 mg (").sum() == lisinopril


def test_unknown_columns_are_refused_with_the_expected_ones_named(kb):
    with pytest.raises(InputError, match="cannot tell the layout"):
        screen_frame(pd.DataFrame({"id": [1], "drugs": ["Soma"]}), knowledge=kb)


def test_items_kind_errors_make_only_that_patient_invalid(kb):
    long = pd.DataFrame({"patient_id": ["a", "a", "b", ""], "kind": ["medication", "vitamin", "medication", "medication"],
                         "value": ["Soma", "C", "Soma", "Xanax"]})
    _findings, patients = screen_frame(long, knowledge=kb)
    status = dict(zip(patients["patient_id"], patients["status"].astype("str")))
    assert status == {"a": "invalid", "b": "no-findings", "": "invalid"}
    assert "kind 'vitamin' is not one of" in patients.loc[patients["patient_id"] == "a", "error"].iloc[0]


@pytest.mark.parametrize("call", [
    lambda kb: screen_frame(None, knowledge=kb),
    lambda kb: screen_frame("patients.csv", knowledge=kb),
    lambda kb: screen_frame(pd.DataFrame({"patient_id": ["1"], "medications": ["Soma"]}), knowledge=kb, columns="x"),
    lambda kb: screen_frame(pd.DataFrame({"patient_id": ["1"], "medications": ["Soma"]}), knowledge=kb,
                            layout="rows"),
])
def test_screen_frame_refuses_wrong_arguments_with_the_projects_own_error(kb, call):
    with pytest.raises(InputError):
        call(kb)
