"""What the knowledge base knows about one concept: `screener explain NAME`.

The explanation lists the concept's names and codes, the classes it belongs
to (with the is_a chain), what it contains or is contained in, and every rule
that applies to it — written for it or inherited from a class — with the
rule's severity and source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import UnknownConceptError
from .knowledge.index import CompiledRule, Index
from .knowledge.tables import Tables
from .model import FindingKind
from .text import clean_entry, normalize_name, suggest


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything the knowledge base holds about one concept."""

    id: str
    """Concept id."""
    kind: str
    """drug, product, class, substance or condition."""
    name: str
    """Display name."""
    synonyms: tuple[str, ...]
    """Other names it is recognised by."""
    codes: tuple[str, ...]
    """Verified codes (system:code)."""
    source: str
    """Where the concept is documented."""
    classes: tuple[tuple[str, ...], ...]
    """is_a chains from the concept to each of its ancestors."""
    ingredients: tuple[str, ...]
    """For a product: its ingredients."""
    products: tuple[str, ...]
    """For a drug: the products that contain it."""
    members: tuple[str, ...]
    """For a class or condition: the concepts under it."""
    metabolites: tuple[str, ...]
    """What it is metabolised to."""
    rules: tuple[tuple[str, CompiledRule], ...]
    """(the concept the rule is written for, rule): every rule that applies, inherited ones included."""

    def to_dict(self) -> dict:
        """The explanation as JSON-ready data."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "synonyms": list(self.synonyms),
            "codes": list(self.codes),
            "source": self.source,
            "classes": [list(c) for c in self.classes],
            "ingredients": list(self.ingredients),
            "products": list(self.products),
            "members": list(self.members),
            "metabolites": list(self.metabolites),
            "rules": [
                {
                    "id": rule.id,
                    "via": via,
                    "kind": rule.kind.value,
                    "severity": rule.severity.value,
                    "concepts": list(rule.operands),
                    "target": rule.target,
                    "summary": rule.summary,
                    "source": rule.source,
                    "evidence": rule.evidence,
                }
                for via, rule in self.rules
            ],
        }


def explain(index: Index, tables: Callable[[], Tables], name: str) -> Explanation:
    """Explain the concept called `name` (any name, brand, synonym or id); raise UnknownConceptError.

    `tables()` gives the rows `index` was compiled from (names, codes and sources are
    not in the index: it stays small for the check path, and explain is rare).
    """
    text = clean_entry(name, "name")
    cid = index.names.get(normalize_name(text))
    if cid is None:
        raise UnknownConceptError(text, suggest(text, index.name_text, index.names))
    rows = tables()
    concept = next(c for c in rows.concepts if c.id == cid)
    ancestors = index.up.get(cid, {cid: (cid,)})
    classes = tuple(sorted((chain for a, chain in ancestors.items() if a != cid), key=lambda c: (len(c), c)))
    ingredients = index.ingredients.get(cid, ()) if concept.kind == "product" else ()
    products = tuple(sorted(p for p, parts in index.ingredients.items()
                            if cid in parts and index.kinds[p] == "product"))
    members = tuple(sorted(n for n, ups in index.up.items() if cid in ups and n != cid))
    metabolites = tuple(r.object for r in rows.relations if r.subject == cid and r.relation == "metabolized_to")

    # Rules written for the concept, for any of its ancestors, or (for a product) for its ingredients' ancestors.
    scope = set(ancestors)
    for part in ingredients:
        scope.update(index.up.get(part, {part: ()}))
    rules = []
    for rule in index.rules.values():
        via = [c for c in rule.operands if c in scope]
        if via:
            rules.append((via[0], rule))
    kind_order = {kind: n for n, kind in enumerate(FindingKind)}
    rules.sort(key=lambda vr: (-vr[1].severity.rank, kind_order[vr[1].kind], vr[1].id))
    return Explanation(
        id=cid,
        kind=concept.kind,
        name=concept.name,
        synonyms=concept.synonyms,
        codes=concept.codes,
        source=concept.source,
        classes=classes,
        ingredients=ingredients,
        products=products,
        members=members,
        metabolites=metabolites,
        rules=tuple(rules),
    )
