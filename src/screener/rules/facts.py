"""Condition and allergy rules: a medication against one fact about the patient.

`conditions.csv` rows with context `condition` (pregnancy, cirrhosis, …) and
`allergy` (meprobamate, carbamates, …). A rule written for a drug class and a
condition applies to every member and every narrower condition (cirrhosis
is_a hepatic impairment); the most specific rule wins, as for drug pairs. An
allergy to a product means an allergy to each of its ingredients.

A rule exception (`rule_exceptions.csv`) sets a rule aside for a drug in some
entries only (by their route, another ingredient in the same entry, or the product): the
opioid class contraindications do not reach buprenorphine taken sublingually or
with naloxone, whose own labels list none. The next most specific rule then
applies, as if the set-aside rule were not written for that drug.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..model import FindingKind, Medication
from .base import Family, Item, Scope, lead, make_finding, name, quote, rule_step
from .duplicates import ANY_INGREDIENT

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index
    from ..knowledge.tables import Rule
    from .compiling import CompileContext
    from .triggers import FactTrigger

ANY_CLASS = "*class"
"""In an allergy rule for any ingredient (`*`), the target "a class it belongs to": an allergy to a class (curated,
or an FDA established pharmacologic class, `knowledge.loader.derive_memberships`) and a member of it."""

_FALLBACK_DISTANCE = 100
"""How far the `*class` rule counts as being from any ingredient: it loses to every rule written for a
concept (a curated class rule cites the class's own labels; this one says only that the class was matched)."""

Hit = tuple[str, str, str]
"""(rule id, the drug anchor, the target anchor)."""

Exception = tuple[str, frozenset[str], frozenset[str], frozenset[str]]
"""(rule id, the entry routes that set it aside, the other ingredients that do, the products that do)."""


@dataclass(frozen=True)
class FactTable:
    """A fact family's compiled rules (plain data, cached with the index)."""

    best: dict[tuple[str, str], Hit]
    """(ingredient, target concept) → the most specific rule."""
    ranked: dict[tuple[str, str], tuple[Hit, ...]] = field(default_factory=dict)
    """For an ingredient with exceptions: every rule that reaches (ingredient, target), most specific first."""
    exceptions: dict[str, tuple[Exception, ...]] = field(default_factory=dict)
    """Ingredient → the rules its exceptions set aside, and for which entries."""


def set_aside(exceptions: tuple[Exception, ...], med: Medication) -> frozenset[str]:
    """The rules `exceptions` set aside for this entry: those whose route it is given by (its own route, or
    one of its NDC product's "sublingual or buccal"), whose other ingredient it holds, or whose product it is."""
    routes = set(med.dosing.route.split(" or ")) if med.dosing.route else set()
    return frozenset(rule for rule, by_route, partners, products in exceptions
                     if routes & by_route or partners.intersection(med.ingredients) or med.concept in products)


def condition_targets(index: Index, concept: str) -> tuple[str, ...]:
    """A condition is screened as itself."""
    return (concept,)


def allergy_targets(index: Index, concept: str) -> tuple[str, ...]:
    """An allergen is screened as itself or, for a product, as each of its ingredients."""
    return index.ingredients.get(concept) or (concept,)


class _FactFamily(Family):
    """A medication against one patient fact; the subclasses say which."""

    scope = Scope.FACT

    @staticmethod
    def targets(index: Index, concept: str) -> tuple[str, ...]:
        """The concepts a fact naming `concept` is screened as."""
        raise NotImplementedError

    def compile(self, ctx: CompileContext, rules: list[Rule]) -> FactTable:
        table: dict[tuple[str, str], tuple] = {}
        excepted = {e.drug for e in ctx.exceptions if e.rule in {r.id for r in rules}}
        every: dict[tuple[str, str], list[tuple]] = {}
        for rule in rules:
            drug, target = rule.concepts
            if drug == ANY_INGREDIENT:
                # An allergy to the very ingredient taken. It is nearer than any class rule (distance 1 or
                # more) and yields to a rule written for that drug itself (distance 0).
                if target == ANY_CLASS:
                    self._compile_class_allergy(ctx, table, rule, excepted, every)
                    continue
                for x in ctx.ingredients_under_any():
                    candidate = (0.5, -ctx.rank(rule.id), rule.id, x, x)
                    ctx.keep(table, (x, x), candidate)
                    if x in excepted:
                        every.setdefault((x, x), []).append(candidate)
                continue
            for x in ctx.ingredients_under(drug):
                for t in sorted(ctx.down.get(target, ())):
                    candidate = (ctx.distance(x, drug) + ctx.distance(t, target), -ctx.rank(rule.id),
                                 rule.id, drug, target)
                    ctx.keep(table, (x, t), candidate)
                    if x in excepted:
                        every.setdefault((x, t), []).append(candidate)
        exceptions: dict[str, list[Exception]] = {}
        for e in ctx.exceptions:
            if e.drug in excepted:
                exceptions.setdefault(e.drug, []).append((e.rule, frozenset(e.routes), frozenset(e.partners),
                                                          frozenset(e.products)))
        return FactTable(best={key: hit[2:] for key, hit in table.items()},
                         ranked={key: tuple(hit[2:] for hit in sorted(hits, key=lambda h: h[:3]))
                                 for key, hits in every.items()},
                         exceptions={x: tuple(found) for x, found in exceptions.items()})

    @staticmethod
    def _compile_class_allergy(ctx: CompileContext, table: dict, rule: Rule, excepted: set[str],
                               every: dict[tuple[str, str], list[tuple]]) -> None:
        """`*` + `*class`: every member of every class, with an allergy to that very class. An allergy to a
        narrower class (or to one drug) says nothing of the rest of a broader class: "General Anesthetic [EPC]"
        is not every other CNS depressant, so no other member is matched. Like every other rule, it is ranked
        for an ingredient with exceptions (`FactTable.ranked`)."""
        for cls in sorted(c for c, kind in ctx.kinds.items() if kind == "class"):
            for x in ctx.ingredients_under(cls):
                candidate = (_FALLBACK_DISTANCE + ctx.distance(x, cls), -ctx.rank(rule.id), rule.id, cls, cls)
                ctx.keep(table, (x, cls), candidate)
                if x in excepted:
                    every.setdefault((x, cls), []).append(candidate)

    def trigger(self, index: Index, table: FactTable) -> FactTrigger:
        from .triggers import FactTrigger

        # An exception only sets rules aside (the rule that then applies reaches the same key), so the keys
        # of the best rules are every key that can fire.
        return FactTrigger(field=self.field, keys=frozenset(table.best), expand=self.targets)

    def fact(self, index: Index, table: FactTable, med: Medication, text: str, concept: str) -> tuple[Item, ...]:
        out: list[Item] = []
        targets = self.targets(index, concept)
        for x in med.ingredients:
            aside = set_aside(table.exceptions[x], med) if x in table.exceptions else frozenset()
            for target in targets:
                hit = table.best.get((x, target))
                if hit is not None and hit[0] in aside:
                    hit = next((h for h in table.ranked.get((x, target), ()) if h[0] not in aside), None)
                if hit is None:
                    continue
                rule_id, drug_anchor, target_anchor = hit
                rule = index.rules[rule_id]
                side = list(index.up[target][target_anchor])[::-1]
                if concept != target:
                    side.append(concept)
                side.append(quote(text))
                path = lead(index, med, x, drug_anchor) + [rule_step(rule_id)] + side
                # Keyed by the patient's fact too: two facts reaching one rule (cirrhosis, and
                # hepatic impairment) are two findings, whatever order they were given in.
                finding = make_finding(index, rule, (x, target), (med.input, text),
                                       f"{name(index, x)} + {name(index, concept)}", path)
                out.append(((rule.kind, rule_id, x, concept), finding))
        return tuple(out)


class Conditions(_FactFamily):
    """A medication and a condition or state of the patient (pregnancy, cirrhosis, CKD stage 4 …)."""

    name = "condition"
    kind = FindingKind.DRUG_CONDITION
    field = "condition"
    targets = staticmethod(condition_targets)

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        ancestors = ctx.up.get(rule.concepts[1], {})
        if "pregnancy" in ancestors:
            return (("ncpdp", "PG"), ("v3", "PREG"))
        if "lactation" in ancestors:
            return (("ncpdp", "NR"), ("v3", "LACT"))
        return (("ncpdp", "MC"), ("v3", "COND"))


class Allergies(_FactFamily):
    """A medication and a reported allergy, including class cross-sensitivity."""

    name = "allergy"
    kind = FindingKind.DRUG_ALLERGY
    field = "allergy"
    targets = staticmethod(allergy_targets)

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        return (("ncpdp", "DA"), ("v3", "ALGY"))
