"""What rule families compile against: the class hierarchy, the rule rows, and "the most specific rule wins".

Imported when knowledge is compiled (and by validation), never on the check path.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..model import Severity
from .base import INGREDIENT_KINDS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.tables import Rule


@dataclass
class CompileContext:
    """The class hierarchy and compiled rules every family compiles against."""

    kinds: dict[str, str]
    """Concept id → kind."""
    up: dict[str, dict[str, tuple[str, ...]]]
    """Concept id → {ancestor: the shortest is_a chain to it}, the concept itself included."""
    rows: dict[str, Rule]
    """Every rule row by id."""
    ties: list | None = None
    """When given, collects (key, rule id, rule id) for equally specific rules of different severity."""
    down: dict[str, set[str]] = field(default_factory=dict)
    """Concept id → every concept under it (itself included)."""
    shared: dict = field(default_factory=dict)
    """A pool that gives equal values one object (the cache pickles shared objects once)."""
    mme: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    """Drug id → (unit, MME conversion factor or None) from mme_factors.csv (see `rules.dose`)."""

    def __post_init__(self) -> None:
        down: dict[str, set[str]] = defaultdict(set)
        for node, ancestors in self.up.items():
            for ancestor in ancestors:
                down[ancestor].add(node)
        self.down = dict(down)

    def ingredients_under(self, concept: str) -> list[str]:
        """The drugs and substances that are `concept` or lie under it, sorted."""
        return sorted(n for n in self.down.get(concept, ()) if self.kinds[n] in INGREDIENT_KINDS)

    def ingredients_under_any(self) -> list[str]:
        """Every drug and substance of the knowledge, sorted (what a rule for any ingredient covers)."""
        return sorted(n for n, kind in self.kinds.items() if kind in INGREDIENT_KINDS)

    def distance(self, node: str, ancestor: str) -> int:
        """is_a steps from `node` up to `ancestor`."""
        return len(self.up[node][ancestor]) - 1

    def rank(self, rule_id: str) -> int:
        """The severity rank of a rule (larger is more serious)."""
        return Severity(self.rows[rule_id].severity).rank

    def share(self, value):
        """One object for equal values."""
        return self.shared.setdefault(value, value)

    def keep(self, table: dict, key, candidate: tuple, label=None) -> None:
        """Keep the better of the current entry and `candidate` = (distance, -rank, rule id, …):
        nearer, then more severe, then the smaller rule id. Ties of different severity are recorded."""
        current = table.get(key)
        if (self.ties is not None and current is not None and current[0] == candidate[0]
                and current[1] != candidate[1]):
            self.ties.append((label if label is not None else key, current[2], candidate[2]))
        if current is None or candidate[:3] < current[:3]:
            table[key] = candidate



