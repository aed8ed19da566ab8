"""The walk: one patient's inputs against the compiled knowledge → a Report.

Inputs are read once per distinct text (the result is memoised on the index,
as the batch path does for a population), then every pair of ingredients
from different entries, every ingredient against each condition, allergy and
the age, and each ingredient's dose and duration are looked up in the
compiled tables. Each finding carries the path that produced it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from .errors import InputError
from .knowledge.index import CompiledRule, Index
from .model import Finding, FindingKind, Medication, Report, Severity, Unrecognized
from .normalize import clean_entry
from .recognize import display_name, read_medication, read_named


_NONE: dict = {}

RULE_MARK = "⟷"
"""Stands in a finding's path where the rule joins its two sides."""


def screen_patient(
    index: Index,
    medications: Iterable[str],
    conditions: Iterable[str] = (),
    allergies: Iterable[str] = (),
    age: float | None = None,
) -> Report:
    """Screen one patient's inputs with `index` and return the Report."""
    if isinstance(medications, str) or isinstance(conditions, str) or isinstance(allergies, str):
        raise InputError("medications, conditions and allergies are lists of entries, not one string")
    meds: list[Medication] = []
    unrecognized: list[Unrecognized] = []
    for text in medications:
        med, problem = _medication(index, text)
        meds.append(med)
        if problem is not None:
            unrecognized.append(problem)
    found_conditions = _named(index, conditions, "condition", unrecognized) if conditions else ()
    found_allergies = _named(index, allergies, "allergy", unrecognized) if allergies else ()
    if age is not None:
        age = _check_age(age)

    # Findings are merged by what they are about, so the same caution reached through
    # two entries (Norco and Vicodin with Xanax) is reported once, naming both inputs.
    findings: dict[tuple, Finding] = {}
    memo = index.memo
    recognised = [med for med in meds if med.ingredients]
    # The loops below are the hot path of every screen: memo look-ups are inlined on purpose.
    for p, med_i in enumerate(recognised):
        first = med_i.input
        for q in range(p + 1, len(recognised)):
            med_j = recognised[q]
            key = ("pair", first, med_j.input)
            items = memo.get(key)
            if items is None:
                items = _memo(index, key, _entry_pair, index, med_i, med_j)
            for item in items:
                if item[0] in findings:
                    _merge(findings, (item,))
                else:
                    findings[item[0]] = item[1]
        for text, condition in found_conditions:
            key = ("condition", first, text)
            items = memo.get(key)
            if items is None:
                items = _memo(index, key, _entry_against, index, index.conditions, med_i, text, condition, (condition,))
            for item in items:
                if item[0] in findings:
                    _merge(findings, (item,))
                else:
                    findings[item[0]] = item[1]
        for text, allergen in found_allergies:
            targets = index.ingredients.get(allergen) or (allergen,)
            _merge(findings, _memo(index, ("allergy", first, text), _entry_against, index,
                                   index.allergies, med_i, text, allergen, targets))
        if age is not None:
            _merge(findings, _memo(index, ("age", first, age), _entry_age, index, med_i, age))
    taken = [(i, x) for i, med in enumerate(meds) for x in med.ingredients]
    # Only the entries that can fill a combination role matter; the result is a pure
    # function of them, so it is memoised like the pairs.
    relevant = tuple((meds[i].input, x) for i, x in taken if x in index.in_combinations)
    if len(relevant) >= 3:
        items = memo.get(("combinations", relevant))
        if items is None:
            items = _memo(index, ("combinations", relevant), _combinations, index, meds, taken)
        _merge(findings, items)
    _doses(index, meds, taken, findings)

    ordered = sorted(findings.values(), key=_order)
    counselled = tuple(x for _, x in taken if x in index.counselling)
    counselling = memo.get(("counselling", counselled))
    if counselling is None:
        counselling = _memo(index, ("counselling", counselled), _counselling, index, counselled)
    return Report(
        findings=tuple(ordered),
        counselling=counselling,
        unrecognized=tuple(unrecognized),
        medications=tuple(meds),
        conditions=tuple(found_conditions),
        allergies=tuple(found_allergies),
        age=age,
        knowledge_version=index.version,
    )


def _counselling(index: Index, ingredients: tuple[str, ...]) -> tuple:
    """The counselling points for these ingredients, each once, in order."""
    # Points are shared objects of the index: deduplicate by identity, not by hashing their text.
    return tuple({id(point): point for x in ingredients for point in index.counselling[x]}.values())


_KIND_ORDER = {kind: n for n, kind in enumerate(FindingKind)}
_SEVERITY_ORDER = {severity: -severity.rank for severity in Severity}


def _order(finding: Finding):
    """Most serious first, then by kind (drug-drug first), then by title."""
    return (_SEVERITY_ORDER[finding.severity], _KIND_ORDER[finding.kind], finding.title)


def finding_order(severity: Severity, kind: FindingKind, title: str) -> tuple[int, int, str]:
    """The sort key of a finding with these fields (see `_order`); small integers first."""
    return (_SEVERITY_ORDER[severity], _KIND_ORDER[kind], title)


def _check_age(age) -> float:
    try:
        years = float(age)
    except (TypeError, ValueError):
        raise InputError(f"age '{age}' is not a number of years") from None
    if not 0 <= years <= 130:
        raise InputError(f"age {age} is outside 0–130 years")
    return years


# --- reading inputs ---------------------------------------------------------


MEMO_LIMIT = 200_000
"""Most memoised results kept per knowledge index; the memo is cleared when it fills."""


def _memo(index: Index, key: tuple, compute, *args):
    """`compute(*args)`, remembered on the index under `key`.

    Every memoised function is pure in its arguments and the knowledge, so a
    result can be reused for any later patient with the same entries, as the
    batch path reuses the reading of each distinct string.
    """
    hit = index.memo.get(key)
    if hit is None:
        hit = compute(*args)
        if len(index.memo) >= MEMO_LIMIT:
            index.memo.clear()
        index.memo[key] = hit
    return hit


def _medication(index: Index, raw: str) -> tuple[Medication, Unrecognized | None]:
    """Read one medication entry (memoised per text)."""
    hit = index.memo.get(("medication", raw))
    if hit is None:
        hit = _memo(index, ("medication", raw), _read_medication, index, clean_entry(raw, "medication"))
    return hit


def _read_medication(index: Index, text: str) -> tuple[Medication, Unrecognized | None]:
    return read_medication(index, text)


def _named(index: Index, entries: Iterable[str], field: str, unrecognized: list) -> list[tuple[str, str]]:
    """Resolve condition or allergy entries to concept ids (memoised per text); report the rest."""
    found = []
    for raw in entries:
        hit = index.memo.get((field, raw))
        if hit is None:
            hit = _memo(index, (field, raw), _read_named, index, clean_entry(raw, field), field)
        if isinstance(hit, Unrecognized):
            unrecognized.append(hit)
        elif hit:
            found.append(hit)
    return found


def _read_named(index: Index, text: str, field: str) -> tuple[str, str] | tuple[()] | Unrecognized:
    return read_named(index, text, field)


# --- findings -----------------------------------------------------------------


def _quote(text: str) -> str:
    return f'"{text}"'


def _lead(index: Index, med: Medication, x: str, anchor: str) -> list[str]:
    """The path from an input to the concept a rule names: "Soma" → soma → carisoprodol → …"""
    path = [_quote(med.input)]
    if med.concept != x:
        path.append(med.concept)
    path.extend(index.up[x][anchor] if x in index.up else (x,))  # vocabulary ingredients have no classes
    return path


def _finding(rule: CompiledRule, concepts: tuple, inputs: tuple, title: str, path: list[str]) -> Finding:
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
        sources=(rule.source,),
        rule_id=rule.id,
        evidence=rule.evidence,
        codes=rule.codes,
        mechanism=rule.mechanism,
        layer=rule.layer,
        override=rule.override,
    )


def _merge(findings: dict, keyed: tuple[tuple[tuple, Finding], ...]) -> None:
    """Add (key, finding) items; a finding already present gains the new inputs."""
    for key, finding in keyed:
        existing = findings.get(key)
        if existing is None:
            findings[key] = finding
            continue
        extra = tuple(i for i in finding.inputs if i not in existing.inputs)
        if extra:
            findings[key] = replace(existing, inputs=existing.inputs + extra)


def _name(index: Index, cid: str) -> str:
    return display_name(index, cid)


def _entry_pair(index: Index, med_i: Medication, med_j: Medication) -> tuple:
    """Findings between two entries: each ingredient of one against each of the other.

    Ingredients within one product are not paired: the product's own labelling covers them.
    """
    out = []
    for x in med_i.ingredients:
        for y in med_j.ingredients:
            if x == y:
                hit = index.same.get(x) or ((index.any_duplicate, x) if index.any_duplicate else None)
                if hit is not None:
                    rule = index.rules[hit[0]]
                    path = _lead(index, med_i, x, hit[1]) + [f"{RULE_MARK} rule:{rule.id}"] + _lead(index, med_j, x, hit[1])[::-1]
                    out.append((("same", x), _finding(rule, (x,), (med_i.input, med_j.input),
                                                      f"{_name(index, x)} listed twice", path)))
                continue
            key = (x, y) if x < y else (y, x)
            for kind, rule_id, anchor_lo, anchor_hi in index.pairs.get(key[0], _NONE).get(key[1], ()):
                # Anchors are stored for the sorted key; show the pair in input order.
                anchor_x, anchor_y = (anchor_lo, anchor_hi) if x < y else (anchor_hi, anchor_lo)
                rule = index.rules[rule_id]
                path = (_lead(index, med_i, x, anchor_x) + [f"{RULE_MARK} rule:{rule_id}"]
                        + _lead(index, med_j, y, anchor_y)[::-1])
                out.append(((kind, key), _finding(rule, (x, y), (med_i.input, med_j.input),
                                                  f"{_name(index, x)} + {_name(index, y)}", path)))
    return tuple(out)


def _combinations(index: Index, meds, taken) -> tuple:
    """Rules on three or more drugs together (the carisoprodol + opioid + benzodiazepine "triple")."""
    present = {x for _, x in taken}
    out: list = []
    for rule_id, roles in index.combinations:
        candidates = [role & present for role in roles]
        if not all(candidates):
            continue
        if _distinct(candidates, ()) is None:
            continue
        first_entry: dict[str, Medication] = {}
        for i, x in taken:
            first_entry.setdefault(x, meds[i])
        # Every present member of each role is named: Soma, Xanax, Norco and Percocet is one
        # finding about both opioids (naming only one dropped the other when it was added).
        chosen: list[tuple[Medication, str, str]] = []
        named: set[str] = set()
        for members, operand in zip(candidates, index.rules[rule_id].operands):
            for x in sorted(members - named):
                named.add(x)
                chosen.append((first_entry[x], x, operand))
        out.extend(_combination_finding(index, rule_id, chosen))
    return tuple(out)


def _combination_finding(index: Index, rule_id: str, chosen: list[tuple[Medication, str, str]]) -> tuple:
    rule = index.rules[rule_id]
    path: list[str] = []
    for med, x, operand in chosen:
        if path:
            path.append("+")
        path.extend(_lead(index, med, x, operand))
    path.append(f"{RULE_MARK} rule:{rule_id}")
    concepts = tuple(x for _, x, _ in chosen)
    inputs = tuple(dict.fromkeys(med.input for med, _, _ in chosen))
    title = " + ".join(_name(index, x) for x in concepts)
    return ((("combination", rule_id), _finding(rule, concepts, inputs, title, path)),)


def _distinct(candidates: list, used: tuple) -> tuple | None:
    """One ingredient per role, all different (a tiny matching: roles are few), or None."""
    if len(used) == len(candidates):
        return used
    for x in sorted(candidates[len(used)]):
        if x not in used:
            result = _distinct(candidates, used + (x,))
            if result is not None:
                return result
    return None


def _entry_against(index: Index, table: dict, med: Medication, text: str, resolved: str, targets: tuple) -> tuple:
    """Condition or allergy rules: each ingredient of one entry against one patient fact.

    `resolved` is the concept the fact named (a condition, or an allergen:
    drug, class or product); `targets` are that concept or, for a product,
    its ingredients.
    """
    out = []
    for x in med.ingredients:
        for target in targets:
            hit = table.get((x, target))
            if hit is None:
                continue
            rule_id, drug_anchor, target_anchor = hit
            rule = index.rules[rule_id]
            side = list(index.up[target][target_anchor])[::-1]
            if resolved != target:
                side.append(resolved)
            side.append(_quote(text))
            path = _lead(index, med, x, drug_anchor) + [f"{RULE_MARK} rule:{rule_id}"] + side
            # Keyed by the patient's fact too: two facts reaching one rule (cirrhosis, and hepatic
            # impairment) are two findings, whatever order they were given in.
            out.append(((rule.kind, rule_id, x, resolved), _finding(rule, (x, target), (med.input, text),
                                                          f"{_name(index, x)} + {_name(index, resolved)}", path)))
    return tuple(out)


_AGE_TESTS = {
    "<": lambda a, n: a < n,
    "<=": lambda a, n: a <= n,
    ">": lambda a, n: a > n,
    ">=": lambda a, n: a >= n,
}


def age_findings(index: Index, entries: Iterable[str], age: float) -> list[Finding]:
    """The age findings `screen_patient` gives for these medication entries at this age, in its order.

    For the batch path, which walks age apart from everything else (an age finding
    never merges with or ties another kind of finding).
    """
    findings: dict[tuple, Finding] = {}
    for text in entries:
        med = _medication(index, text)[0]
        if med.ingredients:
            _merge(findings, _memo(index, ("age", med.input, age), _entry_age, index, med, age))
    return sorted(findings.values(), key=_order)


def _entry_age(index: Index, med: Medication, age: float) -> tuple:
    """Age rules for each ingredient of one entry."""
    out = []
    for rule, x, anchor, title, shown in age_rules_fired(index, med, age):
        path = _lead(index, med, x, anchor) + [f"{RULE_MARK} rule:{rule.id}", shown]
        out.append((("age", rule.id, x), _finding(rule, (x,), (med.input, shown), title, path)))
    return tuple(out)


def age_rules_fired(index: Index, med: Medication, age: float) -> list[tuple[CompiledRule, str, str, str, str]]:
    """(rule, ingredient, anchor, title, shown age) for each age rule one entry's ingredients meet.

    The batch path builds its age rows from this too, so titles are worded in one place.
    """
    shown = shown_age(age)
    out = []
    for x in med.ingredients:
        for rule_id, op, years, anchor in index.ages.get(x, ()):
            if _AGE_TESTS[op](age, years):
                out.append((index.rules[rule_id], x, anchor, age_title(index, x, age, op, years), shown))
    return out


def shown_age(age: float) -> str:
    """How an age appears among a finding's inputs: `age 70`."""
    return f"age {age:g}"


def age_title(index: Index, x: str, age: float, op: str, years: float) -> str:
    """The title of an age finding: `carisoprodol at age 70 (rule: >65)`."""
    return f"{_name(index, x)} at {shown_age(age)} (rule: {op}{years:g})"


def _mg(value: float) -> str:
    return f"{value:,.0f} mg" if float(value).is_integer() else f"{value:,.2f} mg"


def _doses(index: Index, meds: list[Medication], taken, findings: dict) -> None:
    """Dose and duration limits; daily doses of the same ingredient add up across entries."""
    daily: dict[str, list[tuple[Medication, float]]] = {}
    for med in meds:
        # A strength typed for a combination product cannot be pinned to one ingredient.
        if len(med.ingredients) != 1 or med.ingredients[0] not in index.doses:
            continue
        items, per_day = _memo(index, ("dose", med.input), _entry_dose, index, med)
        _merge(findings, items)
        if per_day is not None:
            daily.setdefault(med.ingredients[0], []).append((med, per_day))
    for x, parts in daily.items():
        limits = index.doses[x]
        if "max_daily_dose" not in limits:
            continue
        rule_id, (limit,) = limits["max_daily_dose"]
        total = sum(mg for _, mg in parts)
        if total > limit:
            rule = index.rules[rule_id]
            path: list[str] = []
            for med, _ in parts:
                if path:
                    path.append("+")
                path.extend(_lead(index, med, x, x))
            path.append(f"{RULE_MARK} rule:{rule_id}")
            title = f"{_name(index, x)} {_mg(total)} a day (limit {_mg(limit)})"
            inputs = tuple(med.input for med, _ in parts)
            _merge(findings, ((("dose", rule_id, x), _finding(rule, (x,), inputs, title, path)),))


def _entry_dose(index: Index, med: Medication) -> tuple[tuple, float | None]:
    """Single-dose, strength and duration findings of one entry, and its mg a day (None if unknown)."""
    (x,) = med.ingredients
    limits = index.doses[x]
    name = _name(index, x)
    out = []
    dose = med.dose_mg
    if dose is not None and "max_single_dose" in limits:
        rule_id, (limit,) = limits["max_single_dose"]
        if dose > limit:
            out.append(_dose_finding(index, rule_id, med, x, f"{name} {_mg(dose)} per dose (limit {_mg(limit)})"))
    if med.strength_mg is not None and "strengths" in limits:
        rule_id, strengths = limits["strengths"]
        if med.strength_mg not in strengths:
            listed = ", ".join(f"{s:g}" for s in strengths)
            title = f"{name} {_mg(med.strength_mg)} is not a marketed strength ({listed} mg)"
            out.append(_dose_finding(index, rule_id, med, x, title))
    if med.duration_days is not None and "max_duration" in limits:
        rule_id, (limit,) = limits["max_duration"]
        if med.duration_days > limit:
            title = f"{name} for {med.duration_days:g} days (limit {limit:g} days)"
            out.append(_dose_finding(index, rule_id, med, x, title))
    per_day = dose * med.doses_per_day if dose is not None and med.doses_per_day else None
    return tuple(out), per_day


def _dose_finding(index: Index, rule_id: str, med: Medication, x: str, title: str) -> tuple[tuple, Finding]:
    rule = index.rules[rule_id]
    path = _lead(index, med, x, x) + [f"{RULE_MARK} rule:{rule_id}"]
    return ("dose", rule_id, x, med.input), _finding(rule, (x,), (med.input,), title, path)
