"""The compiled knowledge: plain lookup tables that the screen walks.

An `Index` is what the compiler makes from the graph and what the cache
stores. It holds only builtins, enums and small frozen dataclasses, so loading
it needs neither networkx nor pandas, and one screen is a handful of dict
look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

PairHit = tuple[str, str, str, str]
"""(kind, rule id, anchor of the first ingredient, anchor of the second): the rule that
won for a pair, and which ancestor of each ingredient it was written for."""


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
    pairs: dict[str, dict[str, tuple[PairHit, ...]]]
    """pairs[x][y] with x < y → the winning rule of each kind for that pair of ingredients."""
    same: dict[str, tuple[str, str]]
    """Ingredient → (duplicate rule id, anchor) for the same ingredient from two inputs."""
    combinations: tuple[tuple[str, tuple[frozenset[str], ...]], ...]
    """(rule id, the ingredient set each operand covers)."""
    in_combinations: frozenset[str]
    """Every ingredient that fills a role in some combination rule."""
    conditions: dict[tuple[str, str], tuple[str, str, str]]
    """(ingredient, condition) → (rule id, drug anchor, condition anchor)."""
    allergies: dict[tuple[str, str], tuple[str, str, str]]
    """(ingredient, allergen concept) → (rule id, drug anchor, allergen anchor)."""
    ages: dict[str, tuple[tuple[str, str, float, str], ...]]
    """Ingredient → ((rule id, operator, years, anchor), …)."""
    doses: dict[str, dict[str, tuple[str, tuple[float, ...]]]]
    """Ingredient → {limit: (rule id, values)}."""
    counselling: dict[str, tuple[Counselling, ...]]
    """Ingredient → the counselling points that apply to it."""
    codes: dict[str, str]
    """"system:code" → concept id, for the codes in concepts.csv (rxnorm:2101 → carisoprodol)."""
    condition_codes: dict[str, tuple[str, str]]
    """"system:code" → (condition id, exact|prefix), from condition_codes.csv."""
    any_duplicate: str | None
    """The `*` duplicate rule (any ingredient listed twice), if the knowledge has one."""
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
