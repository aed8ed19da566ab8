"""Condition and allergy rules: a medication against one fact about the patient.

`conditions.csv` rows with context `condition` (pregnancy, cirrhosis, …) and
`allergy` (meprobamate, carbamates, …). A rule written for a drug class and a
condition applies to every member and every narrower condition (cirrhosis
is_a hepatic impairment); the most specific rule wins, as for drug pairs. An
allergy to a product means an allergy to each of its ingredients.

A rule exception (`rule_exceptions.csv`) sets a rule aside for a drug in some
entries only (by their route, another ingredient in the same entry, or the product): the
opioid class contraindications do not reach buprenorphine taken sublingually or
with naloxone, whose own labels list none. The next most specific rule then
applies, as if the set-aside rule were not written for that drug. An exception
holds only when everything known about the entry's route agrees with it
(`entry_routes`: the text, the unit or form, the NDC product, the named product's
NDC listing): "Butrans SL" or a patch NDC followed by "SL" keeps the rule, and
its advice says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..model import PARENTERAL_ROUTES, FindingKind, Medication, widen_routes
from .base import Family, Item, Scope, lead, make_finding, name, quote, rule_step
from .duplicates import ANY_INGREDIENT

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..knowledge.index import Index
    from ..knowledge.tables import Rule
    from .compiling import CompileContext
    from .triggers import FactTrigger

ANY_CLASS = "*class"
"""In an allergy rule for any ingredient (`*`), the target "a class it belongs to": an allergy to a class (curated,
or an FDA established pharmacologic class, `knowledge.loader.derive_memberships`) and a member of it."""

_FALLBACK_DISTANCE = 100
"""How far the `*class` rule counts as being from any ingredient: it loses to every rule written for a
concept (a curated class rule cites the class's own labels; this one says only that the class was matched)."""

Hit = tuple[str, str, str]
"""(rule id, the drug anchor, the target anchor)."""

Routed = tuple[tuple[str, frozenset[str]], ...]
CompiledException = tuple[str, frozenset[str], Routed, Routed]
"""(rule id, the entry routes that set it aside, (ingredient, the routes its entries may be given by) for the
other ingredients that do, (product, its routes) for the products that do; an empty route set is any route)."""

_UNIT_ROUTES = {"patch": frozenset({"transdermal"}), "film": frozenset({"sublingual", "buccal"}),
                "suppository": frozenset({"rectal"}), "vial": PARENTERAL_ROUTES, "puff": frozenset({"inhaled"})}
"""Units (`Dosing.unit`) that say how a dose is given: "1 patch SL" names two routes."""
_FORM_ROUTES = {"transdermal": frozenset({"transdermal"})}
"""Forms (`Dosing.form`) that do ("buprenorphine 5 mcg/hr patch": transdermal)."""


def entry_routes(index: Index, med: Medication) -> tuple[frozenset[str] | None, str]:
    """The routes everything known about the entry allows, and what was known.

    Known are: the routes its text names (`Dosing.routes`), the route its unit or form says (a patch is
    transdermal, a film sublingual or buccal), its NDC product's routes, and the routes the NDC Directory lists
    for the product it names (BUTRANS transdermal, BELBUCA buccal). Each says the entry is given by one of its
    routes, so the entry's are those they all allow: (frozenset(), "") when nothing is known, and (None, why)
    when they cannot all be true (two routes written; "SL" after a patch) — an unsettled route, which no rule
    exception may rely on.
    """
    d = med.dosing
    if len(d.routes) > 1:
        return None, f"the text names {' and '.join(d.routes)}"
    sources: list[tuple[str, frozenset[str]]] = []
    written = d.routes or (tuple(d.route.split(" or ")) if d.route and not med.product_routes else ())
    if written:
        sources.append(("the text says " + " or ".join(written), frozenset(written)))
    if d.unit in _UNIT_ROUTES:
        sources.append((f"a {d.unit} is {' or '.join(sorted(_UNIT_ROUTES[d.unit]))}", _UNIT_ROUTES[d.unit]))
    if d.form in _FORM_ROUTES:
        sources.append((f"its form is {d.form}", _FORM_ROUTES[d.form]))
    if med.product_routes:
        sources.append((f"the NDC's product is {' or '.join(med.product_routes)}", frozenset(med.product_routes)))
    elif med.concept is not None and index.kinds.get(med.concept, "product") == "product":
        listed = _listed_routes(index, med)
        if listed:
            sources.append((f"{name(index, med.concept)} is {' or '.join(sorted(listed))} in the NDC Directory",
                            listed))
    if not sources:
        return frozenset(), ""
    agreed = widen_routes(sources[0][1])
    for _, routes in sources[1:]:
        agreed &= widen_routes(routes)
    why = "; ".join(what for what, _ in sources)
    if not agreed:
        return None, why
    return agreed, why


def _listed_routes(index: Index, med: Medication) -> frozenset[str]:
    """The routes of the NDC products listed under the name of the product `med` names, with its ingredients."""
    from ..ndc import NDC_DIR, load_ndc_directory
    from ..paths import tables_home
    from ..text import normalize_name

    directory = load_ndc_directory(tables_home(index.directory, NDC_DIR))
    if directory is None or med.concept is None:
        return frozenset()
    wanted = set(med.ingredients)
    routes: set[str] = set()
    for uniis, route in directory.listings(normalize_name(name(index, med.concept))):
        # The directory lists parent UNIIs, the codes of the knowledge base's ingredients (an exception's drug is
        # one); a listing with an ingredient outside it is another product.
        if {index.codes.get(f"unii:{u}") for u in uniis} == wanted:
            routes.update(r.strip().lower() for r in route.split(";") if r.strip())
    return frozenset(routes)


def set_aside(index: Index, exceptions: tuple[CompiledException, ...],
              med: Medication) -> tuple[frozenset[str], dict[str, str]]:
    """The rules `exceptions` set aside for this entry, and the rules that an exception names for it but that are
    kept (rule id → why, as a finding says it: "its route is not settled (…)", or what is known of its route).

    A rule is set aside only when everything known about the entry's route agrees with the exception
    (`entry_routes`): by a `route:` selector when every known route is that one; by a `with:` ingredient the
    entry holds, or a `product:` it names, when nothing known says a route outside the selector's own. An
    unsettled or conflicting route keeps the rule: the cautious reading, said in the finding.
    """
    known, why = entry_routes(index, med)
    d = med.dosing
    claimed = set(d.routes) | set(d.route.split(" or ") if d.route else ()) | set(med.product_routes)
    aside: set[str] = set()
    kept: dict[str, str] = {}
    for rule, by_route, partners, products in exceptions:
        chosen = [routes for x, routes in partners if x in med.ingredients]
        chosen += [routes for p, routes in products if p == med.concept]
        if not chosen and not by_route & claimed:
            continue  # nothing about the entry points to the exception: the rule applies, as for any entry
        if known is None:  # two routes written, or sources that disagree: the cautious reading
            kept[rule] = f"its route is not settled ({why})"
        elif (known and known <= by_route) or (chosen and (not known or any(not r or known <= widen_routes(r)
                                                                            for r in chosen))):
            aside.add(rule)
        else:
            kept[rule] = f"its route is not one the exception is for ({why})"
    return frozenset(aside), kept


@dataclass(frozen=True)
class FactTable:
    """A fact family's compiled rules (plain data, cached with the index)."""

    best: dict[tuple[str, str], Hit]
    """(ingredient, target concept) → the most specific rule."""
    ranked: dict[tuple[str, str], tuple[Hit, ...]] = field(default_factory=dict)
    """For an ingredient with exceptions: every rule that reaches (ingredient, target), most specific first."""
    exceptions: dict[str, tuple[CompiledException, ...]] = field(default_factory=dict)
    """Ingredient → the rules its exceptions set aside, and for which entries."""


def condition_targets(index: Index, concept: str) -> tuple[str, ...]:
    """A condition is screened as itself."""
    return (concept,)


def allergy_targets(index: Index, concept: str) -> tuple[str, ...]:
    """An allergen is screened as itself or, for a product, as each of its ingredients."""
    return index.ingredients.get(concept) or (concept,)


class _FactFamily(Family):
    """A medication against one patient fact; the subclasses say which."""

    scope = Scope.FACT

    @staticmethod
    def targets(index: Index, concept: str) -> tuple[str, ...]:
        """The concepts a fact naming `concept` is screened as."""
        raise NotImplementedError

    def compile(self, ctx: CompileContext, rules: list[Rule]) -> FactTable:
        table: dict[tuple[str, str], tuple] = {}
        excepted = {e.drug for e in ctx.exceptions if e.rule in {r.id for r in rules}}
        every: dict[tuple[str, str], list[tuple]] = {}
        for rule in rules:
            drug, target = rule.concepts
            if drug == ANY_INGREDIENT:
                # An allergy to the very ingredient taken. It is nearer than any class rule (distance 1 or
                # more) and yields to a rule written for that drug itself (distance 0).
                if target == ANY_CLASS:
                    self._compile_class_allergy(ctx, table, rule, excepted, every)
                    continue
                for x in ctx.ingredients_under_any():
                    candidate = (0.5, -ctx.rank(rule.id), rule.id, x, x)
                    ctx.keep(table, (x, x), candidate)
                    if x in excepted:
                        every.setdefault((x, x), []).append(candidate)
                continue
            for x in ctx.ingredients_under(drug):
                for t in sorted(ctx.down.get(target, ())):
                    candidate = (ctx.distance(x, drug) + ctx.distance(t, target), -ctx.rank(rule.id),
                                 rule.id, drug, target)
                    ctx.keep(table, (x, t), candidate)
                    if x in excepted:
                        every.setdefault((x, t), []).append(candidate)
        exceptions: dict[str, list[CompiledException]] = {}
        for e in ctx.exceptions:
            if e.drug in excepted:
                exceptions.setdefault(e.drug, []).append((
                    e.rule, frozenset(e.routes),
                    tuple((x, frozenset(r)) for x, r in zip(e.partners, e.partner_routes, strict=True)),
                    tuple((p, frozenset(r)) for p, r in zip(e.products, e.product_routes, strict=True))))
        return FactTable(best={key: hit[2:] for key, hit in table.items()},
                         ranked={key: tuple(hit[2:] for hit in sorted(hits, key=lambda h: h[:3]))
                                 for key, hits in every.items()},
                         exceptions={x: tuple(found) for x, found in exceptions.items()})

    @staticmethod
    def _compile_class_allergy(ctx: CompileContext, table: dict, rule: Rule, excepted: set[str],
                               every: dict[tuple[str, str], list[tuple]]) -> None:
        """`*` + `*class`: every member of every class, with an allergy to that very class. An allergy to a
        narrower class (or to one drug) says nothing of the rest of a broader class: "General Anesthetic [EPC]"
        is not every other CNS depressant, so no other member is matched. Like every other rule, it is ranked
        for an ingredient with exceptions (`FactTable.ranked`)."""
        for cls in sorted(c for c, kind in ctx.kinds.items() if kind == "class"):
            for x in ctx.ingredients_under(cls):
                candidate = (_FALLBACK_DISTANCE + ctx.distance(x, cls), -ctx.rank(rule.id), rule.id, cls, cls)
                ctx.keep(table, (x, cls), candidate)
                if x in excepted:
                    every.setdefault((x, cls), []).append(candidate)

    def trigger(self, index: Index, table: FactTable) -> FactTrigger:
        from .triggers import FactTrigger

        # An exception only sets rules aside (the rule that then applies reaches the same key), so the keys
        # of the best rules are every key that can fire.
        return FactTrigger(field=self.field, keys=frozenset(table.best), expand=self.targets)

    def fact(self, index: Index, table: FactTable, med: Medication, text: str, concept: str) -> tuple[Item, ...]:
        out: list[Item] = []
        targets = self.targets(index, concept)
        for x in med.ingredients:
            aside, kept = set_aside(index, table.exceptions[x], med) if x in table.exceptions else (frozenset(), {})
            for target in targets:
                hit = table.best.get((x, target))
                if hit is not None and hit[0] in aside:
                    hit = next((h for h in table.ranked.get((x, target), ()) if h[0] not in aside), None)
                if hit is None:
                    continue
                rule_id, drug_anchor, target_anchor = hit
                rule = index.rules[rule_id]
                if rule_id in kept:
                    # Said, so that a pharmacist sees why a sublingual-looking entry still meets the rule.
                    rule = replace(rule, advice=f"{rule.advice} Kept for this entry, though the rule is set aside "
                                                f"for some {name(index, x)} entries: {kept[rule_id]}.")
                side = list(index.up[target][target_anchor])[::-1]
                if concept != target:
                    side.append(concept)
                side.append(quote(text))
                path = lead(index, med, x, drug_anchor) + [rule_step(rule_id)] + side
                # Keyed by the patient's fact too: two facts reaching one rule (cirrhosis, and
                # hepatic impairment) are two findings, whatever order they were given in.
                finding = make_finding(index, rule, (x, target), (med.input, text),
                                       f"{name(index, x)} + {name(index, concept)}", path)
                out.append(((rule.kind, rule_id, x, concept), finding))
        return tuple(out)


class Conditions(_FactFamily):
    """A medication and a condition or state of the patient (pregnancy, cirrhosis, CKD stage 4 …)."""

    name = "condition"
    kind = FindingKind.DRUG_CONDITION
    field = "condition"
    targets = staticmethod(condition_targets)

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        ancestors = ctx.up.get(rule.concepts[1], {})
        if "pregnancy" in ancestors:
            return (("ncpdp", "PG"), ("v3", "PREG"))
        if "lactation" in ancestors:
            return (("ncpdp", "NR"), ("v3", "LACT"))
        return (("ncpdp", "MC"), ("v3", "COND"))


class Allergies(_FactFamily):
    """A medication and a reported allergy, including class cross-sensitivity."""

    name = "allergy"
    kind = FindingKind.DRUG_ALLERGY
    field = "allergy"
    targets = staticmethod(allergy_targets)

    def codes(self, rule: Rule, ctx: CompileContext) -> tuple[tuple[str, str], ...]:
        return (("ncpdp", "DA"), ("v3", "ALGY"))
