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

A `max_daily_mme` row is written for a class (opioids): every member's daily amount in
mg, times its morphine milligram equivalent factor from `mme_factors.csv` (the CDC
2022 table), is added up across entries, and a total at or above the row's value is
one finding naming each opioid and its share. A member whose factor is per mcg/hr
(fentanyl) counts its patch rate (`Dosing.rate_mcg_per_hr`) × the patches applied
together × the factor: the count a sig writes ("2 patches q72h"), or for a supply (a claim:
patches a day) the patches a day × the `PATCH_DAYS` each is worn, as the CDC's formula for
prescription data counts them; one when neither is given; without a rate, or when the
table gives it no factor (buprenorphine), or it has no row, it is not counted, and
the finding says so; a member whose daily amount the entry does not say makes the
total "at least".

The CDC factors are for oral doses in mg a day, and for transdermal fentanyl in mcg/hr
(Table caution 1): an entry given by any other route (intravenous, injection, intrathecal,
buccal, nasal, rectal…, from its text or its NDC product) is never converted; it is named
"not counted (route)" and makes the total "at least", as an unknown amount does. And the
thresholds are not for opioid agonist treatment of opioid use disorder (Table caution 7):
when the patient has an opioid use disorder, methadone and buprenorphine are named, not
counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING

from ..memo import memoised
from ..model import Finding, FindingKind, Medication, format_amount
from .base import Family, Item, Scope, lead, make_finding, merge, mg, name, rule_step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index
    from ..knowledge.tables import Rule
    from .compiling import CompileContext
    from .triggers import EntryTrigger

DOSE_LIMITS = ("max_single_dose", "max_daily_dose", "strengths", "max_daily_mme")
"""The limits this family checks (`max_duration` belongs to the duration family)."""

MME_COUNTED = "max_daily_mme"
"""In a compiled table: an opioid counted in the MME total, with (threshold, factor per mg)."""
MME_RATE = "max_daily_mme_rate"
"""In a compiled table: an opioid whose factor is per mcg/hr of a transdermal patch (fentanyl), with (threshold,
factor): its MME a day is the rate read from the entry × the patches worn together × the factor."""
MME_NOT_COUNTED = "mme_not_counted"
"""In a compiled table: a member of the MME rule's class that is not counted, with (threshold, why): why is 1.0
when its factor is per mcg/hr and the entry gives no patch rate, 0.0 when the source gives it no factor."""

PATCH_DAYS = 3
"""The days one fentanyl patch is worn (72 hours), by which a supply's patches a day become the patches worn
together: the CDC's file for prescription data gives the fentanyl patch the factor 7.2 (this table's 2.4 per
mcg/hr × 3 days) and the formula strength per unit × (units ÷ days supply) × factor = MME a day (National
Center for Injury Prevention and Control, 'CDC compilation of benzodiazepines, muscle relaxants, stimulants,
zolpidem, and opioid analgesics with oral morphine milligram equivalent conversion factors', 2017 version,
footnote i; the same 7.2 in CMS, 'Opioid Morphine Equivalent Conversion Factors', May 2014): 10 patches of
25 mcg/hr over 30 days are one worn at a time, 60 MME a day; 20 are two, 120."""

OUD_CONDITION = "opioid-use-disorder"
"""The condition under which methadone and buprenorphine are taken as treatment of opioid use disorder."""
OUD_AGONISTS = frozenset({"methadone", "buprenorphine"})
"""The opioid agonist treatments of opioid use disorder, which the MME total leaves out for such a patient:
CDC 2022 Table caution 7, 'These conversion factors should not be applied to dosage decisions related to the
management of opioid use disorder' (the guideline's scope excludes opioid use disorder treatment)."""
MME_OUD = "mme-oud"
"""In a compiled table: the conditions under `OUD_CONDITION` (the key is not an ingredient)."""

_COUNTED_ROUTES = {"mg": frozenset({"", "oral"}), "mcg/hr": frozenset({"", "transdermal"})}
"""The routes the CDC factors of each unit are for (Table caution 1): oral mg a day, transdermal fentanyl
mcg/hr; '' is an entry that names no route (read as the table's own route, as prescribers write oral doses)."""
_NOT_ORAL_FORMS = {"cream": "topical", "ointment": "topical", "gel": "topical", "lotion": "topical",
                   "inhaler": "inhaled", "inhalation solution": "inhaled"}
"""Dosage forms (`Dosing.form`) that say the route when the text names none."""
_NOT_ORAL_UNITS = {"suppository": "rectal", "spray": "nasal", "puff": "inhaled", "vial": "injection",
                   "film": "buccal or sublingual film", "lozenge": "oral transmucosal"}
"""Units (`Dosing.unit`) that say the route when the text names none."""

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
    return frozenset(k if isinstance(k, str) else k[0] for k in table if k != MME_OUD)


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
        table = limit_rows([r for r in rules if not r.target.startswith(MME_COUNTED + "=")])
        for rule in rules:
            if not rule.target.startswith(MME_COUNTED + "="):
                continue
            threshold = float(rule.target.split("=")[1])
            for x in ctx.ingredients_under(rule.concepts[0]):
                unit, factor = ctx.mme.get(x, ("", None))
                if unit == "mg" and factor is not None:
                    table.setdefault(x, {})[MME_COUNTED] = (rule.id, (threshold, factor))
                elif unit == "mcg/hr" and factor is not None:
                    table.setdefault(x, {})[MME_RATE] = (rule.id, (threshold, factor))
                else:  # the source gives no factor (buprenorphine), or the drug has no row
                    table.setdefault(x, {})[MME_NOT_COUNTED] = (rule.id, (threshold, 0.0))
        if any(r.target.startswith(MME_COUNTED + "=") for r in rules):
            oud = [c for c in ctx.down.get(OUD_CONDITION, ()) if ctx.kinds.get(c) == "condition"]
            table[MME_OUD] = dict.fromkeys(oud, ("", ()))
        return table

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
        oud_conditions = table.get(MME_OUD, {})
        oud = any(c in oud_conditions for _, c in conditions)
        key = ("dose-list", oud, tuple(med.input for med in limited_meds))
        hit = memo.get(key)
        if hit is None:
            hit = memoised(index, key, self._list, index, table, limited_meds, with_limits, oud)
        return hit

    def _list(self, index: Index, table: DoseTable, meds: list[Medication],
              with_limits: frozenset[str], oud: bool = False) -> tuple[Item, ...]:
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
        if not daily and not findings and not unknown:
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
        mme = _mme_finding(index, table, daily, unknown, oud)
        if mme is not None:
            merge(findings, (mme,))
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


def _route_not_counted(med: Medication, unit: str) -> str:
    """The route of an entry when the CDC factors of `unit` are not for it ('' when they are): the route the
    text or its NDC product names, else what its form or unit says."""
    d = med.dosing
    route = d.route or _NOT_ORAL_FORMS.get(d.form, "") or _NOT_ORAL_UNITS.get(d.unit, "")
    if not route and unit == "mg" and d.form == "transdermal":
        route = "transdermal"
    return "" if route in _COUNTED_ROUTES[unit] else route


def _mme_finding(index: Index, table: DoseTable, daily: dict[str, list[tuple[Medication, float]]],
                 unknown: dict[str, list[Medication]], oud: bool = False) -> Item | None:
    """The MME finding of a medication list: the opioids' daily mg (or a patch's mcg/hr) times their factors,
    added up, when the total reaches the threshold of the class's `max_daily_mme` row (None otherwise).
    An entry by a route the factors are not for, or (`oud`: the patient has an opioid use disorder) an
    opioid agonist treatment of it, is named and not counted; the first makes the total a lower bound."""
    counted: list[tuple[str, Medication, float, str, float]] = []  # (drug, entry, amount, its unit, factor)
    not_counted: list[tuple[str, Medication, str]] = []  # (drug, entry, why)
    rule: tuple[str, float] | None = None
    partial = False
    for x in dict.fromkeys([*daily, *unknown]):
        limits = table.get(x, {})
        amounts = list(daily.get(x, ()))
        entries = [med for med, _ in amounts] + unknown.get(x, [])
        if MME_COUNTED in limits:
            rule_id, (threshold, factor) = limits[MME_COUNTED]
            unit = "mg"
        elif MME_RATE in limits:
            rule_id, (threshold, factor) = limits[MME_RATE]
            unit = "mcg/hr"
        elif MME_NOT_COUNTED in limits:
            rule_id, (threshold, _) = limits[MME_NOT_COUNTED]
            unit = ""
        else:
            continue
        rule = (rule_id, threshold)
        for med in entries:
            if oud and x in OUD_AGONISTS:
                not_counted.append((x, med, "oud"))
            elif not unit:
                not_counted.append((x, med, "no factor"))
            elif route := _route_not_counted(med, unit):
                # Never converted: its MME is unknown, so the total is a lower bound.
                not_counted.append((x, med, "route " + route))
                partial = True
            elif unit == "mg":
                amount = next((a for m, a in amounts if m is med), None)
                if amount is None:  # named, so the "at least" total says what it leaves out
                    not_counted.append((x, med, "no amount"))
                    partial = True
                else:
                    counted.append((x, med, amount, "mg", factor))
            else:
                rate = med.dosing.rate_mcg_per_hr
                if rate is not None and not med.dosing.unread:
                    counted.append((x, med, rate * _patches_worn(med), "mcg/hr", factor))
                else:
                    not_counted.append((x, med, "no rate"))
                    partial = True
    if rule is None or not counted:
        return None
    rule_id, threshold = rule
    total = sum(amount * factor for *_, amount, _, factor in counted)
    if total < threshold:
        return None
    compiled = index.rules[rule_id]
    cls = compiled.operands[0]
    shares = " + ".join(f"{name(index, x)} {format_amount(amount)} {unit} × {format_amount(factor)}"
                        for x, _, amount, unit, factor in counted)
    notes = [f"threshold {format_amount(threshold)} MME a day"]
    for x, why in dict.fromkeys((x, why) for x, _, why in not_counted):
        said = _NOT_COUNTED_WHY.get(why) or (f"not counted (route): {why.removeprefix('route ')}; the CDC factors "
                                             "are for oral doses and fentanyl patches only")
        notes.append(f"{name(index, x)} {said}")
    title = f"{name(index, cls)} {'at least ' if partial else ''}{format_amount(total)} MME a day: {shares} " \
            f"({'; '.join(notes)})"
    path: list[str] = []
    for x, med, *_ in counted:
        if path:
            path.append("+")
        path.extend(lead(index, med, x, cls))
    path.append(rule_step(rule_id))
    concepts = tuple(dict.fromkeys(x for x, *_ in counted))
    # Each entry counted once per share (the same entry twice is two supplies), as a daily total names them.
    shown = {med.input for _, med, *_ in counted}
    # An entry whose amount was not read is named in the title only: a dose finding's inputs are entries
    # whose numbers were read (tests/test_dose_findings_read.py).
    inputs = tuple(med.input for _, med, *_ in counted) + tuple(
        dict.fromkeys(med.input for _, med, why in not_counted if med.input not in shown and why != "no amount"))
    return ("dose", rule_id), make_finding(index, compiled, concepts, inputs, title, path)


def _patches_worn(med: Medication) -> float:
    """The patches worn together: the count its sig writes; for a supply (`Dosing.supplied`: units a day
    from a claim), the patches a day × `PATCH_DAYS`; else one (a rate written with no count is one patch,
    as an amount written with none is one dose)."""
    d = med.dosing
    if d.units_per_dose is not None:
        return d.units_per_dose
    if d.supplied and d.daily_units is not None:  # not a sig's "max 1 patch a day": that is a limit
        return d.daily_units * PATCH_DAYS
    return 1.0


_NOT_COUNTED_WHY = {
    "no rate": "not counted: its CDC factor is per mcg/hr of a patch, not given",
    "no amount": "not counted: its daily amount is not given or not read",
    "no factor": "not counted: the CDC table gives it no factor",
    "oud": "not counted (opioid use disorder): the CDC factors and thresholds are not for treatment of opioid "
           "use disorder",
}
"""What the MME finding says of an entry it does not count, by reason (a route is said with its name)."""
