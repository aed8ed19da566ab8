"""ICD-10-CM: every code of the CMS/NCHS release, read in any usual form, looked up on disk.

The bundled table (`data/icd10cm/`, built from the ICD-10-CM tabular list and
code list by `python -m screener.icd10cm.build`) holds every category (E11),
subcategory (E11.9) and code with a 7th character (S72.001A), about 98,000 in
all, and the blocks they sit in (E08-E13), each with its title, its parent,
its chapter and whether it is billable (a complete code: no code below it).
It is looked up on disk like the FDA vocabulary and the NDC Directory
(`screener.sorted_tables`): nothing is read at start-up.

The source is the ICD-10-CM April 1, 2026 release of CMS and NCHS (a US
government publication, free to use), as shipped in the data files of the PyPI
package `simple-icd-10-cm` 1.5.0 (MIT licence; only its data files are read, at
build time, never its code and never at run time).

A code is written with its dot after the third character, as CMS writes it
(`E11.9`), or without (`E119`), in any case. `read_icd10cm_code` gives the
dotted form of text shaped like a code, whether or not the code exists;
`Icd10Cm.get` says whether it does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .. import paths
from ..sorted_tables import SortedTable, TableFiles

ICD10CM_DIR = "icd10cm"
"""The table's folder inside a knowledge directory."""
FILES = ("codes.tsv",)
"""The expanded tables, in the order the manifest's sha256 covers them (each shipped as `<name>.gz`)."""
IN_MEMORY = "the ICD-10-CM table is expanded in memory"
"""What is done instead when the cache directory cannot be used (ends the stderr note)."""
TABLES = TableFiles(ICD10CM_DIR, FILES, IN_MEMORY, "python -m screener.icd10cm.build")
"""The table as `sorted_tables` expands and checks it."""
CODE_FIELDS = ("code", "title", "parent", "billable", "chapter")
"""The fields of a codes.tsv line after its key (the code without its dot, or a block's range)."""

_CATEGORY = r"[A-Z](?:[0-9][0-9A-Z]|[A-Z][0-9])"
"""A category: a letter, then two digits or letters of which at least one is a digit (E11, C7A, and QA0
since April 2026); three letters (DVT, COPD) are never read as a code."""
_CODE = re.compile(rf"^({_CATEGORY})(?:\.?([0-9A-Z]{{1,4}}))?$")
"""An ICD-10-CM code: its category, then up to 4 digits or letters after an optional dot."""
_BLOCK = re.compile(rf"^{_CATEGORY}-{_CATEGORY}$")
"""A block of categories, named by its range (E08-E13)."""


def read_icd10cm_code(text: str) -> str | None:
    """The dotted form of `text` written as an ICD-10-CM code (`E119` and `e11.9` → `E11.9`), or None
    when it is not shaped like one (three letters, a dot anywhere but after the third character, a
    trailing dot or `-`, more than 7 characters). Says nothing about whether the code exists: see `Icd10Cm.get`."""
    match = _CODE.match(text.strip().upper())
    if match is None:
        return None
    category, rest = match.groups()
    return f"{category}.{rest}" if rest else category


def _key(text: str) -> str | None:
    """The table key of a code in any form (no dot, upper case), or of a block's range."""
    code = read_icd10cm_code(text)
    if code is not None:
        return code.replace(".", "")
    block = text.strip().upper()
    return block if _BLOCK.match(block) else None


@dataclass(frozen=True, slots=True)
class IcdCode:
    """One code (or block) of ICD-10-CM."""

    code: str
    """Dotted, as CMS writes it ("E11.9"); a block by its range ("E08-E13")."""
    title: str
    """The CMS title ("Type 2 diabetes mellitus without complications")."""
    parent: str
    """The dotted code or block it sits in; '' at the top (a block, or a category that is its own block)."""
    billable: bool
    """A complete code: nothing below it (valid for HIPAA transactions). False for categories and
    subcategories that have codes below them, and for blocks."""
    chapter: str = ""
    """The number of its chapter ("4"); `Icd10Cm.chapters` gives the chapter's title."""

    @property
    def is_block(self) -> bool:
        """True for a block of categories (E08-E13), which is not itself a code."""
        return "-" in self.code


class Icd10Cm:
    """The ICD-10-CM table of one knowledge directory."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        self.release: str = self.manifest.get("release", "ICD-10-CM")
        """The release, e.g. "ICD-10-CM April 2026 (CMS)"."""
        self.chapters: dict[str, str] = dict(self.manifest.get("chapters", {}))
        """Chapter number → its title ("4" → "Endocrine, nutritional and metabolic diseases (E00-E89)")."""
        sha256 = self.manifest["sha256"]
        (codes,), prepared = TABLES.prepare(directory, sha256)
        try:
            self._codes = SortedTable(codes)
        except OSError as exc:  # removed or unmappable since it was checked: carry on without the disk
            assert prepared is not None  # only files from a prepared directory are mapped
            paths.note(prepared, f"it cannot be read ({paths.os_error_text(exc)})", IN_MEMORY)
            (text,) = TABLES.in_memory_text(directory, sha256)
            self._codes = SortedTable(text)

    def label(self) -> str:
        """A short label for the knowledge version, e.g. "icd20260401"."""
        return "icd" + self.manifest.get("source_date", "").replace("-", "")

    def get(self, code: str) -> IcdCode | None:
        """The code (`E11.9`, `E119`, `e11.9`) or block (`E08-E13`), or None when ICD-10-CM has none."""
        key = _key(code)
        fields = None if key is None else self._codes.get(key)
        if fields is None or len(fields) != len(CODE_FIELDS):
            return None
        dotted, title, parent, billable, chapter = fields
        return IcdCode(dotted, title, parent, billable == "1", chapter)

    def codes(self) -> Iterator[IcdCode]:
        """Every code and block, in the order of their keys (reads the whole table: not for look-ups)."""
        for fields in self._codes.rows():
            if len(fields) == 1 + len(CODE_FIELDS):
                _, dotted, title, parent, billable, chapter = fields
                yield IcdCode(dotted, title, parent, billable == "1", chapter)

    def ancestors(self, code: str) -> tuple[IcdCode, ...]:
        """What `code` sits in, its parent first, up to the top (E11.9 → E11, E08-E13); () if unknown."""
        out: list[IcdCode] = []
        node = self.get(code)
        while node is not None and node.parent and len(out) < 16:  # 16: a guard, the depth is at most 8
            node = self.get(node.parent)
            if node is not None:
                out.append(node)
        return tuple(out)


@lru_cache(maxsize=4)
def load_icd10cm(directory: str) -> Icd10Cm | None:
    """The ICD-10-CM table in `directory`/icd10cm, or None when that directory has none or its files do not match their
    manifest (`sorted_tables.open_verified`, which says so on stderr)."""
    from ..sorted_tables import open_verified

    return open_verified(directory, ICD10CM_DIR, Icd10Cm, "the ICD-10-CM table")
