"""Compile the knowledge graph into the lookup tables of an `Index`.

This is where class inheritance is worked out, once: every concept's is_a
chains up to its ancestors, every product's ingredients, every name. Each rule
family then expands its rules over those (a rule written for a class applies
to each member, and the most specific rule wins: see `screener.rules`).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import networkx as nx

from ..model import Counselling, FindingKind, Severity
from ..rules import FAMILIES, family_of
from ..rules.base import INGREDIENT_KINDS
from ..rules.compiling import CompileContext
from ..text import normalize_name
from .graph import build_graph, is_a_view
from .index import CompiledRule, Index
from .tables import Rule, Strengths, Tables


def compile_index(tables: Tables, version: str, directory: str, ties: list | None = None,
                  layers: tuple[str, ...] = (), content_key: str = "") -> Index:
    """Build the graph from `tables` and compile it into an Index.

    The class hierarchy, names, ingredients and counselling are compiled here;
    each rule family compiles its own table from its rows (`screener.rules`).
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
    ctx = CompileContext(kinds=kinds, up=up, rows={r.id: r for r in tables.rules}, ties=ties,
                         mme={f.drug: (f.unit, f.factor) for f in tables.mme_factors},
                         exceptions=tables.rule_exceptions)
    rules = {r.id: _compile_rule(r, family_of(r.kind).codes(r, ctx)) for r in tables.rules}
    families = {family.name: family.compile(ctx, [r for r in tables.rules if r.kind == family.kind.value])
                for family in FAMILIES}

    counselling: dict[str, list[Counselling]] = defaultdict(list)
    for point in tables.counselling:
        for x in ctx.ingredients_under(point.concept):
            counselling[x].append(Counselling(point.concept, point.topic, point.text, point.source))

    names: dict[str, str] = {}
    name_text: dict[str, str] = {}
    for concept in tables.concepts:
        for text in (concept.name, *concept.synonyms, concept.id):
            normalised = normalize_name(text)
            names.setdefault(normalised, intern(concept.id))
            name_text.setdefault(normalised, text)

    _fda_class_names(tables, directory, names, name_text)

    ingredients: dict[str, tuple[str, ...]] = {}
    for concept in tables.concepts:
        if concept.kind in INGREDIENT_KINDS:
            ingredients[concept.id] = (concept.id,)
    for rel in tables.relations:
        if rel.relation == "has_ingredient":
            ingredients[rel.subject] = ingredients.get(rel.subject, ()) + (intern(rel.object),)

    # Coverage: an ingredient is classified when a rule names it or one of its classes. A wildcard rule
    # (the same ingredient twice) says nothing about what a drug is, so it does not count; nor does an
    # allergy rule: knowing that amoxicillin is a penicillin says nothing of what it interacts with.
    named = {c for r in tables.rules if r.family != "allergy" for c in r.concepts if c in kinds}
    classified = frozenset(intern(x) for x, k in kinds.items()
                           if k in INGREDIENT_KINDS and any(a in named for a in up.get(x, {x: ()})))
    display = {c.id: c.name for c in tables.concepts}
    scope = (tuple(sorted((display[c] for c in named if kinds[c] in ("drug", "class", "substance", "product")),
                          key=str.casefold)),
             tuple(sorted((display[c] for c in named if kinds[c] == "condition"), key=str.casefold)))
    derived = {(r.subject, r.object): (r.derived, r.source) for r in tables.relations if r.derived}

    unsuppressed = None
    if tables.switched_off:
        # The same knowledge with the switched-off rules on: screening with it tells which of
        # them would have fired, so that reports can list them (a local policy is never invisible).
        unsuppressed = compile_index(replace(tables, rules=tables.rules + tables.switched_off, switched_off=(),
                                             disabled=()), version, directory, layers=layers, content_key=content_key)
    return Index(
        version=version,
        key=content_key,
        directory=directory,
        layers=tuple(layers),
        disabled=tables.disabled,
        layer_names=tuple(Path(layer).resolve().name or str(layer) for layer in layers),
        kinds={c.id: c.kind for c in tables.concepts},
        display={c.id: c.name for c in tables.concepts},
        names=names,
        name_text=name_text,
        max_name_tokens=max(len(k.split()) for k in names) if names else 1,
        ingredients=ingredients,
        up=up,
        rules=rules,
        families=families,
        counselling={k: tuple(v) for k, v in counselling.items()},
        codes={code: c.id for c in tables.concepts for code in c.codes},
        condition_codes={f"{c.system}:{c.code}": (c.condition, c.match) for c in tables.condition_codes},
        condition_names={normalize_name(n.name): (n.code, n.name) for n in tables.condition_names},
        allergens={normalize_name(a.name): (a.category, a.name) for a in tables.allergens},
        ambiguous={normalize_name(a.name): (a.name, a.meanings) for a in tables.ambiguous_names},
        past_history=frozenset(h.condition for h in tables.condition_history if h.reading == "past"),
        negatable=_negatable(tables),
        strengths=_strength_table(tables),
        derived=derived,
        classified=classified,
        scope=scope,
        unsuppressed=unsuppressed,
    )


def _fda_class_names(tables: Tables, directory: str, names: dict[str, str], name_text: dict[str, str]) -> None:
    """Name each FDA established pharmacologic class as people write it: its name with the tag (the class's
    own name, already in `names`), without it, and in the plural ("Quinolone Antimicrobials").

    A form that is already a name here, that two classes share, or that the FDA vocabulary gives a
    substance ("Progesterone [EPC]" and progesterone) is left out: a name means one thing, and a substance
    written as itself is that substance, never its class.
    """
    from ..paths import tables_home
    from ..vocabulary import VOCABULARY_DIR, load_vocabulary

    vocab = load_vocabulary(tables_home(directory, VOCABULARY_DIR)) if tables.fda_epc else None
    forms: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for fda_class, cls in tables.fda_epc:
        bare = fda_class[:-len(" [EPC]")]
        for text in dict.fromkeys((bare, plural_phrase(bare))):
            forms[normalize_name(text)].append((text, cls))
    for key, owners in forms.items():
        if len({cls for _, cls in owners}) != 1 or key in names or (vocab is not None and vocab.lookup(key)):
            continue
        names[key] = sys.intern(owners[0][1])
        name_text[key] = owners[0][0]


def plural_phrase(phrase: str) -> str:
    """The phrase with its last word in the plural: "Quinolone Antimicrobial" → "Quinolone Antimicrobials"."""
    head, _, last = phrase.rpartition(" ")
    if last[-1:] == "y" and last[-2:-1].lower() not in ("a", "e", "o", "u", ""):
        last = last[:-1] + "ies"
    elif last.lower().endswith(("s", "x", "ch", "sh", "z")):
        last += "es"
    elif last[-1:].isalpha():
        last += "s"
    return f"{head} {last}" if head else last


_FORM_UNITS = ("tablet", "capsule", "film", "spray", "suppository", "lozenge", "patch", "packet")
"""The unit a dose of each form is counted in, by the word its strengths.csv form names ("chewable tablet")."""


def _form_unit(row: Strengths) -> str:
    """The unit a dose of one strengths row's form is written in: "mL" for a liquid, else the first of
    `_FORM_UNITS` its form names, "" for none ("rectal gel")."""
    if row.unit == "mg/mL":
        return "mL"
    return next((unit for unit in _FORM_UNITS if unit in row.form), "")


def _strength_table(tables: Tables) -> dict[str, tuple[tuple[str, ...], tuple[tuple[float, ...], ...],
                                                       tuple[str, ...]]]:
    """Each product's marketed strengths, all its rows (forms) together, in the first row's ingredient order:
    its per-unit strengths (tablets, capsules…) where it has any, else its concentrations (mg per mL), with
    the unit of each form. A product sold as both (Roxicet: a 1/65 mg/mL solution and 5/325 mg tablets) is
    held to its tablets; mixed under the first row's "per mL", it was held to none ("Roxicet 10/325 mg"
    passed unchecked)."""
    per_unit = {row.product for row in tables.strengths if row.unit != "mg/mL"}
    out: dict[str, tuple[tuple[str, ...], list[tuple[float, ...]], list[str]]] = {}
    for row in tables.strengths:
        order, variants, units = out.setdefault(row.product, (row.ingredients, [], []))
        if (unit := _form_unit(row)) not in units:
            units.append(unit)
        if row.unit == "mg/mL" and row.product in per_unit:
            continue
        for variant in row.strengths:
            by_name = dict(zip(row.ingredients, variant))
            aligned = tuple(by_name[x] for x in order)
            if aligned not in variants:
                variants.append(aligned)
    return {k: (order, tuple(variants), tuple(units)) for k, (order, variants, units) in out.items()}


def _compile_rule(rule: Rule, codes: tuple[tuple[str, str], ...]) -> CompiledRule:
    """A rule row with everything a finding needs (its standard codes come from its family)."""
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
        codes=codes,
        file=rule.where.file,
        line=rule.where.line,
        layer=rule.where.layer,
        override=rule.override,
    )


def _negatable(tables: Tables) -> dict[str, str]:
    """What a negation may record as absent: every condition's display name, and the names and exact codes
    condition_negations.csv lists for it (a code stays `icd10:CODE`; a name is normalised)."""
    out = {normalize_name(c.name): c.id for c in tables.concepts if c.kind == "condition"}
    for row in tables.condition_negations:
        for name in row.names:
            out[name if name.startswith("icd10:") else normalize_name(name)] = row.condition
    return out
