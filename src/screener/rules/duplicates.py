"""Duplicate rules: the same ingredient from two entries, or two drugs of a class that should not be doubled.

`interactions.csv` rows of kind duplicate name one concept twice (a = b):
a drug (that drug listed twice), a class (any two of its members, and any
member twice), or `*` (any ingredient listed twice, the rule of last resort:
it loses to every rule written for a concept).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from ..model import FindingKind, Medication
from .base import INGREDIENT_KINDS, Family, Item, Scope, lead, make_finding, name, rule_step
from .pairs import PairTable, compile_pairs, pair_finding, pair_hits

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index
    from ..knowledge.tables import Rule
    from .compiling import CompileContext
    from .triggers import PairTrigger

ANY_INGREDIENT = "*"
"""In a duplicate rule, `*` stands for "any ingredient listed twice" (the loader and graph read it from here)."""

_NO_ANCHOR_DISTANCE = 1000
"""How far a `*` rule counts as being from any ingredient: it loses to every real rule."""


class DuplicateTable(TypedDict):
    """The compiled duplicate rules."""

    same: dict[str, tuple[str, str]]
    """Ingredient → (rule id, anchor): the rule for that ingredient from two entries."""
    any: str | None
    """The `*` rule's id (any ingredient twice, vocabulary ingredients included), if there is one."""
    pairs: PairTable
    """Class duplicates between different ingredients, as for drug-drug rules."""


class Duplicates(Family):
    """The same ingredient twice, or two members of a class that should not be doubled."""

    name = "duplicate"
    kind = FindingKind.DUPLICATE
    scope = Scope.PAIR

    def compile(self, ctx: CompileContext, rules: list[Rule]) -> DuplicateTable:
        same: dict[str, tuple] = {}
        any_rule = None
        for rule in rules:
            a = rule.concepts[0]
            if a == ANY_INGREDIENT:
                any_rule = rule.id if any_rule is None else min(any_rule, rule.id)
                members = [c for c, kind in ctx.kinds.items() if kind in INGREDIENT_KINDS]
            else:
                members = ctx.ingredients_under(a)
            for x in members:
                d = _NO_ANCHOR_DISTANCE if a == ANY_INGREDIENT else ctx.distance(x, a)
                ctx.keep(same, x, (d, -ctx.rank(rule.id), rule.id, x if a == ANY_INGREDIENT else a))
        return {
            "same": {x: (hit[2], hit[3]) for x, hit in same.items()},
            "any": any_rule,
            "pairs": compile_pairs(ctx, [r for r in rules if r.concepts[0] != ANY_INGREDIENT], classes_only=True),
        }

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        # A class not to be doubled is therapeutic duplication; one ingredient twice, ingredient duplication.
        if ctx.kinds.get(rule.concepts[0]) == "class":
            return (("ncpdp", "TD"), ("v3", "DUPTHPCLS"))
        return (("ncpdp", "ID"), ("v3", "DUPTHPGEN"))

    def trigger(self, index: Index, table: DuplicateTable) -> PairTrigger:
        from .triggers import PairTrigger

        return PairTrigger(partners=frozenset((x, y) for x, row in table["pairs"].items() for y in row),
                           same=None if table["any"] else frozenset(table["same"]))

    def pair(self, index: Index, table: DuplicateTable, first: Medication, second: Medication) -> tuple[Item, ...]:
        out: list[Item] = []
        same, any_rule = table["same"], table["any"]
        for x in first.ingredients:
            if x not in second.ingredients:
                continue
            hit = same.get(x) or ((any_rule, x) if any_rule else None)
            if hit is None:
                continue
            rule_id, anchor = hit
            path = lead(index, first, x, anchor) + [rule_step(rule_id)] + lead(index, second, x, anchor)[::-1]
            finding = make_finding(index, index.rules[rule_id], (x,), (first.input, second.input),
                                   f"{name(index, x)} listed twice", path)
            out.append((("same", x), finding))
        out.extend(((self.kind.value, key), pair_finding(index, rule_id, first, x, ax, second, y, ay))
                   for x, y, rule_id, ax, ay, key in pair_hits(table["pairs"], first, second))
        return tuple(out)
