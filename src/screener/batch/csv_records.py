"""Where the records of a CSV body begin and end (RFC 4180), and which ones are broken.

A record is one line, or several when a quoted field holds line breaks (what Excel
writes for Alt+Enter in a cell). Blocks handed to the parser must start and end
on record boundaries, so a quoted line break is never taken for the end of a row.

Two ways to find the boundaries, the first used whenever it can be trusted:

* `regular_record_ends` — vectorised: in regular quoting every opening quote comes
  at the start of a field and every closing quote before a delimiter or a line
  end, so a line break ends a record exactly when an even number of quotes lies
  before it. One out-of-place quote makes it answer None.
* `split_records` — record by record with the `csv` module, for blocks whose quoting
  is irregular. A quote that never closes into a well-formed record makes a
  *broken* record: its own first line, plus the lines after it that cannot be a
  row on their own and open no quoted field (the lost rest of its cell), so the broken record is one
  invalid row of its own patient and its fragments never become patients — across
  the end of a block too, up to `MAX_RECORD_BYTES` of fragments (past that, each
  further line is reported as an invalid row of its own: nothing is dropped).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

QUOTE, LF, CR = 34, 10, 13

MAX_RECORD_LINES = 10_000
"""The most lines one quoted field may span; a quote still open after that is broken quoting."""
MAX_RECORD_BYTES = 4 << 20
"""The most bytes one record may hold (an Excel cell holds at most 32,767 characters)."""

# A field may be as long as a record (Python's csv refuses fields over 131,072 characters by default, which
# made a long but valid cell "broken quoting" whenever its block was read record by record). Raised, never
# lowered: the limit is the process's, and other readers in it only gain.
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
"""Delimiters detected from the header line, with the names `--delimiter` also accepts."""


def detect_delimiter(header_line: str) -> str:
    """The delimiter of a header line: the candidate that occurs most often outside quotes (',' when none does)."""
    outside = header_line.split('"')[::2]  # the text between quoted stretches
    counts = {d: sum(part.count(d) for part in outside) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def regular_record_ends(buf: np.ndarray, delimiter: int) -> np.ndarray | None:
    """Positions of the line feeds that end records in `buf` (bytes starting at a record start),
    or None when some quote is out of place (then `split_records` decides).

    A record still open at the end of `buf` (an odd number of quotes after the last end)
    is left out: it may close in the bytes that follow.
    """
    newlines = np.flatnonzero(buf == LF)
    quotes = np.flatnonzero(buf == QUOTE)
    if not len(quotes):
        return newlines
    n = len(buf)
    before = np.where(quotes > 0, buf[np.maximum(quotes - 1, 0)], LF)
    after = np.where(quotes < n - 1, buf[np.minimum(quotes + 1, n - 1)], LF)
    # Quotes alternate opening, closing (an escaped "" is a closing then an opening one).
    opening_ok = np.isin(before[0::2], (delimiter, LF, QUOTE))
    closing_ok = np.isin(after[1::2], (delimiter, LF, CR, QUOTE))
    if not (opening_ok.all() and closing_ok.all()):
        return None
    # A closing-then-opening pair must be adjacent ("") — a quote after a closing one
    # anywhere else opens a new field only after a delimiter, which `before` checked.
    return newlines[np.searchsorted(quotes, newlines) % 2 == 0]


@dataclass(frozen=True)
class Record:
    """One record of a block: where it lies, and its fields or why it cannot be read."""

    start: int
    """Offset of its first byte in the block."""
    end: int
    """Offset just past its last line feed."""
    line: int
    """Its first line, counted from 0 within the block."""
    fields: list[str] | None
    """Its fields, or None when it is broken."""
    reason: str = ""
    """Why it cannot be read ('' when it can)."""
    absorbed: int = 0
    """Lines after a broken record taken as the rest of its cell (they cannot be rows on their own)."""


def _fields(text: str, delimiter: str) -> list[str] | None:
    """The fields of the complete record `text` (no final line break), or None if its quoting is broken."""
    try:
        rows = list(csv.reader([text], delimiter=delimiter, strict=True)) if "\n" not in text and "\r" not in text \
            else list(csv.reader(text.splitlines(keepends=True), delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    if len(rows) != 1:
        return None
    return rows[0]


def fit_fields(fields: list[str], expected: int) -> tuple[list[str] | None, str]:
    """`fields` cut to `expected` when only empty fields trail (`1001,Soma,,,34,,,`), or (None, reason)."""
    if len(fields) == expected:
        return fields, ""
    if len(fields) > expected and not any(f.strip() for f in fields[expected:]):
        return fields[:expected], ""
    return None, f"{len(fields)} fields, expected {expected}"


def _decoded(raw: bytes) -> tuple[str | None, str]:
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        return None, (f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                      "convert the file to UTF-8 or give --encoding")


def split_records(block: bytes, expected: int, delimiter: str, final: bool = True) -> tuple[list[Record], int]:
    """The records of `block` (starting at a record start) and the offset where the unread rest begins.

    Blank lines are no records. With `final` False, a record that may continue past the end
    of `block` is not returned: the offset says where it starts, for the caller to carry over.
    """
    starts = [0]
    pos = block.find(b"\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = block.find(b"\n", pos + 1)
    if starts[-1] == len(block):
        starts.pop()
    ends = starts[1:] + [len(block)]
    n = len(starts)
    records: list[Record] = []
    i = 0
    broken_open = False  # the previous record is broken: lines that cannot stand alone belong to it
    while i < n:
        raw = block[starts[i]:ends[i]]
        body = raw.rstrip(b"\r\n")
        if not body:
            i += 1
            continue
        if b'"' not in body:
            text, problem = _decoded(body)
            fields = text.split(delimiter) if text is not None else None
            if fields is not None:
                fitted, problem = fit_fields(fields, expected)
                if fitted is not None:
                    records.append(Record(starts[i], ends[i], i, fitted))
                    broken_open = False
                elif broken_open and len(fields) < expected:
                    records[-1] = _absorb(records[-1], ends[i])
                else:
                    if b"\r" in body:  # an old Mac line end inside a line: say so, not only the count
                        problem = (f"{problem}: the line holds a carriage return (CR) without a line feed, so "
                                   "it may hold more than one row; save the file with LF or CRLF line ends")
                    records.append(Record(starts[i], ends[i], i, None, problem))
                    broken_open = False
            else:
                records.append(Record(starts[i], ends[i], i, None, problem))
                broken_open = False
            i += 1
            continue
        found = _quoted_record(block, starts, ends, i, expected, delimiter)
        if found == "more" and not final:
            return records, starts[i]
        if isinstance(found, tuple):
            last, fields, reason = found
            if fields is None and broken_open and _too_few(reason, expected) and not _opens_a_quoted_field(
                    block[starts[i]:ends[i]].decode("utf-8", "replace"), delimiter):
                for k in range(i, last + 1):  # more of the broken cell before it, quotes and all
                    records[-1] = _absorb(records[-1], ends[k])
            else:
                records.append(Record(starts[i], ends[last], i, fields, reason))
                broken_open = False
            i = last + 1
            continue
        text, problem = _decoded(body)
        if text is not None and broken_open and not _opens_a_quoted_field(text, delimiter):
            literal = text.split(delimiter)
            if len(literal) < expected:
                records[-1] = _absorb(records[-1], ends[i])
                i += 1
                continue
        if text is not None:
            problem = found if isinstance(found, str) and found != "more" else \
                "broken quoting: a quote is not closed"
        records.append(Record(starts[i], ends[i], i, None, problem))
        broken_open = text is not None and problem.startswith("broken quoting")
        i += 1
    if not final and broken_open and len(block) - records[-1].start <= MAX_RECORD_BYTES:
        # The block ends in the fragments of a broken record's cell: more may follow, and in the next block
        # they would be rows of their own. The record goes on with it, up to MAX_RECORD_BYTES.
        return records[:-1], records[-1].start
    return records, len(block)


def _opens_a_quoted_field(line: str, delimiter: str) -> bool:
    """Whether a line opens a quoted field (at its start or after a delimiter): the start of a record of its
    own (`P1,"Soma`), never taken as the rest of a broken cell before it (`note: says "it hurts"` is)."""
    return line.startswith('"') or f'{delimiter}"' in line


def _too_few(reason: str, expected: int) -> bool:
    """Whether `reason` (from `fit_fields`) says a record has fewer fields than `expected`."""
    count, _, rest = reason.partition(" fields, expected ")
    return count.isdigit() and rest == str(expected) and int(count) < expected


def _absorb(record: Record, end: int) -> Record:
    """`record` (broken) extended over the next line, a fragment of its own cell."""
    return Record(record.start, end, record.line, None, record.reason, record.absorbed + 1)


def _quoted_record(block: bytes, starts: list[int], ends: list[int], i: int, expected: int,
                   delimiter: str) -> tuple[int, list[str] | None, str] | str:
    """The record that starts at line `i` and holds quotes: (its last line, its fields, '') — or, for a
    whole record that cannot be used (a byte that is not UTF-8 in it, or the wrong number of fields),
    (its last line, None, why) — or why its quoting is broken: "more" when it may go on past the block.

    The `csv` module reads it, taking lines one at a time for as long as a quoted field is
    open, so a quote in the middle of an unquoted field (`So"ma`) is the letter it is, as
    Excel and pandas read it too. Where the record ends is found on the bytes (a byte that is not UTF-8
    is read as itself): a bad byte in its first line of two must not make the second a row of its own.
    """
    n = len(starts)
    taken = 0
    bad = ""
    too_long = False
    limit = min(n, i + MAX_RECORD_LINES)

    def lines():
        nonlocal taken, bad, too_long
        for k in range(i, limit):
            if ends[k] - starts[i] > MAX_RECORD_BYTES:
                too_long = True
                return
            raw = block[starts[k]:ends[k]]
            text, problem = _decoded(raw)
            if text is None:
                where = f" in its line {k - i + 1}, column " if k > i else " at column "
                bad = bad or problem.replace(" at column ", where, 1)
                text = raw.decode("utf-8", "surrogateescape")
            taken += 1
            yield text

    try:
        fields = next(csv.reader(lines(), delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration) as exc:
        open_at_end = "end of data" in str(exc)
        if open_at_end and not too_long and taken < MAX_RECORD_LINES and i + taken >= n:
            return "more"  # the block ended with the quote open: it may close in what follows
        if bad and taken == 1:
            return bad
        if not open_at_end:
            return "broken quoting: a quote is not closed where it should be"
        if too_long or taken >= MAX_RECORD_LINES:
            return f"broken quoting: a quote is still open {taken:,} lines later"
        return "broken quoting: a quote is not closed"
    last = i + taken - 1
    if bad:
        return last, None, bad
    fitted, reason = fit_fields(fields, expected)
    return (last, fitted, "") if fitted is not None else (last, None, reason)


def record_cut(block: bytes | memoryview, delimiter: str, expected: int) -> int:
    """Where the last complete record of `block` ends (0 when none has ended yet): the rest is carried over.

    `block` starts at a record start and ends just past a line feed, with more bytes to come.
    """
    buf = np.frombuffer(block, dtype=np.uint8)
    ends = regular_record_ends(buf, ord(delimiter))
    if ends is not None:
        cut = int(ends[-1]) + 1 if len(ends) else 0
        if len(block) - cut <= MAX_RECORD_BYTES:
            return cut
    _, rest = split_records(bytes(block), expected, delimiter, final=False)
    return rest
