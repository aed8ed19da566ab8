"""Large reference tables shipped gzipped in a knowledge directory, looked up on disk.

The FDA vocabulary (`screener.vocabulary`) and the FDA NDC Directory
(`screener.ndc`) are each a few sorted, tab-separated text files, gzipped in
`data/<folder>/` with a `manifest.json` holding the sha256 of their expanded
text. Neither is loaded into memory: on first use the files are expanded once
into the cache directory, and each look-up searches a memory map from a small
sparse index (`SortedTable`) — microseconds, with no start-up cost for screens
that never need them.

What a look-up finds decides what is screened, so the expanded files are
trusted only as far as they are checked. When they are expanded, their text is
hashed and must equal the manifest's `sha256` (the files' expanded text, in
order); they are written 0600 into a 0700 directory owned by the user, with a
small stamp: the manifest hash and each file's size and mtime_ns. Every later
use checks ownership and permissions (`paths.private_dir`, `paths.untrusted`)
and compares the stamp, which costs a few `stat` calls; on any difference the
files are hashed again and re-expanded if they do not match. Threat model: only
the owner can write there, so the stamp only has to catch accidents (a truncated
copy, an edit, a restored backup); an edit that keeps the size and restores the
mtime is not detected, and hashing the files on every check to catch it would
guard against no one but the owner.

When the cache directory cannot be used (untrusted, cannot be created, full
disk), the files are expanded into memory instead (once per process), with one
note on stderr; any temporary file is removed.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import paths
from .errors import KnowledgeError

STAMP = "stamp"
"""Beside the expanded files: the manifest hash and each file's size and mtime_ns when last verified."""
SPARSE_STRIDE = 8192
"""Bytes between the lines a table keeps in memory to start each look-up from (see `SortedTable.get`)."""
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def write_gzipped(path: Path, text: str) -> None:
    """Write `text` gzipped for a built table folder; mtime=0 keeps the bytes reproducible for the same input."""
    import gzip

    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as handle:
        handle.write(text.encode("utf-8"))


def open_verified(directory: str, folder: str, opener, what: str):
    """`opener(directory/folder)` for a built table folder, or None when the folder has no manifest.

    Also None, with one note on stderr, when its files do not match their manifest: what only that
    table knows is then reported as not recognised (the screen is incomplete), rather than looked up
    in text of unknown origin.
    """
    import sys

    path = Path(directory) / folder
    if not (path / "manifest.json").exists():
        return None
    try:
        return opener(path)
    except KnowledgeError as exc:
        if sys.stderr is not None:
            sys.stderr.write(f"screener: note: {what} is not used: {exc}\n")
        return None


class SortedTable:
    """Look-ups in a sorted, tab-separated UTF-8 text whose first fields are unique: a file (through a memory
    map) or bytes. A sparse index (a line every `SPARSE_STRIDE` bytes) is bisected in memory, then one
    search over the window it gives finds the line: half the time of a binary search over the map, which
    took ~17 Python steps of `find` and `rfind` (about 20 µs a look-up here, 10 µs now)."""

    def __init__(self, source: Path | bytes):
        import mmap

        self._map: mmap.mmap | bytes
        self._index: tuple[list[int], list[bytes]] | None = None
        self._file: BinaryIO | None = None
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
        if b"\n" in target or b"\t" in target:
            return None  # no first field holds either
        data, size = self._map, self._size
        starts, keys = self._sparse()
        k = bisect.bisect_right(keys, target) - 1
        if k < 0:
            return None
        # The line, if there is one, starts in [starts[k], starts[k + 1]): one search in C over that window
        # for the key after a newline. Lines are sorted, so a line that merely starts with the key (a longer
        # key) comes after the key's own: the first match is the key's line, or there is none.
        lo, hi = starts[k], starts[k + 1] if k + 1 < len(starts) else size
        if lo == 0 and self._field_ends(target, len(target)):
            found = 0  # the first line has no newline before it
        else:
            at = data.find(b"\n" + target, max(lo - 1, 0), hi)
            if at < 0 or not self._field_ends(target, at + 1 + len(target)):
                return None
            found = at + 1
        end = data.find(b"\n", found)
        line = data[found:size if end < 0 else end]
        return line.decode("utf-8").split("\t")[1:]

    def _field_ends(self, target: bytes, at: int) -> bool:
        """Whether the text just before `at` is `target` and a first field ends at `at`."""
        data = self._map
        return (data[at - len(target):at] == target
                and (at == self._size or data[at:at + 1] in (b"\t", b"\n")))

    def _sparse(self) -> tuple[list[int], list[bytes]]:
        """The start and first field of one line in every `SPARSE_STRIDE` bytes, in order (built on first
        use: one small read a line, ~20 ms for the 30 MB NDC products table). A file is read with `pread`,
        not through the map: touching a page of the map at every stride made the whole table count in the
        process's memory (35 MB more for a claims run that looks up NDCs)."""
        if self._index is None:
            starts, keys = [], []
            at, key = 0, self._until(0, b"\t\n")  # a line start, and its first field
            while at < self._size:
                starts.append(at)
                keys.append(key)
                # The next line starting at or after the next stride boundary: one read finds it and, most
                # often, its first field too.
                boundary = at + SPARSE_STRIDE - 1
                if boundary >= self._size:
                    break
                piece = self._read(boundary, 1024)
                newline = piece.find(b"\n")
                if newline < 0:
                    newline = len(self._until(boundary, b"\n"))
                at = boundary + newline + 1
                ends = [i for i in (piece.find(b"\t", newline + 1), piece.find(b"\n", newline + 1)) if i >= 0]
                key = piece[newline + 1:min(ends)] if ends and newline < len(piece) else self._until(at, b"\t\n")
            self._index = (starts, keys)
        return self._index

    def _read(self, at: int, n: int) -> bytes:
        """Up to `n` bytes from `at`: read from the file (not through the map), or sliced from the bytes."""
        if self._file is not None:
            return os.pread(self._file.fileno(), n, at)
        return bytes(self._map[at:at + n])

    def _until(self, at: int, stops: bytes) -> bytes:
        """The bytes from `at` to the first of `stops` (or the end), read in small pieces."""
        out = b""
        while at < self._size:
            piece = self._read(at, 512)
            if not piece:
                break
            ends = [i for i in (piece.find(stop) for stop in (bytes([c]) for c in stops)) if i >= 0]
            if ends:
                return out + piece[:min(ends)]
            out += piece
            at += len(piece)
        return out

    def text(self):
        """The whole table (the memory map itself, or the bytes: not copied), for a search across its lines."""
        return self._map

    def rows(self):
        """Every line as its fields, in order (reads the whole file)."""
        for line in self._map[: self._size].split(b"\n"):
            if line:
                yield line.decode("utf-8").split("\t")


@dataclass(frozen=True)
class TableFiles:
    """One set of gzipped tables in a knowledge directory (`<name>.gz` for each of `files`)."""

    folder: str
    """The cache folder's prefix (`vocabulary` → `<cache>/vocabulary-<sha256[:16]>`)."""
    files: tuple[str, ...]
    """The expanded files, in the order the manifest's sha256 covers them."""
    in_memory: str
    """What is done instead when the cache directory cannot be used (ends the stderr note)."""
    rebuild: str
    """The command that rebuilds the gzip files (said when they do not match their manifest)."""
    derived: tuple[str, ...] = ()
    """Files kept beside the expanded ones and derived from them: removed whenever they are re-expanded."""

    def prepare(self, directory: Path, sha256: str) -> tuple[list[Path] | list[bytes], Path | None]:
        """(the expanded files, the folder holding them): checked as the module docstring describes, or
        their text in memory (folder None) when the cache directory cannot be used. Raises
        `KnowledgeError` if the gzip files do not match `sha256`."""
        root = paths.private_dir(paths.cache_dir(), create=True, instead=self.in_memory)
        prepared = root and paths.private_dir(root / f"{self.folder}-{sha256[:16]}", create=True,
                                              instead=self.in_memory)
        if prepared is None:
            return self.in_memory_text(directory, sha256), None
        targets = [prepared / name for name in self.files]
        try:
            expected = _stamp(targets, sha256)
            if expected is not None and read_private(prepared / STAMP) == expected:
                return targets, prepared
            if not _matches(targets, sha256):
                self._expand(directory, prepared, sha256)
            stamp = _stamp(targets, sha256)
            if stamp is None:  # written and checked just now, yet not trusted: say why below
                raise OSError(f"{prepared} cannot be trusted")
            write_private(prepared / STAMP, stamp)
        except OSError as exc:
            paths.note(prepared, f"it cannot be written ({paths.os_error_text(exc)})", self.in_memory)
            return self.in_memory_text(directory, sha256), None
        return targets, prepared

    def _expand(self, directory: Path, prepared: Path, sha256: str) -> None:
        """Expand the gzip files into `prepared` (0600), replacing the old files only if the text matches."""
        import gzip  # only the first time: later runs map the expanded file
        import hashlib

        _remove_stale_temporaries(prepared)
        digest = hashlib.sha256()
        written: list[tuple[Path, Path]] = []
        try:
            for name in self.files:
                target = prepared / name
                tmp = target.with_suffix(f".tmp{os.getpid()}")
                written.append((tmp, target))
                with gzip.open(directory / f"{name}.gz", "rb") as source, _private_file(tmp) as sink:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        sink.write(chunk)
            if digest.hexdigest() != sha256:
                raise self._mismatch(directory, digest.hexdigest())
            for name in self.derived:
                _remove(prepared / name)
            for tmp, target in written:
                os.replace(tmp, target)
        finally:
            for tmp, _ in written:
                _remove(tmp)

    def in_memory_text(self, directory: Path, sha256: str) -> list[bytes]:
        """The expanded text of every file, checked against the manifest, without touching the disk."""
        import gzip
        import hashlib

        texts = [gzip.decompress((directory / f"{name}.gz").read_bytes()) for name in self.files]
        digest = hashlib.sha256()
        for text in texts:
            digest.update(text)
        if digest.hexdigest() != sha256:
            raise self._mismatch(directory, digest.hexdigest())
        return texts

    def _mismatch(self, directory: Path, found: str) -> KnowledgeError:
        gz = " and ".join(f"{name}.gz" for name in self.files)
        return KnowledgeError(f"{gz} expand to sha256 {found[:16]}…, not the manifest's: rebuild them with "
                              f"{self.rebuild}", str(directory / "manifest.json"))


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


def read_private(path: Path) -> bytes | None:
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


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` (0600) through a temporary file, so readers see the old or the new bytes."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with _private_file(tmp) as sink:
            sink.write(data)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove_stale_temporaries(prepared: Path, age: float = 3600) -> None:
    """Remove temporary files a killed writer left (a dead copy of an expanded table is megabytes)."""
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
