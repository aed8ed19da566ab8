"""Dose rules: a single dose or a daily total above the limit, or a strength that is not marketed.

`dosing.csv` rows with limit `max_single_dose`, `max_daily_dose` or
`strengths`, written for one drug. Daily doses of the same ingredient add up
across entries ("Soma 350 mg tid" and "carisoprodol 350 mg qid"). A strength
typed for a combination product cannot be pinned to one ingredient, so dose
limits apply to single-ingredient entries.
"""

from __future__ import annotations

from collections import defaultdict
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

DoseTable = dict[str, dict[str, tuple[str, tuple[float, ...]]]]
"""Ingredient → {limit: (rule id, values)}."""


def limit_rows(rules: list[Rule]) -> dict[str, dict[str, tuple[str, tuple[float, ...]]]]:
    """{drug: {limit: (rule id, values)}} from dosing rows (whose target is `limit=v1|v2…`)."""
    out: dict[str, dict[str, tuple[str, tuple[float, ...]]]] = defaultdict(dict)
    for rule in rules:
        limit, values = rule.target.split("=")
        out[rule.concepts[0]][limit] = (rule.id, tuple(float(v) for v in values.split("|")))
    return dict(out)


def single_ingredient_in(table: dict, ingredients: tuple[str, ...]) -> bool:
    """Whether an entry of these ingredients is checked against `table`: one ingredient, with limits."""
    return len(ingredients) == 1 and ingredients[0] in table


def entry_finding(index: Index, rule_id: str, med: Medication, x: str, title: str) -> Item:
    """A finding about one entry's dosing (per dose, strength, duration)."""
    path = lead(index, med, x, x) + [rule_step(rule_id)]
    return ("dose", rule_id, x, med.input), make_finding(index.rules[rule_id], (x,), (med.input,), title, path)


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

        return EntryTrigger(fires=partial(single_ingredient_in, table), ingredients=frozenset(table))

    def whole(self, index: Index, table: DoseTable, meds: list[Medication],
              taken: list[tuple[int, str]]) -> tuple[Item, ...]:
        findings: dict[tuple, Finding] = {}
        daily: dict[str, list[tuple[Medication, float]]] = {}
        memo = index.memo
        for med in meds:
            ingredients = med.ingredients  # single_ingredient_in, inline: this runs for every entry
            if len(ingredients) != 1 or ingredients[0] not in table:
                continue
            hit = memo.get(("dose", med.input))
            if hit is None:
                hit = memoised(index, ("dose", med.input), self._entry, index, table, med)
            items, per_day = hit
            if items:
                merge(findings, items)
            if per_day is not None:
                daily.setdefault(ingredients[0], []).append((med, per_day))
        if not daily and not findings:
            return ()
        for x, parts in daily.items():
            if "max_daily_dose" not in table[x]:
                continue
            rule_id, (limit,) = table[x]["max_daily_dose"]
            total = sum(amount for _, amount in parts)
            if total > limit:
                path: list[str] = []
                for med, _ in parts:
                    if path:
                        path.append("+")
                    path.extend(lead(index, med, x, x))
                path.append(rule_step(rule_id))
                title = f"{name(index, x)} {mg(total)} a day (limit {mg(limit)})"
                inputs = tuple(med.input for med, _ in parts)
                merge(findings, ((("dose", rule_id, x),
                                  make_finding(index.rules[rule_id], (x,), inputs, title, path)),))
        return tuple(findings.items())

    @staticmethod
    def _entry(index: Index, table: DoseTable, med: Medication) -> tuple[tuple[Item, ...], float | None]:
        """Single-dose and strength findings of one entry, and its mg a day (None if unknown)."""
        (x,) = med.ingredients
        limits = table[x]
        label = name(index, x)
        out = []
        dose = med.dose_mg
        if dose is not None and "max_single_dose" in limits:
            rule_id, (limit,) = limits["max_single_dose"]
            if dose > limit:
                out.append(entry_finding(index, rule_id, med, x, f"{label} {mg(dose)} per dose (limit {mg(limit)})"))
        if med.strength_mg is not None and "strengths" in limits:
            rule_id, strengths = limits["strengths"]
            if med.strength_mg not in strengths:
                listed = ", ".join(f"{s:g}" for s in strengths)
                title = f"{label} {mg(med.strength_mg)} is not a marketed strength ({listed} mg)"
                out.append(entry_finding(index, rule_id, med, x, title))
        per_day = dose * med.doses_per_day if dose is not None and med.doses_per_day else None
        return tuple(out), per_day
