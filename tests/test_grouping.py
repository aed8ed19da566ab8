"""Grouping the rows of the items and claims layouts by patient (`batch.grouping`).

Whether an input is grouped in memory or through partition files, the blocks that come out must be the
same, every row must come out once, and every patient's rows must be in one block, in input order.
"""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings

from screener.batch.grouping import group_plan, grouped
from screener.batch.readers import BadRow, Block

IDS = st.sampled_from(["p1", " p1", "p1 ", "p2", "P2", "", "p3", "x" * 30, "ü", "p\u00a0", "p4", "p5"])
"""Ids that strip to the same patient ('p1', ' p1 '), differ only by case, are empty or not ASCII."""


@st.composite
def inputs(draw):
    """Blocks of rows (patient id, a value, the line) with a few unreadable lines, lines numbered in order."""
    blocks, line = [], 2
    for _ in range(draw(st.integers(1, 6))):
        rows = []
        bad = []
        for _ in range(draw(st.integers(0, 25))):
            if draw(st.integers(0, 9)) == 0:
                bad.append(BadRow(line, draw(IDS), "unclosed quote"))
            else:
                rows.append((draw(st.none() | IDS), f"v{line}", line))
            line += 1
        table = pa.table({"patient_id": pa.array([r[0] for r in rows], type=pa.string()),
                          "drug": pa.array([r[1] for r in rows], type=pa.string()),
                          "line": pa.array([r[2] for r in rows], type=pa.int64())})
        blocks.append(Block(table, bad, nbytes=draw(st.integers(0, 1000))))
    return blocks


def _copy(blocks: list[Block]) -> list[Block]:
    return [Block(b.table, list(b.bad), b.nbytes) for b in blocks]


def _key(patient_id) -> str:
    return (patient_id or "").strip()


@settings(max_examples=150, deadline=None)
@given(inputs(), st.sampled_from([1, 2, 3, 64]))
def test_in_memory_and_through_files_give_the_same_blocks(blocks, partitions):
    in_memory = list(grouped(_copy(blocks), partitions, in_memory_bytes=1 << 40))
    through_files = list(grouped(_copy(blocks), partitions, in_memory_bytes=-1))
    assert len(in_memory) == len(through_files)
    for a, b in zip(in_memory, through_files):
        assert a.table.equals(b.table)
        assert a.bad == b.bad
        assert a.nbytes == b.nbytes


@settings(max_examples=150, deadline=None)
@given(inputs(), st.sampled_from([1, 2, 3, 64]), st.booleans())
def test_every_row_once_and_every_patient_in_one_block_in_input_order(blocks, partitions, in_memory):
    lines_in = sorted([line for b in blocks for line in b.table.column("line").to_pylist()]
                      + [x.line for b in blocks for x in b.bad])
    out = list(grouped(_copy(blocks), partitions, in_memory_bytes=1 << 40 if in_memory else -1))
    lines_out = [line for b in out for line in b.table.column("line").to_pylist()] + [x.line for b in out
                                                                                     for x in b.bad]
    assert sorted(lines_out) == lines_in  # nothing lost, nothing repeated
    block_of: dict[str, int] = {}
    for k, block in enumerate(out):
        ids = block.table.column("patient_id").to_pylist() + [x.patient_id for x in block.bad]
        for patient in {_key(i) for i in ids}:
            assert block_of.setdefault(patient, k) == k  # one block per patient
        rows = block.table.to_pylist()
        for patient in {_key(r["patient_id"]) for r in rows}:
            mine = [r["line"] for r in rows if _key(r["patient_id"]) == patient]
            assert mine == sorted(mine)
    # Progress: the input's bytes are all given out (unless nothing at all comes out of it).
    if len(blocks) == 1:
        assert len(out) == 1 and out[0].nbytes == blocks[0].nbytes and out[0].table.equals(blocks[0].table)
    elif lines_in:
        assert sum(b.nbytes for b in out) == sum(b.nbytes for b in blocks)
    else:
        assert out == []


def test_one_block_passes_through_unchanged():
    block = Block(pa.table({"patient_id": ["b", "a"], "line": [2, 3]}), [], 10)
    assert list(grouped([block])) == [block]


def test_partitions_go_together_up_to_the_largest_block_and_bytes_follow_the_rows():
    # Partitions of 3, 0, 2, 4, 1 rows; blocks read had at most 4 rows: 3+0+2 reaches 4 (a block), then
    # 4 alone, then 1 (the last). The 100 bytes are shared by rows: 5/10, 4/10, the rest.
    plan = group_plan(rows=np.array([3, 0, 2, 4, 1]),
                      bad=np.array([0, 0, 0, 0, 0]), most=4, nbytes=100)
    assert plan == [(0, 3, 50), (3, 4, 40), (4, 5, 10)]


def test_a_partition_of_only_unreadable_lines_is_read_back():
    plan = group_plan(rows=np.array([0, 0, 5]), bad=np.array([0, 1, 0]), most=100, nbytes=7)
    assert plan == [(0, 3, 7)]
    plan = group_plan(rows=np.array([0, 0, 0]), bad=np.array([0, 0, 0]), most=100, nbytes=7)
    assert plan == []


@pytest.mark.parametrize("in_memory", [True, False])
def test_the_blocks_read_are_let_go_of_once_grouped(in_memory):
    # Memory stays bounded: no input block is kept alive while the grouped blocks come out.
    import gc
    import weakref

    def blocks():
        for k in range(4):
            yield Block(pa.table({"patient_id": [f"p{k}-{i}" for i in range(50)], "line": list(range(50))}), [], 10)

    read = []

    def watched():
        for block in blocks():
            read.append(weakref.ref(block))
            yield block

    out = grouped(watched(), 4, in_memory_bytes=1 << 40 if in_memory else 0)
    first = next(out)
    gc.collect()
    assert len(read) == 4 and all(ref() is None for ref in read)
    assert len(first) > 0
