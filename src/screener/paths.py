"""Where screener's files live: the bundled knowledge and the per-user cache.

Kept in a module of its own, importing nothing of the package, so that every
layer (knowledge, vocabulary, the CLI) can ask without importing another.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SCREENER_CACHE_DIR"
"""Environment variable naming the cache directory (default: `$XDG_CACHE_HOME/screener`)."""

_PACKAGE = Path(__file__).resolve().parent


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
    Whoever reads from it checks that it belongs to the current user (see
    `knowledge.cache.trusted_dir`).
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "screener"
