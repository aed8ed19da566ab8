"""Knowledge: read the CSV knowledge base, check it, compile it into an `Index`, and cache that.

`load_index(directory, layers)` is the one entry point: it returns the
compiled `Index` for a base directory with local layers on top, from the
cache when the files are unchanged, else by reading and compiling them (bad
files raise `KnowledgeError` with `file:line: problem`). Screening with an
index is the business of `screener.screening`; the `Knowledge` object that
joins the two is in `screener.api`. This package imports neither.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import KnowledgeError
from ..version import __version__
from . import cache
from .files import HASHED_FILES, LAYER_FILES
from .index import Index


def load_index(directory: Path, layers: tuple[Path, ...] = (), *, use_cache: bool = True) -> Index:
    """The compiled index of `directory` with `layers` on top (each a directory, applied in order)."""
    if not directory.is_dir():
        raise KnowledgeError(f"knowledge directory not found: {directory}")
    for layer in layers:
        if not layer.is_dir():
            raise KnowledgeError(f"knowledge layer not found: {layer}")
    key = cache.content_hash(directory, HASHED_FILES, layers, LAYER_FILES)
    name = cache.slot(key, directory, layers)
    index = cache.read(name) if use_cache else None
    if index is None:
        from .compile import compile_index  # imports networkx: only when the cache is stale
        from .loader import read_layers

        index = compile_index(read_layers(directory, layers), knowledge_version(directory, key), str(directory),
                              layers=tuple(str(layer) for layer in layers), content_key=key)
        if use_cache:
            cache.write(name, index)
    return index


def knowledge_version(directory: Path, key: str) -> str:
    """`<project version>+<content hash>[.unii<date of the FDA UNII list>][.ndc<date of the NDC Directory>]
    [.icd<date of the ICD-10-CM release>]`: what produced a report."""
    import json

    from ..paths import tables_home

    version = f"{__version__}+{key[:12]}"
    for folder, label in (("vocabulary", "unii"), ("ndc", "ndc"), ("icd10cm", "icd")):
        # A directory without its own tables is screened with the bundled ones (see `recognize.entries`).
        manifest = Path(tables_home(directory, folder)) / folder / "manifest.json"
        if manifest.exists():
            date = json.loads(manifest.read_text(encoding="utf-8")).get("source_date", "")
            version += f".{label}" + date.replace("-", "")
    return version


def content_key(directory: Path, layers: tuple[Path, ...] = ()) -> str:
    """The content hash of the files an index of `directory` (+ `layers`) is compiled from."""
    return cache.content_hash(directory, HASHED_FILES, layers, LAYER_FILES)
