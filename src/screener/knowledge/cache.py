"""Cache the compiled Index on disk, keyed by a hash of the knowledge files.

The key covers the project version and every knowledge file's name and bytes,
so editing a CSV (or upgrading screener) rebuilds the index on the next run.
Loading a cached index is a pickle load of plain data: milliseconds, and no
networkx. The cache lives in `$SCREENER_CACHE_DIR`, else
`$XDG_CACHE_HOME/screener`, else `~/.cache/screener`; if none is writable the
index is simply rebuilt in memory each time.
"""

from __future__ import annotations

from _blake2 import blake2b  # hashlib would also load OpenSSL (~3 ms) on every check
import os
import pickle
from pathlib import Path

from ..paths import cache_dir
from ..version import __version__
from .index import Index

FORMAT = 7
"""Bump when the Index layout changes, so old cache files are ignored."""


def content_hash(directory: Path, files: tuple[str, ...], layers: tuple[Path, ...] = (),
                 layer_files: tuple[str, ...] = ()) -> str:
    """BLAKE2b over the project version, the cache format and each present file's name and bytes,
    the base directory's then each layer's (in order)."""
    digest = blake2b(f"screener {__version__} format {FORMAT}\n".encode())
    for n, (folder, names) in enumerate([(directory, files)] + [(layer, layer_files) for layer in layers]):
        digest.update(f"layer {n}\n".encode())
        for name in names:
            path = Path(folder) / name
            if path.exists():
                digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def slot(key: str, directory: Path, layers: tuple[Path, ...] = ()) -> str:
    """The cache file name for the knowledge with content hash `key` read from `directory` (+ layers)."""
    places = "\0".join(str(Path(d).resolve()) for d in (directory, *layers))
    where = blake2b(f"{key}\0{places}".encode()).hexdigest()
    return f"index-{where[:32]}.pickle"



def read(name: str) -> Index | None:
    """The cached index in file `name`, or None when absent or unreadable (it is then rebuilt)."""
    path = cache_dir() / name
    try:
        with path.open("rb") as handle:
            index = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None
    return index if isinstance(index, Index) else None


def write(name: str, index: Index) -> None:
    """Store `index` in file `name`; silently skip when the cache directory is not writable."""
    import tempfile  # only when writing: keeps the read path's imports small

    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename, so a concurrent reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".index-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(index, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, directory / name)
    except OSError:
        return
