"""Where screener's files live: the bundled knowledge and the per-user cache.

Kept in a module of its own, importing nothing of the package, so that every
layer (knowledge, vocabulary, the CLI) can ask without importing another.

It also decides whether a cache directory may be trusted. What is read from the
cache (a compiled index, expanded vocabulary files) decides what a screen
reports, so a directory someone else can write in is never used: it must be
owned by the current user and writable by nobody else (screener creates it
0700, its files 0600). When the cache cannot be used (untrusted, cannot be
created, full disk), screener works in memory and says so once per process on
stderr: a note, never a traceback.
"""

from __future__ import annotations

import functools
import os
import stat
import sys
from pathlib import Path

CACHE_ENV = "SCREENER_CACHE_DIR"
"""Environment variable naming the cache directory (default: `$XDG_CACHE_HOME/screener`)."""

_PACKAGE = Path(__file__).resolve().parent

_noted = False
"""Whether this process has already printed its cache note (one is enough)."""


def tables_home(directory: str | Path, folder: str) -> str:
    """The knowledge directory whose built `folder` (vocabulary, ndc, icd10cm) goes with `directory`: its own
    when it has one, else the bundled one (a small local knowledge directory is screened with the bundled
    FDA tables and code set). Decided once per directory until the next `load_knowledge`
    (`forget_tables_homes`): the readers ask for every entry they read, and two file-system calls each cost
    a batch run a twentieth of its time."""
    return str(directory) if _has_folder(os.path.abspath(directory), folder) else str(bundled_data_dir())


@functools.lru_cache(maxsize=64)
def _has_folder(directory: str, folder: str) -> bool:
    return (Path(directory) / folder).is_dir()


def forget_tables_homes() -> None:
    """Look at the knowledge directories again (`load_knowledge` calls it: a folder may have been built in
    one since)."""
    _has_folder.cache_clear()


def bundled_data_dir() -> Path:
    """The knowledge directory that ships with screener.

    An installed wheel carries the CSVs in `screener/data/` (see pyproject's
    force-include). A source checkout (an editable install) has no copy inside
    the package: there the knowledge is the repository's top-level `data/`,
    found next to the `src/` folder that holds the package.
    """
    packaged = _PACKAGE / "data"
    if (packaged / "concepts.csv").exists():
        return packaged
    checkout = _PACKAGE.parent.parent
    if _PACKAGE.parent.name == "src" and (checkout / "data" / "concepts.csv").exists():
        return checkout / "data"
    return packaged  # missing: the loader names it in its error


def cache_dir() -> Path:
    """Where compiled indexes and expanded vocabulary files are kept.

    `$SCREENER_CACHE_DIR`, else `$XDG_CACHE_HOME/screener`, else `~/.cache/screener`.
    Nothing is read from it or written to it before `private_dir` has checked
    that it belongs to the current user.
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "screener"


def untrusted(status: os.stat_result) -> str | None:
    """Why a cache file or directory with this `os.stat` result must not be used, or None if it may.

    It must belong to the current user and be writable by no one else. Where
    there is no `os.getuid` (Windows) nothing is checked: ownership and mode
    bits do not describe who may write there, and the cache relies on its
    allow-listed unpickler alone (see `knowledge.cache`).
    """
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return None
    if status.st_uid != getuid():
        return f"it belongs to another user (uid {status.st_uid})"
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "it is writable by other users"
    return None


def private_dir(directory: Path, *, create: bool, instead: str = "the knowledge is compiled in memory") -> Path | None:
    """`directory` when cache files may be read from (and written to) it, else None.

    With `create`, a missing directory is made (parents too) with mode 0700.
    A directory that exists but may not be trusted, or that cannot be created,
    gives None and the process's one note on stderr (`instead` says what is
    done without it); a missing one with `create=False` is simply None (a
    cold cache is nothing to report).
    """
    try:
        status = os.stat(directory)
    except FileNotFoundError:
        if not create:
            return None
        try:
            directory.mkdir(mode=0o700, parents=True)
            # mkdir's mode is filtered by the umask: make sure the result is exactly 0700.
            os.chmod(directory, 0o700)
        except FileExistsError:
            pass  # another process made it meanwhile: checked below like any existing directory
        except OSError as exc:
            note(directory, f"it cannot be created ({os_error_text(exc)})", instead)
            return None
        return private_dir(directory, create=False, instead=instead)
    except OSError as exc:  # e.g. a path under a regular file, or a directory we may not search
        if create:
            note(directory, f"it cannot be used ({os_error_text(exc)})", instead)
        return None
    if not stat.S_ISDIR(status.st_mode):
        note(directory, "it is not a directory", instead)
        return None
    problem = untrusted(status)
    if problem:
        note(directory, problem, instead)
        return None
    return directory


def note(directory: Path, problem: str, instead: str = "the knowledge is compiled in memory") -> None:
    """Print the one stderr line that says the cache directory is not used, why, and what is done instead.

    Only the first call in a process prints: one problem with the cache is
    reported once, however many files it would have held.
    """
    global _noted
    if _noted or sys.stderr is None:
        return
    _noted = True
    sys.stderr.write(f"screener: note: not using the cache directory {directory}: {problem}; {instead}.\n")


def os_error_text(exc: OSError) -> str:
    """The readable part of an OSError, without the file name the note already gives."""
    return exc.strerror or exc.__class__.__name__
