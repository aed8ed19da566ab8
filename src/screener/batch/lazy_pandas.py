"""Keep pandas out of the one-row-per-patient batch path until something needs it.

Importing pandas takes longer (~0.3 s) than screening a million patients' worth
of the work it would do here, and the batch path works on Arrow tables. But
pyarrow imports pandas by itself the first time it *might* meet a pandas object
(`pa.array`, `pa.scalar`, `Array.to_numpy` all ask, some of them every time),
whether or not one is there.

`defer_pandas()` makes pandas unimportable in this process until `pandas()` is
called: pyarrow then works as it does where pandas is not installed. Every
place that needs pandas (the items and claims layouts, `Block.frame`, the Dask
engine, `screen_frame`) calls `pandas()` instead of `import pandas`, which lifts
the block, imports pandas and tells pyarrow that it is there.

It changes how the whole process imports, so only the `screener` program calls
it, first thing, when its command is `batch` (`cli.main`): the library, and the
click command invoked in-process, never do it behind a caller's back. An
ImportError naming screener.batch means some code imported pandas without
`pandas()`.
"""

from __future__ import annotations

import importlib.abc
import sys

import pyarrow as pa


class _NoPandas(importlib.abc.MetaPathFinder):
    """An import hook that refuses pandas until `pandas()` removes it."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is deferred by screener.batch.lazy_pandas; call pandas() to import it")
        return None


_blocker: _NoPandas | None = None


def _shim():
    """pyarrow's pandas shim (private, but stable since pyarrow 0.x); None if it moved."""
    shim = getattr(pa.lib, "_pandas_api", None)
    # Look the properties up on the class: reading them on the object would import pandas.
    return shim if hasattr(type(shim), "have_pandas") and hasattr(type(shim), "pd") else None


def defer_pandas() -> None:
    """Make pandas unimportable until `pandas()` is called (no-op once pandas is imported)."""
    global _blocker
    shim = _shim()
    if shim is None or "pandas" in sys.modules or _blocker is not None:
        return
    _blocker = _NoPandas()
    sys.meta_path.insert(0, _blocker)
    shim.have_pandas  # noqa: B018 - read for its effect: pyarrow tries once, fails, and stops asking


def pandas():
    """The pandas module, imported now (lifting `defer_pandas`), with pyarrow told that it is there."""
    global _blocker
    if _blocker is not None:
        if _blocker in sys.meta_path:
            sys.meta_path.remove(_blocker)
        _blocker = None
    import pandas as pd

    shim = _shim()
    if shim is not None:
        shim.pd  # noqa: B018 - read for its effect: pyarrow imports pandas again, and now knows it is there
    return pd
