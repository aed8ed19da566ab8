"""Typed rows of the knowledge files, as read and checked by the loader.

Each row keeps the file and line it came from, so any later problem (a cycle,
a rule pointing nowhere) can still be reported as `file:line: problem`.
"""

from __future__ import annotations

from dataclasses import dataclass

CONCEPT_KINDS = ("drug", "product", "class", "substance", "condition")
RELATIONS = ("is_a", "has_ingredient", "metabolized_to")
EVIDENCE = ("label", "regulator", "secondary", "article")
INTERACTION_KINDS = ("drug-drug", "duplicate", "combination")
CONDITION_CONTEXTS = ("condition", "allergy", "age")
CODE_MATCHES = ("exact", "prefix")
OVERRIDE_ACTIONS = ("severity", "off")
DOSE_LIMITS = ("max_single_dose", "max_daily_dose", "max_duration", "strengths", "max_daily_mme")


@dataclass(frozen=True, slots=True)
class Where:
    """The place a row came from."""

    file: str
    line: int
    layer: str = "bundled"
    """Which knowledge layer the row belongs to: "bundled", or the name of a local directory."""


@dataclass(frozen=True, slots=True)
class Concept:
    """A node: drug, product, class, substance or condition."""

    id: str
    kind: str
    name: str
    synonyms: tuple[str, ...]
    codes: tuple[str, ...]
    source: str
    where: Where


@dataclass(frozen=True, slots=True)
class Relation:
    """A structural edge: is_a, has_ingredient or metabolized_to."""

    subject: str
    relation: str
    object: str
    source: str
    where: Where
    derived: str = ""
    """For a membership derived from the FDA's class indexing: how, in one line
    ("fluconazole is_a cyp2c19-inhibitors — FDA MoA 'Cytochrome P450 2C19 Inhibitors'"); '' when curated."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A caution: an interaction, duplicate, combination, condition, allergy, age, dose or duration rule.

    `concepts` are the rule's operands: (a, b) or (a, b, c) for interactions,
    (drug, target) for condition and allergy rules, (drug,) for age and dose
    rules. `target` holds the age expression or the dose limit's value.
    """

    id: str
    family: str
    """interaction, condition, allergy, age or dose."""
    kind: str
    """The finding kind it produces (drug-drug, duplicate, drug-condition, …)."""
    concepts: tuple[str, ...]
    severity: str
    summary: str
    mechanism: str
    advice: str
    plain: str
    evidence: str
    source: str
    where: Where
    target: str = ""
    override: str = ""
    """When a local layer changed this rule's severity: what changed, by which layer, and why."""
    checked: str = ""
    """The date (ISO) the row was last checked against its evidence."""
    checked_against: str = ""
    """What it was checked against: the label section, communication, guideline or paper read."""


@dataclass(frozen=True, slots=True)
class CounsellingPoint:
    """A counselling point attached to a drug or class."""

    id: str
    concept: str
    topic: str
    text: str
    source: str
    where: Where
    checked: str = ""
    checked_against: str = ""


@dataclass(frozen=True, slots=True)
class ConditionCode:
    """A diagnosis code (or code prefix) that means a knowledge-base condition."""

    system: str
    code: str
    match: str
    """exact, or prefix (the code and every code under it)."""
    condition: str
    source: str
    where: Where


@dataclass(frozen=True, slots=True)
class ConditionName:
    """A common name or abbreviation of a condition and the ICD-10-CM code it means (condition_names.csv)."""

    name: str
    code: str
    """Dotted ICD-10-CM code, as CMS writes it ("I10", "E11.9"); for an abbreviation with several meanings,
    never guessed, each of them, `|`-separated ("M06.9|D46.4|R41.2" for RA)."""
    source: str
    where: Where


@dataclass(frozen=True, slots=True)
class Allergen:
    """A non-drug allergen a patient may report (allergens.csv): recognised, never screened against drugs."""

    name: str
    category: str
    """food, environment or biologic (the FHIR AllergyIntolerance categories other than medication)."""
    source: str
    where: Where


@dataclass(frozen=True, slots=True)
class MmeFactor:
    """An opioid's morphine milligram equivalent conversion factor (mme_factors.csv)."""

    drug: str
    """The ingredient id."""
    unit: str
    """What the factor multiplies: `mg` (a daily amount in mg) or `mcg/hr` (a transdermal patch's delivery rate)."""
    factor: float | None
    """MME per unit; None where the source gives none (buprenorphine): the drug is then named, not counted."""
    source: str
    where: Where
    checked: str = ""
    checked_against: str = ""


@dataclass(frozen=True, slots=True)
class AmbiguousName:
    """A name that means different medicines to different readers (ambiguous_names.csv): never read as any
    one of them; the entry is reported unrecognised with its meanings as suggestions."""

    name: str
    meanings: tuple[str, ...]
    """What the name is known to stand for, as a reader should write it instead ("liothyronine")."""
    source: str
    where: Where


@dataclass(frozen=True, slots=True)
class ConditionNegation:
    """The names of a condition a negation may record as absent (condition_negations.csv): those that name the
    condition itself ("no OSA", "no G47.33"), never a narrower or related one ("no COPD exacerbation",
    "no dialysis", "no hepatitis C"), which says nothing about whether the patient has the condition."""

    condition: str
    names: tuple[str, ...]
    """Its own names and synonyms (as in concepts.csv) and exact ICD-10-CM codes (`icd10:G47.33`)."""
    source: str
    where: Where


@dataclass(frozen=True, slots=True)
class ConditionHistory:
    """How "history of <condition>" is read (condition_history.csv): `past` when a history of it is a past
    episode rather than the condition now (pregnancy, an asthma attack, a bowel obstruction)."""

    condition: str
    reading: str
    """`past` (a history is not the condition now) or `current` (a history of it is still it)."""
    source: str
    where: Where


@dataclass(frozen=True, slots=True)
class Strengths:
    """The marketed strengths of a product (or a drug): mg of each ingredient per unit."""

    product: str
    ingredients: tuple[str, ...]
    """The product's ingredients, in the order each strength lists them."""
    strengths: tuple[tuple[float, ...], ...]
    """Each marketed strength: one amount per ingredient, in that order."""
    unit: str
    """What the amounts are per: mg (per tablet, capsule, patch…) or mg/mL."""
    form: str
    source: str
    where: Where


@dataclass(frozen=True, slots=True)
class ClassMap:
    """One FDA pharmacologic class that means a knowledge-base class (fda_classes.csv)."""

    fda_class: str
    """As the FDA indexes it, with its kind: "Opioid Agonist [EPC]", "Cytochrome P450 2C19 Inhibitors [MoA]"."""
    cls: str
    """The knowledge base's class."""
    source: str
    note: str
    where: Where


@dataclass(frozen=True, slots=True)
class ClassExclusion:
    """A derived membership that must not hold, with the reason (class_exclusions.csv)."""

    drug: str
    """A concept id, or an FDA substance name as `ndc/substance_classes.tsv` writes it (any case)."""
    cls: str
    reason: str
    source: str
    where: Where


@dataclass(frozen=True, slots=True)
class RuleException:
    """A condition or allergy rule that does not apply to a drug in some entries (rule_exceptions.csv):
    the products' own labels say otherwise (sublingual buprenorphine for opioid use disorder lists no
    asthma or ileus contraindication), so the next most specific rule applies instead."""

    rule: str
    """The rule id (a conditions.csv row)."""
    drug: str
    """The drug (an ingredient concept) the rule does not apply to."""
    routes: tuple[str, ...]
    """The entry routes that set the rule aside ("sublingual"), as the sig reader writes them."""
    partners: tuple[str, ...]
    """Ingredients whose presence in the same entry sets it aside ("naloxone": a buprenorphine and
    naloxone product)."""
    products: tuple[str, ...]
    """Products whose entries set it aside ("subutex": a brand that names no route)."""
    reason: str
    source: str
    where: Where
    checked: str = ""
    """The date (ISO) the row was last checked against its evidence."""
    checked_against: str = ""
    """What it was checked against."""
    partner_routes: tuple[tuple[str, ...], ...] = ()
    """For each of `partners`, the routes its entries may be given by (empty: any): an entry known to be
    given otherwise ("Suboxone IM") keeps the rule."""
    product_routes: tuple[tuple[str, ...], ...] = ()
    """For each of `products`, the routes its entries may be given by (empty: any)."""

    @property
    def entries(self) -> str:
        """The entries it covers, in words: "taken by the sublingual route or with naloxone (sublingual or
        buccal)"."""
        def by(routes: tuple[str, ...]) -> str:
            return f" ({' or '.join(routes)})" if routes else ""

        ways = ([f"by the {route} route" for route in self.routes]
                + [f"with {x}{by(r)}" for x, r in zip(self.partners, self.partner_routes, strict=True)]
                + [f"as {p}{by(r)}" for p, r in zip(self.products, self.product_routes, strict=True)])
        return "taken " + " or ".join(ways)


@dataclass(frozen=True, slots=True)
class Tables:
    """Every row of one knowledge directory, checked."""

    concepts: tuple[Concept, ...]
    relations: tuple[Relation, ...]
    rules: tuple[Rule, ...]
    counselling: tuple[CounsellingPoint, ...]
    condition_codes: tuple[ConditionCode, ...] = ()
    disabled: tuple[tuple[str, str, str], ...] = ()
    """(rule id, layer, reason) for each rule a local layer switched off."""
    strengths: tuple[Strengths, ...] = ()
    """Marketed strengths of products and drugs, from strengths.csv."""
    switched_off: tuple[Rule, ...] = ()
    """The rules a local layer switched off, as they were (reports list those that would have fired)."""
    class_maps: tuple[ClassMap, ...] = ()
    """FDA pharmacologic classes mapped to the knowledge base's classes."""
    class_exclusions: tuple[ClassExclusion, ...] = ()
    """Derived memberships refused, each with its reason."""
    condition_names: tuple[ConditionName, ...] = ()
    """Common names and abbreviations of conditions, each with its ICD-10-CM code."""
    allergens: tuple[Allergen, ...] = ()
    """Non-drug allergens (latex, foods, pollen …)."""
    ambiguous_names: tuple[AmbiguousName, ...] = ()
    """Names never read as one medicine (error-prone abbreviations such as T3)."""
    condition_history: tuple[ConditionHistory, ...] = ()
    """Conditions whose history is a past episode, not the condition now."""
    condition_negations: tuple[ConditionNegation, ...] = ()
    """The names of each condition a negation may record as absent."""
    excluded: tuple[tuple[str, str, str], ...] = ()
    """(drug id, class, "reason (source)") for each derived membership an exclusion removed."""
    mme_factors: tuple[MmeFactor, ...] = ()
    """Opioid MME conversion factors (mme_factors.csv), which `max_daily_mme` dose rules use."""
    rule_exceptions: tuple[RuleException, ...] = ()
    """Entries of a drug that a condition or allergy rule does not apply to (rule_exceptions.csv)."""
    fda_epc: tuple[tuple[str, str], ...] = ()
    """(FDA Established Pharmacologic Class as the NDC Directory writes it, the class it names here) for
    every EPC indexed on some substance: the class fda_classes.csv maps it to, or one derived for it
    (`loader.derive_memberships`). They are recognised as allergies by their FDA names."""
