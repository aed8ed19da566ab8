"""Dose rules: a single dose or a daily total above the limit, or a strength that is not marketed.

`dosing.csv` rows with limit `max_single_dose`, `max_daily_dose` or
`strengths`, written for one drug. The limits apply to that ingredient in every
entry that holds it, combination products included, and daily amounts of the
ingredient add up across entries ("Soma 350 mg tid" and "Soma Compound 1 tab
qid"). A row may name a `product`: the limit that product's own label gives for
the ingredient, which applies instead to entries of that product (and to a daily
total only when every entry of the ingredient is that product; otherwise the
ingredient's own label holds). An entry counts only with what it says exactly
(`Medication.per_dose_mg`, `per_day_mg`): when another entry of the ingredient
does not say its daily amount, the total is stated as "at least".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING

from ..memo import memoised
from ..model import Finding, FindingKind, Medication
from .base import Family, Item, Scope, lead, make_finding, merge, mg, name, rule_step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index
    from ..knowledge.tables import Rule
    from .compiling import CompileContext
    from .triggers import EntryTrigger

DOSE_LIMITS = ("max_single_dose", "max_daily_dose", "strengths")
"""The limits this family checks (`max_duration` belongs to the duration family)."""

DoseTable = dict[str | tuple[str, str], dict[str, tuple[str, tuple[float, ...]]]]
"""Ingredient → {limit: (rule id, values)}; and (ingredient, product) → the limits that product's own
label gives for the ingredient (they take the place of the ingredient's for entries of that product)."""


def limit_rows(rules: list[Rule]) -> DoseTable:
    """{drug or (drug, product): {limit: (rule id, values)}} from dosing rows (target `limit=v1|v2…`)."""
    out: dict = defaultdict(dict)
    for rule in rules:
        limit, values = rule.target.split("=")
        key = rule.concepts[0] if len(rule.concepts) == 1 else (rule.concepts[0], rule.concepts[1])
        out[key][limit] = (rule.id, tuple(float(v) for v in values.split("|")))
    return dict(out)


def limited(table: Mapping[str | tuple[str, str], object]) -> frozenset[str]:
    """The ingredients some limit of `table` is about."""
    return frozenset(k if isinstance(k, str) else k[0] for k in table)


def has_limits(ingredients_with_limits: frozenset[str], ingredients: tuple[str, ...]) -> bool:
    """Whether an entry of these ingredients is checked: one of them has limits."""
    return any(x in ingredients_with_limits for x in ingredients)


def limits_for(table: DoseTable, x: str, product: str | None) -> dict[str, tuple[str, tuple[float, ...]]]:
    """The limits that apply to ingredient `x` taken as `product`: the product's own, else the ingredient's."""
    general = table.get(x, {})
    own = table.get((x, product)) if product else None
    return {**general, **own} if own else general


def entry_finding(index: Index, rule_id: str, med: Medication, x: str, title: str) -> Item:
    """A finding about one entry's dosing (per dose, strength, duration)."""
    path = lead(index, med, x, x) + [rule_step(rule_id)]
    return ("dose", rule_id, x, med.input), make_finding(index, index.rules[rule_id], (x,), (med.input,), title, path)


class Dose(Family):
    """Single doses and daily totals over the limit; strengths that are not marketed."""

    name = "dose"
    kind = FindingKind.DOSE
    scope = Scope.LIST

    def compile(self, ctx: CompileContext, rules: list[Rule]) -> DoseTable:
        return limit_rows(rules)

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        # A strength that is not marketed has no DUR code of its own.
        return () if rule.target.startswith("strengths=") else (("ncpdp", "HD"), ("v3", "DOSEH"))

    def trigger(self, index: Index, table: DoseTable) -> EntryTrigger:
        from .triggers import EntryTrigger

        return EntryTrigger(fires=partial(has_limits, limited(table)), ingredients=limited(table))

    def whole(self, index: Index, table: DoseTable, meds: list[Medication],
              taken: list[tuple[int, str]], conditions: tuple[tuple[str, str], ...] = ()) -> tuple[Item, ...]:
        # The result is a pure function of the entries holding an ingredient with limits: memoised by them,
        # as the pairs are (the same list is screened again and again in a batch or a service).
        memo = index.memo
        with_limits = memo.get(("dose-ingredients",))
        if with_limits is None:
            with_limits = memoised(index, ("dose-ingredients",), limited, table)
        limited_meds = [med for med in meds if any(x in with_limits for x in med.ingredients)]
        if not limited_meds:
            return ()
        key = ("dose-list", tuple(med.input for med in limited_meds))
        hit = memo.get(key)
        if hit is None:
            hit = memoised(index, key, self._list, index, table, limited_meds, with_limits)
        return hit

    def _list(self, index: Index, table: DoseTable, meds: list[Medication],
              with_limits: frozenset[str]) -> tuple[Item, ...]:
        findings: dict[tuple, Finding] = {}
        daily: dict[str, list[tuple[Medication, float]]] = {}
        unknown: dict[str, list[Medication]] = {}
        memo = index.memo
        for med in meds:
            ingredients = med.ingredients  # has_limits, inline: this runs for every entry
            if not any(x in with_limits for x in ingredients):
                continue
            hit = memo.get(("dose", med.input))
            if hit is None:
                hit = memoised(index, ("dose", med.input), self._entry, index, table, med)
            items, per_day = hit
            if items:
                merge(findings, items)
            for x, amount in per_day:
                if amount is None:
                    unknown.setdefault(x, []).append(med)
                else:
                    daily.setdefault(x, []).append((med, amount))
        if not daily and not findings:
            return ()
        for x, parts in daily.items():
            # A product's own daily limit holds only when every entry of the ingredient is that product.
            products = {med.concept for med, _ in parts}
            limits = limits_for(table, x, products.pop() if len(products) == 1 else None)
            if "max_daily_dose" not in limits:
                continue
            rule_id, (limit,) = limits["max_daily_dose"]
            total = sum(amount for _, amount in parts)
            if total > limit:
                path: list[str] = []
                for med, _ in parts:
                    if path:
                        path.append("+")
                    path.extend(lead(index, med, x, x))
                path.append(rule_step(rule_id))
                # Another entry of the ingredient whose daily amount is not known makes this a lower bound.
                at_least = "at least " if x in unknown else ""
                title = f"{name(index, x)} {at_least}{mg(total)} a day (limit {mg(limit)})"
                inputs = tuple(med.input for med, _ in parts)
                merge(findings, ((("dose", rule_id, x),
                                  make_finding(index, index.rules[rule_id], (x,), inputs, title, path)),))
        return tuple(findings.items())

    @staticmethod
    def _entry(index: Index, table: DoseTable, med: Medication
               ) -> tuple[tuple[Item, ...], tuple[tuple[str, float | None], ...]]:
        """Single-dose and strength findings of one entry, and the mg a day of each of its ingredients that
        has limits (None where the entry does not say it exactly)."""
        out = []
        per_day = []
        for i, x in enumerate(med.ingredients):
            limits = limits_for(table, x, med.concept)
            if not limits:
                continue
            label = name(index, x)
            dose = med.per_dose_mg(i)
            if dose is not None and "max_single_dose" in limits:
                rule_id, (limit,) = limits["max_single_dose"]
                if dose > limit:
                    out.append(entry_finding(index, rule_id, med, x,
                                             f"{label} {mg(dose)} per dose (limit {mg(limit)})"))
            strength = med.strength_mg
            if strength is not None and "strengths" in limits:
                rule_id, strengths = limits["strengths"]
                if strength not in strengths:
                    listed = ", ".join(f"{s:g}" for s in strengths)
                    title = f"{label} {mg(strength)} is not a marketed strength ({listed} mg)"
                    out.append(entry_finding(index, rule_id, med, x, title))
            per_day.append((x, med.per_day_mg(i)))
        return tuple(out), tuple(per_day)
