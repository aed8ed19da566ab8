"""Grouping rows by patient: the `items` and `claims` layouts, whose rows of one patient may be anywhere.

`grouped` turns the blocks read from a file into blocks in which every patient's rows are together. The
rows are spread over `PARTITIONS` partitions by a hash of the patient id, and the partitions are read back
in order, as many together in one block as make no more rows than the largest block read.

An input of at most `IN_MEMORY_BYTES` is grouped in memory, as Arrow tables: one sort, and a `take` per
block. A larger one is spread over temporary partition files as it is read, so memory stays bounded by the
block size. Both give the same blocks, rows and bad lines in the same order (tested).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .lazy_pandas import pandas
from .readers import BadRow, Block

PARTITIONS = 64
"""Partitions used to group `items` and `claims` inputs larger than one block."""

IN_MEMORY_BYTES = 64 << 20
"""Inputs up to this many bytes are grouped in memory. Spreading them over partition files and reading them
back (pickling every row twice) was 0.6 s of the 1.4 s that grouping a million claims (57 MB) took, while
the workers waited for it."""


def grouped(blocks: Iterator[Block], partitions: int = PARTITIONS,
            in_memory_bytes: int = IN_MEMORY_BYTES) -> Iterator[Block]:
    """Blocks in which every patient's rows are together (see the module docstring). One block passes
    through; an input of at most `in_memory_bytes` is grouped in memory, a larger one through files."""
    blocks = iter(blocks)
    held: list[Block] = []
    size = 0
    block: Block | None = None
    for block in blocks:
        held.append(block)
        size += block.nbytes
        if size > in_memory_bytes and len(held) > 1:  # one block passes through, however large
            del block  # held (and let go of) by the files from here
            yield from _grouped_through_files(chain(_handed_over(held), blocks), partitions)
            return
    block = None  # the last block read is in `held`, which lets go of it
    if len(held) == 1:
        yield held.pop()
    elif held:
        yield from _grouped_in_memory(held, partitions)


def _handed_over(held: list[Block]) -> Iterator[Block]:
    """The blocks of `held`, each let go of as it is taken (the list would keep them all alive)."""
    held.reverse()
    while held:
        yield held.pop()


def partition_of(ids: pa.Array | pa.ChunkedArray, partitions: int) -> np.ndarray:
    """The partition of each patient id: a hash of the id as the layouts read it (stripped; missing is '').
    Each distinct id is stripped and hashed once."""
    pd = pandas()
    encoded = pc.dictionary_encode(ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids)
    values = np.asarray([v.strip() if v else "" for v in encoded.dictionary.to_pylist()] + [""], dtype=object)
    hashes = (pd.util.hash_array(values, categorize=False) % np.uint64(partitions)).astype(np.int64)
    codes = pc.fill_null(encoded.indices, len(values) - 1).to_numpy()
    return hashes[codes]


def _bad_partitions(bad: list[BadRow], partitions: int) -> np.ndarray:
    """The partition of each unreadable line, by its patient id as `partition_of` hashes it."""
    return partition_of(pa.array([b.patient_id for b in bad], type=pa.string()), partitions)


def group_plan(rows: np.ndarray, bad: np.ndarray, most: int, nbytes: int) -> list[tuple[int, int, int]]:
    """(first partition, partition after the last, input bytes) of each block to read back: partitions
    go together while their `rows` (per partition) stay under `most`, the rows of the largest block read
    (a small input is a few blocks, not one per partition); a partition with no rows and no `bad` lines
    starts none. The input's `nbytes` are shared by rows (for progress; the last block takes the rest)."""
    plan: list[tuple[int, int]] = []
    start, held, any_held = 0, 0, False
    last = len(rows) - 1
    for k in range(len(rows)):
        held += int(rows[k])
        any_held = any_held or bool(rows[k]) or bool(bad[k])
        if any_held and (k == last or held >= most):
            plan.append((start, k + 1))
            start, held, any_held = k + 1, 0, False
    total = max(int(rows.sum()), 1)
    out, given, seen = [], 0, 0
    for i, (a, b) in enumerate(plan):
        seen += int(rows[a:b].sum())
        share = nbytes - given if i == len(plan) - 1 else nbytes * seen // total - given
        out.append((a, b, share))
        given += share
    return out


def _grouped_in_memory(blocks: list[Block], partitions: int) -> Iterator[Block]:
    """Blocks of whole patients from blocks held in memory (`blocks` is emptied: they are let go of once
    joined): one stable sort by partition (rows keep their order within a partition), then one `take` per
    block read back."""
    tables = [block.table for block in blocks]
    # One chunk: a take across the chunks of the blocks read was half of the grouping's time.
    table = pa.concat_tables(tables, promote_options="permissive").combine_chunks()
    part = partition_of(table.column("patient_id"), partitions)
    order = np.argsort(part, kind="stable")
    ends = np.searchsorted(part[order], np.arange(partitions + 1))
    bad = [b for block in blocks for b in block.bad]
    bad_part = _bad_partitions(bad, partitions)
    plan = group_plan(np.diff(ends), np.bincount(bad_part, minlength=partitions),
                      max(len(t) for t in tables), sum(block.nbytes for block in blocks))
    blocks.clear()
    del tables
    # Unreadable lines by partition too, in input order within each (as the files hold them).
    bad_order = np.argsort(bad_part, kind="stable")
    bad = [bad[i] for i in bad_order]
    bad_ends = np.searchsorted(bad_part[bad_order], np.arange(partitions + 1))
    for a, b, nbytes in plan:
        rows = table.take(pa.array(order[ends[a]:ends[b]], type=pa.int64()))
        yield Block(rows, bad[bad_ends[a]:bad_ends[b]], nbytes)


def _grouped_through_files(blocks: Iterator[Block], partitions: int) -> Iterator[Block]:
    """Blocks of whole patients through `partitions` temporary files: each block read is spread over them
    as it comes, then they are read back in order (see `group_plan`)."""
    tmp = tempfile.mkdtemp(prefix="screener-batch-")
    try:
        files = [open(os.path.join(tmp, f"{k}.pkl"), "wb") for k in range(partitions)]  # noqa: SIM115 - closed below
        rows = np.zeros(partitions, dtype=np.int64)
        bad_rows = np.zeros(partitions, dtype=np.int64)
        most = nbytes = 0  # rows of the largest block read: what a block read back may hold
        try:
            for block in blocks:
                table = block.table
                most = max(most, len(table))
                nbytes += block.nbytes
                part = partition_of(table.column("patient_id"), partitions)
                bad_part = _bad_partitions(block.bad, partitions)
                # One stable sort by file, then a take per file (rows keep their order within a file; a
                # slice would pickle the whole block's buffers).
                order = np.argsort(part, kind="stable")
                ends = np.searchsorted(part[order], np.arange(partitions + 1))
                for k in range(partitions):
                    bad = [b for b, q in zip(block.bad, bad_part) if q == k]
                    if ends[k + 1] > ends[k] or bad:
                        mine = table.take(pa.array(order[ends[k]:ends[k + 1]], type=pa.int64()))
                        pickle.dump((mine, bad), files[k], protocol=5)
                        rows[k] += len(mine)
                        bad_rows[k] += len(bad)
            block = table = mine = None  # type: ignore[assignment]  # the last block read, let go of too
        finally:
            for handle in files:
                handle.close()
        for a, b, share in group_plan(rows, bad_rows, most, nbytes):
            tables, bad = [], []
            for k in range(a, b):
                with open(os.path.join(tmp, f"{k}.pkl"), "rb") as spilled:
                    while True:
                        try:
                            mine, mine_bad = pickle.load(spilled)
                        except EOFError:
                            break
                        tables.append(mine)
                        bad.extend(mine_bad)
                os.remove(os.path.join(tmp, f"{k}.pkl"))
            # Each patient is in one file, so a block of whole files holds every row of its patients.
            yield Block(pa.concat_tables(tables, promote_options="permissive"), bad, share)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
