"""The drug vocabulary: every FDA substance and brand name, looked up on disk.

The bundled vocabulary (`data/vocabulary/`, built from the FDA UNII Names list
by `python -m screener.vocabulary.build`) holds about 300,000 names. It is not
loaded into memory: on first use its compressed files are expanded once into
the cache directory as sorted text, and each look-up is a binary search over
a memory map — microseconds, with no start-up cost for screens that never
need it (names the knowledge base already knows are found in the index first).
"""

from __future__ import annotations

import json
import mmap
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..paths import cache_dir

VOCABULARY_DIR = "vocabulary"
"""The vocabulary's folder inside a knowledge directory."""
SUGGESTION_KINDS = ("of", "bn", "product")
"""The kinds of FDA names offered as suggestions (common names are too many and too chemical)."""


@dataclass(frozen=True, slots=True)
class VocabularyEntry:
    """What one name means in the vocabulary."""

    name: str
    """The normalised name looked up."""
    kind: str
    """of (official name), bn (brand), cn (common name, e.g. a salt), product (a combination product);
    prefixed with "ambiguous-" when the name means different ingredients."""
    ingredients: tuple[tuple[str, ...], ...]
    """The ingredient UNIIs it resolves to; more than one tuple when ambiguous."""

    @property
    def ambiguous(self) -> bool:
        """True when the name means different ingredients in different FDA records."""
        return self.kind.startswith("ambiguous-")


class SortedTable:
    """Binary search over a sorted, tab-separated UTF-8 text file, through a memory map."""

    def __init__(self, path: Path):
        self._file = open(path, "rb")  # noqa: SIM115 - kept open for the map's lifetime
        size = os.fstat(self._file.fileno()).st_size
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._size = size

    def get(self, key: str) -> list[str] | None:
        """The other fields of the line whose first field is `key`, or None."""
        target = key.encode("utf-8")
        data, lo, hi = self._map, 0, self._size
        while lo < hi:
            mid = (lo + hi) // 2
            start = data.rfind(b"\n", 0, mid) + 1
            end = data.find(b"\n", start)
            end = self._size if end < 0 else end
            line = data[start:end]
            field = line.split(b"\t", 1)[0]
            if field == target:
                return line.decode("utf-8").split("\t")[1:]
            if field < target:
                lo = end + 1
            else:
                hi = start
        return None

    def rows(self):
        """Every line as its fields, in order (reads the whole file: for suggestions only)."""
        for line in self._map[: self._size].split(b"\n"):
            if line:
                yield line.decode("utf-8").split("\t")


class Vocabulary:
    """The FDA vocabulary of one knowledge directory."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        prepared = cache_dir() / f"vocabulary-{self.manifest['sha256'][:16]}"
        self._names = SortedTable(_expanded(directory / "names.tsv.gz", prepared / "names.tsv"))
        self._uniis = SortedTable(_expanded(directory / "uniis.tsv.gz", prepared / "uniis.tsv"))
        self._prepared = prepared

    @property
    def label(self) -> str:
        """A short label for the knowledge version, e.g. "unii20250612"."""
        return "unii" + self.manifest.get("source_date", "").replace("-", "")

    def lookup(self, name: str) -> VocabularyEntry | None:
        """The entry for a normalised name, or None."""
        fields = self._names.get(name)
        if fields is None or len(fields) < 2:
            return None
        kind, value = fields[0], fields[1]
        return VocabularyEntry(name, kind, tuple(tuple(option.split(";")) for option in value.split("|")))

    def display(self, unii: str) -> str | None:
        """The FDA display name of a UNII, or None if it is not in the vocabulary."""
        fields = self._uniis.get(unii)
        return fields[0] if fields else None

    def names(self, kinds: tuple[str, ...] | None = None):
        """Every normalised name (of the given kinds), in order: for fuzzy suggestions."""
        for fields in self._names.rows():
            if kinds is None or (len(fields) > 1 and fields[1] in kinds):
                yield fields[0]

    def suggestion_names(self) -> list[str]:
        """The official, brand and product names (about 45,000), from a list written once beside the
        expanded files: reading it takes milliseconds, scanning every name takes most of a second."""
        path = self._prepared / "suggestions.txt"
        if not path.exists():
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text("\n".join(self.names(kinds=SUGGESTION_KINDS)), encoding="utf-8")
            os.replace(tmp, path)
        return path.read_text(encoding="utf-8").split("\n")


def _expanded(archive: Path, target: Path) -> Path:
    """`target`, written once from the gzip `archive` (atomically, so concurrent runs are safe)."""
    if target.exists():
        return target
    import gzip  # only the first time: later runs map the expanded file

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    with gzip.open(archive, "rb") as source, open(tmp, "wb") as sink:
        while chunk := source.read(1 << 20):
            sink.write(chunk)
    os.replace(tmp, target)
    return target


@lru_cache(maxsize=4)
def load_vocabulary(directory: str) -> Vocabulary | None:
    """The vocabulary in `directory`/vocabulary, or None when that directory has none."""
    path = Path(directory) / VOCABULARY_DIR
    if not (path / "manifest.json").exists():
        return None
    return Vocabulary(path)
