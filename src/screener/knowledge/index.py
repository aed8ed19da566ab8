"""The compiled knowledge: plain lookup tables that the screen walks.

An `Index` is what the compiler makes from the graph and what the cache
stores. It holds only builtins, enums and small frozen dataclasses, so loading
it needs neither networkx nor pandas, and one screen is a handful of dict
look-ups. Each rule family keeps its own table in `families` (the family
modules in `screener.rules` say what is in it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model import Counselling, FindingKind, Severity


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule with everything a finding needs, ready to use."""

    id: str
    kind: FindingKind
    severity: Severity
    operands: tuple[str, ...]
    target: str
    summary: str
    mechanism: str
    advice: str
    plain: str
    evidence: str
    source: str
    codes: tuple[tuple[str, str], ...]
    file: str
    line: int
    layer: str = "bundled"
    """The knowledge layer the rule (or its severity override) came from."""
    override: str = ""
    """What a local layer changed, and why (empty when unchanged)."""


Chain = tuple[str, ...]
"""An is_a path from a concept up to one of its ancestors, both ends included."""

@dataclass(slots=True)
class Index:
    """Everything the screen needs, as dicts keyed by concept ids."""

    version: str
    """Project version + content hash of the knowledge files."""
    key: str
    """The full content hash of the files it was compiled from (see `knowledge.content_key`)."""
    directory: str
    """Where the base knowledge was read from."""
    layers: tuple[str, ...]
    """Local layer directories on top of it, in order."""
    disabled: tuple[tuple[str, str, str], ...]
    """(rule id, layer, reason) for the rules a layer switched off."""
    layer_names: tuple[str, ...]
    """How reports name the layers (each directory's name), in order."""
    kinds: dict[str, str]
    """Concept id → kind (drug, product, class, substance, condition)."""
    display: dict[str, str]
    """Concept id → display name. (Synonyms, codes and sources stay in the CSVs: `explain` reads them.)"""
    names: dict[str, str]
    """Normalised name → concept id (ids, names and synonyms)."""
    name_text: dict[str, str]
    """Normalised name → the name as written in the knowledge base (for suggestions)."""
    max_name_tokens: int
    """The most words any name has (bounds the name search)."""
    ingredients: dict[str, tuple[str, ...]]
    """Drug, substance or product id → the ingredient ids it is screened as."""
    up: dict[str, dict[str, Chain]]
    """Concept id → {ancestor id: chain} over is_a, the concept itself included."""
    rules: dict[str, CompiledRule]
    """Every rule by id."""
    families: dict[str, Any]
    """Each rule family's compiled table, by family name (see `screener.rules`)."""
    counselling: dict[str, tuple[Counselling, ...]]
    """Ingredient → the counselling points that apply to it."""
    codes: dict[str, str]
    """"system:code" → concept id, for the codes in concepts.csv (rxnorm:2101 → carisoprodol)."""
    condition_codes: dict[str, tuple[str, str]]
    """"system:code" → (condition id, exact|prefix), from condition_codes.csv."""
    strengths: dict[str, tuple[tuple[str, ...], tuple[tuple[float, ...], ...], tuple[str, ...]]] = field(
        default_factory=dict)
    """Product or drug id → (its ingredients in the order the strengths list them, its marketed strengths in mg
    per unit, or per mL when it is sold only as liquids, and the unit of each of its forms: "tablet",
    "capsule", "spray"…, "mL" for a liquid, "" for one counted in no unit a dose is written in), from
    strengths.csv."""
    condition_names: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Normalised common name or abbreviation → (ICD-10-CM code, the name as written), condition_names.csv."""
    allergens: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Normalised non-drug allergen → (category, the name as written), from allergens.csv."""
    ambiguous: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    """Normalised ambiguous name → (the name as written, its meanings), from ambiguous_names.csv."""
    past_history: frozenset[str] = frozenset()
    """The conditions whose history is a past episode, not the condition now (condition_history.csv)."""
    negatable: dict[str, str] = field(default_factory=dict)
    """Normalised name, or `icd10:CODE`, → the condition a negation of it records as absent: the condition's
    display name, and the names and exact codes of condition_negations.csv (see `recognize.read_named`)."""
    derived: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    """(drug, class) → (how, source) for each is_a membership derived from the FDA's class indexing."""
    classified: frozenset[str] = frozenset()
    """The ingredients some rule of this knowledge applies to, through the ingredient itself or one of its
    classes (curated or derived); any other recognised ingredient is "not covered"."""
    scope: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    """What the knowledge covers: (the drugs and classes its rules name, the conditions they name), by name."""
    unsuppressed: Index | None = None
    """When a layer switched rules off: the same knowledge with them on, to tell which would have fired."""
    memo: dict = field(default_factory=dict)
    """Parsed inputs by text, filled as inputs are seen (not stored in the cache)."""
    external: dict = field(default_factory=dict)
    """Ingredients met through the FDA vocabulary, id → display name (per process, not cached)."""

    _PER_PROCESS = ("memo", "external")

    def __getstate__(self):
        # The memo and the vocabulary's ingredients are per process: never write them into the cache.
        return {name: getattr(self, name) for name in self.__slots__ if name not in self._PER_PROCESS}

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)
        self.memo = {}
        self.external = {}
