"""What every rule family shares: the family interface and the finding builders.

A rule family is one kind of caution (drug pair, duplicate, combination,
condition, allergy, age, dose, duration). Each is written once, as a
`Family` that
1. compiles its table from the checked rule rows (`compile`, at knowledge
   compile time, against a `compiling.CompileContext`; the table is plain
   data, cached with the index);
2. screens one patient (`pair`, `fact`, `at_age` or `whole`, by its `Scope`);
3. says which patients could fire it (`trigger`): a declaration in one of the
   shapes of `triggers` that the batch engine evaluates over a whole population
   at once. The batch prefilter is derived from these, so a new family is
   screened in batch the moment it declares its trigger.

The builders below turn a compiled rule into a `Finding` the same way for
every family, and `finding_order` is the one order findings are reported in.
(`compiling` and `triggers` are modules of their own because `screener check`
needs neither: it loads a compiled index and never asks for triggers.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from enum import Enum
from itertools import pairwise
from typing import TYPE_CHECKING, Any, ClassVar

from ..model import RULE_MARK, Finding, FindingKind, Medication, Severity, format_amount

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import CompiledRule, Index
    from ..knowledge.tables import Rule
    from .compiling import CompileContext
    from .triggers import Trigger

INGREDIENT_KINDS = ("drug", "substance")
"""The concept kinds a medication entry is screened as."""

Item = tuple[tuple, Finding]
"""A finding with its merge key: findings with equal keys are one caution, naming every input."""


class Scope(str, Enum):
    """What one call of a family looks at, which decides how the walk calls it and memoises the result."""

    PAIR = "pair"
    """Two medication entries (every pair of entries of a patient)."""
    FACT = "fact"
    """One medication entry and one patient fact (a condition or an allergy)."""
    AGE = "age"
    """One medication entry and the patient's age."""
    LIST = "list"
    """The whole medication list (combinations, daily totals, per-entry limits)."""


# --- the family interface ------------------------------------------------------------------


class Family:
    """One rule family. Subclasses set the class attributes and implement `compile`, `trigger`
    and the screening method of their scope."""

    name: ClassVar[str]
    """Its key among the index's family tables, e.g. "drug-drug"."""
    kind: ClassVar[FindingKind]
    """The kind of finding it makes (and of rule row it compiles)."""
    scope: ClassVar[Scope]
    field: ClassVar[str] = ""
    """For the FACT scope: which patient facts it reads, "condition" or "allergy"."""

    def compile(self, ctx: CompileContext, rules: list[Rule]) -> Any:
        """This family's table, from its rule rows (plain data: it is cached with the index)."""
        raise NotImplementedError

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        """The standard codes of the findings `rule` makes: NCPDP DUR reason for service and
        HL7 v3 ActCode, e.g. (("ncpdp", "DD"), ("v3", "DRG"))."""
        raise NotImplementedError

    def trigger(self, index: Index, table: Any) -> Trigger:
        """Which inputs could fire it (one of the shapes in `screener.rules.triggers`)."""
        raise NotImplementedError

    def pair(self, index: Index, table: Any, first: Medication, second: Medication) -> tuple[Item, ...]:
        """PAIR scope: findings between two entries, `first` listed before `second`.

        It may read only `input`, `concept` and `ingredients` of each entry, and may name an input only in
        `inputs` and as the quoted end of `path` (`lead`): the walk makes the findings once per pair of
        (concept, ingredients) and gives them each pair of texts after (`screening._pair_items_of`)."""
        raise NotImplementedError

    def fact(self, index: Index, table: Any, med: Medication, text: str, concept: str) -> tuple[Item, ...]:
        """FACT scope: findings between one entry and one patient fact (`text` as typed, meaning `concept`)."""
        raise NotImplementedError

    def at_age(self, index: Index, table: Any, med: Medication, age: float) -> tuple[Item, ...]:
        """AGE scope: findings between one entry and the patient's age."""
        raise NotImplementedError

    def whole(self, index: Index, table: Any, meds: list[Medication], taken: list[tuple[int, str]],
              conditions: tuple[tuple[str, str], ...] = ()) -> tuple[Item, ...]:
        """LIST scope: findings over the whole list; `taken` is (entry number, ingredient) for every
        ingredient of every entry, `conditions` the patient's recognised conditions (text, condition id),
        which a combination rule may name. The family memoises what it can (see `screening.memoised`)."""
        raise NotImplementedError


# --- findings ------------------------------------------------------------------------------


def quote(text: str) -> str:
    """How an input appears in a finding's path: in double quotes."""
    return f'"{text}"'


def lead(index: Index, med: Medication, x: str, anchor: str) -> list[str]:
    """The path from an input to the concept a rule names: "Soma" → soma → carisoprodol → …"""
    path = [quote(med.input)]
    if med.concept != x:
        path.append(med.concept or x)
    path.extend(index.up[x][anchor] if x in index.up else (x,))  # vocabulary ingredients have no classes
    return path


def rule_step(rule_id: str) -> str:
    """The step of a path where the rule joins its sides."""
    return f"{RULE_MARK} rule:{rule_id}"


def make_finding(index: Index, rule: CompiledRule, concepts: tuple[str, ...], inputs: tuple[str, ...], title: str,
                 path: list[str]) -> Finding:
    """A finding of `rule` about `concepts`, produced by `inputs`, with its `title` and `path`; a class
    membership on the path that was derived from the FDA's indexing is said, with its source."""
    derived: list[tuple[str, str]] = []
    if index.derived:
        for a, b in pairwise(path):
            hit = index.derived.get((a, b)) or index.derived.get((b, a))
            if hit is not None and hit not in derived:
                derived.append(hit)
    return Finding(
        kind=rule.kind,
        severity=rule.severity,
        concepts=concepts,
        inputs=inputs,
        title=title,
        summary=rule.summary,
        advice=rule.advice,
        plain=rule.plain,
        path=tuple(path),
        sources=(rule.source, *(source for _, source in derived)),
        rule_id=rule.id,
        evidence=rule.evidence,
        codes=rule.codes,
        mechanism=rule.mechanism,
        layer=rule.layer,
        override=rule.override,
        derived=tuple(how for how, _ in derived),
    )


def merge(findings: dict[tuple, Finding], items: Iterable[Item]) -> None:
    """Add (key, finding) items; a finding already present gains the new inputs."""
    for key, finding in items:
        existing = findings.get(key)
        if existing is None:
            findings[key] = finding
            continue
        extra = tuple(i for i in finding.inputs if i not in existing.inputs)
        if extra:
            findings[key] = replace(existing, inputs=existing.inputs + extra)


def name(index: Index, cid: str) -> str:
    """A concept's display name, for knowledge-base and FDA vocabulary concepts alike."""
    return index.display.get(cid) or index.external.get(cid) or cid


def mg(value: float) -> str:
    """An amount in mg as findings show it (`1,400 mg`, `2.5 mg`, `0.125 mg`): never rounded, so a
    finding states exactly the amount read or added up (`model.format_amount`)."""
    return f"{format_amount(value)} mg"


_KIND_ORDER = {kind: n for n, kind in enumerate(FindingKind)}
_SEVERITY_ORDER = {severity: -severity.rank for severity in Severity}


def order_key(severity: Severity, kind: FindingKind, title: str) -> tuple[int, int, str]:
    """The sort key of a finding with these fields: most serious first, then by kind, then by title."""
    return (_SEVERITY_ORDER[severity], _KIND_ORDER[kind], title)


def finding_order(finding: Finding) -> tuple[int, int, str]:
    """The order findings are reported in (see `order_key`)."""
    return (_SEVERITY_ORDER[finding.severity], _KIND_ORDER[finding.kind], finding.title)
