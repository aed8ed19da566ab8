"""Read batch inputs: CSV (plain or gzip), Parquet, or stdin, in bounded blocks.

Three layouts are understood, detected from the header (or named with `layout=`):

* `patients` — one row per patient: `patient_id`, `medications` (entries separated
  by `;`), optional `conditions`, `allergies` (same separator) and `age`;
* `items` — one row per item: `patient_id`, `kind` (medication | condition |
  allergy | age), `value`;
* `claims` — pharmacy claims: `patient_id`, `drug` or `ndc` (or both), `fill_date`,
  `days_supply`, optional `quantity` and `strength`.

Column names can be mapped (`{"patient_id": "member_id"}`: canonical name → the
name in the file).

A CSV file is read in blocks of whole lines. Each physical line is one record:
a quoted value may not span lines, so an unbalanced quote damages only its own
line. A line that cannot be read — unbalanced quotes, the wrong number of
fields, bytes that are not UTF-8 — becomes a *bad row* with its line number,
the best guess at its patient id and the reason; the run goes on. Blank lines
are skipped. Every block comes back as an Arrow table of strings (missing
cells are empty strings) with a `line` column (1-based line number in the
file; for Parquet, the row number plus one); `Block.frame` gives it as a pandas
DataFrame for the layouts that group rows with pandas. pandas is not imported
on the one-row-per-patient path: that import alone took longer than parsing a
million rows.

The fast path parses a block with pyarrow and only scans its bytes line by
line when the parser reports a problem, so clean files cost one parse.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import InputError
from .lazy_pandas import pandas

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

DEFAULT_BLOCK_BYTES = 8 << 20
"""Bytes of CSV read at a time: memory is bounded by this, not by the input size."""
DEFAULT_WINDOW = 90
"""Days of the rolling window for carisoprodol's duration check in claims (`--window`)."""


class Layout(str, Enum):
    """How the input file is laid out."""

    PATIENTS = "patients"
    """One row per patient: patient_id, medications, conditions, allergies, age."""
    ITEMS = "items"
    """One row per item: patient_id, kind, value."""
    CLAIMS = "claims"
    """Pharmacy claims: patient_id, drug and/or ndc, fill_date, days_supply, quantity, strength."""

    def __str__(self) -> str:
        return self.value


COLUMNS: dict[Layout, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Layout.PATIENTS: (("patient_id", "medications"), ("conditions", "allergies", "age")),
    Layout.ITEMS: (("patient_id", "kind", "value"), ()),
    Layout.CLAIMS: (("patient_id", "fill_date", "days_supply"), ("drug", "ndc", "quantity", "strength")),
}
"""Required and optional canonical columns of each layout."""
ONE_OF: dict[Layout, tuple[str, ...]] = {Layout.CLAIMS: ("drug", "ndc")}
"""Columns of which a layout needs at least one (a claim names its drug by text, by NDC, or both)."""

ITEM_KINDS = ("medication", "condition", "allergy", "age")


@dataclass
class BadRow:
    """A line that could not be read as a row."""

    line: int
    """1-based line number in the file."""
    patient_id: str
    """The first field of the line, as far as it could be read ('' if none)."""
    reason: str
    """Why it could not be read, in one line."""


class Block:
    """One block of rows as strings, plus the lines that could not be read.

    The rows are an Arrow table or a pandas DataFrame (canonical columns, strings,
    '' when missing, and `line`); `table` and `frame` give them either way.
    """

    def __init__(self, rows: pa.Table | pd.DataFrame, bad: list[BadRow] | None = None, nbytes: int = 0):
        self.rows = rows
        self.bad: list[BadRow] = bad if bad is not None else []
        """Unreadable lines of this block, in file order."""
        self.nbytes = nbytes
        """Input bytes this block covers (for progress)."""

    @property
    def table(self) -> pa.Table:
        """The rows as an Arrow table."""
        if not isinstance(self.rows, pa.Table):
            self.rows = pa.Table.from_pandas(self.rows, preserve_index=False)
        return self.rows

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame (imports pandas)."""
        if isinstance(self.rows, pa.Table):
            pandas()
            self.rows = self.rows.to_pandas()
        return self.rows

    def __len__(self) -> int:
        return len(self.rows)


def detect_layout(header: list[str], columns: dict[str, str] | None = None) -> Layout:
    """The layout whose required columns are all in `header` (after mapping), or InputError."""
    names = set(_rename(header, columns))
    for layout in (Layout.CLAIMS, Layout.ITEMS, Layout.PATIENTS):
        if set(COLUMNS[layout][0]) <= names and (layout not in ONE_OF or names & set(ONE_OF[layout])):
            return layout
    wanted = "; ".join(f"{layout.value}: {', '.join(_required_text(layout))}" for layout in Layout)
    raise InputError(f"cannot tell the layout from the header ({', '.join(header)}); "
                     f"expected the columns of one of {wanted}, or map names with --column")


def _required_text(layout: Layout) -> list[str]:
    required = list(COLUMNS[layout][0])
    if layout in ONE_OF:
        required.insert(1, " or ".join(ONE_OF[layout]))
    return required


def _rename(header: list[str], columns: dict[str, str] | None) -> list[str]:
    """Header names mapped to canonical names; names are compared case-insensitively, trimmed."""
    back = {v.strip().casefold(): k for k, v in (columns or {}).items()}
    return [back.get(h.strip().casefold(), h.strip().casefold()) for h in header]


def canonical_columns(header: list[str], layout: Layout, columns: dict[str, str] | None) -> list[str | None]:
    """For each header field, its canonical column name, or None when it is not used."""
    renamed = _rename(header, columns)
    required, optional = COLUMNS[layout]
    missing = [c for c in required if c not in renamed]
    if layout in ONE_OF and not set(ONE_OF[layout]) & set(renamed):
        missing.append(" or ".join(ONE_OF[layout]))
    if missing:
        shown = ", ".join(f"{c} (mapped from '{columns[c]}')" if columns and c in columns else c for c in missing)
        raise InputError(f"the {layout.value} layout needs the column(s) {shown}; the header has: {', '.join(header)}")
    seen: set[str] = set()
    out: list[str | None] = []
    for name in renamed:
        if name in required or name in optional:
            if name in seen:
                raise InputError(f"column '{name}' appears twice in the header")
            seen.add(name)
            out.append(name)
        else:
            out.append(None)
    return out


# --- sources ------------------------------------------------------------------


def expand_inputs(spec: str) -> list[str]:
    """A path, a glob of paths (sorted), or '-' for stdin; InputError when nothing matches."""
    if spec == "-":
        return ["-"]
    if any(ch in spec for ch in "*?["):
        paths = sorted(glob.glob(spec))
        if not paths:
            raise InputError(f"no file matches '{spec}'")
        return paths
    if not os.path.exists(spec):
        raise InputError(f"input file not found: {spec}")
    return [spec]


def is_parquet(path: str) -> bool:
    """True for a Parquet file (by name or by its PAR1 magic bytes)."""
    if path == "-":
        return False
    if path.lower().endswith((".parquet", ".pq")):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False


def open_binary(path: str):
    """A binary stream of the input at `path` ('-': stdin), gunzipped when it is gzip."""
    if path == "-":
        raw = sys.stdin.buffer
        return gzip.GzipFile(fileobj=raw) if _peek_gzip(raw) else raw
    handle = open(path, "rb")  # noqa: SIM115 - the caller owns the stream (or the gzip over it)
    if handle.read(2) == b"\x1f\x8b":
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle)
    handle.seek(0)
    return handle


def _peek_gzip(raw) -> bool:
    peek = getattr(raw, "peek", None)
    return bool(peek and peek(2)[:2] == b"\x1f\x8b")


def input_size(path: str) -> int | None:
    """Size in bytes (compressed size for gzip), or None for stdin."""
    return None if path == "-" else os.path.getsize(path)


def header_fields(line: bytes) -> list[str]:
    """The column names of a CSV header line (raises InputError for an empty input)."""
    if not line.strip():
        raise InputError("the input is empty: no header line")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the header line is not valid UTF-8; convert the file to UTF-8") from None
    try:
        return next(csv.reader([text.rstrip("\r\n")], strict=True))
    except csv.Error as exc:
        raise InputError(f"cannot read the header line: {exc}") from None


def iter_blocks(path: str, layout: Layout | None = None, columns: dict[str, str] | None = None,
                block_bytes: int = DEFAULT_BLOCK_BYTES) -> tuple[Layout, Iterator[Block]]:
    """The layout of `path` and an iterator over its blocks (see the module docstring)."""
    if is_parquet(path):
        return _parquet_blocks(path, layout, columns)
    handle = open_binary(path)
    header_line = handle.readline()
    header = header_fields(header_line)
    layout = layout or detect_layout(header, columns)
    names = canonical_columns(header, layout, columns)
    return layout, _csv_blocks(handle, path, header, names, layout, block_bytes)


def _csv_blocks(handle, path, header, names, layout, block_bytes) -> Iterator[Block]:
    for data, first_line, nbytes in raw_csv_blocks(handle, path, block_bytes):
        out = parse_block(data, header, names, layout, first_line)
        out.nbytes = nbytes
        yield out


def raw_csv_blocks(handle, path, block_bytes) -> Iterator[tuple[bytes, int, int]]:
    """(whole lines, number of the first line, bytes read) of a CSV body, block by block."""
    line_no = 2  # the header is line 1
    rest = b""
    try:
        while True:
            chunk = handle.read(block_bytes)
            data = rest + chunk if rest else chunk
            if not chunk:
                if data:
                    if not data.endswith(b"\n"):
                        data += b"\n"
                    yield data, line_no, 0
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1:]
            block = data[: cut + 1]
            yield block, line_no, len(chunk)
            line_no += block.count(b"\n")
    finally:
        if path != "-":
            handle.close()


@dataclass(frozen=True)
class FileSlice:
    """Whole lines of a plain file, by position: what a worker process reads for itself."""

    path: str
    start: int
    length: int

    def read(self) -> bytes:
        """The bytes of the slice (ending with a newline, as `raw_csv_blocks` gives them)."""
        with open(self.path, "rb") as handle:
            handle.seek(self.start)
            data = handle.read(self.length)
        return data if data.endswith(b"\n") else data + b"\n"


def iter_raw_blocks(path: str, layout: Layout | None = None, columns: dict[str, str] | None = None,
                    block_bytes: int = DEFAULT_BLOCK_BYTES):
    """For a CSV input: (layout, header, canonical names, raw blocks), the blocks unparsed (see
    `raw_csv_blocks`), so that other processes can parse them; None for Parquet.

    For a plain (uncompressed) file a block is a `FileSlice` instead of its bytes, so that
    only its position, not megabytes of text, is sent to the process that screens it.
    """
    if is_parquet(path):
        return None
    handle = open_binary(path)
    header = header_fields(handle.readline())
    layout = layout or detect_layout(header, columns)
    if path != "-" and isinstance(handle, io.BufferedReader):
        start = handle.tell()
        handle.close()
        blocks: Iterator[tuple[FileSlice | bytes, int, int]] = _file_slices(path, start, block_bytes)
    else:
        blocks = raw_csv_blocks(handle, path, block_bytes)
    return layout, header, canonical_columns(header, layout, columns), blocks


def _file_slices(path: str, start: int, block_bytes: int) -> Iterator[tuple[FileSlice, int, int]]:
    """(slice of whole lines, number of its first line, its size) of a plain file, block by block.

    Only positions leave this process. Each block is read into one reused buffer to
    find its last line end and count its lines (numpy): reading blocks into new
    Python bytes and joining each to the previous tail copied every byte twice.
    """
    buffer = bytearray(block_bytes)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        line, pos = 2, start  # the header is line 1
        while pos < size:
            handle.seek(pos)
            n = handle.readinto(view)
            if not n:
                return
            if pos + n < size:
                cut = buffer.rfind(b"\n", 0, n)
                if cut >= 0:
                    n = cut + 1
                    lines = int(np.count_nonzero(np.frombuffer(buffer, dtype=np.uint8, count=n) == 10))
                else:
                    n, lines = _long_line(handle, view, pos + n, size), 1
                    n -= pos
            else:
                lines = int(np.count_nonzero(np.frombuffer(buffer, dtype=np.uint8, count=n) == 10))
            yield FileSlice(path, pos, n), line, n
            line += lines
            pos += n


def _long_line(handle, view: memoryview, at: int, size: int) -> int:
    """Where a line longer than a block ends (just past its newline, or the end of the file)."""
    while at < size:
        n = handle.readinto(view)
        if not n:
            break
        cut = bytes(view[:n]).find(b"\n")
        if cut >= 0:
            return at + cut + 1
        at += n
    return size


def _parquet_blocks(path, layout, columns) -> tuple[Layout, Iterator[Block]]:
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    header = list(file.schema_arrow.names)
    layout = layout or detect_layout(header, columns)
    names = canonical_columns(header, layout, columns)
    used = [h for h, n in zip(header, names) if n]

    def blocks() -> Iterator[Block]:
        start = 1
        for group in range(file.num_row_groups):
            table = file.read_row_group(group, columns=used)
            rows = _strings(table, [n for n in names if n], layout)
            rows = rows.append_column("line", pa.array(np.arange(start, start + len(rows), dtype=np.int64)))
            start += len(rows)
            yield Block(rows, [], nbytes=file.metadata.row_group(group).total_byte_size)

    return layout, blocks()


def _strings(table, names: list[str], layout: Layout) -> pa.Table:
    """An Arrow table as string columns, '' for missing, all canonical columns present."""
    out = {}
    for name, column in zip(names, table.columns):
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
                column = pc.strftime(column, format="%Y-%m-%d")
            else:
                column = pc.cast(column, pa.string())
        out[name] = pc.fill_null(column, "")
    return _complete_table(out, layout, table.num_rows)


def _complete_table(columns: dict, layout: Layout, n: int) -> pa.Table:
    """A table of the given string columns plus empty ones for the layout's missing columns."""
    required, optional = COLUMNS[layout]
    empty = None
    for name in (*required, *optional):
        if name not in columns:
            if empty is None:
                empty = pa.repeat(pa.scalar("", pa.string()), n)
            columns[name] = empty
    return pa.table(columns)


def _complete(frame: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    pd = pandas()

    required, optional = COLUMNS[layout]
    for name in (*required, *optional):
        if name not in frame:
            frame[name] = pd.Series([""] * len(frame), dtype="str", index=frame.index)
    return frame


# --- parsing one block of lines ---------------------------------------------------


def parse_block(block: bytes, header: list[str], names: list[str | None], layout: Layout,
                first_line: int) -> Block:
    """Parse whole lines `block` (starting at line `first_line`) into a Block."""
    fast = _arrow_fast(block, header, names, layout, first_line)
    if fast is not None:
        return fast
    return _arrow_careful(block, header, names, layout, first_line)


def _convert(header: list[str]):
    return pacsv.ConvertOptions(
        column_types={h: pa.string() for h in header},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


def _arrow_parse(data: bytes, header: list[str]):
    """Parse header-less CSV bytes; returns (table, number of rows the parser refused)."""
    refused = [0]

    def handler(row) -> str:
        refused[0] += 1
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=[f"c{i}" for i in range(len(header))],
                                       block_size=max(1 << 20, min(len(data) + 1, 64 << 20))),
        parse_options=pacsv.ParseOptions(invalid_row_handler=handler),
        convert_options=_convert([f"c{i}" for i in range(len(header))]),
    )
    return table, refused[0]


def _arrow_rows(table, names: list[str | None], layout: Layout, lines: np.ndarray) -> pa.Table:
    """The parsed columns under their canonical names, the missing ones empty, and `line`."""
    rows = _complete_table({n: table.column(i) for i, n in enumerate(names) if n}, layout, table.num_rows)
    return rows.append_column("line", pa.array(lines, type=pa.int64()))


def _arrow_fast(block, header, names, layout, first_line) -> Block | None:
    """Parse the block in one go; None when the parser met anything odd (then read line by line)."""
    n_lines = block.count(b"\n")
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None  # find the lines with bad bytes one by one
    try:
        table, refused = _arrow_parse(block, header)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    # Every line became exactly one row only if nothing was refused and no line was
    # skipped as blank or swallowed by a quote running across lines.
    if refused or table.num_rows != n_lines:
        return None
    return Block(_arrow_rows(table, names, layout, np.arange(first_line, first_line + n_lines, dtype=np.int64)))


def _line_bounds(block: bytes) -> tuple[np.ndarray, np.ndarray]:
    buf = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.empty_like(ends)
    starts[0:1] = 0
    starts[1:] = ends[:-1] + 1
    return starts, ends


def _arrow_careful(block, header, names, layout, first_line) -> Block:
    """Find the lines that cannot be read, cut them out, and parse the rest."""
    starts, ends = _line_bounds(block)
    buf = np.frombuffer(block, dtype=np.uint8)
    n = len(ends)
    status = np.zeros(n, dtype=np.int8)  # 0 good, 1 blank, 2 bad
    reasons: dict[int, str] = {}
    trimmed = ends - (buf[np.maximum(ends - 1, 0)] == 13) * (ends > starts)
    blank = trimmed == starts
    status[blank] = 1
    expected = len(header)
    # Field counts of lines without quotes: their commas (vectorised).
    commas = np.flatnonzero(buf == 44)
    per_line = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    quotes = np.flatnonzero(buf == 34)
    quoted = np.zeros(n, dtype=bool)
    if len(quotes):
        quoted[np.searchsorted(ends, quotes)] = True
    high = np.flatnonzero(buf >= 128)
    odd = np.zeros(n, dtype=bool)
    if len(high):
        odd[np.unique(np.searchsorted(ends, high))] = True
    for i in np.flatnonzero(~quoted & ~odd & ~blank & (per_line + 1 != expected)):
        status[i] = 2
        reasons[int(i)] = f"{per_line[i] + 1} fields, expected {expected}"
    for i in np.flatnonzero((quoted | odd) & ~blank):
        raw = block[starts[i]:trimmed[i]]
        problem = _line_problem(raw, expected)
        if problem:
            status[i] = 2
            reasons[int(i)] = problem
    good = status == 0
    bad = [BadRow(first_line + int(i), _guess_id(block[starts[i]:trimmed[i]]), reasons[int(i)])
           for i in np.flatnonzero(status == 2)]
    lines = first_line + np.flatnonzero(good).astype(np.int64)
    if good.all():
        data = block
    else:
        # Cut out the runs of lines that are not good: few, so few slices.
        change = np.flatnonzero(np.diff(np.concatenate(([0], good.view(np.int8), [0]))))
        data = b"".join(block[starts[a]:ends[b - 1] + 1] for a, b in zip(change[::2], change[1::2]))
    if not len(lines):
        table = None
    else:
        try:
            table, refused = _arrow_parse(data, header)
        except (pa.ArrowInvalid, UnicodeDecodeError):
            table, refused = None, 1
        if table is None or refused or table.num_rows != len(lines):
            return _python_block(block, header, names, layout, first_line)
    if table is None:
        return Block(_empty_rows(layout), bad)
    return Block(_arrow_rows(table, names, layout, lines), bad)


def _empty_rows(layout: Layout) -> pa.Table:
    required, optional = COLUMNS[layout]
    return pa.table({**{c: pa.array([], type=pa.string()) for c in (*required, *optional)},
                     "line": pa.array([], type=pa.int64())})


def _empty_frame(layout: Layout) -> pd.DataFrame:
    pandas()
    return _empty_rows(layout).to_pandas()


def _line_problem(raw: bytes, expected: int) -> str:
    """Why one line cannot be read ('' if it can)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "convert the file to UTF-8")
    if text.count('"') % 2:
        return "broken quoting: a quote is not closed on this line"
    try:
        fields = next(csv.reader([text], strict=True))
    except csv.Error as exc:
        return f"broken quoting: {exc}"
    except StopIteration:
        fields = []
    if len(fields) != expected:
        return f"{len(fields)} fields, expected {expected}"
    return ""


def _guess_id(raw: bytes) -> str:
    first = raw.split(b",", 1)[0].strip().strip(b'"')
    return first.decode("utf-8", "replace")


def _python_block(block, header, names, layout, first_line) -> Block:
    """The line-by-line reader: used when the fast parser disagrees with the line scan."""
    expected = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: list[BadRow] = []
    for i, raw in enumerate(block.split(b"\n")[:-1] if block.endswith(b"\n") else block.split(b"\n")):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        if not raw:
            continue
        problem = _line_problem(raw, expected)
        if problem:
            bad.append(BadRow(first_line + i, _guess_id(raw), problem))
            continue
        rows.append(next(csv.reader([raw.decode("utf-8")], strict=True)))
        lines.append(first_line + i)
    if not rows:
        return Block(_empty_rows(layout), bad)
    columns = {n: pa.array([r[i] for r in rows], type=pa.string()) for i, n in enumerate(names) if n}
    table = _complete_table(columns, layout, len(rows))
    return Block(table.append_column("line", pa.array(lines, type=pa.int64())), bad)


def frame_blocks(frame: pd.DataFrame, layout: Layout | None = None, columns: dict[str, str] | None = None,
                 rows: int = 200_000) -> tuple[Layout, Iterator[Block]]:
    """Blocks over an in-memory DataFrame (the library path): any dtypes, missing values become ''."""
    pd = pandas()

    header = [str(c) for c in frame.columns]
    layout = layout or detect_layout(header, columns)
    names = canonical_columns(header, layout, columns)

    def blocks() -> Iterator[Block]:
        for start in range(0, max(len(frame), 1), rows):
            part = frame.iloc[start:start + rows]
            out = {}
            for column, name in zip(part.columns, names):
                if name:
                    out[name] = cell_text(part[column])
            block = _complete(pd.DataFrame(out, index=pd.RangeIndex(len(part))), layout) if len(part) \
                else _empty_frame(layout)
            block["line"] = np.arange(start + 1, start + 1 + len(part), dtype=np.int64)
            yield Block(block)

    return layout, blocks()


def cell_text(series: pd.Series) -> pd.Series:
    """Any column as str with '' for missing (dates as YYYY-MM-DD, whole floats without '.0')."""
    pd = pandas()

    values = series.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values.dt.strftime("%Y-%m-%d")
    elif pd.api.types.is_float_dtype(values):
        out = values.map(lambda v: "" if pd.isna(v) else (f"{v:.0f}" if float(v).is_integer() else repr(float(v))))
    else:
        out = values.astype("str")
    return out.fillna("").astype("str")
