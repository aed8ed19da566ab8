"""Batch screening: a population in, one row per finding and one row per patient out.

For notebooks::

    import pandas as pd
    from screener.batch import screen_frame

    df = pd.DataFrame({"patient_id": ["p1", "p2"],
                       "medications": ["Soma 350 mg qid; Xanax", "ibuprofen"],
                       "age": [70, 40]})
    findings, patients = screen_frame(df)

For files (what `screener batch` runs), `run()` streams blocks of a CSV, gzip or
Parquet input through the same screen and appends to the outputs, so memory
depends on the block size, not on the input.

Findings equal those of `screener check` for the same patient: the vectorised
engine (`engine.py`) sends every patient who could have a finding through the
library's own walk. Every input patient appears exactly once in the patients
output, with status `findings`, `no-findings`, `incomplete` or `invalid` (and the
reason in `error`).

Layouts (`readers.Layout`): `patients` (one row per patient), `items` (one row
per medication, condition, allergy or age) and `claims` (pharmacy claims with
supply windows; see `claims.py`). For `items` and `claims`, rows of one patient
may be anywhere in the file: inputs larger than one block are first grouped by a
hash of the patient id into partitions (in memory, or through temporary files for
a large input: `grouping.py`), then each partition is screened whole; the outputs
then come partition by partition (sort by `line` for input order).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, ScreenerError
from .engine import FINDING_COLUMNS, PATIENT_COLUMNS, SEVERITIES, Codebook, screen_patients
from .grouping import grouped
from .layouts import SOURCE_SHIFT, from_items_layout, from_patients_layout
from .lazy_pandas import pandas
from .readers import (
    DEFAULT_BLOCK_BYTES,
    DEFAULT_WINDOW,
    Block,
    Layout,
    expand_inputs,
    frame_blocks,
    input_size,
    is_gzip,
    is_parquet,
    iter_blocks,
)
from .writers import TableFormat

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..api import Knowledge

__all__ = ["DEFAULT_WINDOW", "FINDING_COLUMNS", "PATIENT_COLUMNS", "Layout", "Summary", "run", "screen_frame"]

_CODEBOOKS: dict[int, Codebook] = {}


def codebook(knowledge: Knowledge | None = None) -> Codebook:
    """The Codebook of a knowledge base (default: the bundled one), kept for reuse."""
    if knowledge is None:
        from ..api import default_knowledge

        knowledge = default_knowledge()
    got = _CODEBOOKS.get(id(knowledge.index))
    if got is None or got.index is not knowledge.index:
        got = _CODEBOOKS[id(knowledge.index)] = Codebook(knowledge.index)
    return got


@dataclass
class Summary:
    """What a batch run did: counts for the one-line summary on stderr."""

    patients: int = 0
    statuses: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("findings", "no-findings", "incomplete", "invalid"), 0))
    findings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    seconds: float = 0.0
    layout: str = ""
    notes: list[str] = field(default_factory=list)
    """What the reader did that the user should know, each said once after the counts."""

    def add(self, findings: pa.Table, patients: pa.Table) -> None:
        """Count one block of results."""
        self.patients += len(patients)
        for table, name, counts in ((patients, "status", self.statuses), (findings, "severity", self.findings)):
            for item in pc.value_counts(_decoded(table.column(name))).to_pylist():
                counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]

    def line(self) -> str:
        """`screener batch: 1,000 patients (…); 52 findings (…); 3.1 s`."""
        s = self.statuses
        total = sum(self.findings.values())
        by = ", ".join(f"{n:,} {k}" for k, n in self.findings.items() if n)
        rate = f", {self.patients / self.seconds:,.0f} patients/s" if self.seconds > 0 else ""
        return (f"screener batch: {self.patients:,} patients ({s['findings']:,} with findings, "
                f"{s['no-findings']:,} no findings, {s['incomplete']:,} incomplete, {s['invalid']:,} invalid); "
                f"{total:,} finding{'' if total == 1 else 's'}" + (f" ({by})" if by else "")
                + f"; {self.seconds:.1f} s{rate}."
                + "".join(f"\nscreener batch: {note}" for note in self.notes))


class WorkerLost(ScreenerError):
    """A worker process of a run ended without giving its result: the run stops, and writes nothing."""


class SplitPatient(InputError):
    """A patient id of the one-row-per-patient layout on rows in different blocks of a stream."""


class _SeenIds:
    """Hashes of the patient ids of the blocks written so far, to find an id that comes back.

    Kept as a few sorted arrays of growing size (merged when two are alike), so that a block
    is checked with binary searches and the whole run sorts each hash only a few times.
    """

    def __init__(self) -> None:
        self.tiers: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, their first lines)

    def add(self, hashes: np.ndarray, lines: np.ndarray) -> tuple[int, int] | None:
        """Record one block's ids (unique within the block); (earlier line, this line) of an id seen before."""
        # Searching in sorted order walks each tier once instead of jumping about it (2-3x faster
        # on a million ids); the earliest line of the block wins when several come back.
        order = np.argsort(hashes, kind="stable")
        hashes, lines = hashes[order], lines[order]
        for known, known_lines in self.tiers:
            at = np.searchsorted(known, hashes)
            at[at == len(known)] = 0
            again = np.flatnonzero(known[at] == hashes) if len(known) else np.zeros(0, dtype=np.int64)
            if len(again):
                first = again[np.argmin(lines[again])]
                return int(known_lines[at[first]]), int(lines[first])
        self.tiers.append((hashes, lines))
        while len(self.tiers) > 1 and len(self.tiers[-1][0]) >= len(self.tiers[-2][0]):
            (a, la), (b, lb) = self.tiers[-2], self.tiers[-1]
            merged = np.concatenate([a, b])
            order = np.argsort(merged, kind="stable")
            self.tiers[-2:] = [(merged[order], np.concatenate([la, lb])[order])]
        return None


def id_hashes(patients: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hashes, places) of the non-blank patient ids of one block's patients output, where a
    place is the line, with the number of its file above bit `SOURCE_SHIFT` for several inputs."""
    ids = _decoded(patients.column("patient_id"))
    places = patients.column("line").combine_chunks().to_numpy(zero_copy_only=False).astype(np.int64)
    if "source_file" in patients.column_names:
        files = patients.column("source_file").combine_chunks().indices.to_numpy(zero_copy_only=False)
        places = places | (files.astype(np.int64) << SOURCE_SHIFT)
    filled = pc.greater(pc.utf8_length(ids), 0)
    if not pc.all(filled).as_py():
        ids, places = ids.filter(filled), places[filled.to_numpy(zero_copy_only=False)]
    # Python's own string hash: no pandas import for a one-row-per-patient run (that import cost more
    # than the hashing). It is the same in this process and in the workers it forks; Dask results are
    # hashed here, in the parent.
    values = ids.to_pylist()
    return np.fromiter((hash(v) for v in values), dtype=np.int64, count=len(values)).view(np.uint64), places


def _place(place: int, sources: list[str] | None) -> str:
    line = place & ((1 << SOURCE_SHIFT) - 1)
    return f"line {line:,} of {sources[place >> SOURCE_SHIFT]}" if sources else f"line {line:,}"


def watch_split_patients(results: Iterator[tuple], sources: list[str] | None = None
                         ) -> Iterator[tuple[pa.Table, pa.Table, int]]:
    """(findings, patients, bytes) of (findings, patients, bytes, [(hashes, lines), …]) results, raising
    `SplitPatient` when a patient id comes back in a later block (its rows could not be merged)."""
    seen = _SeenIds()
    for findings, patients, nbytes, ids in results:
        for hashes, lines in ids:
            again = seen.add(hashes, lines) if len(hashes) else None
            if again is not None:
                raise SplitPatient(f"a patient id is on {_place(again[0], sources)} and {_place(again[1], sources)}, "
                                   "in different blocks of the input")
        yield findings, patients, nbytes


def _decoded(column) -> pa.Array:
    """A column as plain values (dictionary arrays decoded)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


def screen_block(vocab: Codebook, layout: Layout, block: Block, separator: str = ";",
                 window: int = DEFAULT_WINDOW, sources: list[str] | None = None,
                 measures: tuple | None = None) -> tuple[pa.Table, pa.Table]:
    """Screen one block (holding every row of its patients): (findings, patients) as Arrow tables.

    With `sources` (the input files, when there are several), both tables end with a `source_file`
    column naming the file of each patient's first row. `measures` are the claims' concurrent-use
    measures (`claims.ConcurrentUse`; None: `claims.MEASURES`).
    """
    findings, patients = _screen_block(vocab, layout, block, separator, window, measures)
    if sources is not None and "input_file" in patients.column_names:
        findings, patients = (_named_sources(t, sources) for t in (findings, patients))
    return findings, patients


def _named_sources(table: pa.Table, sources: list[str]) -> pa.Table:
    """The `input_file` numbers of `table` as a `source_file` column of names."""
    at = table.column_names.index("input_file")
    codes = table.column(at).combine_chunks().cast(pa.int32())
    names = pa.DictionaryArray.from_arrays(codes, pa.array(sources, type=pa.string()))
    return table.remove_column(at).append_column("source_file", names)


def _screen_block(vocab: Codebook, layout: Layout, block: Block, separator: str, window: int,
                  measures: tuple | None = None):
    if layout is Layout.CLAIMS:
        from .claims import screen_claims  # pandas: imported only for claims

        return screen_claims(vocab, block.frame, block.bad, window, measures)
    if layout is Layout.ITEMS:
        pts = from_items_layout(block.frame, block.bad)
    else:
        pts = from_patients_layout(block.table, block.bad, separator)
    return screen_patients(vocab, pts)


def screen_frame(frame: pd.DataFrame, *, knowledge: Knowledge | None = None, layout: str | Layout | None = None,
                 columns: dict[str, str] | None = None, separator: str = ";",
                 window: int = DEFAULT_WINDOW, measures: tuple | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Screen a DataFrame of patients, items or claims; returns (findings, patients) DataFrames.

    `layout` is detected from the column names unless given; `columns` maps
    canonical names to the frame's (`{"patient_id": "member_id"}`). Missing values
    are blanks. A cell may hold a list (or tuple, or array) of entries, the
    natural pandas form: `["Soma 350 mg qid", "Xanax"]` is the same as
    "Soma 350 mg qid; Xanax" (missing items of the list are skipped; an item
    holding the separator is split there, as the text would be). The outputs'
    `patient_id` has the dtype of the frame's (integer ids stay integers), so
    they merge back onto it without a cast. Raises `InputError` when the
    columns fit no layout.
    """
    pd = pandas()
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"screen_frame needs a pandas DataFrame, not {type(frame).__name__}")
    if columns is not None and (not isinstance(columns, dict)
                                or not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items())):
        raise InputError("columns maps names to the frame's column names, e.g. {'patient_id': 'member_id'}")
    try:
        layout = Layout(layout) if layout else None
    except ValueError:
        raise InputError(f"layout '{layout}' is not one of {', '.join(item.value for item in Layout)}") from None
    vocab = codebook(knowledge)
    original = frame
    frame = _lists_joined(frame, separator)
    layout, blocks = frame_blocks(frame, layout, columns, rows=max(len(frame), 1))
    found, pats = [], []
    for block in blocks:
        f, p = screen_block(vocab, layout, block, separator, window, measures=measures)
        found.append(f)
        pats.append(p)
    ids = _id_column(original, layout, columns)
    return _caller_ids(_to_pandas(found), ids), _caller_ids(_to_pandas(pats, categorical=("unrecognized",)), ids)


def _lists_joined(frame: pd.DataFrame, separator: str) -> pd.DataFrame:
    """`frame` with each list-valued cell (list, tuple, numpy array) written as its items joined by `separator`."""
    pd = pandas()

    def joined(value):
        if isinstance(value, list | tuple | np.ndarray):
            return f"{separator} ".join(str(item) for item in value if item is not None and not pd.isna(item))
        return value

    out = None
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object and series.map(lambda v: isinstance(v, list | tuple | np.ndarray)).any():
            out = frame.copy() if out is None else out
            out[column] = series.map(joined)
    return frame if out is None else out


def _id_column(frame: pd.DataFrame, layout: Layout, columns: dict[str, str] | None) -> pd.Series | None:
    """The frame's patient id column (whatever it is called there), or None."""
    from .readers import canonical_columns

    names = canonical_columns([str(c) for c in frame.columns], layout, columns)
    for column, name in zip(frame.columns, names, strict=False):
        if name == "patient_id":
            return frame[column]
    return None


def _caller_ids(result: pd.DataFrame, ids: pd.Series | None) -> pd.DataFrame:
    """`result` with `patient_id` given back in the dtype of the caller's `ids` (the screen reads them as text).

    Left as text when the ids are text already, or when two of the caller's ids read as the same text (1 and
    "1" in one object column), since either could then be meant.
    """
    pd = pandas()
    if ids is None or "patient_id" not in result or ids.dtype == object or pd.api.types.is_string_dtype(ids):
        return result
    from .readers import cell_text

    lookup: dict[str, object] = {}
    for text, value in zip(cell_text(ids), ids, strict=True):
        if text in lookup and lookup[text] != value:
            return result
        lookup[text] = value
    shown = result["patient_id"].astype(str)
    if not shown.isin(list(lookup)).all():
        return result
    result = result.copy()
    result["patient_id"] = pd.Series([lookup[text] for text in shown], index=result.index, dtype=ids.dtype)
    return result


def _to_pandas(tables: list[pa.Table], categorical: tuple[str, ...] = ()) -> pd.DataFrame:
    """Blocks of results as one DataFrame: dictionary columns become categoricals, and so do the `categorical`
    columns in every block (the engine leaves a mostly-filled text column as text), so that a column's dtype
    does not depend on what the patients hold."""
    tables = [_dictionary_columns(t, categorical) for t in tables]
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    pandas()
    return table.to_pandas()


def _dictionary_columns(table: pa.Table, names: tuple[str, ...]) -> pa.Table:
    """`table` with the columns `names` dictionary-encoded where they are not."""
    for name in names:
        if name in table.column_names and not pa.types.is_dictionary(table.schema.field(name).type):
            table = table.set_column(table.column_names.index(name), name, pc.dictionary_encode(table.column(name)))
    return table


def _all_blocks(paths: list[str], layout, columns, block_bytes, delimiter: str | None = None,
                encoding: str | None = None, notes: list[str] | None = None) -> tuple[Layout, Iterator[Block]]:
    """Blocks of every input path in turn (all must have the same layout)."""
    several = len(paths) > 1
    first_layout, first = iter_blocks(paths[0], layout, columns, block_bytes, delimiter, encoding, notes,
                                      0 if several else None)

    def rest() -> Iterator[Block]:
        yield from first
        for k, path in enumerate(paths[1:], start=1):
            _, blocks = iter_blocks(path, first_layout, columns, block_bytes, delimiter, encoding, notes, k)
            yield from blocks

    return first_layout, rest()


def run(source: str, *, knowledge: Knowledge | None = None, findings_out=None, patients_out=None,
        layout: str | Layout | None = None, columns: dict[str, str] | None = None, separator: str = ";",
        window: int = DEFAULT_WINDOW, block_bytes: int = DEFAULT_BLOCK_BYTES, strict: bool = False,
        progress: Callable[[int, int | None], None] | None = None, jobs: int | None = 1,
        delimiter: str | None = None, encoding: str | None = None, measures: tuple | None = None) -> Summary:
    """Screen a file, a glob of files or '-' (stdin) block by block; write to the given writers.

    `jobs` > 1 screens one-row-per-patient CSV blocks in that many worker processes
    (outputs stay in input order); None chooses: every core, up to `AUTO_JOBS`, for
    inputs of at least four blocks, and for a plain CSV file of patients of two or three blocks
    when its first block says the rest would take `AUTO_POOL_SECONDS` or more here (its blocks
    are cut as one process cuts them, so its outputs are the same bytes either way).

    `findings_out` and `patients_out` are `writers.Writer`s (or None to skip). With
    `strict`, the first invalid patient raises `InputError` naming its line.
    `progress(bytes_done, bytes_total)` is called after each block. `delimiter` is
    detected from each CSV header unless given; `encoding` is UTF-8 unless given. `measures`: the
    claims' concurrent-use measures (`claims.ConcurrentUse`; None: `claims.MEASURES`), one patients
    column each.
    """
    started = time.perf_counter()
    vocab = codebook(knowledge)
    paths = expand_inputs(source)
    total = None if "-" in paths else sum(input_size(p) or 0 for p in paths)
    jobs, adaptive = _jobs(jobs, paths, total, block_bytes)
    # What the workers send back of the patients: the status column (for the summary), the
    # whole table (--strict reads it), or, for a CSV output, its lines already encoded.
    if strict or (patients_out is not None and getattr(patients_out, "format", None) is not TableFormat.CSV):
        send = "table"
    else:
        send = "csv" if patients_out is not None else "status"
    # And of the findings: the severity column (for the summary), the table, or its CSV lines. Encoding
    # the findings was half of what the writing process did on a realistic population, and it held
    # the workers back: the one process that writes now only writes bytes.
    if findings_out is None:
        send_findings = "severity"
    else:
        send_findings = "csv" if getattr(findings_out, "format", None) is TableFormat.CSV else "table"
    notes: list[str] = []
    sources = paths if len(paths) > 1 else None
    # Workers leave large encoded blocks in files beside the output (see `_spooled`).
    spool_home = next((os.path.dirname(out.partial) for out in (findings_out, patients_out)
                       if getattr(out, "partial", None)), None)
    parallel = _parallel_results(vocab, paths, layout, columns, block_bytes, separator, window,
                                 (send, send_findings), jobs, delimiter, encoding, notes,
                                 total if adaptive else None, spool_home) if jobs > 1 else None
    if parallel is not None:
        layout_, results = parallel
    else:
        layout_, blocks = _all_blocks(paths, Layout(layout) if layout else None, columns, block_bytes,
                                      delimiter, encoding, notes)
        if layout_ is not Layout.PATIENTS:
            blocks = grouped(blocks)
        if layout_ is not Layout.PATIENTS and jobs > 1 and not adaptive:
            # Claims and items: every patient's rows are put together here, and the blocks of whole
            # patients are screened in the workers (this process reads, groups and writes).
            results = _pooled_blocks(vocab, layout_, blocks, separator, window, (send, send_findings), jobs,
                                     sources, measures, spool_home)
        else:
            results = _with_ids(vocab, layout_, blocks, separator, window, sources=sources, measures=measures)
    try:
        summary = write_results(watch_split_patients(results, sources), layout_, findings_out, patients_out, strict,
                                progress, total, measures)
    except SplitPatient as exc:
        getattr(results, "close", lambda: None)()  # stop the workers now, not after the second reading
        outputs = [o for o in (findings_out, patients_out) if o is not None]
        if "-" in paths or not all(getattr(o, "restartable", False) for o in outputs):
            raise InputError(f"{exc}: with stdin or stdout the one-row-per-patient layout merges the rows of "
                             "one patient only within a block; write the outputs to files (-o, --patients), "
                             "sort the input by patient_id, or use the items layout") from None
        # The outputs were discarded (write_results): read the input again, grouped by patient id.
        for out in outputs:
            out.restart()
        _, blocks = _all_blocks(paths, layout_, columns, block_bytes, delimiter, encoding)
        results = _with_ids(vocab, layout_, grouped(blocks), separator, window, hashes=False, sources=sources,
                            measures=measures)
        summary = write_results(watch_split_patients(results, sources), layout_, findings_out, patients_out,
                                strict, progress, total, measures)
        summary.notes.append(f"rows of one patient were apart ({exc}), so the input was read again "
                             "grouped by patient id to merge them: the outputs come in groups, not in input order "
                             "(sort by line for input order).")
    summary.notes[:0] = list(dict.fromkeys(notes))
    summary.seconds = time.perf_counter() - started
    return summary


def _with_ids(vocab, layout: Layout, blocks: Iterator[Block], separator: str, window: int, hashes: bool = True,
              sources: list[str] | None = None, measures: tuple | None = None):
    """(findings, patients, bytes, ids) of each block, where ids are the `id_hashes` the split-patient
    watch is to add: only for the one-row-per-patient layout, whose rows of one patient are merged
    only within a block, and only once a second block shows there is more than one (hashing
    imports pandas, which a small run does not otherwise need)."""
    watch = hashes and layout is Layout.PATIENTS
    first_ids = None
    for k, block in enumerate(blocks):
        findings, patients = screen_block(vocab, layout, block, separator, window, sources, measures)
        ids: list = []
        if watch and k == 0:
            first_ids = patients.select(["patient_id", "line"])
        elif watch:
            if k == 1:
                ids.append(id_hashes(first_ids))
            ids.append(id_hashes(patients))
        yield findings, patients, block.nbytes, ids


def write_results(results: Iterator[tuple[pa.Table, pa.Table, int]], layout: Layout, findings_out,
                  patients_out, strict: bool, progress: Callable[[int, int | None], None] | None,
                  total: int | None, measures: tuple | None = None) -> Summary:
    """Write (findings, patients, input bytes) results in order, count them, and close the outputs.

    Shared by every engine, so all write and count the same way. With `strict`, the
    first invalid patient raises `InputError` naming its line.
    """
    outputs = [o for o in (findings_out, patients_out) if o is not None]
    try:
        summary = _write_all(results, layout, findings_out, patients_out, strict, progress, total, measures)
    except BaseException:  # an error, Ctrl-C or SIGTERM: leave no output that looks complete
        for out in outputs:
            getattr(out, "discard", lambda: None)()
        raise
    for out in outputs:
        getattr(out, "commit", lambda: None)()
    return summary


def _write_all(results, layout: Layout, findings_out, patients_out, strict: bool, progress, total,
               measures: tuple | None = None) -> Summary:
    summary = Summary(layout=layout.value)
    done = 0
    empty_f = empty_p = None
    for findings, patients, nbytes in results:
        if strict:
            invalid = patients.filter(pc.equal(_decoded(patients.column("status")), "invalid"))
            if len(invalid):
                first = invalid.take([int(np.argmin(invalid.column("line").to_numpy()))]).to_pylist()[0]
                raise InputError(f"invalid input at line {first['line']} (patient '{first['patient_id']}'): "
                                 f"{first['error']}")
        if findings_out is not None:
            findings_out.write(findings)
        if patients_out is not None:
            patients_out.write(patients)
        if empty_f is None:  # rows already encoded (a worker's CSV lines) have their header written
            empty_f = findings.slice(0, 0) if isinstance(findings, pa.Table) else None
            empty_p = patients.slice(0, 0) if isinstance(patients, pa.Table) else None
        summary.add(findings, patients)
        done += nbytes
        if progress is not None:
            progress(done, total)
    if empty_f is None:
        empty_f, empty_p = _empty_outputs(layout, measures)
    if findings_out is not None:
        findings_out.close(empty_f)
    if patients_out is not None:
        patients_out.close(empty_p)
    return summary


FIRST_BLOCK_SHARE = 4
"""With worker processes for an input of four blocks or more, the first block (screened before they start) is
this many times smaller."""

AUTO_JOBS = 2
"""The most worker processes `jobs=None` starts (the machines this runs on have two cores or more)."""

AUTO_POOL_SECONDS = 2.0
"""With `jobs=None`, a plain CSV file of two or three blocks goes to worker processes only when its first
block says the rest would take this long or longer in one process: starting them costs a fraction of a
second, and on a population whose every list is new (a realistic export) 27 MB took 78 s in one, 53 s in two."""

_WORKER: tuple | None = None
"""What a forked worker screens with: set in the parent just before the pool starts, inherited by fork."""


def _jobs(jobs: int | None, paths: list[str], total: int | None, block_bytes: int) -> tuple[int, bool]:
    """(how many worker processes to use (1: screen in this process), whether the first block decides)."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return 1, False  # workers inherit the loaded knowledge through fork
    if jobs is not None:
        return max(1, jobs), False
    # The CPUs this process may use (taskset, cgroups), not every CPU of the machine.
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = min(AUTO_JOBS, cpus)
    if total is None or workers < 2:
        return 1, False  # stdin, or one core
    if total >= 4 * block_bytes:
        return workers, False
    # Two or three blocks: the first, timed, decides (`_pooled`). Only for plain files, whose size is what
    # is read (a gzip file's is not), and never for one block: that is screened as one process would.
    plain = all(not (is_parquet(p) or is_gzip(p)) for p in paths)
    return (workers, True) if plain and total > block_bytes else (1, False)


def _parallel_results(vocab, paths, layout, columns, block_bytes, separator, window, send, jobs,
                      delimiter=None, encoding=None, notes=None, adaptive_total=None, spool_home=None):
    """(layout, results) screening CSV blocks in `jobs` forked processes, or None when the input
    does not suit (Parquet, or the items and claims layouts, whose patients span blocks).

    With `adaptive_total` (the input's size), the first block decides whether the workers start at all
    (`_pooled`), and every block is cut as one process cuts them (the first is a whole block): rows of one
    patient then meet in a block, or not, as they do with `jobs=1`, and the outputs are the same bytes."""
    from .readers import iter_raw_blocks

    tried: list[str] = []
    first_bytes = block_bytes if adaptive_total is not None else block_bytes // FIRST_BLOCK_SHARE
    # The first block is screened here before the workers start (see `_pooled`): a quarter of a block is
    # enough to read the entries most patients share, and the workers wait for it. When that block decides
    # whether they start at all, it is a whole block, as one process cuts it.
    opened = [iter_raw_blocks(path, Layout(layout) if layout else None, columns, block_bytes, delimiter, encoding,
                              tried, first_bytes=first_bytes if k == 0 else None)
              for k, path in enumerate(paths)]
    if any(o is None or o.layout is not Layout.PATIENTS for o in opened):
        for o in opened:
            if o is not None:
                o.blocks.close()  # type: ignore[attr-defined]
        return None
    if len({(tuple(o.header), tuple(o.names), o.delimiter) for o in opened}) > 1:  # type: ignore[union-attr]
        for o in opened:
            o.blocks.close()  # type: ignore[union-attr]
        return None  # different headers: leave it to the one-process path, which reports it
    first = opened[0]
    assert first is not None
    if notes is not None:
        notes.extend(tried)
    # Each block goes with the number of its file, for the source_file column of several inputs.
    raw = chain.from_iterable(((*item, k) for item in o.blocks) for k, o in enumerate(opened))  # type: ignore[union-attr]
    sources = paths if len(paths) > 1 else None
    return Layout.PATIENTS, _pooled(vocab, raw, first.header, first.names, separator, send, jobs, first.delimiter,
                                    sources, adaptive_total, spool_home)


def _pooled(vocab, raw, header, names, separator, send, jobs, delimiter=",", sources=None, adaptive_total=None,
            spool_home=None):
    """Results of the raw blocks, in order, with at most 2 × `jobs` blocks in flight (memory stays bounded).

    With `adaptive_total` (the input's size in bytes), the workers start only if the first block, timed,
    says the rest would take `AUTO_POOL_SECONDS` or more here; otherwise the rest is screened here too."""
    global _WORKER
    _WORKER = (vocab, header, names, separator, send, delimiter, sources)
    # The first block is screened here, before the fork: the workers then start with its readings
    # and walks in their copy of `vocab`, instead of each reading every common entry again (on a
    # realistic population that first reading is most of a block's time).
    first = next(raw, None)
    if first is None:
        return
    started = time.perf_counter()
    result = _screen_raw(first)
    took = time.perf_counter() - started
    yield result
    if adaptive_total is not None:
        done = max(first[2], 1)  # the first block's bytes
        if took * max(adaptive_total - done, 0) / done < AUTO_POOL_SECONDS:
            yield from map(_screen_raw, raw)
            return
    yield from _in_pool(_screen_raw, raw, jobs, spool_home)


def _pooled_blocks(vocab, layout: Layout, blocks: Iterator[Block], separator: str, window: int, send, jobs: int,
                   sources: list[str] | None, measures: tuple | None, spool_home: str | None = None):
    """Results of blocks that hold every row of their patients (`grouped`), screened in `jobs` forked
    processes, in order, at most 2 × `jobs` blocks in flight. Unlike `_pooled`, no block is screened here
    first (grouping has read the whole input before the first block comes, and claims name few drugs),
    but the first is taken before the fork: the processes must not be forked while the CSV reader's
    threads run (a child inherits their locks held, and hangs)."""
    global _WORKER
    _WORKER = (vocab, layout, separator, window, send, sources, measures)
    first = next(blocks, None)
    if first is None:
        return
    yield from _in_pool(_screen_whole, chain([first], blocks), jobs, spool_home)


def _in_pool(work, items, jobs: int, spool_home: str | None = None):
    """`work(item)` of each item in `jobs` forked processes, in order, with two items per worker in flight:
    a worker never waits while this process writes, and memory stays bounded. Their large CSV blocks come
    back as files in a private folder made in `spool_home` (None: the system's temporary folder), removed
    with whatever is left in it when the pool ends (`_spooled`).

    A `concurrent.futures` pool, not a `multiprocessing.Pool`: that one replaces a worker that dies but loses
    its block, so the run waited for it for ever, and its `terminate` hangs when the worker died holding the
    task queue's lock. Here a dead worker breaks the pool, and the run ends with `WorkerLost`."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    spool = tempfile.mkdtemp(prefix=".screener-blocks-", dir=spool_home)  # 0700: only this user reads it
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"), initializer=_one_thread_each,
                               initargs=(spool,))
    try:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool:  # a worker ended without its result (on a submit or on waiting for one)
        _stop(pool)
        raise WorkerLost("a worker process of this run ended before it gave its result (killed, out of "
                         "memory, or its result could not be sent); no output was written: run again, with "
                         "--jobs 1 or a smaller --block-size if it happens again") from None
    except BaseException:  # an error, Ctrl-C, SIGTERM, or the run stopped reading: stop the workers now
        _stop(pool)
        raise
    else:
        pool.shutdown()
    finally:
        shutil.rmtree(spool, ignore_errors=True)  # blocks not written (a run that failed) go with it


def _stop(pool) -> None:
    """Stop a pool's workers now, running tasks included. The pool has no public way to stop a running task;
    its processes are stopped as `multiprocessing.Pool.terminate` does (each is screening a block nobody will
    read)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)  # shutdown() forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5)  # gone before their folder of blocks is removed
    # A worker stopped while it sent a result leaves half a message in the pipe, and the pool's thread that
    # reads results waits for the rest for ever: the interpreter then hangs at exit, joining it (seen after
    # a run that read its input again). With the workers gone, this process's end of the pipe is its last
    # writer: closed, the read ends, the thread sees a broken pool and stops.
    writer = getattr(results, "_writer", None)
    if writer is not None:
        writer.close()


def _screen_whole(block: Block):
    """In a worker: screen one block of whole patients (claims or items layout), and send back what the parent
    needs (see `_sent`)."""
    assert _WORKER is not None, "set by the parent before the pool forks"
    vocab, layout, separator, window, send, sources, measures = _WORKER
    findings, patients = screen_block(vocab, layout, block, separator, window, sources, measures)
    return (*_sent(findings, patients, send), block.nbytes, [])


def _sent(findings: pa.Table, patients: pa.Table, send) -> tuple:
    """Of a worker's findings and patients, what the parent needs (see `run`): the tables, their CSV lines, or
    only the columns the summary counts. Sending 100,000 rows between processes is not free, and encoding them
    as CSV in the workers, in parallel, keeps that work off the one process that writes."""
    from .writers import EncodedRows, csv_pieces

    send_patients, send_findings = send
    if send_patients == "csv":
        patients = EncodedRows(_spooled(csv_pieces(patients)), patients.schema, patients.select(["status"]))
    elif send_patients == "status":
        patients = patients.select(["status"])
    if send_findings == "csv":
        findings = EncodedRows(_spooled(csv_pieces(findings)), findings.schema, findings.select(["severity"]))
    elif send_findings == "severity":
        findings = findings.select(["severity"])
    return findings, patients


SPOOL_BYTES = 16 << 20
"""A worker's encoded block larger than this goes to a file (see `_spooled`)."""

_SPOOL: str | None = None
"""In a worker: the folder its large encoded blocks go to (set by `_one_thread_each`); None in the parent."""


def _spooled(pieces: Iterator[bytes]) -> list[bytes] | str:
    """CSV pieces of a block as they are, or, in a worker once they pass `SPOOL_BYTES`, the path of a file
    holding them all (`Writer.write` appends it to the output and removes it). On a realistic population a
    block's findings are ~45 times its input: held by the worker, sent through a pipe and held again by
    the parent for every block in flight, they made two workers' run use three times one process's memory."""
    held: list[bytes] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if _SPOOL is not None and size > SPOOL_BYTES:
            handle, path = tempfile.mkstemp(suffix=".csv", dir=_SPOOL)
            with os.fdopen(handle, "wb") as out:
                out.writelines(held)
                held.clear()
                for rest in pieces:
                    out.write(rest)
            return path
    return held


def _one_thread_each(spool: str | None = None) -> None:
    """In a worker: parse with one thread (the workers already use every core between them), and leave
    signals to the parent: Ctrl-C is the parent's to handle, and SIGTERM (how the pool stops its
    workers) must end a worker at once, not run a handler the worker inherited from the command.
    Large encoded blocks go to files in `spool` (`_spooled`)."""
    import signal

    import pyarrow as pa

    global _SPOOL
    _SPOOL = spool
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    pa.set_cpu_count(1)


def _screen_raw(item: tuple):
    """In a worker: parse and screen one raw block (its bytes, or a `FileSlice` to read).

    Of the patients and the findings, only what the parent needs comes back (`_sent`).
    """
    from .readers import FileSlice, parse_block, tag_source

    assert _WORKER is not None, "set by the parent before the pool forks"
    vocab, header, names, separator, send, delimiter, sources = _WORKER
    data, first_line, nbytes, source = item
    if isinstance(data, FileSlice):
        data = data.read()
    block = parse_block(data, header, names, Layout.PATIENTS, first_line, delimiter)
    if sources is not None:
        block = tag_source(block, source)
    findings, patients = screen_block(vocab, Layout.PATIENTS, block, separator, sources=sources)
    ids = [id_hashes(patients)]
    return (*_sent(findings, patients, send), nbytes, ids)


def _empty_outputs(layout: Layout, measures: tuple | None = None) -> tuple[pa.Table, pa.Table]:
    cols = FINDING_COLUMNS + (["overlap_start", "overlap_days"] if layout is Layout.CLAIMS else [])
    findings = pa.table({c: pa.array([], type=pa.int64() if c == "overlap_days" else pa.string()) for c in cols})
    patients = pa.table({c: pa.array([], type=pa.string() if c in ("patient_id", "status", "highest_severity",
                                                                     "unrecognized", "error", "suppressed")
                                      else pa.int64())
                         for c in PATIENT_COLUMNS})
    if layout is Layout.CLAIMS:  # the claims screen's measure columns, as a block of claims has them
        from .claims import MEASURES

        for measure in MEASURES if measures is None else measures:
            patients = patients.append_column(measure.column, pa.array([], type=pa.string()))
    return findings, patients
