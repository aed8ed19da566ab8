"""Results remembered per knowledge index: each distinct input is read, and each distinct pair walked, once.

Every memoised function is pure in its arguments and the knowledge, so a
result can be reused for any later patient with the same entries — the way
the batch path reuses the reading of each distinct string across a
population, and a service reuses it across calls. The memo lives on the
index (per process, never cached to disk) and is cleared when it fills.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .knowledge.index import Index

MEMO_LIMIT = 200_000
"""Most memoised results kept per knowledge index; the memo is cleared when it fills."""

T = TypeVar("T")


def memoised(index: Index, key: tuple, compute: Callable[..., T], *args: Any) -> T:
    """`compute(*args)`, remembered on `index` under `key` (a tuple naming what it is about)."""
    memo = index.memo
    hit = memo.get(key)
    if hit is None:
        hit = compute(*args)
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key] = hit
    return hit
