"""Cache the compiled Index on disk, keyed by a hash of the knowledge files and the compiler's code.

The key covers the project version, the source of the code that compiles the
knowledge (every `.py` file of `screener/knowledge/` and `screener/rules/`,
plus `screener/model.py` and `screener/text.py`), and every knowledge
file's name and bytes: editing a CSV, the compiler (in an editable install) or
upgrading screener rebuilds the index on the next run. Loading a cached index
is a pickle load of plain data: about 2 ms, and no networkx. (A JSON form was
measured at 6.3 ms plus rebuilding the objects plus importing json, on a
~100 ms command: pickle stays.)

The cache lives in `paths.cache_dir()`. A pickle can name any callable to run
while it is read, so a cache file is trusted twice over:

1. It is read only from a directory and a file owned by the current user that
   no one else may write (`paths.untrusted`; the directory is created 0700,
   files 0600). Anything else is ignored, with one note on stderr.
2. It is read with `SafeUnpickler`, whose `find_class` (the only way a pickle
   reaches a callable) returns nothing but `frozenset`/`set` and classes
   defined in `screener` modules that are enums, or dataclasses whose
   construction runs only code the dataclasses module generated (no
   `__post_init__`, `__new__`, hand-written `__init__`, `__setattr__`,
   `__setstate__` (bar `Index.__setstate__`, which only sets attributes),
   `__reduce__` or `__reduce_ex__`). Calling such a class sets fields (running
   at most the field's own `default_factory`, project code that takes no
   argument); calling an enum class looks a member up by value; frozenset
   builds a set. None of them runs code named by the file, so even a file
   planted by someone else cannot execute anything: at worst it is not an
   `Index`, and it is rebuilt. Any other global (`os.system`, `builtins.eval`,
   any function, any other class) raises `pickle.UnpicklingError`, read as
   "no cache".

If the directory cannot be created or written (read-only, full disk), the
index is compiled in memory each time, with the same one note.
"""

from __future__ import annotations

try:
    # hashlib would also load OpenSSL: ~2.4 ms of import on every check (see tests/test_cache.py).
    from _blake2 import blake2b
except ImportError:  # a Python built without the private module, whose hashlib then has no blake2b either
    import hashlib

    def blake2b(data: bytes = b""):  # type: ignore[no-redef]  # the same signature, another implementation
        """BLAKE2b-512 from OpenSSL: the same digest as `_blake2.blake2b` with its defaults."""
        return hashlib.new("blake2b512", data)

import contextlib
import dataclasses
import enum
import os
import pickle
import stat
import sys
import time
from functools import lru_cache
from pathlib import Path

from .. import paths
from ..version import __version__
from .index import Index

KEEP_SLOTS = 8
"""Cache files kept after a write: several knowledge directories or layer sets may be in use at once."""
STALE_TMP_SECONDS = 3600
"""A temporary file older than this was left by a writer that died: removed when pruning."""

_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The `screener` package directory, whose compiler sources go into the key."""
CODE_PACKAGES = ("knowledge", "rules")
"""Packages (under `screener/`) whose every `.py` file is the compiler: found by listing, so new ones count."""
CODE_MODULES = ("model.py", "text.py")
"""Single modules (under `screener/`) whose source the compiled index also depends on."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def code_files(root: str | None = None) -> list[str]:
    """The source files of the compiler under package directory `root` (default: this screener), in order.

    Listed with os.scandir each time (not a fixed list), so a module added to
    `screener/knowledge/` or `screener/rules/` (which may not exist yet) is
    covered without anyone remembering to add it.
    """
    root = root or _SOURCE_ROOT
    found: list[str] = []
    for package in CODE_PACKAGES:
        _python_files(os.path.join(root, package), found)
    found.extend(os.path.join(root, name) for name in CODE_MODULES)
    return found


def _python_files(folder: str, found: list[str]) -> None:
    try:
        with os.scandir(folder) as entries:
            listed = sorted(entries, key=lambda entry: entry.name)
    except OSError:
        return  # the package is absent (e.g. screener/rules before it exists)
    for entry in listed:
        if entry.name.endswith(".py") and entry.is_file():
            found.append(entry.path)
        elif entry.is_dir() and entry.name != "__pycache__":
            _python_files(entry.path, found)


@lru_cache(maxsize=1)
def code_fingerprint() -> bytes:
    """The bytes the compiler's code contributes to every key: each source file's relative name and bytes.

    Read once per process (~0.2 ms for ~70 KB): the code running in a process
    is the code it imported, so later edits are for the next process. A
    missing file counts as empty rather than failing: the key still changes.
    """
    files = code_files()
    parts = [f"code {len(files)}\n".encode()]
    for path in files:
        try:
            with open(path, "rb") as handle:
                source = handle.read()
        except OSError:
            source = b""
        parts.append(os.path.relpath(path, _SOURCE_ROOT).replace(os.sep, "/").encode() + b"\0" + source + b"\0")
    return b"".join(parts)


def content_hash(directory: Path, files: tuple[str, ...], layers: tuple[Path, ...] = (),
                 layer_files: tuple[str, ...] = ()) -> str:
    """BLAKE2b over the project version, the compiler's source (`code_fingerprint`) and each present
    file's name and bytes, the base directory's then each layer's (in order)."""
    digest = blake2b(f"screener {__version__}\n".encode())
    digest.update(code_fingerprint())
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


# --- reading: only what cannot run code -----------------------------------------------------------


_HOOKS = ("__new__", "__init__", "__post_init__", "__setattr__", "__setstate__", "__reduce__", "__reduce_ex__")
"""What unpickling a dataclass may call (or, for the two reduce hooks, what says it is not plain data)."""
_ALLOWED_BUILTINS = {"frozenset": frozenset, "set": set}


def _generated(function) -> bool:
    """True for a method the dataclasses module wrote (its helpers, or code it exec'd), not one by hand.

    Should a future Python name its generated code differently, this fails closed: every cache read
    misses, which tests/test_cache.py's round trip of the real index reports.
    """
    if getattr(function, "__module__", None) == "dataclasses":
        return True
    code = getattr(function, "__code__", None)
    return code is not None and code.co_filename == "<string>"


def plain_class(cls) -> bool:
    """True when `cls` may be named by a cache file: a `screener` enum, or a `screener` dataclass
    whose construction and state-setting run only dataclass-generated code (see the module docstring)."""
    if not isinstance(cls, type):
        return False
    module = getattr(cls, "__module__", "")
    if module != "screener" and not module.startswith("screener."):
        return False
    if issubclass(cls, enum.Enum):
        # A custom metaclass or _missing_ would run code on lookup; the standard ones only look up.
        standard = getattr(enum.Enum._missing_, "__func__", None)
        return type(cls) is enum.EnumType and getattr(cls._missing_, "__func__", None) is standard
    if not dataclasses.is_dataclass(cls):
        return False
    for klass in cls.__mro__[:-1]:  # all but object, whose hooks are the defaults
        for hook in _HOOKS:
            function = klass.__dict__.get(hook)
            if function is None or function is Index.__dict__["__setstate__"]:
                continue
            if hook in ("__new__", "__post_init__", "__reduce__", "__reduce_ex__") or not _generated(function):
                return False
    return True


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that can only build plain data: see the module docstring for what it allows and why."""

    def find_class(self, module: str, name: str):
        """The class `module.name` when it is allowed, else `pickle.UnpicklingError` (never imports outside
        screener)."""
        found = _look_up(module, name)  # a handful of calls per load: the pickle memoises each class
        if found is None:
            raise pickle.UnpicklingError(f"cache file names a forbidden global: {module}.{name}")
        return found


def _look_up(module: str, name: str):
    if module in ("builtins", "__builtin__"):  # protocols 0-2 spell it the Python 2 way
        return _ALLOWED_BUILTINS.get(name)
    in_screener = module == "screener" or module.startswith("screener.")
    if not in_screener or "__main__" in module.split(".") or not name.isidentifier():
        return None  # a dotted name could walk attributes to anything; __main__ would run the command line
    try:
        __import__(module)  # only screener's own modules, whose import the user runs anyway
        found = getattr(sys.modules[module], name)
    except Exception:
        return None
    return found if plain_class(found) else None


def read(name: str) -> Index | None:
    """The cached index in file `name`, or None when absent, untrusted or unreadable (it is then rebuilt)."""
    directory = paths.cache_dir()
    try:
        status = os.stat(directory)
        fd = os.open(directory / name, os.O_RDONLY | _NOFOLLOW | _BINARY)
    except OSError:
        return None  # absent (a cold cache) or unreachable: the write says why if it matters
    with os.fdopen(fd, "rb") as handle:
        # Checked on the open file, so it cannot be swapped between the check and the read.
        problem = paths.untrusted(status) or _file_problem(name, os.fstat(fd))
        if problem:
            paths.note(directory, problem)
            return None
        try:
            index = SafeUnpickler(handle).load()
        except Exception:
            return None
    return index if isinstance(index, Index) else None


def _file_problem(name: str, status: os.stat_result) -> str | None:
    if not stat.S_ISREG(status.st_mode):
        return f"{name} is not a regular file"
    problem = paths.untrusted(status)
    return f"its file {name}: {problem}" if problem else None


# --- writing ---------------------------------------------------------------------------------------


def write(name: str, index: Index) -> None:
    """Store `index` in file `name` (0600, atomically), then prune old slots.

    When the cache directory cannot be used or written (untrusted, read-only,
    full disk), nothing is stored and one note goes to stderr: the index is
    then compiled in memory on every run.
    """
    import tempfile  # only when writing: keeps the read path's imports small

    directory = paths.private_dir(paths.cache_dir(), create=True)
    if directory is None:
        return
    tmp = None
    try:
        # mkstemp creates the file 0600; rename makes it appear whole, so a concurrent reader never sees half.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".index-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(index, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, directory / name)
    except OSError as exc:
        if tmp is not None:
            _remove(tmp)
        paths.note(directory, f"it cannot be written ({paths.os_error_text(exc)})")
        return
    prune(directory, keep=name)


def prune(directory: Path, keep: str = "", slots: int = KEEP_SLOTS) -> None:
    """Remove all but the `slots` newest `index-*.pickle` files (never `keep`), and stale temporary files.

    Best effort: a file that vanished or cannot be removed is left alone,
    and pruning never fails a screen.
    """
    now = time.time()
    found: list[tuple[float, str]] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if entry.name.startswith("index-") and entry.name.endswith(".pickle"):
                        if entry.name != keep:
                            found.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
                    elif (entry.name.startswith(".index-") and entry.name.endswith(".tmp")
                          and now - entry.stat(follow_symlinks=False).st_mtime > STALE_TMP_SECONDS):
                            _remove(entry.path)
                except OSError:
                    continue
    except OSError:
        return
    found.sort(reverse=True)
    for _, path in found[max(slots - (1 if keep else 0), 0):]:
        _remove(path)


def _remove(path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
