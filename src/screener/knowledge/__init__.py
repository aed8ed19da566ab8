"""Knowledge: load the CSV knowledge base, compile it, cache it, and screen with it.

`load_knowledge()` gives the bundled knowledge; `load_knowledge(path)` reads a
directory of the same files instead. The returned `Knowledge` screens patients
(`screen`) and describes concepts (`explain`). Bad files raise
`KnowledgeError` with `file:line: problem`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .. import __version__
from ..model import Report
from . import cache
from .index import Index
from .files import HASHED_FILES, LAYER_FILES

if TYPE_CHECKING:  # pragma: no cover - typing only
    import networkx as nx

    from ..explain import Explanation


@lru_cache(maxsize=1)
def _screen_patient():
    # Imported on first use (screening imports this package), then kept: one screen
    # takes microseconds, so even an import statement per call would show.
    from ..screening import screen_patient

    return screen_patient


def bundled_data_dir() -> Path:
    """The knowledge directory that ships with screener.

    In an installed wheel the CSVs live in `screener/data/`; in a source
    checkout (editable install) they are the repository's top-level `data/`.
    """
    packaged = Path(__file__).resolve().parent.parent / "data"
    if (packaged / "concepts.csv").exists():
        return packaged
    return Path(__file__).resolve().parents[3] / "data"


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
        """Where the knowledge files were read from."""
        return Path(self.index.directory)

    def screen(
        self,
        medications: Iterable[str] = (),
        conditions: Iterable[str] = (),
        allergies: Iterable[str] = (),
        age: float | None = None,
    ) -> Report:
        """Screen one patient; see `screener.screen` for the arguments."""
        return _screen_patient()(self.index, medications, conditions, allergies, age)

    def explain(self, name: str) -> "Explanation":
        """What the knowledge base knows about `name` (a drug, brand, class or condition)."""
        from ..explain import explain

        return explain(self.index, name)

    def graph(self) -> "nx.MultiDiGraph":
        """The knowledge graph (networkx), rebuilt from the files."""
        from .graph import build_graph

        return build_graph(self.tables())

    def tables(self):
        """The checked rows of every file, layers applied (read again from the files)."""
        from .loader import read_layers

        return read_layers(self.directory, tuple(Path(layer) for layer in self.index.layers))


def load_knowledge(path: str | Path | None = None, *, layers: Iterable[str | Path] = (),
                   use_cache: bool = True) -> Knowledge:
    """Load the knowledge in `path` (default: the bundled knowledge) with local `layers` on top.

    Each layer is a directory of the same files (any subset) plus an optional
    `overrides.csv` (see `read_layers`); layers apply in order. The result is
    compiled once and cached under a hash of every file involved.
    """
    from ..errors import KnowledgeError

    directory = Path(path) if path is not None else bundled_data_dir()
    if path is not None and not directory.is_dir():
        raise KnowledgeError(f"knowledge directory not found: {directory}")
    layer_dirs = tuple(Path(layer) for layer in layers)
    for layer in layer_dirs:
        if not layer.is_dir():
            raise KnowledgeError(f"knowledge layer not found: {layer}")
    key = cache.content_hash(directory, HASHED_FILES, layer_dirs, LAYER_FILES)
    name = cache.slot(key, directory, layer_dirs)
    index = cache.read(name) if use_cache else None
    if index is None:
        from .compile import compile_index  # imports networkx: only when the cache is stale
        from .loader import read_layers

        index = compile_index(read_layers(directory, layer_dirs), _version(directory, key), str(directory),
                              layers=tuple(str(layer) for layer in layer_dirs))
        if use_cache:
            cache.write(name, index)
    return Knowledge(index)


def _version(directory: Path, key: str) -> str:
    """`<project version>+<content hash>[.unii<date of the FDA list>]`: what produced a report."""
    from ..vocabulary import VOCABULARY_DIR

    version = f"{__version__}+{key[:12]}"
    manifest = directory / VOCABULARY_DIR / "manifest.json"
    if manifest.exists():
        import json

        date = json.loads(manifest.read_text(encoding="utf-8")).get("source_date", "")
        version += ".unii" + date.replace("-", "")
    return version


@lru_cache(maxsize=1)
def default_knowledge() -> Knowledge:
    """The bundled knowledge, loaded once per process."""
    return load_knowledge()
