"""Compile the knowledge graph into the lookup tables of an `Index`.

This is where class inheritance and "the most specific rule wins" are worked
out, once, for every pair of concepts the rules reach: a rule written for a
class is expanded to each member, and for each pair the candidate with the
smallest total is_a distance wins (ties: the more severe, then the rule id).
"""

from __future__ import annotations

import sys
from collections import defaultdict

import networkx as nx

from ..model import Counselling, FindingKind, Severity
from ..normalize import normalize_name
from .graph import build_graph, is_a_view
from .index import CompiledRule, Index
from .tables import ANY_INGREDIENT, Tables

_INGREDIENT_KINDS = ("drug", "substance")
_NO_ANCHOR_DISTANCE = 1000
"""How far a `*` rule counts as being from any ingredient: it loses to every real rule."""


def compile_index(tables: Tables, version: str, directory: str, ties: list | None = None,
                  layers: tuple[str, ...] = (), content_key: str = "") -> Index:
    """Build the graph from `tables` and compile it into an Index.

    `ties`, when given, collects (key, rule, rule) for every pair or condition
    where two rules of different severity are equally specific (validation
    reports them; the screen resolves them to the more severe).
    """
    graph = build_graph(tables)
    isa = is_a_view(graph)
    intern = sys.intern
    kinds = {c.id: c.kind for c in tables.concepts}

    # up[x][a] = the shortest is_a chain from x to its ancestor a (x itself included).
    up = {
        intern(node): {intern(a): tuple(intern(n) for n in chain) for a, chain in paths.items()}
        for node, paths in ((n, nx.single_source_shortest_path(isa, n)) for n in isa.nodes)
    }
    down: dict[str, set[str]] = defaultdict(set)
    for node, ancestors in up.items():
        for ancestor in ancestors:
            down[ancestor].add(node)

    def ingredients_under(concept: str) -> list[str]:
        return sorted(n for n in down[concept] if kinds[n] in _INGREDIENT_KINDS)

    def dist(node: str, ancestor: str) -> int:
        return len(up[node][ancestor]) - 1

    rules = {r.id: _compile_rule(r, kinds, up) for r in tables.rules}
    rank = {rid: r.severity.rank for rid, r in rules.items()}

    # Pairs: drug-drug and class duplicates. best[(x, y)][kind] = (distance, -rank, rule, anchor_x, anchor_y)
    best: dict[tuple[str, str], dict[str, tuple]] = defaultdict(dict)
    same: dict[str, tuple] = {}
    combinations = []
    for rule in tables.rules:
        if rule.family != "interaction":
            continue
        if rule.kind == "combination":
            combinations.append((rule.id, tuple(frozenset(ingredients_under(c)) for c in rule.concepts)))
            continue
        a, b = rule.concepts
        if rule.kind == "duplicate":
            # Same ingredient from two inputs: the rule on the nearest ancestor (or `*`).
            members = list(kinds) if a == ANY_INGREDIENT else ingredients_under(a)
            for x in members:
                if kinds[x] not in _INGREDIENT_KINDS:
                    continue
                d = _NO_ANCHOR_DISTANCE if a == ANY_INGREDIENT else dist(x, a)
                _keep(same, x, (d, -rank[rule.id], rule.id, x if a == ANY_INGREDIENT else a))
            if a == ANY_INGREDIENT or kinds[a] != "class":
                continue
        for x in ingredients_under(a):
            for y in ingredients_under(b):
                if x == y:
                    continue
                d = dist(x, a) + dist(y, b)
                key, anchors = ((x, y), (a, b)) if x < y else ((y, x), (b, a))
                _keep(best[key], rule.kind, (d, -rank[rule.id], rule.id, *anchors), ties, key)

    # Nested by ingredient, with each distinct hit stored once: the pickle shares repeated
    # objects, which keeps the cache small and quick to load.
    shared: dict[tuple, tuple] = {}
    pairs: dict[str, dict[str, tuple]] = defaultdict(dict)
    for (x, y), by_kind in best.items():
        hits = tuple(_share(shared, (kind, hit[2], hit[3], hit[4])) for kind, hit in sorted(by_kind.items()))
        pairs[x][y] = _share(shared, hits)

    conditions: dict[tuple[str, str], tuple] = {}
    allergies: dict[tuple[str, str], tuple] = {}
    ages: dict[str, list] = defaultdict(list)
    doses: dict[str, dict] = defaultdict(dict)
    for rule in tables.rules:
        if rule.family in ("condition", "allergy"):
            drug, target = rule.concepts
            table = conditions if rule.family == "condition" else allergies
            for x in ingredients_under(drug):
                for t in sorted(down[target]):
                    _keep(table, (x, t), (dist(x, drug) + dist(t, target), -rank[rule.id], rule.id, drug, target),
                          ties)
        elif rule.family == "age":
            (drug,) = rule.concepts
            op, years = _age_expression(rule.target)
            for x in ingredients_under(drug):
                ages[x].append((rule.id, op, years, drug))
        elif rule.family == "dose":
            limit, values = rule.target.split("=")
            doses[rule.concepts[0]][limit] = (rule.id, tuple(float(v) for v in values.split("|")))

    counselling: dict[str, list[Counselling]] = defaultdict(list)
    for point in tables.counselling:
        for x in ingredients_under(point.concept):
            counselling[x].append(Counselling(point.concept, point.topic, point.text, point.source))

    names: dict[str, str] = {}
    name_text: dict[str, str] = {}
    for concept in tables.concepts:
        for text in (concept.name, *concept.synonyms, concept.id):
            normalised = normalize_name(text)
            names.setdefault(normalised, intern(concept.id))
            name_text.setdefault(normalised, text)

    ingredients: dict[str, tuple[str, ...]] = {}
    for concept in tables.concepts:
        if concept.kind in _INGREDIENT_KINDS:
            ingredients[concept.id] = (concept.id,)
    for rel in tables.relations:
        if rel.relation == "has_ingredient":
            ingredients[rel.subject] = ingredients.get(rel.subject, ()) + (intern(rel.object),)

    return Index(
        version=version,
        key=content_key,
        directory=directory,
        layers=tuple(layers),
        disabled=tables.disabled,
        kinds={c.id: c.kind for c in tables.concepts},
        display={c.id: c.name for c in tables.concepts},
        names=names,
        name_text=name_text,
        max_name_tokens=max(len(k.split()) for k in names) if names else 1,
        ingredients=ingredients,
        up=up,
        rules=rules,
        pairs=dict(pairs),
        same={x: (hit[2], hit[3]) for x, hit in same.items()},
        combinations=tuple(combinations),
        in_combinations=frozenset(x for _, roles in combinations for role in roles for x in role),
        conditions={k: v[2:] for k, v in conditions.items()},
        allergies={k: v[2:] for k, v in allergies.items()},
        ages={k: tuple(v) for k, v in ages.items()},
        doses=dict(doses),
        counselling={k: tuple(v) for k, v in counselling.items()},
        codes={code: c.id for c in tables.concepts for code in c.codes},
        condition_codes={f"{c.system}:{c.code}": (c.condition, c.match) for c in tables.condition_codes},
        any_duplicate=next((r.id for r in tables.rules if r.kind == "duplicate" and r.concepts[0] == ANY_INGREDIENT),
                           None),
    )


def _share(pool: dict, value):
    """One object for equal values."""
    return pool.setdefault(value, value)


def _keep(table: dict, key, candidate: tuple, ties: list | None = None, label=None) -> None:
    """Keep the better candidate: smaller distance, then more severe, then smaller rule id."""
    current = table.get(key)
    if ties is not None and current is not None and current[0] == candidate[0] and current[1] != candidate[1]:
        ties.append((label if label is not None else key, current[2], candidate[2]))
    if current is None or candidate[:3] < current[:3]:
        table[key] = candidate


def _age_expression(text: str) -> tuple[str, float]:
    text = text.replace(" ", "")
    op = text[:2] if text[:2] in ("<=", ">=") else text[:1]
    return op, float(text[len(op):])


def _compile_rule(rule, kinds: dict[str, str], up: dict[str, dict]) -> CompiledRule:
    kind = FindingKind(rule.kind)
    return CompiledRule(
        id=rule.id,
        kind=kind,
        severity=Severity(rule.severity),
        operands=rule.concepts,
        target=rule.target,
        summary=rule.summary,
        mechanism=rule.mechanism,
        advice=rule.advice,
        plain=rule.plain,
        evidence=rule.evidence,
        source=rule.source,
        codes=_codes(rule, kinds, up),
        file=rule.where.file,
        line=rule.where.line,
        layer=rule.where.layer,
        override=rule.override,
    )


def _codes(rule, kinds: dict[str, str], up: dict[str, dict]) -> tuple[tuple[str, str], ...]:
    """NCPDP DUR reason-for-service and HL7 v3 ActCode for the findings a rule makes."""
    kind = rule.kind
    if kind in ("drug-drug", "combination"):
        alcohol = any(kinds.get(c) == "substance" for c in rule.concepts)
        return (("ncpdp", "OH" if alcohol else "DD"), ("v3", "DRG"))
    if kind == "duplicate":
        a = rule.concepts[0]
        if a != ANY_INGREDIENT and kinds.get(a) == "class":
            return (("ncpdp", "TD"), ("v3", "DUPTHPCLS"))
        return (("ncpdp", "ID"), ("v3", "DUPTHPGEN"))
    if kind == "drug-condition":
        ancestors = up.get(rule.concepts[1], {})
        if "pregnancy" in ancestors:
            return (("ncpdp", "PG"), ("v3", "PREG"))
        if "lactation" in ancestors:
            return (("ncpdp", "NR"), ("v3", "LACT"))
        return (("ncpdp", "MC"), ("v3", "COND"))
    if kind == "drug-allergy":
        return (("ncpdp", "DA"), ("v3", "ALGY"))
    if kind == "drug-age":
        op, years = _age_expression(rule.target)
        return (("ncpdp", "PA"), ("v3", "GEALRT" if op.startswith(">") and years >= 65 else "AGE"))
    if kind == "duration":
        return (("ncpdp", "MX"), ("v3", "DOSEDUR"))
    if rule.target.startswith("strengths="):
        return ()
    return (("ncpdp", "HD"), ("v3", "DOSEH"))
