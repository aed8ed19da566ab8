"""National Drug Codes: read in every usual form, looked up in the FDA NDC Directory on disk.

An NDC names a labeler, a product and a package. It is written as 10 digits in
three hyphenated segments (4-4-2, 5-3-2 or 5-4-1), or as the 11-digit 5-4-2 form
claims use (with or without hyphens); a product NDC leaves out the package
(4-4, 5-3, 5-4). `read_ndc` turns each form into the 11-digit (or, for a
product, 9-digit) form by padding the short segment with a leading zero, as
the FDA and NCPDP do. Ten or eight digits without hyphens are refused: the
padding depends on where the hyphens were, so they are never guessed.

The bundled directory (`data/ndc/`, built from the FDA's `product.txt` and
`package.txt` by `python -m screener.ndc.build`) gives every product its names,
active ingredients (with UNII, strength and unit), dosage form, route, DEA
schedule and FDA pharmacologic classes, and every package its product. It is
looked up on disk like the FDA vocabulary (`screener.sorted_tables`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..sorted_tables import SortedTable, TableFiles

NDC_DIR = "ndc"
"""The directory's folder inside a knowledge directory."""
FILES = ("products.tsv", "packages.tsv")
"""The expanded tables, in the order the manifest's sha256 covers them (each shipped as `<name>.gz`)."""
IN_MEMORY = "the NDC Directory is expanded in memory"
TABLES = TableFiles(NDC_DIR, FILES, IN_MEMORY, "python -m screener.ndc.build")
"""The directory's tables as `sorted_tables` expands and checks them."""

PRODUCT_FIELDS = ("name", "generic", "form", "route", "substances", "uniis", "strengths", "units", "classes",
                  "dea", "listing", "ended", "type")
"""The fields of a products.tsv line after its key (the 9-digit product NDC); lists are joined with `|`."""
PACKAGE_FIELDS = ("product", "ended", "sample")
"""The fields of a packages.tsv line after its key (the 11-digit package NDC)."""

_SEGMENTS = re.compile(r"^(\d{4,5})-(\d{3,4})(?:-(\d{1,2}))?$")
_PADDING = {(4, 4, 2): 0, (5, 3, 2): 1, (5, 4, 1): 2, (5, 4, 2): None, (4, 4): 0, (5, 3): 1, (5, 4): None}
"""Which segment a hyphenated form pads to reach 5-4-2 (None: already that long)."""
LOOKS_LIKE_NDC = re.compile(r"^(?:ndc\s*[:#]?\s*)?(?:\d+(?:[-\u2010-\u2015]\d+){1,2}|\d{8,11})(?=\s|$)",
                            re.IGNORECASE)
"""An entry that starts with an NDC (bare, or after `ndc:`, `NDC`, `NDC#`), with digits in two or three
hyphenated groups, or with 8 to 11 bare digits, which can only be meant as one: it is read as an NDC (and
refused, with the reason, when it is not a form of one)."""


@dataclass(frozen=True, slots=True)
class Ndc:
    """A normalised NDC: 11 digits for a package, 9 for a product (labeler 5, product 4, package 2)."""

    digits: str

    @property
    def is_package(self) -> bool:
        """True for a package NDC (11 digits), False for a product NDC (9)."""
        return len(self.digits) == 11

    @property
    def product(self) -> str:
        """The 9-digit product NDC it belongs to."""
        return self.digits[:9]

    def __str__(self) -> str:
        d = self.digits
        return f"{d[:5]}-{d[5:9]}-{d[9:]}" if self.is_package else f"{d[:5]}-{d[5:9]}"


class NdcFormatError(ValueError):
    """Text written as an NDC in none of the forms it can be read in (the message says why)."""


def read_ndc(text: str) -> Ndc:
    """The NDC `text` writes (an optional `ndc:` prefix, then one of the forms in the module docstring).

    Raises `NdcFormatError` for digits that are not one of those forms.
    """
    code = re.sub(r"[\u2010-\u2015]", "-", text.strip())
    prefix = re.match(r"ndc\s*[:#]?\s*", code, re.IGNORECASE)
    if prefix is not None:
        code = code[prefix.end():]
    match = _SEGMENTS.match(code)
    if match:
        parts = [p for p in match.groups() if p is not None]
        shape = tuple(len(p) for p in parts)
        if shape not in _PADDING:
            raise NdcFormatError(f"NDC {code} has segments of {'-'.join(map(str, shape))} digits; an NDC is "
                                 "4-4-2, 5-3-2, 5-4-1 or 5-4-2 (a product NDC 4-4, 5-3 or 5-4)")
        pad = _PADDING[shape]
        if pad is not None:
            parts[pad] = "0" + parts[pad]
        return Ndc("".join(parts))
    if code.isdigit() and code.isascii():
        if len(code) == 11:
            return Ndc(code)
        if len(code) == 9:
            return Ndc(code)
        if len(code) in (10, 8):
            raise NdcFormatError(f"NDC {code} has {len(code)} digits without hyphens, which could be read more "
                                 "than one way; write it with its hyphens (e.g. 0037-2001-01) or as 11 digits")
    raise NdcFormatError(f"'{code}' is not an NDC (10 digits in three hyphenated segments, or 11 digits)")


_MASS_PER = re.compile(r"(mg|g|ug|mcg)/(?:1|(\d+(?:\.\d+)?)?(mL))")
"""A strength's unit as a mass per unit ("mg/1") or per volume in mL ("mg/5mL", "mg/mL")."""
_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001}
"""mg in one of each mass unit the NDC Directory writes."""


@dataclass(frozen=True, slots=True)
class Product:
    """One product of the FDA NDC Directory."""

    ndc: str
    """The 9-digit product NDC."""
    name: str
    """The proprietary name (with its suffix), e.g. "Soma"."""
    generic: str
    """The non-proprietary name, e.g. "carisoprodol"."""
    form: str
    """The dosage form, e.g. "TABLET"."""
    route: str
    """The route(s), e.g. "ORAL"."""
    substances: tuple[str, ...]
    """Each active ingredient as the directory names it ("CARISOPRODOL")."""
    uniis: tuple[str, ...]
    """The UNII of each ingredient's parent substance ('' where the FDA vocabulary could not resolve it)."""
    strengths: tuple[str, ...]
    """The strength of each ingredient, as written ("350")."""
    units: tuple[str, ...]
    """The unit of each strength ("mg/1", "mg/5mL")."""
    classes: tuple[str, ...]
    """The FDA pharmacologic classes indexed on the product ("Muscle Relaxant [EPC]")."""
    dea: str
    """The DEA schedule (CII…CV), '' when none."""
    listing: str
    """'listed', or 'excluded' (an NDC_EXCLUDE_FLAG listing: expired, unfinished or otherwise excluded)."""
    ended: str
    """The end of marketing (YYYY-MM-DD), '' when still marketed."""
    type: str
    """The product type ("HUMAN PRESCRIPTION DRUG", "HUMAN OTC DRUG"…)."""

    def per_unit_mg(self) -> tuple[float, ...] | None:
        """mg of each ingredient in one unit (tablet, capsule), when every strength is a mass per unit."""
        return self._mg_per(volume=False)

    def per_ml_mg(self) -> tuple[float, ...] | None:
        """mg of each ingredient in one mL of a liquid ("5" "mg/5mL": 1 mg per mL), when every strength is a
        mass per volume in mL; None otherwise (a tablet's strength is `per_unit_mg`)."""
        return self._mg_per(volume=True)

    def _mg_per(self, volume: bool) -> tuple[float, ...] | None:
        """mg of each ingredient per unit ("mg/1") or, with `volume`, per mL ("mg/5mL"), when every strength is
        one; None for a concentration of another kind, a percentage, units, or a strength that is not a number."""
        out = []
        for value, unit in zip(self.strengths, self.units):
            match = _MASS_PER.fullmatch(unit)
            if match is None or (match.group(3) is not None) != volume:
                return None
            try:
                out.append(float(value) * _MG[match.group(1)] / float(match.group(2) or 1))
            except ValueError:
                return None
        return tuple(out) if out and len(out) == len(self.substances) else None

    def patch_rate(self) -> float | None:
        """The delivery rate in mcg per hour of a single-ingredient transdermal product ("25 ug/h"), else None."""
        if len(self.substances) != 1 or "TRANSDERMAL" not in self.route or self.units[0] not in ("ug/h", "mcg/h"):
            return None
        try:
            return float(self.strengths[0])
        except ValueError:
            return None

    def status(self) -> str:
        """'' for a marketed, listed product; otherwise what a report should say about its listing."""
        notes = []
        if self.listing == "excluded":
            notes.append("the listing is excluded from the NDC Directory")
        if self.ended:
            notes.append(f"marketing ended {self.ended}")
        return "; ".join(notes)


class NdcDirectory:
    """The FDA NDC Directory of one knowledge directory."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        (products, packages), _ = TABLES.prepare(directory, self.manifest["sha256"])
        self._products = SortedTable(products)
        self._packages = SortedTable(packages)
        self._by_name: dict[str, frozenset[tuple[frozenset[str], str]]] = {}
        self._by_suffix: dict[str, dict[str, frozenset[str]]] = {}
        self._lower: bytes | None = None
        self._searched = 0
        self._every_name: dict[str, frozenset[tuple[frozenset[str], str]]] | None = None

    @property
    def label(self) -> str:
        """A short label for the knowledge version, e.g. "ndc20190429"."""
        return "ndc" + self.manifest.get("source_date", "").replace("-", "")

    def product(self, ndc: Ndc) -> Product | None:
        """The product an NDC names (a package NDC names its product), or None."""
        fields = self._products.get(ndc.product)
        if fields is None or len(fields) != len(PRODUCT_FIELDS):
            return None
        values = dict(zip(PRODUCT_FIELDS, fields))
        substances = tuple(values["substances"].split("|")) if values["substances"] else ()
        lists = {k: tuple(values[k].split("|")) if substances else () for k in ("uniis", "strengths", "units")}
        lists["substances"] = substances
        lists["classes"] = tuple(values["classes"].split("|")) if values["classes"] else ()
        return Product(ndc.product, values["name"], values["generic"], values["form"], values["route"],
                       lists["substances"], lists["uniis"], lists["strengths"], lists["units"], lists["classes"],
                       values["dea"], values["listing"], values["ended"], values["type"])

    def listings(self, *names: str) -> frozenset[tuple[frozenset[str], str]]:
        """(active-ingredient UNIIs, route as listed: "SUBLINGUAL", "INTRAMUSCULAR; INTRAVENOUS") of each product
        listed under the proprietary name `names[0]` (normalised as `text.normalize_name`; empty when none is).
        The other `names` are read too, for later calls. A product or brand name of the FDA vocabulary
        (`recognize.entries.product_mismatch`) and a product meeting a rule exception (`rules.facts.entry_routes`)
        ask: the lines holding the name's first word are found in a lower-cased copy of the table (made once,
        about 20 ms), so a name costs milliseconds; remembered."""
        wanted = [n for n in dict.fromkeys(names) if n not in self._by_name]
        if wanted and self._every_name is not None:
            self._by_name.update({n: self._every_name.get(n, frozenset()) for n in wanted})
        elif wanted:
            self._searched += len(wanted)
            if self._searched > NAME_SEARCHES:
                self._every_name = self._index_every_name()
                return self.listings(*names)
            data = self._products.text()
            if self._lower is None:
                self._lower = bytes(data).lower()  # ASCII case only, so every offset stays the same
            for n in wanted:
                # Each line holding the name's first word (any case) is a candidate, read by `_listed`.
                found: set[tuple[frozenset[str], str]] = set()
                first = n.split()[0].encode("utf-8") if n.split() else b""
                seen = -1
                at = self._lower.find(first) if first else -1
                while at >= 0:
                    start = data.rfind(b"\n", 0, at) + 1
                    stop = data.find(b"\n", at)
                    stop = stop if stop >= 0 else len(data)
                    if start != seen:
                        seen = start
                        listed = _listed(data[start:stop].decode("utf-8"))
                        if listed is not None and listed[0] == n:
                            found.add(listed[1])
                    at = self._lower.find(first, stop)
                self._by_name[n] = frozenset(found)
        return self._by_name[names[0]]

    def _index_every_name(self) -> dict[str, frozenset[tuple[frozenset[str], str]]]:
        """What `listings` gives for every name, from one pass over the table (about 1 s): for a process that
        asks about many names (a batch), cheaper than a search each."""
        every: dict[str, set[tuple[frozenset[str], str]]] = {}
        for line in bytes(self._products.text()).decode("utf-8").split("\n"):
            listed = _listed(line)
            if listed is not None:
                every.setdefault(listed[0], set()).add(listed[1])
        return {n: frozenset(v) for n, v in every.items()}

    def with_suffix(self, word: str) -> dict[str, frozenset[str]]:
        """The active-ingredient UNIIs of every proprietary name that ends in the word `word` after another
        ("Cheratussin AC" for "ac"), by name as listed (the first product listed under it): what a suffix
        after a product name usually adds. Found through a lower-cased copy of the table; only an entry with a
        suffix asks, remembered."""
        import re

        if not re.fullmatch(r"\w+", word):
            return {}
        if word.lower() in self._by_suffix:
            return self._by_suffix[word.lower()]
        data = self._products.text()
        if self._lower is None:
            self._lower = bytes(data).lower()  # ASCII case only, so every offset stays the same
        uniis = PRODUCT_FIELDS.index("uniis") + 1
        needle = word.lower().encode("utf-8") + b"\t"
        found: dict[str, frozenset[str]] = {}
        at = self._lower.find(needle)
        while at >= 0:
            start = data.rfind(b"\n", 0, at) + 1
            stop = data.find(b"\n", at)
            stop = stop if stop >= 0 else len(data)
            fields = data[start:stop].decode("utf-8").split("\t")
            # The proprietary name (the field after the NDC) ends in the word, after a character not of a word.
            name = fields[1] if len(fields) == len(PRODUCT_FIELDS) + 1 else ""
            head = name[:len(name) - len(word)]
            if (fields[uniis:uniis + 1] != [""] and name.lower().endswith(word.lower()) and head
                    and not (head[-1].isalnum() or head[-1] == "_")):
                found.setdefault(name, frozenset(fields[uniis].split("|")))
            at = self._lower.find(needle, stop)
        self._by_suffix[word.lower()] = found
        return found

    def package(self, ndc: Ndc) -> tuple[str, str] | None:
        """(its product's 9-digit NDC, the end of its marketing or '') for a listed package, else None."""
        fields = self._packages.get(ndc.digits)
        if fields is None or len(fields) != len(PACKAGE_FIELDS):
            return None
        return fields[0], fields[1]


NAME_SEARCHES = 24
"""After this many names searched one by one (milliseconds each), `listings` indexes every name at once."""


def _listed(line: str) -> tuple[str, tuple[frozenset[str], str]] | None:
    """(normalised proprietary name, (ingredient UNIIs, route)) of one products.tsv line, or None when it lists no
    ingredient. The same test whether a name is searched for or every name indexed: the name's first word is in
    the proprietary name as written (any ASCII case), so both ways give the same listings."""
    from ..text import normalize_name

    fields = line.split("\t")
    if len(fields) != len(PRODUCT_FIELDS) + 1 or not fields[_UNIIS]:
        return None
    key = normalize_name(fields[_NAME])
    first = key.split()[0].encode("utf-8") if key.split() else b""
    if not first or first not in fields[_NAME].encode("utf-8").lower():
        return None
    return key, (frozenset(fields[_UNIIS].split("|")), fields[_ROUTE])


_UNIIS, _ROUTE, _NAME = (PRODUCT_FIELDS.index(f) + 1 for f in ("uniis", "route", "name"))


@lru_cache(maxsize=4)
def load_ndc_directory(directory: str) -> NdcDirectory | None:
    """The NDC Directory in `directory`/ndc, or None when that directory has none or its files do not match their
    manifest (`sorted_tables.open_verified`, which says so on stderr)."""
    from ..sorted_tables import open_verified

    return open_verified(directory, NDC_DIR, NdcDirectory, "the NDC Directory")
