"""Duration rules: use longer than the recommended course (`dosing.csv` rows with limit `max_duration`).

In `check` the duration is what the entry says ("x 30 days", "for 4 weeks"), for
each ingredient with a limit, combination products included;
in claims it is the days of supply within a rolling window (`batch.claims`,
which asks `supply_finding` for the finding).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from ..memo import memoised
from ..model import Finding, FindingKind, Medication
from .base import Family, Item, Scope, name
from .dose import entry_finding, has_limits, limited

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index
    from ..knowledge.tables import Rule
    from .compiling import CompileContext
    from .triggers import EntryTrigger

DurationTable = dict[str | tuple[str, str], tuple[str, float]]
"""Ingredient → (rule id, the most days); (ingredient, product) → the limit that product's own label gives."""


class Duration(Family):
    """Use longer than the recommended course."""

    name = "duration"
    kind = FindingKind.DURATION
    scope = Scope.LIST

    def compile(self, ctx: CompileContext, rules: list[Rule]) -> DurationTable:
        out: DurationTable = {}
        for rule in rules:
            _, value = rule.target.split("=")
            key = rule.concepts[0] if len(rule.concepts) == 1 else (rule.concepts[0], rule.concepts[1])
            out[key] = (rule.id, float(value))
        return out

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        return (("ncpdp", "MX"), ("v3", "DOSEDUR"))

    def trigger(self, index: Index, table: DurationTable) -> EntryTrigger:
        from .triggers import EntryTrigger

        return EntryTrigger(fires=partial(has_limits, limited(table)), ingredients=limited(table))

    def whole(self, index: Index, table: DurationTable, meds: list[Medication],
              taken: list[tuple[int, str]], conditions: tuple[tuple[str, str], ...] = ()) -> tuple[Item, ...]:
        out: list[Item] = []
        memo = index.memo
        with_limits = memo.get(("duration-ingredients",))
        if with_limits is None:
            with_limits = memoised(index, ("duration-ingredients",), limited, table)
        for med in meds:
            if med.duration_days is None or med.dosing.unread or not has_limits(with_limits, med.ingredients):
                continue
            # Memoised per entry, so a population shares one finding object per entry text.
            hit = memo.get(("duration", med.input))
            if hit is None:
                hit = memoised(index, ("duration", med.input), self._entry, index, table, med)
            out.extend(hit)
        return tuple(out) if out else ()

    @staticmethod
    def _entry(index: Index, table: DurationTable, med: Medication) -> tuple[Item, ...]:
        out = []
        for x in med.ingredients:
            hit = (table.get((x, med.concept)) if med.concept else None) or table.get(x)
            if hit is None or med.duration_days is None:
                continue
            rule_id, limit = hit
            if med.duration_days > limit:
                title = f"{name(index, x)} for {med.duration_days:g} days (limit {limit:g} days)"
                out.append(entry_finding(index, rule_id, med, x, title))
        return tuple(out)


def supply_finding(index: Index, table: DurationTable, med: Medication, x: str, days: int, window: int,
                   inputs: tuple[str, ...]) -> Finding | None:
    """The duration finding for `days` of supply of ingredient `x` within `window` days, or None when
    that is within the limit (claims). `med` is the first entry that supplied it; `inputs` all of them."""
    hit = (table.get((x, med.concept)) if med.concept else None) or table.get(x)
    if hit is None:
        return None
    rule_id, limit = hit
    if days <= limit:
        return None
    title = f"{name(index, x)} supplied for {days} of {window} days (limit {limit:g} days)"
    _, finding = entry_finding(index, rule_id, med, x, title)
    return replace(finding, inputs=inputs)
