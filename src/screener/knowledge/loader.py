"""Read and check the knowledge CSV files of one directory.

`read_tables(directory)` is the one entry point: it returns `Tables` or raises
`KnowledgeError` naming the file, the line and the problem. Only the standard
library is used, so this is cheap enough to run whenever the compiled cache is
stale.
"""

from __future__ import annotations

import csv
import io
import re
from hashlib import blake2b
from pathlib import Path

from ..errors import KnowledgeError
from ..model import ROUTES, Severity
from ..rules.duplicates import ANY_INGREDIENT
from ..rules.facts import ANY_CLASS
from ..text import SALT_WORDS, normalize_name
from .files import KNOWLEDGE_FILES, OVERRIDES_FILE, REQUIRED_FILES, SUBSTANCE_CLASSES
from .tables import (
    CODE_MATCHES,
    CONCEPT_KINDS,
    CONDITION_CONTEXTS,
    DOSE_LIMITS,
    EVIDENCE,
    INTERACTION_KINDS,
    OVERRIDE_ACTIONS,
    RELATIONS,
    Allergen,
    AmbiguousName,
    ClassExclusion,
    ClassMap,
    Concept,
    ConditionCode,
    ConditionHistory,
    ConditionName,
    ConditionNegation,
    CounsellingPoint,
    MmeFactor,
    Relation,
    Rule,
    RuleException,
    Strengths,
    Tables,
    Where,
)

REVIEW_COLUMNS = ("checked", "checked_against")
"""Every rule and counselling row says when it was last checked (an ISO date) and against what evidence
(the label section, communication, guideline or paper actually read). The loader accepts rows without
them (a local layer may predate them); `screener data validate` rejects them."""
RULE_FILES = ("interactions.csv", "conditions.csv", "dosing.csv", "counselling.csv")

COLUMNS = {
    "concepts.csv": ("id", "kind", "name", "synonyms", "codes", "source"),
    "relations.csv": ("subject", "relation", "object", "source"),
    "interactions.csv": (
        "id", "kind", "a", "b", "c", "severity", "summary", "mechanism", "advice", "plain", "evidence", "source",
        *REVIEW_COLUMNS,
    ),
    "conditions.csv": ("id", "drug", "context", "target", "severity", "summary", "advice", "plain", "evidence",
                       "source", *REVIEW_COLUMNS),
    "dosing.csv": ("id", "drug", "product", "limit", "value", "severity", "summary", "advice", "plain", "evidence",
                   "source", *REVIEW_COLUMNS),
    "counselling.csv": ("id", "concept", "topic", "text", "source", *REVIEW_COLUMNS),
    "condition_codes.csv": ("system", "code", "match", "condition", "source"),
    "overrides.csv": ("rule", "action", "severity", "reason", "source"),
    "strengths.csv": ("product", "ingredients", "strengths", "unit", "form", "source"),
    "fda_classes.csv": ("fda_class", "class", "source", "note"),
    "class_exclusions.csv": ("drug", "class", "reason", "source"),
    "condition_names.csv": ("name", "icd10cm", "source"),
    "allergens.csv": ("name", "category", "source"),
    "mme_factors.csv": ("drug", "unit", "factor", "source", *REVIEW_COLUMNS),
    "ambiguous_names.csv": ("name", "meanings", "source"),
    "condition_history.csv": ("condition", "reading", "source"),
    "condition_negations.csv": ("condition", "names", "source"),
    "rule_exceptions.csv": ("rule", "drug", "entries", "reason", "source", *REVIEW_COLUMNS),
}
MME_UNITS = ("mg", "mcg/hr")
"""What an MME factor multiplies: a daily amount in mg, or a transdermal patch's delivery rate in mcg/hr."""
HISTORY_READINGS = ("past", "current")
"""How "history of <condition>" is read: a past episode, or the condition now."""
ALLERGEN_CATEGORIES = ("food", "environment", "biologic")
"""What a non-drug allergy is, in the HL7 FHIR AllergyIntolerance category codes (medication aside)."""
OPTIONAL_COLUMNS = {"interactions.csv": {"mechanism", "c", *REVIEW_COLUMNS}, "overrides.csv": {"severity"},
                    "dosing.csv": {"product", *REVIEW_COLUMNS}, "conditions.csv": set(REVIEW_COLUMNS),
                    "counselling.csv": set(REVIEW_COLUMNS), "fda_classes.csv": {"note"},
                    "mme_factors.csv": {"factor", *REVIEW_COLUMNS}, "rule_exceptions.csv": set(REVIEW_COLUMNS)}
FDA_CLASS = re.compile(r"^(.+) \[(EPC|MoA|PE|CS)\]$")
"""An FDA pharmacologic class as the NDC Directory writes it: its name, then its kind in brackets."""
FDA_CLASS_KINDS = {"EPC": "established pharmacologic class", "MoA": "MoA", "PE": "physiologic effect",
                   "CS": "chemical structure"}

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_RULE_ID = re.compile(r"^[a-z0-9]+(?:[-+][a-z0-9]+)*$")
"""Rule ids may also join concept ids with "+" (carisoprodol+opioids)."""
_CODE = re.compile(r"^(rxnorm|unii|icd10|snomed):[A-Za-z0-9.\-]+$")
CODE_FORMATS = {
    "rxnorm": re.compile(r"^\d{1,9}$"),
    "unii": re.compile(r"^[0-9A-Z]{10}$"),
    "icd10": re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$"),
    "snomed": re.compile(r"^\d{6,18}$"),
}
"""What a code of each system looks like (RXCUI, UNII, ICD-10-CM with its dot, SNOMED CT concept id)."""
AGE_EXPRESSION = re.compile(r"^(<=|>=|<|>)\s*(\d{1,3})$")
_SEVERITIES = tuple(s.value for s in Severity)


def read_tables(directory: Path) -> Tables:
    """Read every knowledge file in `directory`, check each row, and return them.

    Raises KnowledgeError for the first problem; `screener.validate` reports them all.
    """
    return build_tables(read_rows(directory))


def read_layers(directory: Path, layers: list[Path] | tuple[Path, ...] = ()) -> Tables:
    """Read a base knowledge directory with local layers on top, in order; return the merged tables.

    A layer may hold any of the knowledge files and `overrides.csv`. Its
    concepts are added, or, when the id already exists, add their synonyms and
    codes to it (local brand names and spellings); its relations, rules,
    counselling points and condition codes are added (a rule id already used
    below is an error: change a rule with overrides.csv); its overrides change
    a rule's severity or switch a rule off, each with a reason. Every row
    remembers its layer, so every finding can say where it came from.
    """
    rows = read_rows(directory)
    overrides: list[Row] = []
    for layer_dir in layers:
        layer_dir = Path(layer_dir)
        if not layer_dir.is_dir():
            raise KnowledgeError(f"knowledge layer not found: {layer_dir}")
        label = layer_dir.resolve().name or str(layer_dir)
        for name in (*KNOWLEDGE_FILES, OVERRIDES_FILE):
            path = layer_dir / name
            if not path.exists():
                continue
            layer_rows = [(Where(str(path), w.line, label), row) for w, row in read_csv_rows(path, name, str(path))]
            if name == "concepts.csv":
                _merge_concepts(rows[name], layer_rows)
            elif name == OVERRIDES_FILE:
                overrides += layer_rows
            else:
                rows[name] = rows[name] + layer_rows
    return _apply_overrides(build_tables(rows), overrides)


def _merge_concepts(base: list[Row], layer_rows: list[Row]) -> None:
    """Add a layer's concepts; a known id gains the layer's synonyms and codes."""
    by_id = {row.get("id"): (i, where, row) for i, (where, row) in enumerate(base)}
    for where, row in layer_rows:
        known = by_id.get(row.get("id"))
        if known is None:
            base.append((where, row))
            continue
        i, base_where, base_row = known
        if row.get("kind") and row["kind"] != base_row["kind"]:
            raise _fail(where, f"concept '{row['id']}' is a {base_row['kind']} in {base_where.file}; "
                               f"a layer may add names to it, not change its kind")
        merged = dict(base_row)
        for column in ("synonyms", "codes"):
            extra = "|".join(filter(None, (base_row.get(column, ""), row.get(column, ""))))
            merged[column] = extra
        base[i] = (base_where, merged)


def _apply_overrides(tables: Tables, overrides: list[Row]) -> Tables:
    if not overrides:
        return tables
    from dataclasses import replace

    rules = {rule.id: rule for rule in tables.rules}
    disabled = list(tables.disabled)
    switched_off = list(tables.switched_off)
    for where, row in overrides:
        _require(where, row, "rule", "action", "reason", "source")
        rule = rules.get(row["rule"])
        if rule is None:
            raise _fail(where, f"rule '{row['rule']}' is not in the knowledge below this layer")
        action = row["action"]
        if action not in OVERRIDE_ACTIONS:
            raise _fail(where, f"unknown action '{action}' (expected one of {', '.join(OVERRIDE_ACTIONS)})")
        if action == "off":
            del rules[rule.id]
            disabled.append((rule.id, where.layer, f"{row['reason']} ({row['source']})"))
            switched_off.append(rule)
            continue
        severity = row.get("severity", "")
        if severity not in _SEVERITIES:
            raise _fail(where, f"unknown severity '{severity}' (expected one of {', '.join(_SEVERITIES)})")
        note = f"severity {rule.severity} → {severity} by layer '{where.layer}': {row['reason']} ({row['source']})"
        rules[rule.id] = replace(rule, severity=severity, override=note, where=replace(rule.where, layer=where.layer))
    return replace(tables, rules=tuple(rules.values()), disabled=tuple(disabled), switched_off=tuple(switched_off))


def read_rows(directory: Path) -> dict[str, list[Row]]:
    """The rows of every knowledge file in `directory` (structure checked, content not yet), and of the
    derived class table built with the NDC Directory when the directory has one."""
    directory = Path(directory)
    if not directory.is_dir():
        raise KnowledgeError(f"knowledge directory not found: {directory}")
    rows = {name: read_csv_rows(directory / name, name) for name in KNOWLEDGE_FILES}
    rows[SUBSTANCE_CLASSES] = read_substance_classes(directory / SUBSTANCE_CLASSES)
    return rows


def read_substance_classes(path: Path) -> list[Row]:
    """The rows of `ndc/substance_classes.tsv` (unii, substance, fda_class, products); [] when absent."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["unii", "substance", "fda_class", "products"]:
        raise KnowledgeError("expected the header unii, substance, fda_class, products", SUBSTANCE_CLASSES, 1)
    out: list[Row] = []
    for n, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != 4 or not cells[3].isdigit():
            raise KnowledgeError("expected 4 tab-separated cells, the last a count", SUBSTANCE_CLASSES, n)
        out.append((Where(SUBSTANCE_CLASSES, n), dict(zip(("unii", "substance", "fda_class", "products"), cells))))
    return out


def build_tables(rows: dict[str, list[Row]]) -> Tables:
    """Check the content of the rows, across files, and return the tables."""
    concepts = _concepts(rows["concepts.csv"])
    by_id = {c.id: c for c in concepts}
    relations = _relations(rows["relations.csv"], by_id)
    rules = (
        _interactions(rows["interactions.csv"], by_id)
        + _condition_rules(rows["conditions.csv"], by_id)
        + _dose_rules(rows["dosing.csv"], by_id, relations)
    )
    _check_unique_rules(rules)
    counselling = _counselling(rows["counselling.csv"], by_id)
    codes = _condition_codes(rows["condition_codes.csv"], by_id)
    strengths = _strengths(rows.get("strengths.csv", []), by_id, relations)
    maps = _class_maps(rows.get("fda_classes.csv", []), by_id)
    exclusions = _class_exclusions(rows.get("class_exclusions.csv", []), by_id)
    derived_concepts, derived_relations, excluded, epc = derive_memberships(
        rows.get(SUBSTANCE_CLASSES, []), maps, exclusions, concepts, relations)
    names = _condition_names(rows.get("condition_names.csv", []))
    allergens = _allergens(rows.get("allergens.csv", []))
    mme = _mme_factors(rows.get("mme_factors.csv", []), by_id)
    ambiguous = _ambiguous_names(rows.get("ambiguous_names.csv", []))
    history = _condition_history(rows.get("condition_history.csv", []), by_id)
    negations = _condition_negations(rows.get("condition_negations.csv", []), by_id, codes)
    exceptions = _rule_exceptions(rows.get("rule_exceptions.csv", []), by_id, rules)
    return Tables(tuple(concepts + derived_concepts), tuple(relations + derived_relations), tuple(rules),
                  tuple(counselling), tuple(codes), strengths=tuple(strengths), class_maps=tuple(maps),
                  class_exclusions=tuple(exclusions), excluded=tuple(excluded), condition_names=tuple(names),
                  allergens=tuple(allergens), mme_factors=tuple(mme), ambiguous_names=tuple(ambiguous),
                  condition_history=tuple(history),
                  condition_negations=tuple(negations), rule_exceptions=tuple(exceptions), fda_epc=tuple(epc))


_ICD10CM_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")


def _condition_names(rows: list[Row]) -> list[ConditionName]:
    """Each name once (as normalised), each code in the dotted CMS form; whether the code is in the
    ICD-10-CM release is checked by `screener data validate` against the bundled code set. Several codes
    (`|`-separated) are the meanings of an abbreviation that is never guessed ("RA")."""
    out = []
    for where, row in _named_rows(rows, "icd10cm"):
        codes = row["icd10cm"].split("|")
        bad = next((c for c in codes if not _ICD10CM_CODE.match(c)), None)
        if bad is not None:
            raise _fail(where, f"icd10cm '{bad}' is not an ICD-10-CM code as CMS writes it (E11.9)")
        if len(set(codes)) != len(codes):
            raise _fail(where, f"icd10cm '{row['icd10cm']}' names a code twice")
        out.append(ConditionName(row["name"], row["icd10cm"], row["source"], where))
    return out


def _mme_factors(rows: list[Row], by_id: dict[str, Concept]) -> list[MmeFactor]:
    """One factor per drug, for a drug concept, in a known unit; an empty factor means the source gives none."""
    out: list[MmeFactor] = []
    seen: dict[str, Where] = {}
    for where, row in rows:
        _require(where, row, "drug", "unit", "source")
        _check_concept(where, by_id, row["drug"], "drug", {"drug"})
        if row["drug"] in seen:
            raise _fail(where, f"drug '{row['drug']}' already has a factor at line {seen[row['drug']].line}")
        seen[row["drug"]] = where
        if row["unit"] not in MME_UNITS:
            raise _fail(where, f"unit '{row['unit']}' is not one of {', '.join(MME_UNITS)}")
        factor: float | None = None
        if row.get("factor", ""):
            try:
                factor = float(row["factor"])
                if factor <= 0:
                    raise ValueError
            except ValueError:
                raise _fail(where, f"factor '{row['factor']}' is not a positive number") from None
        out.append(MmeFactor(row["drug"], row["unit"], factor, row["source"], where, **_review(row)))
    return out


def _allergens(rows: list[Row]) -> list[Allergen]:
    out = []
    for where, row in _named_rows(rows, "category"):
        if row["category"] not in ALLERGEN_CATEGORIES:
            raise _fail(where, f"category '{row['category']}' is not one of {', '.join(ALLERGEN_CATEGORIES)}")
        out.append(Allergen(row["name"], row["category"], row["source"], where))
    return out


def _ambiguous_names(rows: list[Row]) -> list[AmbiguousName]:
    out = []
    for where, row in _named_rows(rows, "meanings"):
        meanings = tuple(m.strip() for m in row["meanings"].split("|") if m.strip())
        if len(meanings) < 2:
            raise _fail(where, "meanings: an ambiguous name needs at least two meanings, separated by '|'")
        out.append(AmbiguousName(row["name"], meanings, row["source"], where))
    return out


def _condition_history(rows: list[Row], by_id: dict[str, Concept]) -> list[ConditionHistory]:
    out = []
    seen: dict[str, Where] = {}
    for where, row in rows:
        _require(where, row, "condition", "reading", "source")
        condition = row["condition"]
        if by_id.get(condition) is None or by_id[condition].kind != "condition":
            raise _fail(where, f"condition '{condition}' is not a condition in concepts.csv")
        if row["reading"] not in HISTORY_READINGS:
            raise _fail(where, f"reading '{row['reading']}' is not one of {', '.join(HISTORY_READINGS)}")
        if condition in seen:
            raise _fail(where, f"condition '{condition}' repeats line {seen[condition].line}")
        seen[condition] = where
        out.append(ConditionHistory(condition, row["reading"], row["source"], where))
    return out


def _condition_negations(rows: list[Row], by_id: dict[str, Concept],
                         codes: list[ConditionCode]) -> list[ConditionNegation]:
    """Each condition once; each name one of its own names or synonyms, or an ICD-10-CM code that an exact
    row of condition_codes.csv maps to it (a name of another concept here would be a claim about that one)."""
    out = []
    seen: dict[str, Where] = {}
    exact = {(c.condition, c.code) for c in codes if c.system == "icd10" and c.match == "exact"}
    for where, row in rows:
        _require(where, row, "condition", "names", "source")
        condition = row["condition"]
        concept = by_id.get(condition)
        if concept is None or concept.kind != "condition":
            raise _fail(where, f"condition '{condition}' is not a condition in concepts.csv")
        if condition in seen:
            raise _fail(where, f"condition '{condition}' repeats line {seen[condition].line}")
        seen[condition] = where
        own = {normalize_name(n) for n in (concept.name, *concept.synonyms)}
        names = tuple(n.strip() for n in row["names"].split("|") if n.strip())
        for name in names:
            code = name[len("icd10:"):] if name.startswith("icd10:") else None
            if code is not None and (condition, code) not in exact:
                raise _fail(where, f"names: '{name}' is not an exact condition_codes.csv row of '{condition}'")
            if code is None and normalize_name(name) not in own:
                raise _fail(where, f"names: '{name}' is not a name or synonym of '{condition}' in concepts.csv")
        out.append(ConditionNegation(condition, names, row["source"], where))
    return out


EXCEPTION_SELECTORS = ("route", "with", "product")
"""How a rule exception names the entries it covers: `route:<route>` (the entry's route as the sig reader
writes it, or its NDC product's), `with:<ingredient>` (the entry also holds that ingredient) and
`product:<product>` (the entry names that product). A `with:` or `product:` selector may end in
`@<route>/<route>`: the routes its entries may be given by (without it, the row's `route:` routes); an entry
known to be given by another route keeps the rule (`rules.facts.entry_routes`)."""


def _rule_exceptions(rows: list[Row], by_id: dict[str, Concept], rules: list[Rule]) -> list[RuleException]:
    """Each names a condition or allergy rule, an ingredient, and the entries (`route:sublingual|with:naloxone|
    product:subutex`) the rule does not apply to; whether the rule reaches the ingredient at all is
    `screener data validate`'s."""
    by_rule = {r.id: r for r in rules}
    out: list[RuleException] = []
    seen: dict[tuple[str, str], Where] = {}
    for where, row in rows:
        _require(where, row, "rule", "drug", "entries", "reason", "source")
        rule = by_rule.get(row["rule"])
        if rule is None:
            raise _fail(where, f"rule '{row['rule']}' is not a rule of this knowledge")
        if rule.family not in ("condition", "allergy"):
            raise _fail(where, f"rule '{rule.id}' is not a condition or allergy rule (conditions.csv): only those "
                               "may have exceptions")
        _check_concept(where, by_id, row["drug"], "drug", {"drug", "substance"})
        key = (row["rule"], row["drug"])
        if key in seen:
            raise _fail(where, f"rule '{row['rule']}' and drug '{row['drug']}' repeat line {seen[key].line}")
        seen[key] = where
        routes: list[str] = []
        partners: list[tuple[str, tuple[str, ...]]] = []
        products: list[tuple[str, tuple[str, ...]]] = []
        for selector in _split(row["entries"]):
            kind, _, value = selector.partition(":")
            value, at, given = value.partition("@")
            by = tuple(given.split("/")) if at else None
            if by is not None and (kind == "route" or not all(r in ROUTES for r in by)):
                raise _fail(where, f"entries '{selector}': only with: and product: may say the routes their "
                                   "entries may be given by (@<route>/<route>, each one of "
                                   f"{', '.join(sorted(ROUTES))})")
            if kind == "route" and value in ROUTES:
                routes.append(value)
            elif kind == "with" and value in by_id and by_id[value].kind in ("drug", "substance"):
                partners.append((value, by or ()))
            elif kind == "product" and value in by_id and by_id[value].kind == "product":
                products.append((value, by or ()))
            else:
                raise _fail(where, f"entries '{selector}' is none of route:<route> (one of "
                                   f"{', '.join(sorted(ROUTES))}), with:<an ingredient in concepts.csv>, "
                                   "product:<a product in concepts.csv>")
        # A with: or product: selector that names no route of its own is given by the row's routes.
        out.append(RuleException(rule.id, row["drug"], tuple(routes), tuple(x for x, _ in partners),
                                 tuple(p for p, _ in products), row["reason"], row["source"], where,
                                 partner_routes=tuple(by or tuple(routes) for _, by in partners),
                                 product_routes=tuple(by or tuple(routes) for _, by in products), **_review(row)))
    return out


def _named_rows(rows: list[Row], column: str) -> list[Row]:
    """Rows keyed by a name (condition_names.csv, allergens.csv): name, `column` and source filled, and no
    name twice once normalised (two rows for one name would make its reading depend on row order)."""
    seen: dict[str, Where] = {}
    for where, row in rows:
        _require(where, row, "name", column, "source")
        key = normalize_name(row["name"])
        if key in seen:
            raise _fail(where, f"name '{row['name']}' repeats line {seen[key].line}")
        seen[key] = where
    return rows


def _class_maps(rows: list[Row], by_id: dict[str, Concept]) -> list[ClassMap]:
    out: list[ClassMap] = []
    seen: dict[tuple[str, str], Where] = {}
    for where, row in rows:
        _require(where, row, "fda_class", "class", "source")
        if not FDA_CLASS.match(row["fda_class"]):
            raise _fail(where, f"fda_class '{row['fda_class']}' is not an FDA class as the NDC Directory writes it "
                               "(a name, then [EPC], [MoA], [PE] or [CS])")
        _check_concept(where, by_id, row["class"], "class", {"class"})
        key = (row["fda_class"], row["class"])
        if key in seen:
            raise _fail(where, f"mapping repeats line {seen[key].line}")
        seen[key] = where
        out.append(ClassMap(row["fda_class"], row["class"], row["source"], row.get("note", ""), where))
    return out


def _class_exclusions(rows: list[Row], by_id: dict[str, Concept]) -> list[ClassExclusion]:
    out: list[ClassExclusion] = []
    for where, row in rows:
        _require(where, row, "drug", "class", "reason", "source")
        _check_concept(where, by_id, row["class"], "class", {"class"})
        out.append(ClassExclusion(row["drug"], row["class"], row["reason"], row["source"], where))
    return out


def fda_class_text(fda_class: str) -> str:
    """How a finding names an FDA class: "FDA MoA 'Cytochrome P450 2C19 Inhibitors'"."""
    match = FDA_CLASS.match(fda_class)
    if match is None:
        return f"FDA class '{fda_class}'"
    return f"FDA {match.group(2)} '{match.group(1)}'"


def derive_memberships(rows: list[Row], maps: list[ClassMap], exclusions: list[ClassExclusion],
                       concepts: list[Concept], relations: list[Relation]
                       ) -> tuple[list[Concept], list[Relation], list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Class memberships from the FDA's indexing: (new concepts, new is_a relations, exclusions applied, and
    (EPC, class) for every FDA established pharmacologic class indexed on some substance).

    A substance of `ndc/substance_classes.tsv` indexed with an FDA class that `maps` maps joins that
    knowledge-base class. It is the knowledge base's own concept when one has its UNII, else a new drug
    concept (its id and name from the FDA name, its code the UNII, so the FDA vocabulary's names reach
    it). A salt the FDA lists under a UNII of its own ("prochlorperazine edisylate") is its parent's
    concept when the parent is in the table or the knowledge base: the same drug, so taking both is a
    duplicate, not an interaction. Curated rows win: a membership relations.csv already states is not
    derived again, and one an exclusion names is not derived at all (listed, with its reason, for `explain`).

    Every established pharmacologic class ([EPC]) also becomes a class of its own (`epc-…`, named as the
    FDA writes it) with its substances as members, and is_a the class fda_classes.csv maps it to, if any: an
    allergy written as an FDA class means exactly its members ("General Anesthetic [EPC]" is not every
    "other CNS depressant"). No rule names these classes but the drug-class allergy rule, so their members'
    interactions stay "not covered" unless a curated class covers them.
    """
    if not rows:
        return [], [], [], []
    mapped: dict[str, list[ClassMap]] = {}
    for m in maps:
        mapped.setdefault(m.fda_class, []).append(m)
    taken = {c.id for c in concepts}
    new_classes: dict[str, Concept] = {}
    class_edges: list[Relation] = []
    epc: dict[str, str] = {}
    for where, row in rows:
        fda_class = row["fda_class"]
        if fda_class in epc or not fda_class.endswith(" [EPC]"):
            continue
        cid = _epc_class_id(fda_class, taken)
        taken.add(cid)
        new_classes[cid] = Concept(
            cid, "class", fda_class, (), (),
            f"FDA Established Pharmacologic Class '{fda_class}' (FDA NDC Directory PHARM_CLASSES, bundled "
            "ndc/substance_classes.tsv)", where)
        epc[fda_class] = cid
        for m in mapped.get(fda_class, ()):
            class_edges.append(Relation(cid, "is_a", m.cls, f"mapped to {m.cls} by fda_classes.csv: {m.source}",
                                        m.where, derived=f"{cid} is_a {m.cls} — fda_classes.csv"))
        mapped.setdefault(fda_class, []).append(
            ClassMap(fda_class, cid, "an FDA established pharmacologic class (its own class here)", "", where))
    parents: dict[str, tuple[str, ...]] = {edge.subject: () for edge in class_edges}
    for edge in class_edges:
        parents[edge.subject] += (edge.object,)
    owner_of = {code[5:]: c.id for c in concepts for code in c.codes if code.startswith("unii:")}
    # As `recognize.ingredient_for_unii` does: a substance the knowledge base names (a salt it lists as a
    # synonym, "clorazepate dipotassium") is that concept, not a new one.
    named = {normalize_name(text): c.id for c in concepts if c.kind in ("drug", "substance")
             for text in (c.id, c.name, *c.synonyms)}
    ids = {c.id for c in concepts} | set(new_classes)
    curated = {(r.subject, r.object) for r in relations if r.relation == "is_a"}
    refused = {}
    for e in exclusions:
        refused[(e.drug.lower(), e.cls)] = e
    displays = {normalize_name(row["substance"]): row["unii"] for _, row in rows}

    def parent(substance: str) -> str | None:
        """The unii (in the table) or concept id (in the knowledge base) of a salt's parent substance."""
        words = normalize_name(substance).split()
        for cut in range(len(words) - 1, 0, -1):
            if all(w.upper() in SALT_WORDS for w in words[cut:]):
                stem = " ".join(words[:cut])
                return named.get(stem) or displays.get(stem)
        return None

    new_concepts: dict[str, Concept] = {}
    new_relations: dict[tuple[str, str], Relation] = {}
    excluded: dict[tuple[str, str], tuple[str, str, str]] = {}
    # An established pharmacologic class says what a drug is more plainly than a mechanism or an effect:
    # where several FDA classes map to one knowledge-base class, the EPC is the one a membership cites.
    order = {"EPC": 0, "MoA": 1, "PE": 2, "CS": 3}
    ranked = sorted(rows, key=lambda r: (r[1]["unii"], order.get(r[1]["fda_class"].rsplit("[", 1)[-1][:-1], 4)))
    for where, row in ranked:
        hits = mapped.get(row["fda_class"])
        if not hits:
            continue
        unii, substance = row["unii"], row["substance"]
        owner = owner_of.get(unii) or named.get(normalize_name(substance))
        if owner is None:
            above = parent(substance)
            if above is not None and above in ids:  # a knowledge-base concept, by name
                owner = above
            elif above is not None:  # the parent's UNII, met earlier or later in the table
                owner = owner_of.get(above) or _new_drug(new_concepts, ids, owner_of, above,
                                                         next(r for _, r in rows if r["unii"] == above)["substance"],
                                                         where)
            else:
                owner = _new_drug(new_concepts, ids, owner_of, unii, substance, where)
            if owner in new_concepts and f"unii:{unii}" not in new_concepts[owner].codes:
                from dataclasses import replace as _replace

                new_concepts[owner] = _replace(new_concepts[owner], codes=(*new_concepts[owner].codes, f"unii:{unii}"))
            owner_of[unii] = owner
        for m in hits:
            key = (owner, m.cls)
            if key in curated or key in new_relations:
                continue
            # An exclusion from a class holds for the FDA class mapped into it too (loperamide, refused from
            # opioids, is not let back in through 'Opioid Agonist [EPC]'): it is listed for the mapped class.
            exclusion = next((e for cls in (m.cls, *parents.get(m.cls, ()))
                              for e in (refused.get((owner, cls)), refused.get((substance.lower(), cls))) if e), None)
            if exclusion is not None:
                excluded[(owner, exclusion.cls)] = (owner, exclusion.cls, f"{exclusion.reason} ({exclusion.source})")
                continue
            short = f"{owner} is_a {m.cls} — {fda_class_text(m.fda_class)}"
            source = (f"{fda_class_text(m.fda_class)} indexed on {row['products']} {substance.lower()} products "
                      "(FDA NDC Directory)")
            if m.cls not in new_classes:
                source += f"; mapped to {m.cls} by fda_classes.csv: {m.source}"
            new_relations[key] = Relation(owner, "is_a", m.cls, source, where, derived=short)
    return ([*new_classes.values(), *new_concepts.values()], [*class_edges, *new_relations.values()],
            list(excluded.values()), sorted(epc.items()))


def _epc_class_id(fda_class: str, taken: set[str]) -> str:
    """The id of the class derived for an unmapped EPC: `epc-` and its name ("epc-quinolone-antimicrobial")."""
    cid = "epc-" + normalize_name(fda_class[:-len(" [EPC]")]).replace(" ", "-")
    if not _ID.match(cid) or cid in taken:
        cid = "epc-" + blake2b(fda_class.encode(), digest_size=4).hexdigest()
    return cid


def _new_drug(new_concepts: dict[str, Concept], ids: set[str], owner_of: dict[str, str], unii: str, substance: str,
              where: Where) -> str:
    """A new drug concept for an FDA substance: its id from the FDA name (or the UNII when that is taken)."""
    owner = normalize_name(substance).replace(" ", "-")
    if owner in ids or not _ID.match(owner):
        owner = f"unii-{unii.lower()}"
    ids.add(owner)
    owner_of[unii] = owner
    new_concepts[owner] = Concept(owner, "drug", substance.lower(), (), (f"unii:{unii}",),
                                  f"FDA NDC Directory: {substance.lower()} (UNII {unii}), classes derived from the "
                                  "FDA pharmacologic class indexing of its products", where)
    return owner


Row = tuple[Where, dict[str, str]]


def read_csv_rows(path: Path, name: str, shown: str | None = None) -> list[Row]:
    """Rows of one CSV as (where, {column: stripped value}); [] for an absent optional file.

    `name` selects the expected columns; `shown` is how errors name the file (default: `name`).
    """
    kind = name
    name = shown or name
    if not path.exists():
        if kind in REQUIRED_FILES:
            raise KnowledgeError("required knowledge file is missing", name)
        return []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(f"cannot read: {exc.strerror}", name) from None
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark; accept it.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise KnowledgeError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", name, line) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        header = next(reader, None)
        if header is None:
            raise KnowledgeError("file is empty (expected a header row)", name, 1)
        header = [h.strip() for h in header]
        _check_header(header, kind, name)
        out: list[Row] = []
        while True:
            start = reader.line_num + 1  # where the next record begins, for error messages
            cells = next(reader, None)
            if cells is None:
                return out
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                raise KnowledgeError(
                    f"expected {len(header)} cells, found {len(cells)} (check quoting and commas)", name, line
                )
            out.append((Where(name, line), {h: c.strip() for h, c in zip(header, cells)}))
    except csv.Error as exc:
        raise KnowledgeError(f"malformed CSV: {exc}", name, start) from None


def _check_header(header: list[str], kind: str, name: str) -> None:
    expected = COLUMNS[kind]
    unknown = [h for h in header if h not in expected]
    if unknown:
        raise KnowledgeError(f"unknown column(s) {', '.join(unknown)}; expected {', '.join(expected)}", name, 1)
    missing = [h for h in expected if h not in header and h not in OPTIONAL_COLUMNS.get(kind, ())]
    if missing:
        raise KnowledgeError(f"missing column(s) {', '.join(missing)}", name, 1)
    if len(set(header)) != len(header):
        raise KnowledgeError("a column name appears twice", name, 1)


def _fail(where: Where, problem: str) -> KnowledgeError:
    return KnowledgeError(problem, where.file, where.line)


def _require(where: Where, row: dict[str, str], *columns: str) -> None:
    for column in columns:
        if not row.get(column):
            raise _fail(where, f"'{column}' is empty")


def _check_id(where: Where, value: str, column: str = "id") -> None:
    if not _ID.match(value):
        raise _fail(where, f"{column} '{value}' is not a valid id (lowercase letters, digits and hyphens)")


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split("|") if part.strip())


def _concepts(rows: list[Row]) -> list[Concept]:
    concepts: list[Concept] = []
    ids: dict[str, Where] = {}
    names: dict[str, tuple[str, Where]] = {}
    for where, row in rows:
        _require(where, row, "id", "kind", "name", "source")
        cid = row["id"]
        _check_id(where, cid)
        if cid in ids:
            raise _fail(where, f"concept id '{cid}' is defined twice (first at line {ids[cid].line})")
        ids[cid] = where
        if row["kind"] not in CONCEPT_KINDS:
            raise _fail(where, f"unknown kind '{row['kind']}' (expected one of {', '.join(CONCEPT_KINDS)})")
        codes = _split(row.get("codes", ""))
        for code in codes:
            system, _, value = code.partition(":")
            if not _CODE.match(code) or not CODE_FORMATS[system].match(value):
                raise _fail(where, f"code '{code}' is not system:code with system rxnorm, unii, icd10 or snomed"
                                   " in that system's format")
        synonyms = _split(row.get("synonyms", ""))
        for text in (cid, row["name"], *synonyms):
            key = normalize_name(text)
            if not key:
                raise _fail(where, f"name '{text}' has no letters or digits")
            owner = names.get(key)
            if owner and owner[0] != cid:
                raise _fail(
                    where,
                    f"name '{text}' of '{cid}' is already a name of '{owner[0]}' (line {owner[1].line});"
                    " a name may belong to one concept only",
                )
            names[key] = (cid, where)
        concepts.append(Concept(cid, row["kind"], row["name"], synonyms, codes, row["source"], where))
    return concepts


_ALLOWED_EDGES = {
    "is_a": {("drug", "class"), ("substance", "class"), ("class", "class"), ("condition", "condition")},
    "has_ingredient": {("product", "drug"), ("product", "substance")},
    "metabolized_to": {("drug", "drug")},
}


def _relations(rows: list[Row], by_id: dict[str, Concept]) -> list[Relation]:
    relations: list[Relation] = []
    seen: dict[tuple[str, str, str], Where] = {}
    for where, row in rows:
        _require(where, row, "subject", "relation", "object", "source")
        subject, relation, obj = row["subject"], row["relation"], row["object"]
        if relation not in RELATIONS:
            raise _fail(where, f"unknown relation '{relation}' (expected one of {', '.join(RELATIONS)})")
        for column, cid in (("subject", subject), ("object", obj)):
            if cid not in by_id:
                raise _fail(where, f"{column} '{cid}' is not a concept in concepts.csv")
        if subject == obj:
            raise _fail(where, f"'{subject}' {relation} itself")
        s_kind, o_kind = by_id[subject].kind, by_id[obj].kind
        if (s_kind, o_kind) not in _ALLOWED_EDGES[relation]:
            raise _fail(where, f"'{subject}' ({s_kind}) {relation} '{obj}' ({o_kind}) joins the wrong kinds of concept")
        key = (subject, relation, obj)
        if key in seen:
            raise _fail(where, f"relation repeats line {seen[key].line}")
        seen[key] = where
        relations.append(Relation(subject, relation, obj, row["source"], where))
    return relations


def _rule_fields(where: Where, row: dict[str, str]) -> None:
    _require(where, row, "id", "severity", "summary", "advice", "plain", "evidence", "source")
    if not _RULE_ID.match(row["id"]):
        raise _fail(where, f"rule id '{row['id']}' is not valid (lowercase letters, digits, hyphens and +)")
    if row["severity"] not in _SEVERITIES:
        raise _fail(where, f"unknown severity '{row['severity']}' (expected one of {', '.join(_SEVERITIES)})")
    if row["evidence"] not in EVIDENCE:
        raise _fail(where, f"unknown evidence '{row['evidence']}' (expected one of {', '.join(EVIDENCE)})")


def _check_concept(where: Where, by_id: dict[str, Concept], cid: str, column: str, kinds: set[str]) -> None:
    if cid not in by_id:
        raise _fail(where, f"{column} '{cid}' is not a concept in concepts.csv")
    if by_id[cid].kind not in kinds:
        raise _fail(where, f"{column} '{cid}' is a {by_id[cid].kind}; expected {' or '.join(sorted(kinds))}")


_SCREENABLE = {"drug", "class", "substance"}


def _interactions(rows: list[Row], by_id: dict[str, Concept]) -> list[Rule]:
    rules = []
    for where, row in rows:
        _rule_fields(where, row)
        kind = row["kind"]
        if kind not in INTERACTION_KINDS:
            raise _fail(where, f"unknown kind '{kind}' (expected one of {', '.join(INTERACTION_KINDS)})")
        _require(where, row, "a", "b")
        operands = [row["a"], row["b"]]
        if kind == "combination":
            _require(where, row, "c")
            operands.append(row["c"])
        elif row.get("c"):
            raise _fail(where, "'c' is only for combination rules")
        if kind == "duplicate" and row["a"] != row["b"]:
            raise _fail(where, "a duplicate rule names one concept twice (a = b)")
        for column, cid in zip("abc", operands):
            if kind == "duplicate" and cid == ANY_INGREDIENT:
                continue
            # A combination's third operand may be a condition of the patient (carisoprodol + a CNS
            # depressant + chronic respiratory disease); a and b are always medications.
            allowed = _SCREENABLE | {"condition"} if kind == "combination" and column == "c" else _SCREENABLE
            _check_concept(where, by_id, cid, column, allowed)
        rules.append(
            Rule(row["id"], "interaction", kind, tuple(operands), row["severity"], row["summary"],
                 row.get("mechanism", ""), row["advice"], row["plain"], row["evidence"], row["source"], where,
                 **_review(row))
        )
    return rules


def _review(row: dict[str, str]) -> dict[str, str]:
    """When a rule row was last checked, and against what (empty in a file without those columns)."""
    return {"checked": row.get("checked", ""), "checked_against": row.get("checked_against", "")}


def _condition_rules(rows: list[Row], by_id: dict[str, Concept]) -> list[Rule]:
    rules = []
    for where, row in rows:
        _rule_fields(where, row)
        _require(where, row, "drug", "context", "target")
        context, target = row["context"], row["target"]
        if context == "allergy" and row["drug"] == ANY_INGREDIENT:
            # The two wildcard allergy rules: an allergy to the very ingredient taken (`*` for both), and an
            # allergy to a class the ingredient belongs to (`*class`).
            if target not in (ANY_INGREDIENT, ANY_CLASS):
                raise _fail(where, f"an allergy rule for any ingredient ('*') names '*' (the same ingredient) or "
                                   f"'{ANY_CLASS}' (a class it belongs to) as its target")
            rules.append(Rule(row["id"], context, "drug-allergy", (ANY_INGREDIENT, target), row["severity"],
                              row["summary"], "", row["advice"], row["plain"], row["evidence"], row["source"], where,
                              target=target, **_review(row)))
            continue
        _check_concept(where, by_id, row["drug"], "drug", _SCREENABLE)
        if context == "condition":
            _check_concept(where, by_id, target, "target", {"condition"})
            kind = "drug-condition"
        elif context == "allergy":
            _check_concept(where, by_id, target, "target", _SCREENABLE)
            kind = "drug-allergy"
        elif context == "age":
            if not AGE_EXPRESSION.match(target):
                raise _fail(where, f"age target '{target}' is not <N, <=N, >N or >=N")
            kind = "drug-age"
        else:
            raise _fail(where, f"unknown context '{context}' (expected one of {', '.join(CONDITION_CONTEXTS)})")
        concepts = (row["drug"],) if context == "age" else (row["drug"], target)
        rules.append(
            Rule(row["id"], context, kind, concepts, row["severity"], row["summary"], "", row["advice"],
                 row["plain"], row["evidence"], row["source"], where, target=target, **_review(row))
        )
    return rules


def _dose_rules(rows: list[Row], by_id: dict[str, Concept], relations: list[Relation]) -> list[Rule]:
    contains = {(rel.subject, rel.object) for rel in relations if rel.relation == "has_ingredient"}
    rules = []
    for where, row in rows:
        _rule_fields(where, row)
        _require(where, row, "drug", "limit", "value")
        # An MME limit is about a class's total (every opioid's daily MME added up); the others, one drug.
        _check_concept(where, by_id, row["drug"], "drug", {"drug", "class"} if row["limit"] == "max_daily_mme"
                       else {"drug"})
        product = row.get("product", "")
        if product:
            # A limit a combination product's own label gives for one of its ingredients.
            _check_concept(where, by_id, product, "product", {"product"})
            if (product, row["drug"]) not in contains:
                raise _fail(where, f"product '{product}' does not contain '{row['drug']}' (relations.csv)")
        limit = row["limit"]
        if limit not in DOSE_LIMITS:
            raise _fail(where, f"unknown limit '{limit}' (expected one of {', '.join(DOSE_LIMITS)})")
        values = _split(row["value"])
        if not values or (limit != "strengths" and len(values) != 1):
            several = " or several joined by |" if limit == "strengths" else ""
            raise _fail(where, f"value '{row['value']}' should be one number{several}")
        for value in values:
            try:
                if float(value) <= 0:
                    raise ValueError
            except ValueError:
                raise _fail(where, f"value '{value}' is not a positive number") from None
        kind = "duration" if limit == "max_duration" else "dose"
        rules.append(
            Rule(row["id"], "dose", kind, (row["drug"], product) if product else (row["drug"],), row["severity"],
                 row["summary"], "", row["advice"], row["plain"], row["evidence"], row["source"], where,
                 target=f"{limit}={'|'.join(values)}", **_review(row))
        )
    return rules


def _check_unique_rules(rules: list[Rule]) -> None:
    """Rule ids are unique, and no two rules cover the same operands in the same way."""
    ids: dict[str, Where] = {}
    keys: dict[tuple, Rule] = {}
    for rule in rules:
        if rule.id in ids:
            first = ids[rule.id]
            raise _fail(rule.where, f"rule id '{rule.id}' is also used at {first.file}:{first.line}")
        ids[rule.id] = rule.where
        key = _rule_key(rule)
        if key in keys:
            other = keys[key]
            raise _fail(
                rule.where,
                f"rule '{rule.id}' covers the same case as '{other.id}' ({other.where.file}:{other.where.line});"
                " keep one",
            )
        keys[key] = rule


def _rule_key(rule: Rule) -> tuple:
    """What makes two rules cover the same case: operands (unordered for interactions) and limit."""
    if rule.family == "interaction":
        return (rule.family, rule.kind, tuple(sorted(rule.concepts)))
    if rule.family == "dose":
        return (rule.family, rule.concepts, rule.target.split("=")[0])
    return (rule.family, rule.concepts, rule.target)


def _counselling(rows: list[Row], by_id: dict[str, Concept]) -> list[CounsellingPoint]:
    points = []
    ids: set[str] = set()
    for where, row in rows:
        _require(where, row, "id", "concept", "topic", "text", "source")
        _check_id(where, row["id"])
        if row["id"] in ids:
            raise _fail(where, f"counselling id '{row['id']}' is defined twice")
        ids.add(row["id"])
        _check_concept(where, by_id, row["concept"], "concept", _SCREENABLE)
        points.append(CounsellingPoint(row["id"], row["concept"], row["topic"], row["text"], row["source"], where,
                                       **_review(row)))
    return points


def _condition_codes(rows: list[Row], by_id: dict[str, Concept]) -> list[ConditionCode]:
    codes = []
    seen: dict[tuple[str, str], Where] = {}
    for where, row in rows:
        _require(where, row, "system", "code", "match", "condition", "source")
        system, code = row["system"], row["code"]
        if system not in CODE_FORMATS:
            raise _fail(where, f"unknown code system '{system}' (expected one of {', '.join(CODE_FORMATS)})")
        if system == "icd10" and row["match"] == "prefix":
            valid = re.match(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{0,4})?$", code)
        else:
            valid = CODE_FORMATS[system].match(code)
        if not valid:
            raise _fail(where, f"code '{code}' is not in {system} format")
        if row["match"] not in CODE_MATCHES:
            raise _fail(where, f"unknown match '{row['match']}' (expected exact or prefix)")
        _check_concept(where, by_id, row["condition"], "condition", {"condition"})
        if (system, code) in seen:
            raise _fail(where, f"code {system}:{code} repeats line {seen[(system, code)].line}")
        seen[(system, code)] = where
        codes.append(ConditionCode(system, code, row["match"], row["condition"], row["source"], where))
    return codes


STRENGTH_UNITS = ("mg", "mg/mL")
"""What the amounts of strengths.csv are per: a unit (tablet, capsule, patch…) or a mL."""


def _strengths(rows: list[Row], by_id: dict[str, Concept], relations: list[Relation]) -> list[Strengths]:
    """Marketed strengths: each product's amounts per ingredient, checked against its ingredients."""
    parts: dict[str, set[str]] = {}
    for rel in relations:
        if rel.relation == "has_ingredient":
            parts.setdefault(rel.subject, set()).add(rel.object)
    out = []
    for where, row in rows:
        _require(where, row, "product", "ingredients", "strengths", "unit", "source")
        product = row["product"]
        if product not in by_id or by_id[product].kind not in ("product", "drug", "substance"):
            raise _fail(where, f"product '{product}' is not a product or drug in concepts.csv")
        ingredients = tuple(part.strip() for part in row["ingredients"].split("/"))
        expected = parts.get(product, {product} if by_id[product].kind != "product" else set())
        if set(ingredients) != expected or len(ingredients) != len(expected):
            raise _fail(where, f"ingredients {'/'.join(ingredients)} are not the ingredients of '{product}' "
                               f"({'/'.join(sorted(expected)) or 'none in relations.csv'})")
        if row["unit"] not in STRENGTH_UNITS:
            raise _fail(where, f"unit '{row['unit']}' is not one of {', '.join(STRENGTH_UNITS)}")
        variants = []
        for variant in row["strengths"].split("|"):
            amounts = variant.strip().split("/")
            try:
                values = tuple(float(a) for a in amounts)
            except ValueError:
                raise _fail(where, f"strength '{variant.strip()}' is not numbers joined by /") from None
            if len(values) != len(ingredients) or any(v <= 0 for v in values):
                raise _fail(where, f"strength '{variant.strip()}' does not give one positive amount per ingredient")
            variants.append(values)
        out.append(Strengths(product, ingredients, tuple(variants), row["unit"], row.get("form", ""),
                             row["source"], where))
    return out
