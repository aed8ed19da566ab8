"""Write batch results block by block: CSV, Parquet or JSON Lines.

The format comes from the file name (`.csv`, `.csv.gz`, `.parquet`, `.jsonl`) or is
named. Writers append one block at a time, so memory stays bounded.

CSV cells that a spreadsheet would run as a formula — text starting with `=`, `+`,
`-`, `@`, a tab or a carriage return — are written with a leading `'` (the OWASP
advice for CSV injection). Patient ids and medication text come from the input
file, so this matters. Parquet and JSON Lines keep values as they are.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from enum import Enum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import InputError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class TableFormat(str, Enum):
    """Formats of the findings and patients outputs."""

    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"

    def __str__(self) -> str:
        return self.value


EXTENSIONS = {
    TableFormat.CSV: (".csv", ".csv.gz"),
    TableFormat.PARQUET: (".parquet", ".pq"),
    TableFormat.JSONL: (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"),
}
"""The file names each output format is written under (a name with no extension is CSV)."""


def format_for(path: str | None, named: str | None = None) -> TableFormat:
    """The output format: named, else from the file name (CSV for stdout, a device or a name
    without an extension). InputError for an extension no format writes (`out.xlsx`), rather
    than CSV under a name that promises something else."""
    if named:
        return TableFormat(named)
    if not path or path == "-" or path.startswith("/dev/"):
        return TableFormat.CSV
    lower = path.lower()
    for fmt, endings in EXTENSIONS.items():
        if lower.endswith(endings):
            return fmt
    name = os.path.basename(lower)
    if "." not in name.lstrip("."):
        return TableFormat.CSV
    known = ", ".join(e for endings in EXTENSIONS.values() for e in endings)
    raise InputError(f"cannot write '{path}': '{os.path.splitext(name)[1]}' is not an output format; "
                     f"name the file with one of {known} (or give --output-format)")


def plain_table(rows) -> pa.Table:
    """Rows (an Arrow table or a pandas DataFrame) as an Arrow table of plain columns:
    dictionary columns decoded and large strings made ordinary, so every block has one schema."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
    for i, f in enumerate(table.schema):
        column = table.column(i)
        if pa.types.is_dictionary(f.type):
            column = column.cast(f.type.value_type)
        if pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        if column is not table.column(i):
            table = table.set_column(i, f.name, column)
    return table


def _risky(text) -> pa.Array:
    """Where text starts like a spreadsheet formula: its first character is one of FORMULA_START (a regular
    expression anchored at the start took five times as long over a column of a million patients' texts)."""
    # The value set is made here, not when the module is imported: `pa.array` then would import pandas
    # before the batch command defers it (`lazy_pandas`).
    starts = pa.array(FORMULA_START, type=pa.string())
    return pc.fill_null(pc.is_in(pc.utf8_slice_codeunits(text, 0, 1), value_set=starts), False)


def neutralise(table: pa.Table) -> pa.Table:
    """Prefix `'` to text cells that start like a spreadsheet formula (see the module docstring).

    Dictionary columns are checked on their distinct texts only.
    """
    for i, f in enumerate(table.schema):
        column = table.column(i)
        if pa.types.is_dictionary(f.type) and pa.types.is_string(f.type.value_type):
            chunks = []
            for chunk in column.chunks:
                texts = chunk.dictionary
                risky = _risky(texts)
                if len(texts) and pc.any(risky).as_py():
                    texts = pc.if_else(risky, pc.binary_join_element_wise("'", texts, ""), texts)
                    chunk = pa.DictionaryArray.from_arrays(chunk.indices, texts)
                chunks.append(chunk)
            column = pa.chunked_array(chunks, type=column.type) if chunks else column
        elif pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            risky = _risky(column)
            if len(column) and pc.any(risky).as_py():
                column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        else:
            continue
        table = table.set_column(i, f.name, column)
    return table


CSV_CHUNK_ROWS = 50_000
"""Rows encoded as CSV at a time. A block's findings, decoded and encoded whole, held several copies of text
that on a realistic population is ~45 times the block's input (8 MB in, 350 MB of findings out)."""


def csv_pieces(rows: pa.Table, header: bool = False) -> Iterator[bytes]:
    """Rows as CSV lines (after the header, when `header`), exactly as `Writer` writes them (formula cells
    neutralised), in pieces of `CSV_CHUNK_ROWS` rows: only one piece's text is ever decoded at a time, so
    that a worker process can encode its own block, and a large block is not held twice."""
    rows = neutralise(rows)  # once, over each dictionary's distinct texts, not once a piece
    for start in range(0, max(len(rows), 1), CSV_CHUNK_ROWS):
        sink = io.BytesIO()
        pacsv.write_csv(plain_table(rows.slice(start, CSV_CHUNK_ROWS)), sink, write_options=pacsv.WriteOptions(
            include_header=header and start == 0, quoting_style="needed"))
        yield sink.getvalue()


class EncodedRows:
    """A block of rows already encoded as CSV lines (`csv_pieces`), with the columns the run's
    summary counts (`status`) kept as a small table."""

    def __init__(self, body: list[bytes] | str, schema: pa.Schema, counted: pa.Table):
        self.body = body
        """The CSV lines, in pieces (`csv_pieces`), or the path of a file holding them, which `Writer.write`
        removes once it has appended it."""
        self.schema = schema
        """The columns of the encoded rows (for the header)."""
        self.counted = counted

    def column(self, name: str):
        """A counted column (see `Summary.add`)."""
        return self.counted.column(name)

    def __len__(self) -> int:
        return len(self.counted)


class Writer:
    """Appends blocks of rows to one output (a path, or stdout for None / '-')."""

    def __init__(self, path: str | None, fmt: TableFormat):
        self.path = None if path in (None, "-") else path
        self.format = fmt
        self.rows = 0
        # A file is written under a temporary name beside it and renamed only by `commit`, when the whole
        # run has succeeded: a failed or interrupted run leaves nothing that looks like a complete output.
        # A link is followed (its target is what gets replaced, the link stays); a device or a pipe
        # (/dev/null, a FIFO) is written directly: renaming over it would replace the device itself.
        self.partial: str | None = None
        if self.path is not None:
            target = os.path.realpath(self.path)
            special = self.path.startswith(("/dev/", "/proc/"))  # /dev/stdout may resolve to a regular file
            if not special and (not os.path.exists(target) or stat.S_ISREG(os.stat(target).st_mode)):
                self._target = target
                folder, name = os.path.split(target)
                self.partial = os.path.join(folder, f".{name}.{os.getpid()}.partial")
        self._started = False
        self._handle: Any = None
        """The binary stream written to (stdout, a file or a gzip file); None for Parquet."""
        self._parquet: Any = None
        self._schema = None
        if fmt is TableFormat.PARQUET and self.path is None:
            raise InputError("Parquet cannot be written to stdout; give a file with -o")

    def _open_text(self):
        if self.path is None:
            return sys.stdout.buffer
        where = self.partial or self.path
        if self.path.lower().endswith(".gz"):
            return gzip.open(where, "wb")
        return open(where, "wb")

    def write(self, rows) -> None:
        """Append `rows` (an Arrow table, a pandas DataFrame, or CSV `EncodedRows` for a CSV
        output; the first call also writes the header, even with no rows)."""
        if not self._started:
            self._handle = None if self.format is TableFormat.PARQUET else self._open_text()
        if isinstance(rows, EncodedRows):
            if self.format is not TableFormat.CSV:
                raise ValueError("rows encoded as CSV can only be written to a CSV output")
            if not self._started:
                self._write_csv(rows.schema.empty_table())
            if isinstance(rows.body, str):
                with open(rows.body, "rb") as spooled:
                    shutil.copyfileobj(spooled, self._handle, 1 << 20)
                os.remove(rows.body)
            else:
                for piece in rows.body:
                    self._handle.write(piece)
            self._started = True
            self.rows += len(rows)
            return
        table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
        if self.format is TableFormat.CSV:
            self._write_csv(table)
        elif self.format is TableFormat.JSONL:
            self._write_jsonl(plain_table(table))
        else:
            self._write_parquet(plain_table(table))
        self._started = True
        self.rows += len(table)

    def _write_csv(self, table: pa.Table) -> None:
        for piece in csv_pieces(table, header=not self._started):
            self._handle.write(piece)

    def _write_jsonl(self, table: pa.Table) -> None:
        if not len(table):
            return
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in table.to_pylist())
        self._handle.write(lines.encode("utf-8"))

    def _write_parquet(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self._parquet is None:
            self._schema = pa.schema([pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
                                      for f in table.schema])
            self._parquet = pq.ParquetWriter(self.partial or self.path, self._schema)
        self._parquet.write_table(table.cast(self._schema))

    def commit(self) -> None:
        """Give the finished output its name (after `close`, once the whole run has succeeded)."""
        if self.partial is not None and os.path.exists(self.partial):
            os.replace(self.partial, self._target)

    def discard(self) -> None:
        """Remove what was written of a run that failed or was interrupted."""
        for closing in (self._parquet, self._handle if self.path is not None else None):
            with contextlib.suppress(Exception):
                if closing is not None:
                    closing.close()
        self._parquet = self._handle = None
        if self.partial is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.partial)

    @property
    def restartable(self) -> bool:
        """True when what was written can be taken back and written again (a file, not stdout or a device)."""
        return self.partial is not None

    def restart(self) -> None:
        """Start the output again from nothing (after `discard`), for a run that reads its input again."""
        self.discard()
        self._started = False
        self._schema = None
        self.rows = 0

    def close(self, empty=None) -> None:
        """Finish the output; `empty` (a frame with the right columns) is written if nothing was.
        A file keeps its temporary name until `commit`."""
        if not self._started and empty is not None:
            self.write(empty)
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            if self.path is None:
                self._handle.flush()
            else:
                self._handle.close()
