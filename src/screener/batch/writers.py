"""Write batch results block by block: CSV, Parquet or JSON Lines.

The format comes from the file name (`.csv`, `.csv.gz`, `.parquet`, `.jsonl`) or is
named. Writers append one block at a time, so memory stays bounded.

CSV cells that a spreadsheet would run as a formula — text starting with `=`, `+`,
`-`, `@`, a tab or a carriage return — are written with a leading `'` (the OWASP
advice for CSV injection). Patient ids and medication text come from the input
file, so this matters. Parquet and JSON Lines keep values as they are.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from enum import Enum

import numpy as np
import pandas as pd

from ..errors import InputError

try:
    import pyarrow as pa
    import pyarrow.csv as pacsv
except ImportError:  # pragma: no cover
    pa = pacsv = None

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class OutputFormat(str, Enum):
    """Formats of the findings and patients outputs."""

    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"

    def __str__(self) -> str:
        return self.value


def format_for(path: str | None, named: str | None = None) -> OutputFormat:
    """The output format: named, else from the file name, else CSV."""
    if named:
        return OutputFormat(named)
    if path and path != "-":
        lower = path.lower()
        if lower.endswith((".parquet", ".pq")):
            return OutputFormat.PARQUET
        if lower.endswith((".jsonl", ".ndjson", ".jsonl.gz")):
            return OutputFormat.JSONL
    return OutputFormat.CSV


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix `'` to text cells that start like a spreadsheet formula (see the module docstring)."""
    out = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = column.cat.categories.astype("str")
            risky = categories.str.startswith(FORMULA_START)
            if risky.any():
                fixed = categories.where(~risky, "'" + categories)
                if fixed.is_unique:
                    column = column.cat.rename_categories(fixed)
                else:
                    column = column.astype("str")
                    column = column.where(~column.str.startswith(FORMULA_START), "'" + column)
        elif pd.api.types.is_string_dtype(column) and len(column):
            text = column.fillna("").astype("str")
            risky = text.str.startswith(FORMULA_START)
            if risky.any():
                column = text.where(~risky, "'" + text)
        out[name] = column
    return pd.DataFrame(out, index=frame.index)


class Writer:
    """Appends blocks of rows to one output (a path, or stdout for None / '-')."""

    def __init__(self, path: str | None, fmt: OutputFormat):
        self.path = None if path in (None, "-") else path
        self.format = fmt
        self.rows = 0
        self._started = False
        self._handle = None
        self._parquet = None
        self._schema = None
        if fmt is OutputFormat.PARQUET:
            if pa is None:
                raise InputError("Parquet output needs pyarrow: pip install 'screener[parquet]'")
            if self.path is None:
                raise InputError("Parquet cannot be written to stdout; give a file with -o")

    def _open_text(self):
        if self.path is None:
            return sys.stdout.buffer
        if self.path.lower().endswith(".gz"):
            return gzip.open(self.path, "wb")
        return open(self.path, "wb")

    def write(self, frame: pd.DataFrame) -> None:
        """Append the rows of `frame` (the first call also writes the header, even with no rows)."""
        if not self._started:
            self._handle = None if self.format is OutputFormat.PARQUET else self._open_text()
        if self.format is OutputFormat.CSV:
            self._write_csv(neutralise(frame))
        elif self.format is OutputFormat.JSONL:
            self._write_jsonl(frame)
        else:
            self._write_parquet(frame)
        self._started = True
        self.rows += len(frame)

    def _write_csv(self, frame: pd.DataFrame) -> None:
        if pa is not None:
            table = _plain_table(frame)
            sink = io.BytesIO()
            pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(
                include_header=not self._started, quoting_style="needed"))
            self._handle.write(sink.getvalue())
        else:
            self._handle.write(frame.to_csv(index=False, header=not self._started, lineterminator="\n")
                               .encode("utf-8"))

    def _write_jsonl(self, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        records = frame.to_dict(orient="records")
        lines = "".join(json.dumps({k: _plain(v) for k, v in r.items()}, ensure_ascii=False) + "\n" for r in records)
        self._handle.write(lines.encode("utf-8"))

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        import pyarrow.parquet as pq

        table = _plain_table(frame)
        if self._parquet is None:
            self._schema = pa.schema([pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
                                      for f in table.schema])
            self._parquet = pq.ParquetWriter(self.path, self._schema)
        self._parquet.write_table(table.cast(self._schema))

    def close(self, empty: pd.DataFrame | None = None) -> None:
        """Finish the output; `empty` (a frame with the right columns) is written if nothing was."""
        if not self._started and empty is not None:
            self.write(empty)
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            if self.path is None:
                self._handle.flush()
            else:
                self._handle.close()


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def _plain_table(frame: pd.DataFrame):
    """An Arrow table with categoricals decoded to plain strings (same schema for every block)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
        if pa.types.is_large_string(table.schema.field(i).type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    return table
