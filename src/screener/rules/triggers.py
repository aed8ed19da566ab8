"""Triggers: what a rule family declares about which patients could fire it.

Each family's `trigger()` returns one of these shapes; the batch engine
(`screener.batch.engine.Codebook`) evaluates each shape over a whole block of
patients, so its prefilter is derived from the families rather than written
beside them. A family that needs a new shape adds it here and teaches the
engine; the engine refuses a shape it does not know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index


@dataclass(frozen=True)
class PairTrigger:
    """Two entries could fire when an ingredient of one and an ingredient of the other form a pair
    in `partners` ((x, y) with x < y), or when they share an ingredient that is in `same`
    (None: any shared ingredient)."""

    partners: frozenset[tuple[str, str]] = frozenset()
    same: frozenset[str] | None = frozenset()


@dataclass(frozen=True)
class FactTrigger:
    """An entry and a patient fact of `field` could fire when (ingredient, target) is in `keys`,
    for a target in `expand(index, concept)` of the fact's concept."""

    field: str
    keys: frozenset[tuple[str, str]]
    expand: Callable[[Index, str], tuple[str, ...]]


@dataclass(frozen=True)
class AgeTrigger:
    """An entry could fire at an age when one of its ingredients has a test (operator, years) that
    the age passes."""

    tests: dict[str, tuple[tuple[str, float], ...]]


@dataclass(frozen=True)
class EntryTrigger:
    """An entry could fire on its own (and with the others it adds up with) when `fires(ingredients)`."""

    fires: Callable[[tuple[str, ...]], bool]
    ingredients: frozenset[str]
    """Every ingredient for which `fires` can be true (what the family's rules name)."""


@dataclass(frozen=True)
class RoleTrigger:
    """A patient could fire when, for one rule, every role (a set of ingredients) is filled and, where the
    rule names a condition, the patient has one of `conditions` (same order as `rules`; empty: none)."""

    rules: tuple[tuple[frozenset[str], ...], ...]
    conditions: tuple[frozenset[str], ...] = ()


Trigger = PairTrigger | FactTrigger | AgeTrigger | EntryTrigger | RoleTrigger
TRIGGER_TYPES = (PairTrigger, FactTrigger, AgeTrigger, EntryTrigger, RoleTrigger)
"""Every shape of trigger the batch engine evaluates."""


def trigger_ingredients(trigger: Trigger) -> set[str]:
    """The ingredients a trigger names, leaving aside "the same ingredient twice": an entry with
    none of them can take part in its family's findings only as a duplicate of another entry."""
    if isinstance(trigger, PairTrigger):
        return {x for pair in trigger.partners for x in pair}
    if isinstance(trigger, FactTrigger):
        return {x for x, _ in trigger.keys}
    if isinstance(trigger, AgeTrigger):
        return set(trigger.tests)
    if isinstance(trigger, EntryTrigger):
        return set(trigger.ingredients)
    return {x for roles in trigger.rules for role in roles for x in role}


