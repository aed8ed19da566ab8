"""Turn blocks of rows in each layout into the engine's `Patients`.

* patients layout: each row is one patient, and rows sharing a patient id are merged
  into one (their entries together, at the line of the first; different ages make
  the patient invalid); a bad line is an invalid patient of its own, or makes the
  patient of its id invalid;
* items layout: rows are grouped by patient id, in order of first appearance; a bad
  line or a row with an unknown kind makes its patient invalid.

In both, a patient with more than `MAX_ENTRIES` entries is invalid with the reason,
and its entries are not read (one cell of a million entries must not stall a run). A cell's
entries are counted as they would be screened: distinct and not empty, in a cell as in the
rows of the items layout.

Claims have their own module (`claims.py`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .engine import Lists, Patients, as_strings, lists_from_cells, lists_from_items, parse_ages
from .lazy_pandas import pandas
from .readers import ITEM_KINDS, BadRow

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MAX_ENTRIES = 1000
"""The most entries (medications, conditions and allergies together) one patient may have: above
it the patient is invalid, with the reason. A real list is far shorter; a longer one is a broken
export, and reading it would hold up the run."""


def too_many_entries(count: int) -> str:
    """Why a patient over `MAX_ENTRIES` is invalid."""
    return (f"{count:,} entries: at most {MAX_ENTRIES:,} are screened for one patient "
            "(check the export for a broken row)")


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
    """One patient per patient id (rows sharing an id merged), plus one invalid patient per bad
    line whose id no row has, in line order.

    `rows` is an Arrow table of the layout's columns and `line` (see `readers.Block`).
    """
    columns = {name: rows.column(name).combine_chunks().cast(pa.string()) if name not in ("line", "input_file")
               else rows.column(name).combine_chunks() for name in rows.column_names}
    lines = columns["line"].to_numpy(zero_copy_only=False).astype(np.int64)
    bad_error = np.full(len(lines), "", dtype=object)
    if bad:
        # Each bad line is an invalid patient of its own, in its place among the rows.
        order = np.argsort(np.concatenate([row_keys(lines, columns.get("input_file")),
                                           [row_key(b.line, b.source) for b in bad]]), kind="stable")
        blank = pa.array([""] * len(bad), type=pa.string())
        for name in columns:
            if name == "line":
                continue
            if name == "input_file":
                extra = pa.array([b.source for b in bad], type=pa.int32())
            else:
                extra = pa.array([b.patient_id for b in bad], type=pa.string()) if name == "patient_id" else blank
            columns[name] = pa.concat_arrays([columns[name], extra]).take(pa.array(order))
        bad_error = np.concatenate([bad_error, [f"line {b.line}: {b.reason}" for b in bad]]).astype(object)[order]
        lines = np.concatenate([lines, np.asarray([b.line for b in bad], dtype=np.int64)])[order]
    ids, error = _trimmed_ids(columns["patient_id"])
    error = np.where(bad_error != "", bad_error, error).astype(object)
    columns["patient_id"] = ids
    columns, lines, error = _merge_same_ids(columns, lines, error, sep)
    ids = columns["patient_id"]
    _cap_cells(columns, error, sep)
    age = parse_ages(columns["age"], error)
    source = columns.get("input_file")
    return Patients(
        patient_id=ids,
        line=lines,
        age=age,
        error=error,
        meds=lists_from_cells(columns["medications"], sep),
        conditions=lists_from_cells(columns["conditions"], sep),
        allergies=lists_from_cells(columns["allergies"], sep),
        source=None if source is None else source.to_numpy(zero_copy_only=False).astype(np.int32),
    )


SOURCE_SHIFT = 40
"""Rows of several files are ordered by (file, line): the file number above bit 40 of one integer."""


def row_key(line: int, source: int) -> int:
    return (source << SOURCE_SHIFT) | line


def row_keys(lines: np.ndarray, source) -> np.ndarray:
    """The order of rows by (file, line) as one integer each (`source` None: one file, the line)."""
    if source is None:
        return lines
    files = source.to_numpy(zero_copy_only=False) if hasattr(source, "to_numpy") else np.asarray(source)
    return (files.astype(np.int64) << SOURCE_SHIFT) | lines


LIST_COLUMNS = ("medications", "conditions", "allergies")


def _merge_same_ids(columns: dict, lines: np.ndarray, error: np.ndarray, sep: str):
    """Rows sharing a (non-blank) patient id as one row: the entries of all, the line of the first.

    Different ages, or a row that could not be read, make the merged patient invalid with the
    reason. Costs one hash of the ids when no id repeats (the usual case).
    """
    ids = columns["patient_id"]
    encoded = pc.dictionary_encode(ids)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.bincount(codes, minlength=len(encoded.dictionary))
    blank = pc.equal(pc.utf8_length(encoded.dictionary), 0).to_numpy(zero_copy_only=False)
    repeated = (counts > 1) & ~blank
    if not repeated.any():
        return columns, lines, error
    keep = ~repeated[codes]
    cells = {name: columns[name].to_pylist() for name in (*LIST_COLUMNS, "age")}
    split = re.compile(f"{re.escape(sep)}|\r?\n")
    # The rows of every repeated id at once, by (id, file, line): one sort, not one scan per id.
    rows = np.flatnonzero(repeated[codes])
    rows = rows[np.lexsort((row_keys(lines, columns.get("input_file"))[rows], codes[rows]))]
    groups = np.split(rows, np.flatnonzero(np.diff(codes[rows])) + 1)
    for members in groups:
        code = int(codes[members[0]])
        head = int(members[0])
        keep[head] = True
        for name in LIST_COLUMNS:
            # The same entry on two rows (a patient exported twice) is one entry, not a duplicate therapy.
            kept: dict[str, str] = {}
            for i in members:
                for piece in split.split(cells[name][i]):
                    if piece.strip():
                        kept.setdefault(piece.strip().casefold(), piece.strip())
            cells[name][head] = sep.join(kept.values())
        ages = sorted({cells["age"][i].strip() for i in members} - {""})
        cells["age"][head] = ages[0] if ages else ""
        shown = ", ".join(str(int(lines[i])) for i in members)
        problems = [error[i] for i in members if error[i]]
        if problems:
            error[head] = problems[0] + f" (patient '{encoded.dictionary[code]}' is on lines {shown})"
        elif len(ages) > 1:
            error[head] = f"rows on lines {shown} give different ages ({', '.join(ages)})"
    for name in (*LIST_COLUMNS, "age"):
        columns[name] = pa.array(cells[name], type=pa.string())
    take = pa.array(np.flatnonzero(keep))
    columns = {name: (column.take(take) if name != "line" else column) for name, column in columns.items()}

    return columns, lines[keep], error[keep]


def _cap_cells(columns: dict, error: np.ndarray, sep: str) -> None:
    """Patients over `MAX_ENTRIES` entries: invalid, with their cells emptied so they are not read."""
    # Over the cap a patient's cells hold at least MAX_ENTRIES separators: only rows that long are counted.
    lengths = sum(pc.binary_length(columns[name]).to_numpy(zero_copy_only=False) for name in LIST_COLUMNS)
    long = np.flatnonzero(lengths >= MAX_ENTRIES)
    if not len(long):
        return
    pieces = np.zeros(len(error), dtype=np.int64)
    at = pa.array(long)
    for name in LIST_COLUMNS:
        # The entries that would be screened: distinct, not empty (`1000 entries;` is 1,000, and the same
        # entry twice in a cell counts once, as it does in two rows of one patient).
        for row, cell in zip(long.tolist(), columns[name].take(at).to_pylist()):
            if cell:
                pieces[row] += len({part.strip() for part in cell.replace("\n", sep).split(sep)} - {""})
    over = pieces > MAX_ENTRIES
    if not over.any():
        return
    for i in np.flatnonzero(over & (error == "")):
        error[i] = too_many_entries(pieces[i])
    mask = pa.array(over)
    for name in LIST_COLUMNS:
        columns[name] = pc.if_else(mask, "", columns[name])


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


def _over_the_cap(patient: np.ndarray, n: int, kind: pd.Series, value: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(over `MAX_ENTRIES`, entries) per patient of the items layout, counted as they would be screened:
    distinct (kind, value) rows, not empty, ages apart (a value given twice counts once, as in a cell)."""
    pd = pandas()
    entry = (kind != "age").to_numpy()
    rows = np.bincount(patient[entry], minlength=n)
    # Only a patient with more rows than the cap can be over it: the others are not counted again.
    long = rows > MAX_ENTRIES
    entries = rows.copy()
    if long.any():
        mine = np.flatnonzero(entry & long[patient])
        distinct = pd.DataFrame({"patient": patient[mine], "kind": kind.to_numpy()[mine],
                                 "value": value.iloc[mine].str.strip().to_numpy()})
        distinct = distinct[distinct["value"] != ""].drop_duplicates()
        entries[long] = np.bincount(distinct["patient"].to_numpy(), minlength=n)[long]
    return entries > MAX_ENTRIES, entries


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
    sources = frame["input_file"].to_numpy(dtype=np.int64) if "input_file" in frame else None
    if bad:
        extra = bad_patients(bad)
        ids = pd.concat([ids, extra["patient_id"]], ignore_index=True)
        lines = np.concatenate([lines, extra["line"].to_numpy()])
        row_error = np.concatenate([row_error, extra["error"].to_numpy(dtype=object)])
        kind = pd.concat([kind, pd.Series([""] * len(extra), dtype="str")], ignore_index=True)
        value = pd.concat([value, pd.Series([""] * len(extra), dtype="str")], ignore_index=True)
        if sources is not None:
            sources = np.concatenate([sources, np.asarray([b.source for b in bad], dtype=np.int64)])
    keys = row_keys(lines, sources)
    order = np.argsort(keys, kind="stable")
    ids, kind, value = ids.iloc[order].reset_index(drop=True), kind.iloc[order].reset_index(drop=True), \
        value.iloc[order].reset_index(drop=True)
    lines, row_error = lines[order], row_error[order]
    patient, shown, first_key = group_ids(ids, keys[order])
    first = first_key & ((1 << SOURCE_SHIFT) - 1)
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
    over, entries = _over_the_cap(patient, n, kind, value)
    for p in np.flatnonzero(over & (error == "")):
        error[p] = too_many_entries(entries[p])

    def lists(which: str) -> Lists:
        rows = np.flatnonzero((kind == which).to_numpy() & ~over[patient])
        return lists_from_items(patient[rows], n, value.iloc[rows])

    return Patients(patient_id=shown, line=first, age=age, error=error,
                    meds=lists("medication"), conditions=lists("condition"), allergies=lists("allergy"),
                    source=None if sources is None else (first_key >> SOURCE_SHIFT).astype(np.int32))
