"""Age rules: a medication and the patient's age (`conditions.csv` rows with context `age`).

A rule's target is a comparison in whole years (`<16`, `>65`, `>=65`); it
applies to every ingredient under the rule's drug or class. `parse_age` is the
one reader of an age, for `check`, the library, FHIR and batch alike.
"""

from __future__ import annotations

import math
import operator
import re
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InputError
from ..model import FindingKind, Medication
from .base import Family, Item, Scope, lead, make_finding, name, rule_step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index
    from ..knowledge.tables import Rule
    from .compiling import CompileContext
    from .triggers import AgeTrigger

MAX_AGE = 130
"""The oldest age accepted, in years."""

TESTS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
"""The comparisons an age rule may use (they work on numbers and on numpy arrays alike)."""

AgeTable = dict[str, tuple[tuple[str, str, float, str], ...]]
"""Ingredient → ((rule id, operator, years, the drug or class the rule is written for), …)."""

_AGE_TEXT = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*(years?|yrs?|y|yo|y/o|years? old|months?|mos?)?$")
_MONTH_UNITS = ("month", "months", "mo", "mos")


def parse_age(value: object) -> float | None:
    """An age in years, from a number or a text such as `70`, `70.5`, `70 years`, `18 months`.

    None (or blank text) means no age was given. Anything else that is not a
    finite number of years from 0 to `MAX_AGE` raises `InputError` with a
    one-line reason: booleans, `1_0` (which Python's float() would take as 10),
    `nan`, `-1`, `10**400`.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"age {value!r} is not a number of years")
    if isinstance(value, str):
        text = value.strip().casefold()
        if not text:
            return None
        match = _AGE_TEXT.match(text)
        if match is None:
            raise InputError(f"age '{value.strip()}' is not a number of years")
        years = float(match.group(1))
        if match.group(2) in _MONTH_UNITS:
            years /= 12
    else:
        try:
            years = float(value)  # type: ignore[arg-type]  # ints, floats, numpy and Decimal numbers
        except OverflowError:
            raise InputError(f"age {_shown(value)} is outside 0–{MAX_AGE} years") from None
        except (TypeError, ValueError):
            raise InputError(f"age {_shown(value)} is not a number of years") from None
        if math.isnan(years):
            raise InputError(f"age {_shown(value)} is not a number of years")
    if not 0 <= years <= MAX_AGE:
        raise InputError(f"age {_shown(value)} is outside 0–{MAX_AGE} years")
    return years


def _shown(value: object) -> str:
    """The value as an error message quotes it (long numbers shortened)."""
    text = value.strip() if isinstance(value, str) else str(value)
    return text if len(text) <= 20 else text[:19] + "…"


def shown_age(age: float) -> str:
    """How an age appears among a finding's inputs: `age 70`."""
    return f"age {age:g}"


def age_title(index: Index, x: str, age: float, op: str, years: float) -> str:
    """The title of an age finding: `carisoprodol at age 70 (rule: >65)`."""
    return f"{name(index, x)} at {shown_age(age)} (rule: {op}{years:g})"


def age_expression(text: str) -> tuple[str, float]:
    """(operator, years) of a rule's target such as `>65` or `<= 16`."""
    text = text.replace(" ", "")
    op = text[:2] if text[:2] in ("<=", ">=") else text[:1]
    return op, float(text[len(op):])


class Age(Family):
    """A medication and the patient's age."""

    name = "age"
    kind = FindingKind.DRUG_AGE
    scope = Scope.AGE

    def compile(self, ctx: CompileContext, rules: list[Rule]) -> AgeTable:
        ages: dict[str, list[tuple[str, str, float, str]]] = defaultdict(list)
        for rule in rules:
            (drug,) = rule.concepts
            op, years = age_expression(rule.target)
            for x in ctx.ingredients_under(drug):
                ages[x].append((rule.id, op, years, drug))
        return {x: tuple(v) for x, v in ages.items()}

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        op, years = age_expression(rule.target)
        return (("ncpdp", "PA"), ("v3", "GEALRT" if op.startswith(">") and years >= 65 else "AGE"))

    def trigger(self, index: Index, table: AgeTable) -> AgeTrigger:
        from .triggers import AgeTrigger

        return AgeTrigger(tests={x: tuple((op, years) for _, op, years, _ in rules) for x, rules in table.items()})

    def at_age(self, index: Index, table: AgeTable, med: Medication, age: float) -> tuple[Item, ...]:
        out: list[Item] = []
        shown = shown_age(age)
        for x in med.ingredients:
            for rule_id, op, years, anchor in table.get(x, ()):
                if TESTS[op](age, years):
                    rule = index.rules[rule_id]
                    path = lead(index, med, x, anchor) + [rule_step(rule_id), shown]
                    title = age_title(index, x, age, op, years)
                    finding = make_finding(index, rule, (x,), (med.input, shown), title, path)
                    out.append((("age", rule_id, x), finding))
        return tuple(out)
