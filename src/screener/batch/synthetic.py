"""Reproducible synthetic populations for tests, benchmarks and demonstrations.

The mix follows the batch issue: every patient takes one to four medicines that
no rule but the duplicate and allergy rules is about (FDA substances by generic and
brand name, with and without dosing text), a few percent take carisoprodol
(generic, US and grey-market brands, with dose text that is sometimes wrong), some
take an opioid, benzodiazepine or other sedative, and a little noise: misspelt
names, unknown names, conditions, allergies and ages. The knowledge base does not
classify those everyday medicines, so every patient's screen is incomplete (their
interactions were not checked), as it would be for such a population.

Names are taken from the loaded knowledge base, so the population follows the
knowledge as it grows. The same seed gives the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..knowledge.index import Index
from ..rules import FAMILIES, rule_ingredients

DOSE_TEXT = ["", "", "", " 200 mg", " 400 mg tid", " 500 mg bid", " 20 mg daily", " 1 tab po prn", " 10 mg qhs",
             " 2 tabs q6h prn", " 50 mg bid x 10 days"]
CARISOPRODOL_TEXT = ["", " 350 mg", " 350 mg qid", " 250 mg tid", " 350mg three times a day and at bedtime",
                     " 500mg tid", " 350 mg qid x 30 days", " 350 mg tid x 14 days", " 1 tab at bedtime"]
CONDITIONS = ["pregnancy", "cirrhosis", "CKD stage 4", "hypertension", "diabetes", "breastfeeding",
              "alcohol use disorder", "asthma"]
ALLERGIES = ["NKDA", "penicillin", "meprobamate", "sulfa", "codeine"]
UNKNOWN = ["xyzzymab", "asprin", "lisinoprill", "Somma 350 mg", "metforminn 500 mg bid", "vitamin zz"]


def _pools(index: Index) -> dict[str, list[list[str]]]:
    """Names grouped by ingredient set: quiet (no rule but duplicates), carisoprodol, caution."""
    # Every drug meets the allergy rule for its own ingredient; "quiet" means no other rule is about it.
    in_rules = rule_ingredients(index, tuple(f.name for f in FAMILIES if f.name != "allergy"))
    names: dict[str, list[str]] = {}
    for key, concept in index.names.items():
        if index.kinds.get(concept) in ("drug", "product") and concept in index.ingredients:
            names.setdefault(concept, []).append(index.name_text.get(key, key))
    # Group names by ingredient set, so one patient never gets the same ingredient twice by accident.
    groups: dict[str, dict[tuple, list[str]]] = {"quiet": {}, "carisoprodol": {}, "caution": {}}
    for concept, written in sorted(names.items()):
        ings = tuple(sorted(index.ingredients[concept]))
        if set(ings) == {"carisoprodol"}:
            pool = "carisoprodol"
        elif not set(ings) & in_rules:
            pool = "quiet"
        elif len(ings) == 1:
            pool = "caution"
        else:
            continue
        groups[pool].setdefault(ings, []).extend(written)
    return {pool: [sorted(set(v)) for _, v in sorted(g.items())] for pool, g in groups.items()}


class Population:
    """A seeded generator of patients: `rows(n)` yields (patient_id, meds, conditions, allergies, age)."""

    def __init__(self, index: Index, seed: int = 2024, carisoprodol: float = 0.03, caution: float = 0.06,
                 unknown: float = 0.01, conditions: float = 0.05, allergies: float = 0.08):
        self.pools = _pools(index)
        self.rng = np.random.default_rng(seed)
        self.p = {"carisoprodol": carisoprodol, "caution": caution, "unknown": unknown, "conditions": conditions,
                      "allergies": allergies}
        self.count = 0

    def _name(self, pool: list[list[str]], i: int, j: int) -> str:
        group = pool[i % len(pool)]
        return group[j % len(group)]

    def rows(self, n: int, block: int = 100_000) -> Iterator[tuple[str, str, str, str, str]]:
        """n patients, generated in blocks of vectorised draws."""
        quiet, soma, caution = self.pools["quiet"], self.pools["carisoprodol"], self.pools["caution"]
        for start in range(0, n, block):
            m = min(block, n - start)
            r = self.rng
            k = r.integers(1, 5, m)  # 1-4 quiet medicines, distinct ingredients
            first = r.integers(0, len(quiet), m)
            step = r.integers(1, max(len(quiet), 2), m)
            pick = r.integers(0, 1 << 30, (m, 4))
            dose = r.integers(0, len(DOSE_TEXT), (m, 4))
            has_soma = r.random(m) < self.p["carisoprodol"]
            has_caution = r.random(m) < self.p["caution"]
            has_unknown = r.random(m) < self.p["unknown"]
            has_cond = r.random(m) < self.p["conditions"]
            has_allergy = r.random(m) < self.p["allergies"]
            soma_pick = r.integers(0, 1 << 30, (m, 2))
            caution_pick = r.integers(0, 1 << 30, (m, 2))
            extra = r.integers(0, 1 << 30, (m, 3))
            ages = r.integers(0, 100, m)
            no_age = r.random(m) < 0.05
            for i in range(m):
                meds = []
                used = set()
                for j in range(int(k[i])):
                    g = int((first[i] + j * step[i]) % len(quiet))
                    if g in used:
                        continue
                    used.add(g)
                    meds.append(self._name(quiet, g, int(pick[i, j])) + DOSE_TEXT[int(dose[i, j])])
                if has_soma[i] and soma:
                    meds.insert(int(extra[i, 0] % (len(meds) + 1)),
                                self._name(soma, int(soma_pick[i, 0]), int(soma_pick[i, 1]))
                                + CARISOPRODOL_TEXT[int(extra[i, 1] % len(CARISOPRODOL_TEXT))])
                if has_caution[i] and caution:
                    meds.append(self._name(caution, int(caution_pick[i, 0]), int(caution_pick[i, 1])))
                if has_unknown[i]:
                    meds.append(UNKNOWN[int(extra[i, 2] % len(UNKNOWN))])
                cond = CONDITIONS[int(extra[i, 2] % len(CONDITIONS))] if has_cond[i] else ""
                allergy = ALLERGIES[int(extra[i, 1] % len(ALLERGIES))] if has_allergy[i] else ""
                self.count += 1
                yield (f"P{self.count:09d}", ";".join(meds), cond, allergy, "" if no_age[i] else str(int(ages[i])))


def write_patients_csv(path, index: Index, n: int, seed: int = 2024, **mix) -> None:
    """Write n synthetic patients, one row each, streaming (memory does not grow with n)."""
    population = Population(index, seed, **mix)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("patient_id,medications,conditions,allergies,age\n")
        lines = []
        for row in population.rows(n):
            lines.append(",".join(_csv(x) for x in row))
            if len(lines) >= 50_000:
                out.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            out.write("\n".join(lines) + "\n")


def _csv(value: str) -> str:
    if any(ch in value for ch in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
