"""`--engine dask`: the same screen, one partition per task, on a Dask cluster.

The client reads the input as raw blocks of whole lines (no parsing) and sends
each block to a worker, which parses and screens it exactly as the pandas engine
does (`screen_block`) and sends back the two result frames. The client writes
them in input order, so the outputs equal the pandas engine's byte for byte.

Sending bytes instead of paths means workers need not see the client's files:
an existing cluster (`--scheduler tcp://host:8786`) works as well as the local
one. The compiled knowledge index is broadcast once; each worker builds its
codebook on first use and keeps it. At most `2 × workers` blocks are in
flight, so the client's memory stays bounded too.

Items and claims are grouped by patient first (on the client, with the same
`grouping.grouped` as the pandas engine), and each group of patients is a task.
Parquet row groups are read on the client and sent as frames.

Use it when one core is the bottleneck and the input is large (hundreds of
megabytes and up), or to spread a very large input over several machines.
Below that, the cluster start-up (about a second) and the transfer of blocks
cost more than they save.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InputError
from . import (
    DEFAULT_BLOCK_BYTES,
    DEFAULT_WINDOW,
    SplitPatient,
    Summary,
    grouped,
    id_hashes,
    screen_block,
    watch_split_patients,
    write_results,
)
from .readers import (
    Block,
    Layout,
    canonical_columns,
    detect_layout,
    expand_inputs,
    input_size,
    is_parquet,
    iter_blocks,
    open_binary,
    parse_block,
    raw_csv_blocks,
    read_header,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..api import Knowledge

_WORKER_CODEBOOKS: dict = {}


def _codebook_on_worker(index):
    from .engine import Codebook

    got = _WORKER_CODEBOOKS.get(index.version)
    if got is None:
        _WORKER_CODEBOOKS.clear()
        got = _WORKER_CODEBOOKS[index.version] = Codebook(index)
    return got


def screen_raw(index, layout_value: str, raw: bytes, header, names, first_line: int, separator: str, window: int,
               delimiter: str = ","):
    """Worker task: parse one raw block of records and screen it."""
    layout = Layout(layout_value)
    block = parse_block(raw, header, names, layout, first_line, delimiter)
    return screen_block(_codebook_on_worker(index), layout, block, separator, window)


def screen_parsed(index, layout_value: str, block: Block, separator: str, window: int, measures=None):
    """Worker task: screen a block that is already parsed (grouped items or claims, Parquet)."""
    return screen_block(_codebook_on_worker(index), Layout(layout_value), block, separator, window, measures)


def _client(scheduler: str | None, workers: int | None):
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def run_dask(source: str, *, knowledge: Knowledge | None = None, findings_out=None, patients_out=None,
             layout: str | Layout | None = None, columns: dict[str, str] | None = None, separator: str = ";",
             window: int = DEFAULT_WINDOW, block_bytes: int = DEFAULT_BLOCK_BYTES, strict: bool = False,
             progress: Callable[[int, int | None], None] | None = None, scheduler: str | None = None,
             workers: int | None = None, delimiter: str | None = None, encoding: str | None = None,
             measures: tuple | None = None) -> Summary:
    """Like `screener.batch.run`, on a Dask cluster (local unless `scheduler` names one)."""
    from .lazy_pandas import pandas

    pandas()  # Dask DataFrame is built on pandas
    from ..extras import require

    require("dask.distributed", "batch --engine dask")  # MissingExtraError names the `dask` extra
    if knowledge is None:
        from ..api import default_knowledge

        knowledge = default_knowledge()
    started = time.perf_counter()
    paths = expand_inputs(source)
    total = None if "-" in paths else sum(input_size(p) or 0 for p in paths)
    forced = Layout(layout) if layout else None

    if "-" in paths:
        raise InputError("--engine dask reads files, not stdin; save the input to a file first")
    # Work out the layout from the first input before starting any cluster.
    first = paths[0]
    if is_parquet(first):
        layout_, _ = iter_blocks(first, forced, columns, block_bytes)
    else:
        layout_ = forced or detect_layout(_peek_header(first, delimiter, encoding), columns)

    client, cluster = _client(scheduler, workers)
    try:
        index = client.scatter(knowledge.index, broadcast=True)
        width = 2 * max(1, len(client.scheduler_info()["workers"]))

        def tasks():
            """(future, input bytes) for every block, in input order."""
            if layout_ is Layout.PATIENTS and not any(is_parquet(p) for p in paths):
                for path in paths:
                    handle = open_binary(path, encoding)
                    header, sep = read_header(handle.readline(), delimiter)
                    names = canonical_columns(header, layout_, columns)
                    for raw, first_line, nbytes in raw_csv_blocks(handle, path, block_bytes, sep, len(header)):
                        yield client.submit(screen_raw, index, layout_.value, raw, header, names, first_line,
                                            separator, window, sep, pure=False), nbytes
                return

            def blocks():
                for path in paths:
                    _, these = iter_blocks(path, layout_, columns, block_bytes, delimiter, encoding)
                    yield from these

            stream = blocks() if layout_ is Layout.PATIENTS else grouped(blocks())
            for block in stream:
                yield client.submit(screen_parsed, index, layout_.value, block, separator, window, measures,
                                    pure=False), block.nbytes

        def results():
            """Results in input order, with at most `width` blocks in flight (client memory stays bounded)."""
            pending: deque = deque()

            def take():
                future, nbytes = pending.popleft()
                findings, patients = future.result()
                future.release()
                ids = [id_hashes(patients)] if layout_ is Layout.PATIENTS else []
                return findings, patients, nbytes, ids

            for task in tasks():
                pending.append(task)
                if len(pending) > width:
                    yield take()
            while pending:
                yield take()

        try:
            watched = watch_split_patients(results(), paths if len(paths) > 1 else None)
            summary = write_results(watched, layout_, findings_out, patients_out, strict, progress, total,
                                    measures)
        except SplitPatient as exc:
            raise InputError(f"{exc}: the Dask engine merges the rows of one patient only within a block; sort "
                             "the input by patient_id, use the items layout, or use --engine pandas") from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _peek_header(path: str, delimiter: str | None = None, encoding: str | None = None) -> list[str]:
    if path == "-":
        raise InputError("--engine dask reads files, not stdin; save the input to a file first")
    handle = open_binary(path, encoding)
    try:
        return read_header(handle.readline(), delimiter)[0]
    finally:
        handle.close()
