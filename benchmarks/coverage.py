#!/usr/bin/env python
"""How much of everyday prescribing the knowledge base covers, and how much of the FDA's relevant indexing it maps.

    python benchmarks/coverage.py            # the figures the README publishes
    python benchmarks/coverage.py --list     # and every drug of the top 300 with its coverage

1. The 300 most-prescribed US drugs (ClinCalc DrugStats "The Top 300 of 2023", from
   AHRQ MEPS 2023; `benchmarks/data/top300.csv`, provenance in its README): each is
   screened as a medication entry (a combination as its ingredients joined by "/")
   and counted as classified (a rule of the knowledge applies to every ingredient),
   not covered (recognised, but nothing classifies it), or not recognised.
2. The FDA pharmacologic classes that denote a CNS depressant or a CYP2C19 effect,
   among those indexed on some substance in `data/ndc/substance_classes.tsv`
   (selected by the words in RELEVANT below, so the denominator is reproducible):
   how many `data/fda_classes.csv` maps, and which it leaves out.
3. Sizes: the knowledge data in the wheel (`data/`, gzipped tables included) and the
   expanded tables in the cache directory.

Nothing here asserts: it measures and prints.
"""

from __future__ import annotations

import argparse
import csv
import re
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP300 = ROOT / "benchmarks" / "data" / "top300.csv"
RELEVANT = re.compile(
    r"opioid|benzodiazepine|barbiturate|antipsychotic|phenothiazine|tricyclic|muscle relax|histamine-1|"
    r"histamine h1|antihistamine|gamma-aminobutyric|gaba|central nervous system depress|general anesthe|"
    r"cannabinoid|orexin|sedat|hypnotic|2c19", re.IGNORECASE)
"""What makes an FDA class relevant to this knowledge: it names a CNS-depressant group or a CYP2C19 effect."""
NOT_DEPRESSANTS = re.compile(r"opioid antagonist|competitive opioid antagonists|benzodiazepine antagonist", re.I)
"""Antagonists of those groups (naloxone, naltrexone, flumazenil) reverse them: not CNS depressants."""


def top300(listing: bool) -> None:
    import screener
    from screener.screening import read_entry

    kb = screener.load_knowledge()
    rows = list(csv.DictReader(TOP300.open(encoding="utf-8")))
    counts: Counter = Counter()
    lines = []
    for row in rows:
        entry = "/".join(part.strip() for part in row["name"].split(";"))
        try:
            med, problem = read_entry(kb.index, entry)
        except screener.InputError as exc:
            counts["not recognised"] += 1
            lines.append(f"  {row['rank']:>3} {row['name']}: refused ({exc})")
            continue
        state = "not recognised" if med.concept is None else med.coverage.value.replace("-", " ")
        counts[state] += 1
        lines.append(f"  {row['rank']:>3} {row['name']}: {state}"
                     + (f" ({problem.reason})" if problem is not None and state == "not recognised" else ""))
    total = len(rows)
    print(f"1. The top {total} US drugs (ClinCalc DrugStats 'The Top 300 of 2023'):")
    for state in ("classified", "not covered", "not recognised"):
        print(f"   {state:<15} {counts[state]:>4}  ({100 * counts[state] / total:.1f}%)")
    if listing:
        print("\n".join(lines))


def fda_classes() -> None:
    import screener

    tables = screener.load_knowledge().tables()
    path = ROOT / "data" / "ndc" / "substance_classes.tsv"
    indexed = Counter()
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        _, _, name, _ = line.split("\t")
        indexed[name] += 1
    relevant = sorted(c for c in indexed if RELEVANT.search(c) and not NOT_DEPRESSANTS.search(c))
    mapped = {m.fda_class for m in tables.class_maps}
    hit = [c for c in relevant if c in mapped]
    print(f"\n2. FDA classes denoting a CNS depressant or a CYP2C19 effect, indexed on some substance: {len(relevant)}")
    print(f"   mapped by data/fda_classes.csv: {len(hit)} ({100 * len(hit) / max(len(relevant), 1):.0f}%)")
    print("   not mapped (on how many substances; see data/fda_classes.csv and the README for why):")
    for c in relevant:
        if c not in mapped:
            print(f"     {c} ({indexed[c]})")
    extra = sorted(mapped - set(relevant))
    if extra:
        print(f"   also mapped, outside the word list: {', '.join(extra)}")


def sizes() -> None:
    import os
    import subprocess
    import sys

    data = ROOT / "data"
    total = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    print(f"\n3. Sizes: knowledge data {total / 1e6:.1f} MB on disk "
          f"(vocabulary {_size(data / 'vocabulary') / 1e6:.1f} MB, NDC Directory {_size(data / 'ndc') / 1e6:.1f} MB)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q",
                        "-w", tmp], check=True, capture_output=True)
        wheel = next(Path(tmp).glob("*.whl"))
        print(f"   wheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB")
        cache = Path(tmp) / "cache"
        env = {**os.environ, "SCREENER_CACHE_DIR": str(cache)}
        subprocess.run([sys.executable, "-m", "screener", "check", "lisinopril", "0037-2001-01"], env=env,
                       capture_output=True)
        for folder in sorted(cache.iterdir()):
            if folder.is_dir():
                print(f"   expanded in the cache: {folder.name.rsplit('-', 1)[0]} {_size(folder) / 1e6:.1f} MB")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list every drug of the top 300 with its coverage")
    parser.add_argument("--skip-sizes", action="store_true", help="skip building the wheel")
    args = parser.parse_args()
    top300(args.list)
    fda_classes()
    if not args.skip_sizes:
        sizes()


if __name__ == "__main__":
    main()
