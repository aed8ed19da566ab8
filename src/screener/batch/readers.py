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

A CSV file is read as RFC 4180 in blocks of whole records: a quoted value may
hold line breaks (what Excel writes for Alt+Enter), and within a list cell
(medications, conditions, allergies) a line break separates entries as `;` does.
The delimiter is detected from the header (comma, semicolon, tab or pipe) unless
given; empty fields trailing past the header's (`1001,Soma,,,34,,,`) are ignored;
a file in another encoding than UTF-8 is read with `encoding=` (a UTF-16 file is
recognised by its byte-order mark). A record that cannot be read — a quote that
never closes into a well-formed record, the wrong number of fields, bytes that are
not UTF-8 — becomes a *bad row* with its line number, the best guess at its
patient id and the reason; the run goes on. The lines after a broken quote that
cannot be rows on their own (the rest of its cell) belong to the broken record,
so they never become patients (see `csv_records`). Blank lines are skipped.
Every block comes back as an Arrow table of strings (missing cells are empty
strings) with a `line` column (the 1-based line where the record starts; for
Parquet, the row number plus one); `Block.frame` gives it as a pandas DataFrame
for the layouts that group rows with pandas. pandas is not imported on the
one-row-per-patient path: that import alone took longer than parsing a million
rows.

The fast path parses a block with pyarrow and only scans its bytes line by
line when the parser reports a problem, so clean files cost one parse.
"""

from __future__ import annotations

import codecs
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
from .csv_records import DELIMITERS, detect_delimiter, record_cut, regular_record_ends, split_records
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
    source: int = 0
    """Which input file it is in, counted from 0 (see `tag_source`)."""


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
    """For each header field, its canonical column name, or None when it is not used.

    A mapping (`--column NAME=HEADER`) must name a column of the layout and a column of the
    header: a typo would otherwise drop a column without a word.
    """
    required, optional = COLUMNS[layout]
    present = {h.strip().casefold() for h in header}
    for name, field in (columns or {}).items():
        if name not in required and name not in optional:
            raise InputError(f"--column {name}={field}: '{name}' is not a column of the {layout.value} layout "
                             f"(its columns: {', '.join((*required, *optional))})")
        if field.strip().casefold() not in present:
            raise InputError(f"--column {name}={field}: the header has no column '{field}' "
                             f"(it has: {', '.join(header)})")
    renamed = _rename(header, columns)
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


def unused_columns(header: list[str], names: list[str | None]) -> list[str]:
    """The header's named columns that no canonical column is read from (blank names left out)."""
    return [h.strip() for h, n in zip(header, names) if n is None and h.strip()]


def unused_note(path: str, header: list[str], names: list[str | None]) -> str | None:
    """The line that names the columns of `path` that are not read, or None when every one is."""
    unused = unused_columns(header, names)
    if not unused:
        return None
    shown = ", ".join(f"'{u}'" for u in unused)
    where = "stdin" if path == "-" else path
    return (f"{where}: column(s) {shown} not read (map one to patient_id, medications, conditions, allergies "
            "or age with --column NAME=HEADER)")


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
    return path != "-" and (path.lower().endswith((".parquet", ".pq")) or _starts_with(path, b"PAR1"))


def is_gzip(path: str) -> bool:
    """True for a gzip file (by its magic bytes, as `open_binary` tells)."""
    return path != "-" and _starts_with(path, b"\x1f\x8b")


def _starts_with(path: str, magic: bytes) -> bool:
    """Whether the file at `path` starts with `magic` (False when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(magic)) == magic
    except OSError:
        return False


def open_binary(path: str, encoding: str | None = None):
    """A binary stream of the input at `path` ('-': stdin), gunzipped when it is gzip, and
    transcoded to UTF-8 when it is in another `encoding` (or starts with a UTF-16 byte-order mark)."""
    if path == "-":
        raw = sys.stdin.buffer
        stream = gzip.GzipFile(fileobj=raw) if _peek_gzip(raw) else raw
    else:
        stream = open(path, "rb")  # noqa: SIM115 - the caller owns the stream (or the gzip over it)
        if stream.read(2) == b"\x1f\x8b":
            stream.seek(0)
            stream = gzip.GzipFile(fileobj=stream)
        else:
            stream.seek(0)
    encoding = encoding or _bom_encoding(stream)
    if encoding and codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
        return _Utf8(stream, encoding)
    return stream


def _bom_encoding(stream) -> str | None:
    """'utf-16' when the stream starts with a UTF-16 byte-order mark (left unread), else None."""
    peek = getattr(stream, "peek", None)
    head = peek(2)[:2] if peek else b""
    return "utf-16" if head in (b"\xff\xfe", b"\xfe\xff") else None


def check_encoding(encoding: str | None) -> None:
    """InputError unless `encoding` names a text encoding Python knows."""
    if encoding is None:
        return
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(f"unknown encoding '{encoding}' (e.g. utf-8, cp1252, latin-1, utf-16)") from None


class _Utf8(io.RawIOBase):
    """A byte stream in another encoding, read as UTF-8. A byte the encoding cannot decode stays
    as it was (surrogateescape), so its line is reported as not readable rather than stopping the run."""

    def __init__(self, raw, encoding: str):
        self._text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while len(self._pending) < len(target):
            text = self._text.read(max(len(target), 1 << 16))
            if not text:
                break
            self._pending += text.encode("utf-8", "surrogateescape")
        n = min(len(target), len(self._pending))
        target[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._text.close()
        super().close()


def _peek_gzip(raw) -> bool:
    peek = getattr(raw, "peek", None)
    return bool(peek and peek(2)[:2] == b"\x1f\x8b")


def input_size(path: str) -> int | None:
    """Size in bytes (compressed size for gzip), or None for stdin."""
    return None if path == "-" else os.path.getsize(path)


def delimiter_for(given: str | None) -> str | None:
    """A `--delimiter` value as the character (names and escapes accepted: 'tab', '\\t', ';'), None to detect."""
    if given is None:
        return None
    names = {name: char for char, name in DELIMITERS.items()}
    char = names.get(given.strip().casefold(), "\t" if given == "\\t" else given)
    if len(char) != 1 or char in "\"\r\n":
        raise InputError(f"the delimiter must be one character (or {', '.join(names)}), not '{given}'")
    return char


def read_header(line: bytes, delimiter: str | None = None) -> tuple[list[str], str]:
    """(column names, delimiter) of a CSV header line; the delimiter is detected when not given."""
    if not line:
        raise InputError("the input is empty: no header line")
    if not line.strip():
        raise InputError("line 1 is blank: the header (the column names) must be the first line; remove the "
                         "blank lines before it")
    if b"\r" in line.rstrip(b"\r\n"):
        raise InputError("the header line holds a carriage return (CR) without a line feed: the file's lines "
                         "end in CR only (Excel's 'CSV (Macintosh)'); save it as 'CSV UTF-8', or with LF or "
                         "CRLF line ends")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the header line is not valid UTF-8; convert the file to UTF-8 or give --encoding") \
            from None
    text = text.rstrip("\r\n")
    delimiter = delimiter or detect_delimiter(text)
    try:
        return next(csv.reader([text], delimiter=delimiter, strict=True)), delimiter
    except csv.Error as exc:
        raise InputError(f"cannot read the header line: {exc}") from None


def iter_blocks(path: str, layout: Layout | None = None, columns: dict[str, str] | None = None,
                block_bytes: int = DEFAULT_BLOCK_BYTES, delimiter: str | None = None,
                encoding: str | None = None, notes: list[str] | None = None,
                source: int | None = None) -> tuple[Layout, Iterator[Block]]:
    """The layout of `path` and an iterator over its blocks (see the module docstring).

    A line naming the columns that are not read is appended to `notes` (when given). With
    `source`, every row and bad row carries that number (see `tag_source`).
    """
    if is_parquet(path):
        got_layout, parquet = _parquet_blocks(path, layout, columns, notes)
        return got_layout, parquet if source is None else (tag_source(b, source) for b in parquet)
    handle = open_binary(path, encoding)
    header, delimiter = read_header(handle.readline(), delimiter)
    layout = layout or detect_layout(header, columns)
    names = canonical_columns(header, layout, columns)
    _note(notes, path, header, names, layout)
    blocks = _csv_blocks(handle, path, header, names, layout, block_bytes, delimiter)
    return layout, blocks if source is None else (tag_source(b, source) for b in blocks)


def tag_source(block: Block, source: int) -> Block:
    """`block` with an `input_file` column (and its bad rows a `source`): the number of its input file,
    so that the outputs of several files can say which file each patient came from."""
    block.rows = block.table.append_column("input_file", pa.array(np.full(len(block), source, dtype=np.int32)))
    for bad in block.bad:
        bad.source = source
    return block


def _csv_blocks(handle, path, header, names, layout, block_bytes, delimiter) -> Iterator[Block]:
    for data, first_line, nbytes in raw_csv_blocks(handle, path, block_bytes, delimiter, len(header)):
        out = parse_block(data, header, names, layout, first_line, delimiter)
        out.nbytes = nbytes
        yield out


def raw_csv_blocks(handle, path, block_bytes, delimiter: str = ",", expected: int = 0
                   ) -> Iterator[tuple[bytes, int, int]]:
    """(whole records, number of the first line, bytes read) of a CSV body, block by block.

    A block ends where a record ends (`csv_records.record_cut`), so a quoted line break
    is never a block boundary; `expected` is the header's number of fields.
    """
    line_no = 2  # the header is line 1
    rest = b""
    read = 0
    try:
        chunk = handle.read(block_bytes)
        while True:
            read += len(chunk)
            data = rest + chunk if rest else chunk
            # One read ahead: the last bytes are one block, not cut where a record might go on (a small
            # file with a quote never closed was two blocks, and its rows of one patient "split").
            following = handle.read(block_bytes) if chunk else b""
            if not following:
                if data:
                    if not data.endswith(b"\n"):
                        data += b"\n"
                    yield data, line_no, read
                return
            chunk = following
            last = data.rfind(b"\n")
            cut = record_cut(data[: last + 1], delimiter, expected) if last >= 0 else 0
            if cut <= 0:
                rest = data
                continue
            rest = data[cut:]
            block = data[:cut]
            yield block, line_no, read
            read = 0
            line_no += block.count(b"\n")
    finally:
        if path != "-":
            handle.close()


@dataclass(frozen=True)
class FileSlice:
    """Whole records of a plain file, by position: what a worker process reads for itself."""

    path: str
    start: int
    length: int

    def read(self) -> bytes:
        """The bytes of the slice (ending with a newline, as `raw_csv_blocks` gives them)."""
        with open(self.path, "rb") as handle:
            handle.seek(self.start)
            data = handle.read(self.length)
        return data if data.endswith(b"\n") else data + b"\n"


@dataclass(frozen=True)
class RawInput:
    """A CSV input opened for other processes to parse: what they need to read its blocks."""

    layout: Layout
    header: list[str]
    names: list[str | None]
    """The canonical name of each header field (None: not used)."""
    delimiter: str
    blocks: Iterator[tuple[FileSlice | bytes, int, int]]
    """(a block's bytes or its `FileSlice`, its first line, its size), unparsed."""


def iter_raw_blocks(path: str, layout: Layout | None = None, columns: dict[str, str] | None = None,
                    block_bytes: int = DEFAULT_BLOCK_BYTES, delimiter: str | None = None,
                    encoding: str | None = None, notes: list[str] | None = None,
                    first_bytes: int | None = None) -> RawInput | None:
    """A CSV input with its blocks unparsed (see `raw_csv_blocks`), so that other processes can
    parse them; None for Parquet.

    For a plain (uncompressed, UTF-8) file a block is a `FileSlice` instead of its bytes, so that
    only its position, not megabytes of text, is sent to the process that screens it; its first
    block is then at most `first_bytes` long, when given.
    """
    if is_parquet(path):
        return None
    handle = open_binary(path, encoding)
    header, delimiter = read_header(handle.readline(), delimiter)
    layout = layout or detect_layout(header, columns)
    if path != "-" and isinstance(handle, io.BufferedReader):
        start = handle.tell()
        handle.close()
        blocks: Iterator[tuple[FileSlice | bytes, int, int]] = _file_slices(path, start, block_bytes, delimiter,
                                                                               len(header), first_bytes)
    else:
        blocks = raw_csv_blocks(handle, path, block_bytes, delimiter, len(header))
    names = canonical_columns(header, layout, columns)
    _note(notes, path, header, names, layout)
    return RawInput(layout, header, names, delimiter, blocks)


def _file_slices(path: str, start: int, block_bytes: int, delimiter: str = ",", expected: int = 0,
                 first_bytes: int | None = None) -> Iterator[tuple[FileSlice, int, int]]:
    """(slice of whole records, number of its first line, its size) of a plain file, block by block; the
    first block at most `first_bytes` long, when given.

    Only positions leave this process. Each block is read into one reused buffer to
    find its last record end and count its lines (numpy): reading blocks into new
    Python bytes and joining each to the previous tail copied every byte twice.
    """
    buffer = bytearray(block_bytes)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        line, pos = 2, start  # the header is line 1
        want = min(first_bytes or block_bytes, block_bytes)
        while pos < size:
            handle.seek(pos)
            n = got = handle.readinto(view[:want])
            want = block_bytes
            if not n:
                return
            if pos + n < size:
                last = buffer.rfind(b"\n", 0, n)
                cut = record_cut(view[: last + 1], delimiter, expected) if last >= 0 else 0
                n = cut if cut > 0 else _long_record(handle, pos, size, delimiter, expected)
            if n <= got:  # its lines are counted in what was read (a long record goes past it)
                lines = int(np.count_nonzero(np.frombuffer(buffer, dtype=np.uint8, count=n) == 10))
            else:
                handle.seek(pos)
                lines = _count_lines(handle, view, n)
            yield FileSlice(path, pos, n), line, n
            line += lines
            pos += n


def _count_lines(handle, view: memoryview, n: int) -> int:
    """Line feeds among the next `n` bytes of `handle` (read through the reused buffer)."""
    lines = 0
    while n > 0:
        got = handle.readinto(view[: min(n, len(view))])
        if not got:
            break
        lines += int(np.count_nonzero(np.frombuffer(view, dtype=np.uint8, count=got) == 10))
        n -= got
    return lines


def _long_record(handle, pos: int, size: int, delimiter: str, expected: int) -> int:
    """The length of the first record at `pos` when it is longer than a block (to the end of the file at most)."""
    step = 1 << 20
    while True:
        step *= 2
        handle.seek(pos)
        data = handle.read(step)
        if pos + len(data) >= size:
            return len(data)
        last = data.rfind(b"\n")
        cut = record_cut(data[: last + 1], delimiter, expected) if last >= 0 else 0
        if cut > 0:
            return cut


def _note(notes: list[str] | None, path: str, header: list[str], names: list[str | None], layout: Layout) -> None:
    note = unused_note(path, header, names) if notes is not None else None
    if note is not None and notes is not None:
        if layout is not Layout.PATIENTS:
            note = note.replace("patient_id, medications, conditions, allergies or age",
                                ", ".join(c for part in COLUMNS[layout] for c in part))
        notes.append(note)


def _parquet_blocks(path, layout, columns, notes=None) -> tuple[Layout, Iterator[Block]]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot be read as Parquet: {exc}") from None
    header = list(file.schema_arrow.names)
    layout = layout or detect_layout(header, columns)
    names = canonical_columns(header, layout, columns)
    _note(notes, path, header, names, layout)
    used = [h for h, n in zip(header, names) if n]

    def blocks() -> Iterator[Block]:
        start = 1
        for group in range(file.num_row_groups):
            try:
                table = file.read_row_group(group, columns=used)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"{path}: row group {group + 1} cannot be read as Parquet: {exc}") from None
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
                first_line: int, delimiter: str = ",") -> Block:
    """Parse whole records `block` (starting at line `first_line`) into a Block."""
    fast = _arrow_fast(block, header, names, layout, first_line, delimiter)
    if fast is not None:
        return fast
    return _careful(block, header, names, layout, first_line, delimiter)


def _convert(header: list[str]):
    return pacsv.ConvertOptions(
        column_types={h: pa.string() for h in header},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


def _arrow_parse(data: bytes, width: int, delimiter: str, multiline: bool):
    """Parse header-less CSV bytes of `width` fields; returns (table, number of rows the parser refused)."""
    refused = [0]

    def handler(row) -> str:
        refused[0] += 1
        return "skip"

    names = [f"c{i}" for i in range(width)]
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names,
                                       block_size=max(1 << 20, min(len(data) + 1, 64 << 20))),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=multiline,
                                         invalid_row_handler=handler),
        convert_options=_convert(names),
    )
    return table, refused[0]


def _arrow_rows(table, names: list[str | None], layout: Layout, lines: np.ndarray) -> pa.Table:
    """The parsed columns under their canonical names, the missing ones empty, and `line`."""
    rows = _complete_table({n: table.column(i) for i, n in enumerate(names) if n}, layout, table.num_rows)
    return rows.append_column("line", pa.array(lines, type=pa.int64()))


def _arrow_fast(block, header, names, layout, first_line, delimiter) -> Block | None:
    """Parse the block in one go; None when anything is odd (then it is read record by record).

    Odd is: bytes that are not UTF-8, quoting that is not regular, a carriage return without a line
    feed, a row the parser refused, or rows that do not account for every line (a blank line).
    """
    n_lines = block.count(b"\n")
    if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
        return None  # a CR without a LF: pyarrow ends a row there, the line count does not (`split_records`)
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None  # find the lines with bad bytes one by one
    quoted = b'"' in block
    if quoted:
        ends = regular_record_ends(np.frombuffer(block, dtype=np.uint8), ord(delimiter))
        if ends is None or not len(ends) or ends[-1] != len(block) - 1:
            return None
    width = len(header)
    try:
        table, refused = _arrow_parse(block, width, delimiter, quoted)
        if refused:
            # Empty fields trailing past the header's (`1001,Soma,,,34,,,`): parse at the width of
            # the first row, and keep the result only if every extra field is empty.
            first = next(csv.reader([block[: block.find(b"\n")].decode("utf-8")], delimiter=delimiter))
            if len(first) <= width:
                return None
            table, refused = _arrow_parse(block, len(first), delimiter, quoted)
            if refused or any(pc.any(pc.not_equal(pc.utf8_trim_whitespace(table.column(i)), "")).as_py()
                              for i in range(width, len(first))):
                return None
            table = table.select(list(range(width)))
    except (pa.ArrowInvalid, UnicodeDecodeError, csv.Error):
        return None
    rows = np.arange(table.num_rows, dtype=np.int64)
    if quoted:
        # A record spans one line more for every line feed inside its values.
        inside = np.zeros(table.num_rows, dtype=np.int64)
        for column in table.columns:
            inside += pc.count_substring(column, "\n").to_numpy(zero_copy_only=False).astype(np.int64)
        lines = first_line + rows + np.concatenate(([0], np.cumsum(inside)[:-1])) if len(rows) else rows
        spanned = int(inside.sum())
    else:
        lines, spanned = first_line + rows, 0
    # Every line belongs to exactly one row only if no line was skipped as blank.
    if table.num_rows + spanned != n_lines:
        return None
    return Block(_arrow_rows(table, names, layout, lines))


def _empty_rows(layout: Layout) -> pa.Table:
    required, optional = COLUMNS[layout]
    return pa.table({**{c: pa.array([], type=pa.string()) for c in (*required, *optional)},
                     "line": pa.array([], type=pa.int64())})


def _empty_frame(layout: Layout) -> pd.DataFrame:
    pandas()
    return _empty_rows(layout).to_pandas()


def _guess_id(raw: bytes, delimiter: str = ",", column: int = 0) -> str:
    """The patient id of a record that cannot be read, as far as its first line can be read: its field
    number `column` as CSV reads it (`"Smith, J"`, `""` for a quote); a quote never closed ending at the
    next delimiter of the line (`"2,soma` is patient 2); '' when the line has no such field."""
    line = raw.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    try:
        fields = next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        fields = line.split(delimiter)
    if column >= len(fields):
        return ""
    field = fields[column]
    if line.count('"') % 2 and column == len(fields) - 1:  # the quote that never closed ran to the line's end
        field = field.split(delimiter, 1)[0]
    return field.strip()


def _reason(record, block: bytes, first_line: int) -> str:
    """Why a record cannot be read, naming the lines it took as the rest of its cell (if any)."""
    if not record.absorbed:
        return record.reason
    last = first_line + record.line + block.count(b"\n", record.start, record.end) - 1
    start = first_line + record.line + 1
    shown = f"line {start}" if start == last else f"lines {start}-{last}"
    return f"{record.reason} ({shown} read as the rest of its cell: too few fields to be rows)"


def _careful(block, header, names, layout, first_line, delimiter) -> Block:
    """Read the block record by record (`csv_records.split_records`): the good ones become rows,
    the others bad rows naming their line and reason."""
    records, _ = split_records(block, len(header), delimiter, final=True)
    rows = [r for r in records if r.fields is not None]
    id_column = names.index("patient_id") if "patient_id" in names else 0
    bad = [BadRow(first_line + r.line, _guess_id(block[r.start:r.end], delimiter, id_column),
                  _reason(r, block, first_line)) for r in records if r.fields is None]
    if not rows:
        return Block(_empty_rows(layout), bad)
    columns = {n: pa.array([r.fields[i] for r in rows], type=pa.string())  # type: ignore[index]
               for i, n in enumerate(names) if n}
    table = _complete_table(columns, layout, len(rows))
    lines = np.asarray([first_line + r.line for r in rows], dtype=np.int64)
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
