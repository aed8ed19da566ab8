"""The drug vocabulary: every FDA substance and brand name, looked up on disk.

The bundled vocabulary (`data/vocabulary/`, built from the FDA UNII Names list
by `python -m screener.vocabulary.build`) holds about 300,000 names. It is not
loaded into memory: on first use its compressed files are expanded once into
the cache directory as sorted text, and each look-up is a binary search over
a memory map — microseconds, with no start-up cost for screens that never
need it (names the knowledge base already knows are found in the index first).

What a look-up finds decides what is screened, so the expanded files are
trusted only as far as they are checked. When they are expanded, their text is
hashed and must equal the manifest's `sha256` (which `build.py` computes over
the expanded text of names.tsv then uniis.tsv); they are written 0600 into a
0700 directory owned by the user, with a small stamp: the manifest hash and
each file's size and mtime_ns. Every later use checks ownership and
permissions (`paths.private_dir`, `paths.untrusted`) and compares the stamp,
which costs a few `stat` calls; on any difference the files are hashed again
(~17 ms) and re-expanded if they do not match. Threat model: only the owner can
write there, so the stamp only has to catch accidents (a truncated copy, an
edit, a restored backup); an edit that keeps the size and restores the mtime
is not detected, and hashing 13 MB on every check (~10 ms a run) to catch it
would guard against no one but the owner.

When the cache directory cannot be used (untrusted, cannot be created, full
disk), the files are expanded into memory instead (once per process, ~100 ms),
with one note on stderr; any temporary file is removed.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import stat
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .. import paths
from ..errors import KnowledgeError

VOCABULARY_DIR = "vocabulary"
"""The vocabulary's folder inside a knowledge directory."""
SUGGESTION_KINDS = ("of", "bn", "product")
"""The kinds of FDA names offered as suggestions (common names are too many and too chemical)."""
EXPANDED = ("names.tsv", "uniis.tsv")
"""The expanded files, in the order the manifest's sha256 covers them (each from `<name>.gz`)."""
STAMP = "stamp"
"""Beside the expanded files: the manifest hash and each file's size and mtime_ns when last verified."""
IN_MEMORY = "the FDA vocabulary is expanded in memory"
"""What is done instead when the cache directory cannot be used (ends the stderr note)."""
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


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
    """Binary search over a sorted, tab-separated UTF-8 text: a file (through a memory map) or bytes."""

    def __init__(self, source: Path | bytes):
        self._map: mmap.mmap | bytes
        if isinstance(source, bytes):  # expanded in memory: the cache directory could not be used
            self._map, self._size = source, len(source)
            return
        self._file = open(source, "rb")  # noqa: SIM115 - kept open for the map's lifetime
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
        names, uniis, self._prepared = prepare(directory, self.manifest["sha256"])
        try:
            self._names = SortedTable(names)
            self._uniis = SortedTable(uniis)
        except OSError as exc:  # removed or unmappable since it was checked: carry on without the disk
            assert self._prepared is not None  # only files from a prepared directory are mapped
            paths.note(self._prepared, f"it cannot be read ({paths.os_error_text(exc)})", IN_MEMORY)
            names, uniis = _in_memory(directory, self.manifest["sha256"])
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
        text = _read_private(path)
        if text is not None:
            return text.decode("utf-8").split("\n")
        names = list(self.names(kinds=SUGGESTION_KINDS))
        try:
            _write_private(path, "\n".join(names).encode("utf-8"))
        except OSError as exc:
            paths.note(self._prepared, f"it cannot be written ({paths.os_error_text(exc)})", IN_MEMORY)
        return names


# --- expanding and checking the files -------------------------------------------------------------


def prepare(directory: Path, sha256: str) -> tuple[Path | bytes, Path | bytes, Path | None]:
    """(names, uniis, the folder holding them): the expanded files of the vocabulary in `directory`,
    checked as the module docstring describes, or their text in memory (folder None) when the cache
    directory cannot be used. Raises `KnowledgeError` if the gzip files do not match `sha256`."""
    root = paths.private_dir(paths.cache_dir(), create=True, instead=IN_MEMORY)
    prepared = root and paths.private_dir(root / f"vocabulary-{sha256[:16]}", create=True, instead=IN_MEMORY)
    if prepared is None:
        return (*_in_memory(directory, sha256), None)
    targets = [prepared / name for name in EXPANDED]
    try:
        expected = _stamp(targets, sha256)
        if expected is not None and _read_private(prepared / STAMP) == expected:
            return targets[0], targets[1], prepared
        if not _matches(targets, sha256):
            _expand(directory, prepared, sha256)
        stamp = _stamp(targets, sha256)
        if stamp is None:  # written and checked just now, yet not trusted: say why below
            raise OSError(f"{prepared} cannot be trusted")
        _write_private(prepared / STAMP, stamp)
    except OSError as exc:
        paths.note(prepared, f"it cannot be written ({paths.os_error_text(exc)})", IN_MEMORY)
        return (*_in_memory(directory, sha256), None)
    return targets[0], targets[1], prepared


def _stamp(targets: list[Path], sha256: str) -> bytes | None:
    """What the stamp says for the files as they are now; None if one is missing or not trusted."""
    lines = [f"sha256 {sha256}"]
    for path in targets:
        try:
            status = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISREG(status.st_mode) or paths.untrusted(status):
            return None
        lines.append(f"{path.name} {status.st_size} {status.st_mtime_ns}")
    return ("\n".join(lines) + "\n").encode()


def _matches(targets: list[Path], sha256: str) -> bool:
    """True when the expanded files exist, are trusted, and their text hashes to the manifest's sha256."""
    import hashlib  # only when the stamp does not match

    if _stamp(targets, sha256) is None:
        return False
    digest = hashlib.sha256()
    for path in targets:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest() == sha256


def _expand(directory: Path, prepared: Path, sha256: str) -> None:
    """Expand the gzip files into `prepared` (0600), replacing the old files only if the text matches."""
    import gzip  # only the first time: later runs map the expanded file
    import hashlib

    _remove_stale_temporaries(prepared)
    digest = hashlib.sha256()
    written: list[tuple[Path, Path]] = []
    try:
        for name in EXPANDED:
            target = prepared / name
            tmp = target.with_suffix(f".tmp{os.getpid()}")
            written.append((tmp, target))
            with gzip.open(directory / f"{name}.gz", "rb") as source, _private_file(tmp) as sink:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    sink.write(chunk)
        if digest.hexdigest() != sha256:
            raise _mismatch(directory, digest.hexdigest())
        _remove(prepared / "suggestions.txt")  # derived from the files being replaced
        for tmp, target in written:
            os.replace(tmp, target)
    finally:
        for tmp, _ in written:
            _remove(tmp)


def _in_memory(directory: Path, sha256: str) -> tuple[bytes, bytes]:
    """The expanded text of both files, checked against the manifest, without touching the disk."""
    import gzip
    import hashlib

    texts = [gzip.decompress((directory / f"{name}.gz").read_bytes()) for name in EXPANDED]
    digest = hashlib.sha256(texts[0])
    digest.update(texts[1])
    if digest.hexdigest() != sha256:
        raise _mismatch(directory, digest.hexdigest())
    return texts[0], texts[1]


def _mismatch(directory: Path, found: str) -> KnowledgeError:
    return KnowledgeError(f"names.tsv.gz and uniis.tsv.gz expand to sha256 {found[:16]}…, not the manifest's: "
                          "rebuild them with python -m screener.vocabulary.build", str(directory / "manifest.json"))


def _read_private(path: Path) -> bytes | None:
    """The bytes of `path` when it is a regular file the user owns and no one else may write, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or paths.untrusted(status):
            return None
        return handle.read()


def _private_file(path: Path):
    """`path` opened for writing, created 0600 (truncated if a dead writer with our pid left it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
    return os.fdopen(fd, "wb")


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` (0600) through a temporary file, so readers see the old or the new bytes."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with _private_file(tmp) as sink:
            sink.write(data)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove_stale_temporaries(prepared: Path, age: float = 3600) -> None:
    """Remove temporary files a killed writer left (a dead copy of names.tsv is 9 MB)."""
    import time

    try:
        with os.scandir(prepared) as entries:
            for entry in entries:
                if ".tmp" in entry.name:
                    try:
                        if time.time() - entry.stat(follow_symlinks=False).st_mtime > age:
                            _remove(Path(entry.path))
                    except OSError:
                        continue
    except OSError:
        pass


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@lru_cache(maxsize=4)
def load_vocabulary(directory: str) -> Vocabulary | None:
    """The vocabulary in `directory`/vocabulary, or None when that directory has none.

    Also None, with a note on stderr, when its files do not match their manifest:
    names only the vocabulary knows are then reported as not recognised (the
    screen is incomplete), rather than looked up in text of unknown origin.
    """
    path = Path(directory) / VOCABULARY_DIR
    if not (path / "manifest.json").exists():
        return None
    try:
        return Vocabulary(path)
    except KnowledgeError as exc:
        if sys.stderr is not None:
            sys.stderr.write(f"screener: note: the FDA vocabulary is not used: {exc}\n")
        return None
