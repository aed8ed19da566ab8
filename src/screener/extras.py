"""Which optional extra brings which package, so that every feature whose extra is missing says so alike.

The base install (`pip install screener`) runs `check`, `explain`, `graph`
(DOT, Mermaid, GraphML), `batch` and every `data` command, `data validate`
included. These need an extra:

| extra     | brings                    | for                                             |
|-----------|---------------------------|-------------------------------------------------|
| `fhir`    | fhir.resources            | `check --fhir` (reading a FHIR Bundle)          |
| `service` | fastapi, uvicorn          | `screener serve` (the CDS Hooks service)        |
| `dask`    | dask, distributed         | `batch --engine dask`                           |

A feature imports its package with `require(module, feature)`, which raises
`MissingExtraError` ("check --fhir needs fhir.resources, which is not
installed: pip install 'screener[fhir]'"); the CLI prints that one line and
exits 2. `extra_for(error)` names the extra for an ImportError raised anywhere
else, so a missing package is never a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

EXTRAS: dict[str, tuple[str, str]] = {
    "fhir": ("fhir", "fhir.resources"),
    "fastapi": ("service", "fastapi"),
    "starlette": ("service", "fastapi"),
    "uvicorn": ("service", "uvicorn"),
    "dask": ("dask", "dask"),
    "distributed": ("dask", "distributed"),
}
"""Top-level package name → (the extra that brings it, the name to tell the user)."""


def require(module: str, feature: str) -> ModuleType:
    """Import `module` for `feature`, or raise `MissingExtraError` naming the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        error = extra_for(exc, feature) or extra_for_name(module, feature)
        if error is None:
            raise
        raise error from None


def extra_for(exc: ImportError, feature: str) -> MissingExtraError | None:
    """The `MissingExtraError` for an ImportError of a package an extra brings, else None."""
    return extra_for_name(exc.name or "", feature)


def extra_for_name(module: str, feature: str) -> MissingExtraError | None:
    """The `MissingExtraError` for `module` (any dotted name under a package an extra brings), else None."""
    top = module.split(".")[0]
    if top not in EXTRAS:
        return None
    extra, shown = EXTRAS[top]
    return MissingExtraError(feature, shown, extra)
