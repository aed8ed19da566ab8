"""The library's front door: `load_knowledge()` and the `Knowledge` it returns.

A `Knowledge` joins a compiled index (`screener.knowledge`) to the walk that
screens with it (`screener.screening`), and answers questions about what it
holds (`explain`, `graph`, `tables`). It lives here, above both, so that the
knowledge package never imports the screening code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import KnowledgeError
from .knowledge import content_key, load_index
from .knowledge.index import Index
from .model import MedicationEntry, Report
from .paths import bundled_data_dir, forget_tables_homes
from .screening import screen_patient

if TYPE_CHECKING:  # pragma: no cover - typing only
    import networkx as nx

    from .explain import Explanation
    from .knowledge.tables import Tables


class Knowledge:
    """A loaded knowledge base: screen patients with it, or ask what it knows."""

    def __init__(self, index: Index):
        self.index = index

    @property
    def version(self) -> str:
        """The project version plus a content hash of the loaded files, e.g. `0.1.0+3f2a9c1e0b7d`."""
        return self.index.version

    @property
    def directory(self) -> Path:
        """Where the base knowledge files were read from."""
        return Path(self.index.directory)

    @property
    def layers(self) -> tuple[Path, ...]:
        """The local layers on top of the base knowledge, in the order they apply."""
        return tuple(Path(layer) for layer in self.index.layers)

    def screen(
        self,
        medications: Iterable[str | MedicationEntry] = (),
        conditions: Iterable[str] = (),
        allergies: Iterable[str] = (),
        age: float | None = None,
    ) -> Report:
        """Screen one patient; see `screener.screen` for the arguments."""
        return screen_patient(self.index, medications, conditions, allergies, age)

    def explain(self, name: str) -> Explanation:
        """What the knowledge base knows about `name` (a drug, brand, class or condition)."""
        from .explain import explain

        return explain(self.index, self.tables, name)

    def graph(self) -> nx.MultiDiGraph:
        """The knowledge graph (networkx) of exactly the files this knowledge was compiled from."""
        from .knowledge.graph import build_graph

        return build_graph(self.tables())

    def tables(self) -> Tables:
        """The checked rows of every file, layers applied, as this knowledge was compiled from them.

        The compiled index keeps only what screening needs, so synonyms, codes and
        sources are read again from the files; if those changed since loading, this
        raises `KnowledgeError` rather than mix new rows with the older index.
        """
        from .knowledge.loader import read_layers

        if content_key(self.directory, self.layers) != self.index.key:
            raise KnowledgeError(f"the knowledge files in {self.directory} changed after they were loaded; "
                                 "load the knowledge again")
        return read_layers(self.directory, self.layers)


def load_knowledge(path: str | os.PathLike[str] | None = None, *, layers: Iterable[str | os.PathLike[str]] = (),
                   use_cache: bool = True) -> Knowledge:
    """Load the knowledge in `path` (default: the bundled knowledge) with local `layers` on top.

    Each layer is a directory of the same files (any subset) plus an optional
    `overrides.csv` (see `knowledge.loader.read_layers`); layers apply in order.
    The result is compiled once and cached under a hash of every file involved.
    Raises `KnowledgeError` for a missing directory or a bad file.
    """
    directory = bundled_data_dir() if path is None else _directory(path, "knowledge directory")
    if isinstance(layers, (str, bytes, os.PathLike)) or not isinstance(layers, Iterable):
        raise KnowledgeError(f"layers must be a list of directories, not {type(layers).__name__}")
    layer_dirs = tuple(_directory(layer, "knowledge layer") for layer in layers)
    forget_tables_homes()
    return Knowledge(load_index(directory, layer_dirs, use_cache=use_cache))


def _directory(value: object, what: str) -> Path:
    if not isinstance(value, (str, os.PathLike)) or isinstance(value, bytes):
        raise KnowledgeError(f"{what} must be a path (str or os.PathLike), not {type(value).__name__}")
    path = Path(value)
    if not path.is_dir():
        raise KnowledgeError(f"{what} not found: {path}")
    return path


@lru_cache(maxsize=1)
def default_knowledge() -> Knowledge:
    """The bundled knowledge, loaded once per process."""
    return load_knowledge()
