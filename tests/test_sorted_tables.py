"""`SortedTable.get` finds exactly the line a dictionary of the same rows would, whatever the keys.

The look-up bisects a sparse in-memory index and then searches one window of the text; these tests
check it against the plain definition (a dict of first field → other fields) on generated tables,
with strides small enough that every key sits at, near or across a window's edge.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import given, settings

from screener import sorted_tables
from screener.sorted_tables import SortedTable

# Keys drawn from a few characters, so that many are prefixes of others ("A0", "A01", "A01.1").
KEYS = st.text(alphabet="A0.1é", min_size=1, max_size=5) | st.text(alphabet="AB", min_size=600, max_size=1300)
FIELDS = st.lists(st.text(alphabet="xyz é", max_size=6) | st.text(alphabet="x", min_size=1100, max_size=2100),
                  max_size=3)


def _table(rows: dict[str, list[str]], trailing_newline: bool) -> bytes:
    text = "\n".join("\t".join([key, *fields]) for key, fields in sorted(rows.items(), key=lambda r: r[0].encode()))
    return (text + ("\n" if trailing_newline and rows else "")).encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(rows=st.dictionaries(KEYS, FIELDS, max_size=40), probes=st.lists(KEYS, max_size=20),
       stride=st.integers(1, 64), trailing_newline=st.booleans())
def test_get_matches_a_dictionary(rows, probes, stride, trailing_newline):
    shipped = sorted_tables.SPARSE_STRIDE
    sorted_tables.SPARSE_STRIDE = stride  # read when the index is built, on the first look-up
    text = _table(rows, trailing_newline)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.tsv"
        path.write_bytes(text)
        try:
            for table in (SortedTable(text), SortedTable(path)):  # in memory, and a file through its map
                for key in [*rows, *probes, *(k[:-1] for k in rows if len(k) > 1), *(k + "0" for k in rows)]:
                    assert table.get(key) == rows.get(key), key
        finally:
            sorted_tables.SPARSE_STRIDE = shipped


def test_a_key_holding_a_separator_is_not_found(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes(b"A\tone\nA\tB\ttwo\nC\tthree\n")
    table = SortedTable(path)  # through a memory map, as the cache's files are read
    assert table.get("C") == ["three"]
    assert table.get("A\tB") is None
    assert table.get("A\nC") is None
    assert SortedTable(b"").get("A") is None


def test_bundled_tables_find_every_key():
    """Every key of the bundled ICD-10-CM table is found with its own fields (the stride as shipped)."""
    import gzip

    with gzip.open(Path(__file__).resolve().parents[1] / "data" / "icd10cm" / "codes.tsv.gz") as handle:
        data = handle.read()
    table = SortedTable(data)
    lines = [line.decode("utf-8").split("\t") for line in data.split(b"\n") if line]
    assert len(lines) > 50_000
    for fields in lines[::7]:
        assert table.get(fields[0]) == fields[1:]
