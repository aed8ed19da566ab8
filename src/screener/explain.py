"""What the knowledge base knows about one concept: `screener explain NAME`.

The explanation lists the concept's names and codes, the classes it belongs
to (with the is_a chain, and for each membership derived from the FDA's class
indexing, the FDA class it comes from), what it contains or is contained in,
and every rule that applies to it — written for it or inherited from a class —
with the rule's severity and source. NAME may be anything `screener check`
recognises: a knowledge-base name, an FDA vocabulary name, an RxNorm, UNII or
NDC code; a recognised drug the knowledge does not classify is explained as
"not covered".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from .errors import UnknownConceptError
from .knowledge.index import CompiledRule, Index
from .knowledge.tables import Tables
from .model import Coverage, FindingKind
from .text import clean_entry, fold_question_marks, normalize_name, suggest


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
    coverage: Coverage = Coverage.CLASSIFIED
    """For a drug, substance or product: whether some rule applies to it (to every ingredient of a product)."""
    not_covered: tuple[str, ...] = ()
    """The ingredients no rule applies to (their interactions are not checked)."""
    recognised_as: str = ""
    """How NAME was read, when not as a knowledge-base name ("FDA vocabulary", "NDC 00037-2001-01: …")."""
    derived: tuple[str, ...] = ()
    """Each class membership derived from the FDA's indexing, with its source."""
    excluded: tuple[str, ...] = ()
    """Derived memberships a curated exclusion refused, with the reason."""
    fda_classes: tuple[str, ...] = ()
    """For an NDC: the FDA pharmacologic classes indexed on the product."""
    exceptions: tuple[str, ...] = ()
    """Rules set aside for some entries of the drug (rule_exceptions.csv), with the entries and the reason."""

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
            **({"coverage": self.coverage.value} if self.kind in ("drug", "substance", "product") else {}),
            **({"not_covered": list(self.not_covered)} if self.not_covered else {}),
            **({"recognised_as": self.recognised_as} if self.recognised_as else {}),
            **({"derived": list(self.derived)} if self.derived else {}),
            **({"excluded": list(self.excluded)} if self.excluded else {}),
            **({"fda_classes": list(self.fda_classes)} if self.fda_classes else {}),
            **({"exceptions": list(self.exceptions)} if self.exceptions else {}),
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
    if "?" in fold_question_marks(text):
        # Names ignore punctuation, so "? OSA" would otherwise be explained as OSA: it is uncertain, not OSA.
        plain = fold_question_marks(text).replace("?", " ").strip(" ,;:()")
        raise UnknownConceptError(text, (plain,) if plain and normalize_name(plain) in index.names else (),
                                  why="a '?' makes it uncertain, and an uncertain name is never read as the name "
                                      "without it")
    cid = index.names.get(normalize_name(text))
    recognised_as = ""
    fda_classes: tuple[str, ...] = ()
    if cid is None:
        # Not a knowledge-base name: read it as `check` reads a medication (vocabulary names, codes, NDCs).
        from .recognize import read_medication

        med, _ = read_medication(index, text)
        if med.concept is None:
            raise UnknownConceptError(text, suggest(text, index.name_text, index.names))
        recognised_as = "; ".join(filter(None, (med.via, med.note)))
        if med.via.startswith("NDC "):
            fda_classes = _ndc_classes(index, text)
        if med.concept in index.kinds:
            cid = med.concept
        elif len(med.ingredients) == 1 and med.ingredients[0] in index.kinds:
            cid = med.ingredients[0]  # a brand or salt the FDA vocabulary knows, of a drug the knowledge holds
        else:
            return _outside(index, med, recognised_as, fda_classes)
    rows = tables()
    concept = next(c for c in rows.concepts if c.id == cid)
    ancestors = index.up.get(cid, {cid: (cid,)})
    classes = tuple(sorted((chain for a, chain in ancestors.items() if a != cid), key=lambda c: (len(c), c)))
    ingredients = index.ingredients.get(cid, ()) if concept.kind == "product" else ()
    products = tuple(sorted(p for p, parts in index.ingredients.items()
                            if cid in parts and index.kinds[p] == "product"))
    members = tuple(sorted(n for n, ups in index.up.items() if cid in ups and n != cid))
    metabolites = tuple(r.object for r in rows.relations if r.subject == cid and r.relation == "metabolized_to")

    rules = _rules_for(index, (cid, *ingredients))
    parts = ingredients or ((cid,) if concept.kind in ("drug", "substance") else ())
    missing = tuple(x for x in parts if x not in index.classified)
    steps = {pair for chain in classes for pair in pairwise(chain)}
    derived = tuple(f"{how} ({source})" for pair, (how, source) in sorted(index.derived.items()) if pair in steps)
    excluded = tuple(f"{drug} is not taken as {cls}: {reason}" for drug, cls, reason in rows.excluded
                     if drug == cid or drug in ingredients)
    exceptions = tuple(f"{e.rule} does not apply to {e.drug} {e.entries}: {e.reason} ({e.source})"
                       for e in rows.rule_exceptions if e.drug == cid or e.drug in ingredients)
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
        rules=rules,
        coverage=Coverage.NOT_COVERED if missing else Coverage.CLASSIFIED,
        not_covered=missing,
        recognised_as=recognised_as,
        derived=derived,
        excluded=excluded,
        fda_classes=fda_classes,
        exceptions=exceptions,
    )


def _rules_for(index: Index, concepts: tuple[str, ...]) -> tuple[tuple[str, CompiledRule], ...]:
    """Every rule written for one of `concepts` or one of their ancestors, most serious first, each with the
    concept it is written for (a product's rules are its ingredients')."""
    scope: set[str] = set()
    for c in concepts:
        scope.update(index.up.get(c, {c: ()}))
    rules = []
    for rule in index.rules.values():
        via = [c for c in rule.operands if c in scope]
        if via:
            rules.append((via[0], rule))
    kind_order = {kind: n for n, kind in enumerate(FindingKind)}
    rules.sort(key=lambda vr: (-vr[1].severity.rank, kind_order[vr[1].kind], vr[1].id))
    return tuple(rules)


def _ndc_classes(index: Index, text: str) -> tuple[str, ...]:
    from .ndc import LOOKS_LIKE_NDC, NdcFormatError, read_ndc
    from .recognize.entries import ndc_directory

    match = LOOKS_LIKE_NDC.match(text)
    directory = ndc_directory(index)
    if directory is None:
        return ()
    try:
        product = directory.product(read_ndc(match.group(0) if match else text.split("|")[-1]))
    except NdcFormatError:
        return ()
    return product.classes if product is not None else ()


def _outside(index: Index, med, recognised_as: str, fda_classes: tuple[str, ...]) -> Explanation:
    """A recognised medication the knowledge base holds no concept for (an FDA vocabulary drug, an NDC's
    product): its ingredients, and whether any of them is covered."""
    from .recognize import display_name

    single = med.ingredients == (med.concept,)
    missing = tuple(x for x in med.ingredients if x not in index.classified)
    return Explanation(
        id=med.concept,
        kind="drug" if single else "product",
        name=display_name(index, med.concept),
        synonyms=(),
        codes=(),
        source=recognised_as,
        classes=(),
        ingredients=() if single else med.ingredients,
        products=(),
        members=(),
        metabolites=(),
        rules=_rules_for(index, med.ingredients),
        coverage=Coverage.NOT_COVERED if missing else Coverage.CLASSIFIED,
        not_covered=missing,
        recognised_as=recognised_as,
        fda_classes=fda_classes,
    )
