"""`screener batch`: screen a population from CSV, gzip or Parquet files.

A thin adapter over `screener.batch.run` (or the Dask engine). pandas, pyarrow
and Dask are imported inside the command, so `screener check` and `--help` never
pay for them. The `screener` group imports this module only when `batch` runs (`LazyGroup`).
"""

from __future__ import annotations

import errno
import os
import sys
import time
import zlib

import click

from ..model import Severity
from . import EXIT_FINDINGS
from .check import SEVERITIES
from .options import InputProblem, knowledge_options, load_from_options
from .output import OutputError, emit

_WRITE_ERRORS = {errno.EPIPE, errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
"""Errors only a write gives: an OSError without a file name and one of these is about an output."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT), as shells report it."""
EXIT_TERMINATED = 143
"""SIGTERM (128 + SIGTERM)."""


class _Terminated(Exception):
    """SIGTERM arrived: unwind so that the outputs written so far are removed."""


def _refuse_overwriting_inputs(source: str, outputs: list[str]) -> None:
    """An output that is an input (the same file by any path: a link, `./x.csv`) would be truncated while
    it is read: refuse before anything is opened for writing. Two outputs that are one file, likewise."""
    import os

    from ..batch.readers import expand_inputs

    try:
        inputs = [] if source == "-" else expand_inputs(source)
    except Exception:  # an unreadable input is reported by the run itself
        inputs = []
    existing = [p for p in outputs if os.path.exists(p)]
    for out in existing:
        for given in inputs:
            if os.path.exists(given) and os.path.samefile(out, given):
                raise click.UsageError(f"the output {out} is the input {given}: it would be overwritten while "
                                       "it is read; write to another file")
    # The same file by two paths (`same.csv`, `./same.csv`), whether or not it is there yet: both outputs
    # would be written under one temporary name, and one would be lost.
    if (len(existing) == 2 and os.path.samefile(*existing)) or (
            len(outputs) == 2 and os.path.realpath(outputs[0]) == os.path.realpath(outputs[1])):
        raise click.UsageError("-o and --patients name the same file; give two files")


def _columns(ctx, param, values) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, header = value.partition("=")
        if not sep or not name.strip() or not header.strip():
            raise click.BadParameter(f"'{value}' is not NAME=HEADER, e.g. patient_id=member_id", ctx, param)
        out[name.strip()] = header.strip()
    return out


def _measures(ctx, param, values) -> tuple | None:
    """The claims measures given (`claims.parse_measure`), or None for the default ones."""
    if not values:
        return None
    from ..batch.claims import parse_measure  # pandas: only when a measure is given
    from ..errors import InputError

    try:
        measures = tuple(parse_measure(v) for v in values)
    except InputError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    names = [m.name for m in measures]
    if len(set(names)) != len(names):
        raise click.BadParameter("two measures have the same name; name one NAME=PRESET,…", ctx, param)
    return measures


class _Progress:
    """A one-line progress display on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.last = 0.0
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self.last < 0.25:
            return
        self.last = now
        mb = done / 1e6
        if total:
            width = 30
            filled = int(width * min(done / total, 1))
            text = (f"[{'#' * filled}{'.' * (width - filled)}] {100 * done / total:3.0f}%  "
                    f"{mb:,.0f} of {total / 1e6:,.0f} MB")
        else:
            text = f"{mb:,.0f} MB read"
        emit(f"\r{text}  {now - self.started:,.0f} s", err=True, nl=False)

    def clear(self) -> None:
        if self.enabled and self.last:
            emit("\r" + " " * 78 + "\r", err=True, nl=False)


@click.command()
@click.argument("source", metavar="INPUT")
@click.option("-o", "--output", "output", metavar="FILE", default="-", show_default=True,
              help="Findings: one row per finding (.csv, .csv.gz, .parquet or .jsonl; '-' is stdout, CSV).")
@click.option("--patients", "patients_path", metavar="FILE",
              help="Also write one row per input patient: status, highest severity, counts, unrecognised items, error.")
@click.option("--layout", type=click.Choice(["patients", "items", "claims"]),
              help="Input layout (default: detected from the header).")
@click.option("--column", "columns", multiple=True, metavar="NAME=HEADER", callback=_columns,
              help="Read column NAME from the input column HEADER, e.g. patient_id=member_id (repeatable).")
@click.option("--separator", default=";", show_default=True,
              help="Separator between entries in the medications, conditions and allergies cells "
                   "(a line break inside a cell separates entries too).")
@click.option("--delimiter", metavar="CHAR",
              help="Field delimiter of a CSV input: , ; | or tab (default: detected from the header line).")
@click.option("--encoding", metavar="NAME",
              help="Text encoding of a CSV input, e.g. cp1252 or latin-1 (default: UTF-8; UTF-16 is "
                   "recognised by its byte-order mark).")
@click.option("--output-format", type=click.Choice(["csv", "parquet", "jsonl"]),
              help="Format of the outputs (default: from the file names; CSV on stdout).")
@click.option("--window", type=click.IntRange(1, 3650), default=90, show_default=True, metavar="DAYS",
              help="Claims: rolling window for the duration check (days of supply covered in any DAYS days).")
@click.option("--measure", "measures", multiple=True, metavar="SPEC", callback=_measures,
              help="Claims: a concurrent-use measure for the --patients column measure_NAME: a preset (cob, the "
                   "PQA opioid + benzodiazepine measure, the default) or NAME=PRESET,setting=value,… with "
                   "first, second, first-claims, first-days, second-claims, overlap, grace, stockpile=yes|no "
                   "(repeatable).")
@click.option("--block-size", type=click.IntRange(1, 1024), default=8, show_default=True, metavar="MB",
              help="Read the input this many megabytes at a time (memory grows with it, not with the input).")
@click.option("--strict", is_flag=True, help="Stop at the first invalid row (exit 2) instead of reporting it.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), metavar="LEVEL",
              help="Exit 1 when any finding is at or above LEVEL (default: exit 0 whatever is found).")
@click.option("--engine", type=click.Choice(["pandas", "dask"]), default="pandas", show_default=True,
              help="pandas: streaming on this machine. dask: partitions on a Dask cluster.")
@click.option("--jobs", type=click.IntRange(1, 64), metavar="N",
              help="pandas engine: screen blocks in N processes (default: up to 2 for inputs of four "
                   "blocks or more, and for a plain CSV file of patients of two or three blocks whose "
                   "first block says the rest would take 2 s or more); claims and items are first grouped "
                   "by patient here.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Dask: use the cluster at ADDRESS (tcp://host:8786) instead of starting a local one.")
@click.option("--workers", type=click.IntRange(1, 512), metavar="N",
              help="Dask: processes of the local cluster (default: CPU count).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress line on stderr (default: only when stderr is a terminal).")
@knowledge_options
def batch(source, output, patients_path, layout, columns, separator, delimiter, encoding, output_format, window,
          measures, block_size, strict, fail_on, engine, jobs, scheduler, workers, progress, knowledge_dir,
          layers) -> None:
    """Screen every patient in INPUT: a CSV, .csv.gz or Parquet file, a glob, or - for stdin.

    Layouts, detected from the header: one row per patient (patient_id,
    medications, conditions, allergies, age; entries separated by ';'), one row
    per item (patient_id, kind, value), or pharmacy claims (patient_id, drug,
    fill_date, days_supply, quantity, strength), where drugs interact only while
    their supply windows overlap. Findings are the same as `screener check` gives
    with the same knowledge (--knowledge, and the local layers of --data or
    $SCREENER_DATA).

    Every input patient appears once in --patients with status findings,
    no-findings, incomplete (something not recognised) or invalid (the row could
    not be read; the reason is in `error`). A summary goes to stderr.

    CSV is read as RFC 4180: quoted cells may hold line breaks (which separate
    entries, like ';'), the delimiter is detected from the header unless
    --delimiter is given, and rows sharing a patient id are one patient.

    \b
    Examples:
      screener batch patients.csv -o findings.csv --patients patients.csv
      screener batch claims.csv.gz -o findings.parquet --window 30
      screener batch claims.csv --patients p.csv --measure cob --measure cob7=cob,grace=7,stockpile=yes
      screener batch 'extract-*.csv' --column patient_id=member_id -o findings.jsonl
      cat patients.csv | screener batch - > findings.csv
      screener batch big.parquet -o findings.parquet --engine dask --scheduler tcp://10.0.0.5:8786
      screener batch patients.csv -o findings.csv --data ./st-elsewhere

    \b
    Exit codes: 0 done; 1 a finding at or above --fail-on; 2 usage error,
    unreadable input or knowledge, an invalid row with --strict, or an output
    that could not be written or is an input; 4 internal error; 130
    interrupted (Ctrl-C); 143 terminated (SIGTERM). Outputs are written under
    a temporary name and renamed only when the run succeeds: a failed or
    interrupted run leaves none (and an older output of that name untouched).
    """
    from ..errors import InputError, ScreenerError

    if separator == "":
        raise click.BadParameter("the separator cannot be empty", param_hint="--separator")
    if engine == "pandas" and (scheduler or workers):
        raise click.UsageError("--scheduler and --workers can only be used with --engine dask")
    if engine == "dask" and jobs:
        raise click.UsageError("--jobs is for the pandas engine; with --engine dask use --workers")
    if patients_path and patients_path == output and output != "-":
        raise click.UsageError("-o and --patients name the same file; give two files")
    if patients_path == "-" and output == "-":
        raise click.UsageError("only one output can go to stdout; give -o FILE or --patients FILE")
    _refuse_overwriting_inputs(source, [p for p in (output, patients_path) if p and p != "-"])
    from ..batch import run
    from ..batch.readers import check_encoding, delimiter_for
    from ..batch.writers import Writer, format_for

    try:
        delimiter = delimiter_for(delimiter)
        check_encoding(encoding)
        formats = [format_for(p, output_format) for p in (output, patients_path)]
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    knowledge = load_from_options(knowledge_dir, layers)

    show = sys.stderr.isatty() if progress is None else progress
    meter = _Progress(show)
    import signal

    parent = os.getpid()

    def terminated(signum, frame):
        if os.getpid() != parent:  # a forked worker inherited this handler: die as SIGTERM intends
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        findings_out = Writer(output, formats[0])
        patients_out = Writer(patients_path, formats[1]) if patients_path else None
        options = {"knowledge": knowledge, "findings_out": findings_out, "patients_out": patients_out, "layout": layout,
                   "columns": columns, "separator": separator, "window": window, "block_bytes": block_size << 20,
                   "strict": strict, "progress": meter, "delimiter": delimiter, "encoding": encoding,
                   "measures": measures}
        if engine == "dask":
            from ..batch.dask_engine import run_dask

            summary = run_dask(source, scheduler=scheduler, workers=workers, **options)
        else:
            summary = run(source, jobs=jobs, **options)
    except KeyboardInterrupt:
        meter.clear()
        emit("screener batch: interrupted; no output was written.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except _Terminated:
        meter.clear()
        emit("screener batch: terminated; no output was written.", err=True)
        sys.exit(EXIT_TERMINATED)
    except (InputError, ScreenerError) as exc:
        meter.clear()
        raise InputProblem(str(exc)) from None
    except (EOFError, zlib.error) as exc:  # a truncated or corrupt .gz input
        meter.clear()
        raise InputProblem(f"{source}: cannot be read as gzip: {exc}") from None
    except OSError as exc:
        meter.clear()
        if exc.filename is None and exc.errno in _WRITE_ERRORS:
            # A write to an output already open (stdout, -o, --patients): the input is not to blame.
            raise OutputError("stdout" if "-" in (output, patients_path) else "file", exc, "the output") from None
        raise InputProblem(f"{exc.filename or source}: {exc.strerror or exc}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    meter.clear()
    emit(summary.line(), err=True)
    if summary.layout == "claims":  # each measure reported with its parameters, so a rate can be reproduced
        from ..batch.claims import MEASURES

        for measure in measures or MEASURES:
            emit(f"screener batch: {measure.column} = {measure.parameters()}", err=True)
    if fail_on and any(n for s, n in summary.findings.items() if Severity(s).at_least(Severity(fail_on))):
        sys.exit(EXIT_FINDINGS)
