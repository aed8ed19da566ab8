"""The rule families: every kind of caution the screener knows, each written once.

`FAMILIES` lists them in the order their findings are gathered. Each is a
`base.Family` (see there for the contract): it compiles its own table, screens
one patient, and declares which patients could fire it, from which the batch
engine derives its prefilter. A new kind of caution is a new module here plus
the knowledge rows it compiles; `FindingKind` gains its value, and the tests
fail until the family is registered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .age import Age
from .base import Family, Scope
from .combinations import Combinations
from .dose import Dose
from .duplicates import Duplicates
from .duration import Duration
from .facts import Allergies, Conditions
from .pairs import DrugPairs

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index

FAMILIES: tuple[Family, ...] = (
    DrugPairs(),
    Duplicates(),
    Conditions(),
    Allergies(),
    Age(),
    Combinations(),
    Dose(),
    Duration(),
)
"""Every rule family, in the order the walk gathers their findings."""

BY_NAME: dict[str, Family] = {family.name: family for family in FAMILIES}
"""The families by `Family.name`."""


def rule_ingredients(index: Index, families: tuple[str, ...] | None = None) -> set[str]:
    """Every ingredient some rule of `index` names (beyond "the same ingredient twice"), in every family
    or in the named ones."""
    from .triggers import trigger_ingredients

    return {x for family in FAMILIES if families is None or family.name in families
            for x in trigger_ingredients(family.trigger(index, index.families[family.name]))}


def family_of(kind: object) -> Family:
    """The family that makes findings of `kind` (a `FindingKind` or its value)."""
    for family in FAMILIES:
        if family.kind == kind:
            return family
    raise KeyError(f"no rule family makes findings of kind {kind!r}")


__all__ = ["BY_NAME", "FAMILIES", "Family", "Scope", "family_of", "rule_ingredients"]
