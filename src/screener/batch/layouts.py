"""Turn blocks of rows in each layout into the engine's `Patients`.

* patients layout: each row is one patient (bad lines are invalid patients of their own);
* items layout: rows are grouped by patient id, in order of first appearance; a bad
  line or a row with an unknown kind makes its patient invalid.

Claims have their own module (`claims.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .engine import Lists, Patients, as_strings, lists_from_cells, lists_from_items, parse_ages
from .lazy_pandas import pandas
from .readers import ITEM_KINDS, BadRow

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def _trimmed_ids(values) -> tuple[pa.Array, np.ndarray]:
    """Trimmed patient ids (Arrow) and an error array ('missing patient_id' where blank)."""
    # Arrow trims a million ids in ~30 ms; pandas' .str.strip and comparisons took ~0.3 s.
    trimmed = pc.utf8_trim_whitespace(as_strings(values).cast(pa.string()))
    error = np.full(len(trimmed), "", dtype=object)
    error[pc.equal(pc.utf8_length(trimmed), 0).to_numpy(zero_copy_only=False)] = "missing patient_id"
    return trimmed, error


def _ids(frame: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
    """Trimmed patient ids (a str Series) and an error array ('missing patient_id' where blank)."""
    pd = pandas()

    trimmed, error = _trimmed_ids(frame["patient_id"])
    return pd.Series(trimmed.to_pandas(), dtype="str"), error


def bad_patients(bad: list[BadRow]) -> pd.DataFrame:
    """Bad lines as (patient_id, line, error) rows."""
    pd = pandas()

    return pd.DataFrame({
        "patient_id": pd.Series([b.patient_id for b in bad], dtype="str"),
        "line": np.asarray([b.line for b in bad], dtype=np.int64),
        "error": pd.Series([f"line {b.line}: {b.reason}" for b in bad], dtype="str"),
    })


def from_patients_layout(rows: pa.Table, bad: list[BadRow], sep: str = ";") -> Patients:
    """One patient per row, plus one invalid patient per bad line, in line order.

    `rows` is an Arrow table of the layout's columns and `line` (see `readers.Block`).
    """
    columns = {name: rows.column(name).combine_chunks().cast(pa.string()) if name != "line"
               else rows.column(name).combine_chunks() for name in rows.column_names}
    lines = columns["line"].to_numpy(zero_copy_only=False).astype(np.int64)
    bad_error = np.full(len(lines), "", dtype=object)
    if bad:
        # Each bad line is an invalid patient of its own, in its place among the rows.
        order = np.argsort(np.concatenate([lines, [b.line for b in bad]]), kind="stable")
        blank = pa.array([""] * len(bad), type=pa.string())
        for name in columns:
            if name == "line":
                continue
            extra = pa.array([b.patient_id for b in bad], type=pa.string()) if name == "patient_id" else blank
            columns[name] = pa.concat_arrays([columns[name], extra]).take(pa.array(order))
        bad_error = np.concatenate([bad_error, [f"line {b.line}: {b.reason}" for b in bad]]).astype(object)[order]
        lines = np.concatenate([lines, np.asarray([b.line for b in bad], dtype=np.int64)])[order]
    ids, error = _trimmed_ids(columns["patient_id"])
    error = np.where(bad_error != "", bad_error, error).astype(object)
    age = parse_ages(columns["age"], error)
    return Patients(
        patient_id=ids,
        line=lines,
        age=age,
        error=error,
        meds=lists_from_cells(columns["medications"], sep),
        conditions=lists_from_cells(columns["conditions"], sep),
        allergies=lists_from_cells(columns["allergies"], sep),
    )


def patient_errors(patient: np.ndarray, row_error: np.ndarray, n: int) -> np.ndarray:
    """Per patient, the error of its first bad row ('' when all its rows are good)."""
    error = np.full(n, "", dtype=object)
    has_error = np.flatnonzero(row_error != "")
    if len(has_error):
        owners, at = np.unique(patient[has_error], return_index=True)
        error[owners] = row_error[has_error[at]]
    return error


def group_ids(ids: pd.Series, lines: np.ndarray) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """(patient index of each row, patient ids, first line of each patient), first appearance order.

    Rows without an id cannot be grouped: each becomes a patient of its own.
    """
    pd = pandas()

    ids = ids.reset_index(drop=True)
    blank = (ids == "").to_numpy()
    keyed = ids.to_numpy(dtype=object).copy()
    # A blank id is its own patient: give it a key no real id can have.
    keyed[blank] = np.asarray([f"\x00{i}" for i in np.flatnonzero(blank)], dtype=object)
    codes, uniques = pd.factorize(pd.Series(keyed, dtype="str"), sort=False)
    n = len(uniques)
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, codes, lines)
    shown = pd.Series(np.where(pd.Series(uniques).str.startswith("\x00").to_numpy(), "",
                               np.asarray(uniques, dtype=object)), dtype="str")
    return codes.astype(np.int64), shown, first


def from_items_layout(frame: pd.DataFrame, bad: list[BadRow]) -> Patients:
    """Group (patient_id, kind, value) rows into patients."""
    pd = pandas()

    frame = frame.reset_index(drop=True)
    ids, row_error = _ids(frame)
    kind = frame["kind"].fillna("").astype("str").str.strip().str.casefold()
    value = frame["value"].fillna("").astype("str")
    lines = frame["line"].to_numpy(dtype=np.int64)
    known = kind.isin(ITEM_KINDS).to_numpy()
    for i in np.flatnonzero(~known & (row_error == "")):
        row_error[i] = (f"line {lines[i]}: kind '{frame['kind'].iloc[i]}' is not one of "
                        f"{', '.join(ITEM_KINDS)}")
    missing = (row_error == "missing patient_id")
    row_error[missing] = [f"line {ln}: missing patient_id" for ln in lines[missing]]
    if bad:
        extra = bad_patients(bad)
        ids = pd.concat([ids, extra["patient_id"]], ignore_index=True)
        lines = np.concatenate([lines, extra["line"].to_numpy()])
        row_error = np.concatenate([row_error, extra["error"].to_numpy(dtype=object)])
        kind = pd.concat([kind, pd.Series([""] * len(extra), dtype="str")], ignore_index=True)
        value = pd.concat([value, pd.Series([""] * len(extra), dtype="str")], ignore_index=True)
    order = np.argsort(lines, kind="stable")
    ids, kind, value = ids.iloc[order].reset_index(drop=True), kind.iloc[order].reset_index(drop=True), \
        value.iloc[order].reset_index(drop=True)
    lines, row_error = lines[order], row_error[order]
    patient, shown, first = group_ids(ids, lines)
    n = len(shown)
    error = patient_errors(patient, row_error, n)
    ages = kind == "age"
    age_values = pd.Series([""] * n, dtype="str")
    if ages.any():
        rows = np.flatnonzero(ages.to_numpy())
        per = pd.Series(value.iloc[rows].str.strip().to_numpy(), index=patient[rows])
        conflicting = per.groupby(level=0).nunique()
        for p in conflicting.index[conflicting.to_numpy() > 1]:
            if error[p] == "":
                error[p] = "more than one age given"
        firsts = per.groupby(level=0).first()
        age_values.iloc[firsts.index.to_numpy()] = firsts.to_numpy()
    age = parse_ages(age_values, error)

    def lists(which: str) -> Lists:
        rows = np.flatnonzero((kind == which).to_numpy())
        return lists_from_items(patient[rows], n, value.iloc[rows])

    return Patients(patient_id=shown, line=first, age=age, error=error,
                    meds=lists("medication"), conditions=lists("condition"), allergies=lists("allergy"))
