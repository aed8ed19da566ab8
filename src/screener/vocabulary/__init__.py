"""The drug vocabulary: every FDA substance and brand name, looked up on disk.

The bundled vocabulary (`data/vocabulary/`, built from the FDA UNII Names list
by `python -m screener.vocabulary.build`) holds about 300,000 names. It is not
loaded into memory: its two sorted tables (names, UNIIs) are expanded once into
the cache directory, checked against the manifest's sha256, and searched through
a memory map (`screener.sorted_tables`, which the NDC Directory shares), so a
screen that never needs it pays nothing (names the knowledge base already knows
are found in the index first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .. import paths
from ..sorted_tables import STAMP, SortedTable, TableFiles, read_private, write_private

VOCABULARY_DIR = "vocabulary"
"""The vocabulary's folder inside a knowledge directory."""
SUGGESTION_KINDS = ("of", "bn", "product")
"""The kinds of FDA names offered as suggestions (common names are too many and too chemical)."""
EXPANDED = ("names.tsv", "uniis.tsv")
"""The expanded files, in the order the manifest's sha256 covers them (each from `<name>.gz`)."""
IN_MEMORY = "the FDA vocabulary is expanded in memory"
"""What is done instead when the cache directory cannot be used (ends the stderr note)."""
TABLES = TableFiles("vocabulary", EXPANDED, IN_MEMORY, "python -m screener.vocabulary.build",
                    derived=("suggestions.txt",))
"""The vocabulary's tables as `sorted_tables` expands and checks them."""
__all__ = ["EXPANDED", "STAMP", "VOCABULARY_DIR", "Vocabulary", "VocabularyEntry", "load_vocabulary", "prepare"]


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


class Vocabulary:
    """The FDA vocabulary of one knowledge directory."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        names, uniis, self._prepared = prepare(directory, self.manifest["sha256"])
        try:
            self._names = SortedTable(names)
            self._uniis = SortedTable(uniis)
        except OSError as exc:  # removed or unmappable since it was checked: carry on without the disk
            assert self._prepared is not None  # only files from a prepared directory are mapped
            paths.note(self._prepared, f"it cannot be read ({paths.os_error_text(exc)})", IN_MEMORY)
            names, uniis = TABLES.in_memory_text(directory, self.manifest["sha256"])
            self._names, self._uniis, self._prepared = SortedTable(names), SortedTable(uniis), None

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
        expanded files: reading it takes milliseconds, scanning every name takes most of a second.

        The list is derived from the verified names.tsv (and removed whenever that is re-expanded);
        it is read only when it belongs to the user like the rest of the cache.
        """
        if self._prepared is None:
            return list(self.names(kinds=SUGGESTION_KINDS))
        path = self._prepared / "suggestions.txt"
        text = read_private(path)
        if text is not None:
            return text.decode("utf-8").split("\n")
        names = list(self.names(kinds=SUGGESTION_KINDS))
        try:
            write_private(path, "\n".join(names).encode("utf-8"))
        except OSError as exc:
            paths.note(self._prepared, f"it cannot be written ({paths.os_error_text(exc)})", IN_MEMORY)
        return names


def prepare(directory: Path, sha256: str) -> tuple[Path | bytes, Path | bytes, Path | None]:
    """(names, uniis, the folder holding them): the vocabulary's expanded, checked files, or their text
    in memory (folder None) when the cache directory cannot be used (`TableFiles.prepare`)."""
    (names, uniis), prepared = TABLES.prepare(directory, sha256)
    return names, uniis, prepared


@lru_cache(maxsize=4)
def load_vocabulary(directory: str) -> Vocabulary | None:
    """The FDA vocabulary in `directory`/vocabulary, or None when that directory has none or its files do
    not match their manifest (`sorted_tables.open_verified`, which says so on stderr)."""
    from ..sorted_tables import open_verified

    return open_verified(directory, VOCABULARY_DIR, Vocabulary, "the FDA vocabulary")
