"""Drug-drug rules: two medications (or a medication and alcohol) taken together.

A rule written for a class applies to every member; for each pair of
ingredients the most specific rule wins (the smallest total is_a distance;
ties: the more severe, then the smaller rule id). Ingredients within one
product are not paired: the product's own labelling covers them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ..model import FindingKind, Medication
from .base import Family, Item, Scope, lead, make_finding, name, rule_step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index
    from ..knowledge.tables import Rule
    from .compiling import CompileContext
    from .triggers import PairTrigger

PairTable = dict[str, dict[str, tuple[str, str, str]]]
"""table[x][y], x < y → (rule id, the ancestor of x it was written for, the ancestor of y)."""


def compile_pairs(ctx: CompileContext, rules: list[Rule], classes_only: bool = False) -> PairTable:
    """The winning rule for each pair of different ingredients the rules reach.

    With `classes_only`, rules whose operands are not classes are skipped (a duplicate
    rule written for one drug is about that drug listed twice, not about pairs).
    """
    best: dict[tuple[str, str], tuple] = {}
    for rule in rules:
        a, b = rule.concepts[0], rule.concepts[1]
        if classes_only and ctx.kinds.get(a) != "class":
            continue
        for x in ctx.ingredients_under(a):
            for y in ctx.ingredients_under(b):
                if x == y:
                    continue
                d = ctx.distance(x, a) + ctx.distance(y, b)
                key, anchors = ((x, y), (a, b)) if x < y else ((y, x), (b, a))
                ctx.keep(best, key, (d, -ctx.rank(rule.id), rule.id, *anchors))
    table: dict[str, dict[str, tuple[str, str, str]]] = defaultdict(dict)
    for (x, y), hit in best.items():
        table[x][y] = ctx.share(hit[2:])
    return dict(table)


def interaction_codes(rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
    """Drug-drug and combination findings: NCPDP DD (OH when alcohol takes part), v3 DRG."""
    alcohol = any(ctx.kinds.get(c) == "substance" for c in rule.concepts)
    return (("ncpdp", "OH" if alcohol else "DD"), ("v3", "DRG"))


def pair_hits(table: PairTable, first: Medication, second: Medication):
    """(x, y, rule id, anchor of x, anchor of y, sorted key) for each pair of different ingredients
    of two entries that has a rule in `table`, x from `first`."""
    for x in first.ingredients:
        for y in second.ingredients:
            if x == y:
                continue
            key = (x, y) if x < y else (y, x)
            hit = table.get(key[0], {}).get(key[1])
            if hit is None:
                continue
            rule_id, anchor_lo, anchor_hi = hit
            # Anchors are stored for the sorted key; show the pair in input order.
            anchor_x, anchor_y = (anchor_lo, anchor_hi) if x < y else (anchor_hi, anchor_lo)
            yield x, y, rule_id, anchor_x, anchor_y, key


def pair_finding(index: Index, rule_id: str, first: Medication, x: str, anchor_x: str, second: Medication,
                 y: str, anchor_y: str):
    """The finding of a pair rule between ingredient x of `first` and y of `second`."""
    rule = index.rules[rule_id]
    path = lead(index, first, x, anchor_x) + [rule_step(rule_id)] + lead(index, second, y, anchor_y)[::-1]
    return make_finding(index, rule, (x, y), (first.input, second.input), f"{name(index, x)} + {name(index, y)}", path)


class DrugPairs(Family):
    """Two medications (or a medication and alcohol) together: `interactions.csv` rows of kind drug-drug."""

    name = "drug-drug"
    kind = FindingKind.DRUG_DRUG
    scope = Scope.PAIR

    def compile(self, ctx: CompileContext, rules: list[Rule]) -> PairTable:
        return compile_pairs(ctx, rules)

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        return interaction_codes(rule, ctx)

    def trigger(self, index: Index, table: PairTable) -> PairTrigger:
        from .triggers import PairTrigger

        return PairTrigger(partners=frozenset((x, y) for x, row in table.items() for y in row))

    def pair(self, index: Index, table: PairTable, first: Medication, second: Medication) -> tuple[Item, ...]:
        return tuple(((self.kind.value, key), pair_finding(index, rule_id, first, x, ax, second, y, ay))
                     for x, y, rule_id, ax, ay, key in pair_hits(table, first, second))
