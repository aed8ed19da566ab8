"""Results remembered per knowledge index: each distinct input is read, and each distinct pair walked, once.

Every memoised function is pure in its arguments and the knowledge, so a
result can be reused for any later patient with the same entries — the way
the batch path reuses the reading of each distinct string across a
population, and a service reuses it across calls. The memo lives on the
index (per process, never cached to disk) and is bounded: when it fills, the
walk's combinations go first, then the readings, and what is built once from
the knowledge alone (search pools, the plan of the walk) stays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .knowledge.index import Index

MEMO_LIMIT = 500_000
"""Most memoised results kept per knowledge index (see `evict`)."""
READING_LIMIT = 300_000
"""Most readings (`READINGS`) an eviction keeps: the rest of the room is for the walk's combinations."""

DURABLE = frozenset({"plan", "scope", "suggestion-pool", "pool", "completion-pools", "products-with-strengths",
                     "dose-ingredients", "duration-ingredients", "name-starts"})
"""Kinds of result that depend on the knowledge alone, a few of them in all: never evicted. Rebuilding the
suggestion pool after every eviction cost a batch run on a population of distinct charts a tenth of its time."""
READINGS = frozenset({"medication", "condition", "allergy", "qualified", "dose", "duration", "near-miss", "suggestions",
                      "pair-of"})
"""Kinds of result about one input text, and the walk of each pair of drugs (`pair-of`, which every pair of
their texts reuses): kept when the walk's combinations of texts (pairs, facts, lists: a new one for nearly every
patient of a varied population) are evicted, as every later patient's walk reads them again."""

T = TypeVar("T")


def memoised(index: Index, key: tuple, compute: Callable[..., T], *args: Any) -> T:
    """`compute(*args)`, remembered on `index` under `key` (a tuple naming what it is about)."""
    memo = index.memo
    hit = memo.get(key)
    if hit is None:
        hit = compute(*args)
        if len(memo) >= MEMO_LIMIT:
            evict(memo)
        memo[key] = hit
    return hit


def evict(memo: dict) -> None:
    """Make room in a full memo, in place (callers hold the dict): drop the combinations, and the readings
    too when there are more than READING_LIMIT; keep the durable results (see `DURABLE`, `READINGS`)."""
    kept = {key: value for key, value in memo.items() if key[0] in DURABLE or key[0] in READINGS}
    if len(kept) > READING_LIMIT:
        kept = {key: value for key, value in kept.items() if key[0] in DURABLE}
    memo.clear()
    memo.update(kept)
