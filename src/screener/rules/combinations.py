"""Combination rules: three or more drugs that are dangerous together (the carisoprodol + opioid +
benzodiazepine "triple").

`interactions.csv` rows of kind combination name three operands (a, b, c),
each a drug or a class: a role. The rule fires when every role is filled by a
different ingredient of the list. One finding per rule names every drug that
fills a role (Soma, Xanax, Norco and Percocet is one finding about both opioids).
The third operand may instead be a condition (carisoprodol + another CNS
depressant + chronic respiratory disease): the rule then fires when a and b are
filled and the patient has that condition or a narrower one, and the finding
names every such condition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from ..memo import memoised
from ..model import FindingKind, Medication
from .base import Family, Item, Scope, lead, make_finding, name, quote, rule_step
from .pairs import interaction_codes

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index
    from ..knowledge.tables import Rule
    from .compiling import CompileContext
    from .triggers import RoleTrigger


class CombinationTable(TypedDict):
    """The compiled combination rules."""

    rules: tuple[tuple[str, tuple[frozenset[str], ...]], ...]
    """(rule id, the ingredients each medication role covers), in file order."""
    conditions: tuple[frozenset[str], ...]
    """For each rule, in the same order, the conditions its condition operand covers (empty: none)."""
    members: frozenset[str]
    """Every ingredient that fills a role of some rule."""
    condition_members: frozenset[str]
    """Every condition some rule's condition operand covers."""


class Combinations(Family):
    """Three or more medications that are dangerous together."""

    name = "combination"
    kind = FindingKind.COMBINATION
    scope = Scope.LIST

    def compile(self, ctx: CompileContext, rules: list[Rule]) -> CombinationTable:
        compiled = tuple((rule.id, tuple(frozenset(ctx.ingredients_under(c)) for c in rule.concepts
                                         if ctx.kinds[c] != "condition")) for rule in rules)
        conditions = tuple(frozenset(n for c in rule.concepts if ctx.kinds[c] == "condition"
                                     for n in ctx.down.get(c, ()) if ctx.kinds[n] == "condition") for rule in rules)
        return {"rules": compiled, "conditions": conditions,
                "members": frozenset(x for _, roles in compiled for role in roles for x in role),
                "condition_members": frozenset(c for role in conditions for c in role)}

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        return interaction_codes(rule, ctx)

    def trigger(self, index: Index, table: CombinationTable) -> RoleTrigger:
        from .triggers import RoleTrigger

        return RoleTrigger(rules=tuple(roles for _, roles in table["rules"]),
                           conditions=tuple(table.get("conditions", ())))

    def whole(self, index: Index, table: CombinationTable, meds: list[Medication], taken: list[tuple[int, str]],
              conditions: tuple[tuple[str, str], ...] = ()) -> tuple[Item, ...]:
        # Only the entries that can fill a role, and the conditions a rule names, matter, and the
        # result is a pure function of them: memoised like the pairs.
        members = table["members"]
        relevant = tuple((meds[i].input, x) for i, x in taken if x in members)
        named = table.get("condition_members", frozenset())
        facts = tuple((text, c) for text, c in conditions if c in named)
        if len(relevant) < (2 if facts else 3):
            return ()
        key = ("combinations", relevant, facts)
        hit = index.memo.get(key)
        if hit is None:
            hit = memoised(index, key, self._fired, index, table, [(meds[i], x) for i, x in taken if x in members],
                           facts)
        return hit

    def _fired(self, index: Index, table: CombinationTable, taken: list[tuple[Medication, str]],
               facts: tuple[tuple[str, str], ...] = ()) -> tuple[Item, ...]:
        present = {x for _, x in taken}
        out: list[Item] = []
        for (rule_id, roles), condition_role in zip(table["rules"], table.get("conditions", ()) or
                                                    (frozenset(),) * len(table["rules"])):
            candidates = [role & present for role in roles]
            if not all(candidates) or _distinct(candidates, ()) is None:
                continue
            met = [(text, c) for text, c in facts if c in condition_role]
            if condition_role and not met:
                continue
            first_entry: dict[str, Medication] = {}
            for med, x in taken:
                first_entry.setdefault(x, med)
            # Every present member of each role is named: naming only one dropped the other
            # opioid when a second one was added.
            chosen: list[tuple[Medication, str, str]] = []
            named: set[str] = set()
            for members, operand in zip(candidates, index.rules[rule_id].operands):
                for x in sorted(members - named):
                    named.add(x)
                    chosen.append((first_entry[x], x, operand))
            out.append(_finding(index, rule_id, chosen, met))
        return tuple(out)


def _finding(index: Index, rule_id: str, chosen: list[tuple[Medication, str, str]],
             met: list[tuple[str, str]] | None = None) -> Item:
    path: list[str] = []
    for med, x, operand in chosen:
        if path:
            path.append("+")
        path.extend(lead(index, med, x, operand))
    rule = index.rules[rule_id]
    # Every condition that meets the condition operand, each as typed → its condition → … → the operand.
    met = sorted(set(met or ()), key=lambda fact: (fact[1], fact[0]))
    for text, condition in met:
        path += ["+", quote(text), *index.up[condition][rule.operands[-1]]]
    path.append(rule_step(rule_id))
    concepts = tuple(x for _, x, _ in chosen) + tuple(dict.fromkeys(c for _, c in met))
    inputs = tuple(dict.fromkeys([*(med.input for med, _, _ in chosen), *(text for text, _ in met)]))
    title = " + ".join(name(index, x) for x in concepts)
    return ("combination", rule_id), make_finding(index, rule, concepts, inputs, title, path)


def _distinct(candidates: list[frozenset[str]], used: tuple[str, ...]) -> tuple[str, ...] | None:
    """One ingredient per role, all different (a tiny matching: roles are few), or None."""
    if len(used) == len(candidates):
        return used
    for x in sorted(candidates[len(used)]):
        if x not in used:
            result = _distinct(candidates, used + (x,))
            if result is not None:
                return result
    return None
