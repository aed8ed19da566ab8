"""Check a knowledge directory and name every problem by file, line and column.

`screener data validate [DIR]` runs `validate(directory)`. Unlike loading,
which stops at the first problem, validation reports them all:
1. structure: encoding, quoting, headers (unknown or missing columns);
2. table schemas: closed vocabularies (severity, evidence, kind,
   relation, context, limit, code system), id and code formats, empty sources
   and texts — every failing cell;
3. meaning, across files: references to concepts that do not exist, wrong
   kinds of concept, duplicate ids, two rules covering the same case, bad age
   expressions and dose values — the loader's own checks, run row by row;
4. the graph: `is_a` cycles;
5. rules that tie: two rules of different severity equally specific for the
   same pair or condition (the screen would pick the more severe silently).

`screener data validate [DIR] --data LAYER` runs `validate_layers(directory,
layers)`: the base as above, then each local layer's files on their own (the
same structure and schema checks, `overrides.csv` included, each problem named
by the layer file's path), then the base with the layers on top, read the way
the loader reads them, for what only shows across files.
Only the standard library is needed: the base install validates (no extra).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import KnowledgeError
from .knowledge.files import KNOWLEDGE_FILES, LAYER_FILES, REQUIRED_FILES, SUBSTANCE_CLASSES
from .knowledge.loader import (
    AGE_EXPRESSION,
    ALLERGEN_CATEGORIES,
    CODE_FORMATS,
    COLUMNS,
    FDA_CLASS,
    HISTORY_READINGS,
    STRENGTH_UNITS,
    build_tables,
    read_csv_rows,
    read_layers,
    read_substance_classes,
)
from .knowledge.tables import (
    CODE_MATCHES,
    CONCEPT_KINDS,
    CONDITION_CONTEXTS,
    DOSE_LIMITS,
    EVIDENCE,
    INTERACTION_KINDS,
    OVERRIDE_ACTIONS,
    RELATIONS,
)
from .model import Severity

MAX_ROUNDS = 1000
"""How many row-level problems are collected before giving up (each costs one re-check)."""


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One thing wrong in a knowledge directory."""

    file: str
    """The file name (e.g. interactions.csv)."""
    line: int
    """The line, 1 for the header, 0 when the whole file is concerned."""
    column: str
    """The column, when one is concerned."""
    message: str
    """What is wrong, in one line."""

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
        if self.column:
            where += f":{self.column}"
        return f"{where}: {self.message}"


def validate(directory: str | Path) -> list[Problem]:
    """Every problem in the knowledge files of `directory`, sorted by file and line ([] when valid)."""
    directory = Path(directory)
    if not directory.is_dir():
        return [Problem(str(directory), 0, "", "knowledge directory not found")]
    problems: list[Problem] = []
    rows: dict[str, list] = {}
    for name in KNOWLEDGE_FILES:
        try:
            rows[name] = read_csv_rows(directory / name, name)
        except KnowledgeError as exc:
            problems.append(Problem(name, exc.line or 0, "", exc.problem))
            rows[name] = []
    schema_problems = _schema_problems(rows)
    problems += schema_problems
    bad = {(p.file, p.line) for p in schema_problems}
    rows = {name: [r for r in file_rows if (name, r[0].line) not in bad] for name, file_rows in rows.items()}
    try:
        rows[SUBSTANCE_CLASSES] = read_substance_classes(directory / SUBSTANCE_CLASSES)
    except KnowledgeError as exc:
        problems.append(Problem(SUBSTANCE_CLASSES, exc.line or 0, "", exc.problem))
    problems += _mapping_problems(rows)
    problems += _condition_name_problems(directory, rows)
    tables, meaning = _meaning_problems(rows)
    problems += meaning
    if tables is not None:
        problems += _graph_problems(tables)
        problems += _idle_rule_exceptions(tables)
        if rows.get(SUBSTANCE_CLASSES):
            flagged = {p.line for p in problems if p.file == "class_exclusions.csv"}
            problems += [p for p in _idle_exclusions(tables) if p.line not in flagged]
    return sorted(set(problems))


def _idle_exclusions(tables) -> list[Problem]:
    """An exclusion that refuses no derived membership: the FDA indexing no longer puts the drug in that class
    (or a curated row states the membership, and curated rows win), so the row only looks like a safeguard."""
    applied = {(cls, reason) for _, cls, reason in tables.excluded}
    return [Problem("class_exclusions.csv", e.where.line, "drug",
                    f"'{e.drug}' is not derived into {e.cls} from the FDA indexing: this exclusion refuses nothing")
            for e in tables.class_exclusions if (e.cls, f"{e.reason} ({e.source})") not in applied]


def _idle_rule_exceptions(tables) -> list[Problem]:
    """A rule exception for a drug its rule does not reach (the rule names neither the drug nor one of its
    classes, nor every ingredient, `*`): it sets nothing aside, so the row only looks like a decision."""
    from .rules.duplicates import ANY_INGREDIENT

    isa: dict[str, set[str]] = {}
    for r in tables.relations:
        if r.relation == "is_a":
            isa.setdefault(r.subject, set()).add(r.object)
    rules = {r.id: r for r in tables.rules}
    problems = []
    for e in tables.rule_exceptions:
        seen, todo = {e.drug}, [e.drug]
        while todo:
            for up in isa.get(todo.pop(), ()):
                if up not in seen:
                    seen.add(up)
                    todo.append(up)
        if rules[e.rule].concepts[0] not in seen | {ANY_INGREDIENT}:
            problems.append(Problem("rule_exceptions.csv", e.where.line, "drug",
                                    f"rule '{e.rule}' does not reach '{e.drug}': this exception sets nothing aside"))
    return problems


def _condition_name_problems(directory: Path, rows: dict[str, list]) -> list[Problem]:
    """A condition name whose code is not in the ICD-10-CM release the knowledge goes with (its own
    `icd10cm/`, else the bundled one)."""
    names = rows.get("condition_names.csv", [])
    if not names:
        return []
    from .icd10cm import ICD10CM_DIR, load_icd10cm
    from .paths import tables_home

    codes = load_icd10cm(tables_home(directory, ICD10CM_DIR))
    if codes is None:
        return []
    return [Problem("condition_names.csv", where.line, "icd10cm", f"'{code}' is not in {codes.release}")
            for where, row in names if row.get("icd10cm") for code in row["icd10cm"].split("|")
            if codes.get(code) is None]


def _mapping_problems(rows: dict[str, list]) -> list[Problem]:
    """A mapped FDA class that no substance is indexed with (a typo maps nothing), and an exclusion that
    names no drug the FDA indexing or the knowledge base has (so it refuses nothing)."""
    indexed = {row["fda_class"] for _, row in rows.get(SUBSTANCE_CLASSES, [])}
    if not indexed:
        return []  # no NDC Directory here: there is nothing to map against
    problems = []
    for where, row in rows.get("fda_classes.csv", []):
        if row.get("fda_class") and row["fda_class"] not in indexed:
            problems.append(Problem("fda_classes.csv", where.line, "fda_class",
                                    f"'{row['fda_class']}' is indexed on no substance in {SUBSTANCE_CLASSES}"))
    from .text import normalize_name

    known = {name for _, row in rows.get(SUBSTANCE_CLASSES, [])
             for name in (row["substance"].lower(), normalize_name(row["substance"]).replace(" ", "-"))}
    known |= {row.get("id", "") for _, row in rows.get("concepts.csv", [])}
    for where, row in rows.get("class_exclusions.csv", []):
        if row.get("drug") and row["drug"].lower() not in known:
            problems.append(Problem("class_exclusions.csv", where.line, "drug",
                                    f"'{row['drug']}' is neither a concept nor a substance in {SUBSTANCE_CLASSES}"))
    return problems


# --- 2. schemas -----------------------------------------------------------------------
# Plain per-cell checks (they once ran through pandera; nothing here needs more than a predicate per cell, and
# the base install must validate a knowledge directory without an extra).

_ID = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_RULE_ID = r"^[a-z0-9]+(?:[-+][a-z0-9]+)*$"
_SEVERITIES = [s.value for s in Severity]


@dataclass(frozen=True, slots=True)
class CellCheck:
    """One check every cell of a column must pass."""

    ok: Callable[[str], bool]
    """Whether a cell passes."""
    problem: Callable[[str, str], str]
    """The message for a failing cell, from (column, value)."""


def _text() -> CellCheck:
    return CellCheck(lambda cell: len(cell) >= 1, lambda column, value: f"{column} is empty")


def _one_of(values) -> CellCheck:
    allowed = list(values)
    return CellCheck(lambda cell: cell in allowed,
                     lambda column, value: f"'{value}' is not an allowed {column}: {allowed}")


def _matches(pattern: str) -> CellCheck:
    regex = re.compile(pattern)
    return CellCheck(lambda cell: regex.match(cell) is not None,
                     lambda column, value: f"'{value}' is not a valid {column}")


def _passes(ok: Callable[[str], bool], error: str) -> CellCheck:
    return CellCheck(ok, lambda column, value: f"'{value}': {error}")


def _schemas() -> dict[str, dict[str, CellCheck]]:
    def codes_ok(cell: str) -> bool:
        for code in filter(None, (c.strip() for c in cell.split("|"))):
            system, _, value = code.partition(":")
            if system not in CODE_FORMATS or not CODE_FORMATS[system].match(value):
                return False
        return True

    def checked_date(cell: str) -> bool:
        import datetime

        try:
            return len(cell) == 10 and datetime.date.fromisoformat(cell) <= datetime.date.today()
        except ValueError:
            return False

    text, one_of = _text, _one_of
    # Reviewable knowledge: every rule and counselling row says when it was last checked, and against what.
    review = {"checked": _passes(checked_date, "checked must be the date the row was last checked "
                                               "(YYYY-MM-DD, not in the future)"),
              "checked_against": text()}
    rule = {"severity": one_of(_SEVERITIES), "evidence": one_of(EVIDENCE), "summary": text(), "advice": text(),
            "plain": text(), "source": text(), "id": _matches(_RULE_ID), **review}
    return {
        "concepts.csv": {"id": _matches(_ID), "kind": one_of(CONCEPT_KINDS), "name": text(), "source": text(),
                         "codes": _passes(codes_ok, "codes must be system:code in that system's format")},
        "relations.csv": {"subject": text(), "relation": one_of(RELATIONS), "object": text(), "source": text()},
        "interactions.csv": {**rule, "kind": one_of(INTERACTION_KINDS), "a": text(), "b": text()},
        "conditions.csv": {**rule, "context": one_of(CONDITION_CONTEXTS), "drug": text(), "target": text()},
        "dosing.csv": {**rule, "limit": one_of(DOSE_LIMITS), "drug": text(), "value": text()},
        "counselling.csv": {"id": _matches(_ID), "concept": text(), "topic": text(), "text": text(),
                            "source": text(), **review},
        "condition_codes.csv": {"system": one_of(CODE_FORMATS), "match": one_of(CODE_MATCHES), "code": text(),
                                "condition": text(), "source": text()},
        # In a local layer only. An empty severity is right for `off`; the loader says when `severity` lacks one.
        "overrides.csv": {"rule": _matches(_RULE_ID), "action": one_of(OVERRIDE_ACTIONS),
                          "severity": _passes(lambda cell: cell in ("", *_SEVERITIES),
                                              f"not an allowed severity ({', '.join(_SEVERITIES)}; empty for off)"),
                          "reason": text(), "source": text()},
        "strengths.csv": {"product": _matches(_ID), "ingredients": text(),
                          "strengths": _matches(
                              r"^\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)*(?:\|\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)*)*$"),
                          "unit": one_of(STRENGTH_UNITS), "source": text()},
        "fda_classes.csv": {"fda_class": _matches(FDA_CLASS.pattern), "class": text(), "source": text()},
        "class_exclusions.csv": {"drug": text(), "class": text(), "reason": text(), "source": text()},
        "condition_names.csv": {"name": text(), "icd10cm": text(), "source": text()},
        "allergens.csv": {"name": text(), "category": one_of(ALLERGEN_CATEGORIES), "source": text()},
        "ambiguous_names.csv": {"name": text(), "meanings": text(), "source": text()},
        "condition_history.csv": {"condition": text(), "reading": one_of(HISTORY_READINGS), "source": text()},
        "condition_negations.csv": {"condition": text(), "names": text(), "source": text()},
        "rule_exceptions.csv": {"rule": _matches(_RULE_ID), "drug": text(), "entries": text(), "reason": text(),
                                "source": text(), **review},
    }


def _merging_concept_schema() -> dict[str, dict[str, CellCheck]]:
    """A layer's row for a concept that already exists adds synonyms and codes: name, kind and source may be empty."""
    concepts = _schemas()["concepts.csv"]
    return {"concepts.csv": {"id": concepts["id"], "codes": concepts["codes"],
                             "kind": _one_of([*CONCEPT_KINDS, ""])}}


def _schema_problems(rows: dict[str, list], schemas: dict | None = None,
                     shown: dict[str, str] | None = None) -> list[Problem]:
    """Every failing cell of `rows` ({file name: rows}) under `schemas` (default: the knowledge files').

    `shown` maps a file name to how problems name it (a layer's files are named by their path).
    """
    problems = []
    shown = shown or {}
    for name, columns in (schemas or _schemas()).items():
        for where, row in rows.get(name) or []:
            for column, check in columns.items():
                if column not in COLUMNS[name]:
                    continue
                value = row.get(column)
                value = "" if value is None else str(value)
                if not check.ok(value):
                    problems.append(Problem(shown.get(name, name), where.line, column, check.problem(column, value)))
    return problems


# --- 3. meaning, across files ---------------------------------------------------------


def _meaning_problems(rows: dict[str, list]):
    """Run the loader's checks; on each problem, record it, set that row aside, and check again."""
    problems: list[Problem] = []
    rows = {name: list(file_rows) for name, file_rows in rows.items()}
    for _ in range(MAX_ROUNDS):
        try:
            return build_tables(rows), problems
        except KnowledgeError as exc:
            file = exc.file or ""
            header = COLUMNS.get(file, ())
            problems.append(Problem(file, exc.line or 0, _column_in(exc.problem, header), exc.problem))
            before = len(rows.get(file, []))
            rows[file] = [r for r in rows.get(file, []) if r[0].line != exc.line]
            if len(rows[file]) == before:  # not a row problem: nothing more can be checked
                return None, problems
    problems.append(Problem("", 0, "", f"more than {MAX_ROUNDS} problems; stopped"))
    return None, problems


def _column_in(message: str, header: tuple[str, ...]) -> str:
    """The column a loader message is about, when it names one."""
    # A quoted value after a word (b 'nothing', rule 'c+a') is data, not a column name: leave it out.
    message = re.sub(r"(?<=\w) '[^']*'", "", message)
    for word in re.findall(r"[a-z_]+", message.split(" '")[0] + " " + message):
        if word in header:
            return word
    return ""


# --- 4 and 5. the graph and ties ----------------------------------------------------------


def _graph_problems(tables) -> list[Problem]:
    from .knowledge.compile import compile_index

    try:
        ties: list = []
        compile_index(tables, "validate", "", ties=ties)
    except KnowledgeError as exc:
        return [Problem(_cycle_file(tables, exc), exc.line or 0, "", exc.problem)]
    rules = {r.id: r for r in tables.rules}
    problems = []
    seen = set()
    for key, first, second in ties:
        pair = tuple(sorted((first, second)))
        if pair in seen:
            continue
        seen.add(pair)
        a, b = rules[pair[0]], rules[pair[1]]
        concepts = " + ".join(key) if isinstance(key, tuple) else str(key)
        problems.append(Problem(
            b.where.file, b.where.line, "severity",
            f"rules '{a.id}' ({a.severity}, {a.where.file}:{a.where.line}) and '{b.id}' ({b.severity}) are equally "
            f"specific for {concepts} but disagree on severity; make one more specific or align them"))
    return problems


def _cycle_file(tables, exc: KnowledgeError) -> str:
    """The file of the `is_a` row a cycle error points at.

    The graph check names every cycle `relations.csv`, which is ambiguous once
    layers add relations: the row with that line on an edge of the cycle says which.
    """
    names = exc.problem.partition(": ")[2].split(" → ")
    first = tuple(names[:2])  # the line is that of the cycle's first edge
    for relation in tables.relations:
        edge = (relation.subject, relation.object)
        if relation.relation == "is_a" and relation.where.line == exc.line and edge == first:
            return relation.where.file
    return exc.file or "relations.csv"


# --- 6. local layers ------------------------------------------------------------------------


def validate_layers(directory: str | Path, layers: list | tuple) -> list[Problem]:
    """Every problem in the knowledge of `directory` and in the local `layers` over it ([] when valid).

    In order: the base (as `validate`), then each layer's files on their own
    (structure and schemas, `overrides.csv` included, named by the layer file's
    path; a `.csv` file a layer may not hold is reported, since the loader would
    ignore it), then the base with every layer on top, read as the loader reads
    it, for what only shows across files: a reference to a concept that is
    nowhere (a concept only the base defines is fine), a rule id used twice, a
    rule covering the same case as another, an override of a rule that does not
    exist, an `is_a` cycle or a tie the layers make. That last step needs a base
    without problems; when it has some, the layers are checked on their own only.
    """
    directory = Path(directory)
    problems = validate(directory)
    base_ok = not problems
    known = _concept_ids(directory)
    readable: dict[Path, dict[str, list]] = {}
    layer_problems: list[Problem] = []
    set_aside: set[tuple[str, int]] = set()
    for layer in map(Path, layers):
        if not layer.is_dir():
            layer_problems.append(Problem(str(layer), 0, "", "knowledge layer not found"))
            continue
        rows, found = _layer_file_problems(layer, known)
        layer_problems += found
        set_aside |= {(p.file, p.line) for p in found if p.line > 1}
        readable[layer] = rows
        known |= {row.get("id", "") for _, row in rows.get("concepts.csv", [])}
    if readable and base_ok:
        layer_problems += _across_layers(directory, readable, set_aside)
    elif readable:
        layer_problems += [Problem(str(layer), 0, "", "checked on its own only: the knowledge below it has problems")
                           for layer in readable]
    # The base's problems first, as `validate` lists them; then the layers', by file and line.
    return problems + sorted(set(layer_problems) - set(problems))


def _concept_ids(directory: Path) -> set[str]:
    try:
        return {row.get("id", "") for _, row in read_csv_rows(directory / "concepts.csv", "concepts.csv")}
    except KnowledgeError:
        return set()


def _layer_file_problems(layer: Path, known: set[str]) -> tuple[dict[str, list], list[Problem]]:
    """The readable files of one layer ({name: rows}) and the problems each has on its own."""
    problems = [Problem(str(path), 0, "", f"ignored: not one of the files a layer may hold ({', '.join(LAYER_FILES)})")
                for path in sorted(layer.glob("*.csv")) if path.name not in LAYER_FILES]
    rows: dict[str, list] = {}
    for name in LAYER_FILES:
        path = layer / name
        if not path.exists():
            continue
        try:
            rows[name] = read_csv_rows(path, name, str(path))
        except KnowledgeError as exc:
            problems.append(Problem(str(path), exc.line or 0, "", exc.problem))
    shown = {name: str(layer / name) for name in rows}
    concepts = rows.get("concepts.csv", [])
    new = [r for r in concepts if r[1].get("id") not in known]
    merging = [r for r in concepts if r[1].get("id") in known]
    problems += _schema_problems({**rows, "concepts.csv": new}, shown=shown)
    if merging:
        problems += _schema_problems({"concepts.csv": merging}, _merging_concept_schema(), shown)
    return rows, problems


class _LayerCopies:
    """Copies of the layers' readable files in a temporary directory, where rows can be set aside.

    The loader reads directories, and stops at the first problem. To find the
    next one, the row at fault is blanked in the copy (blank lines are skipped,
    so every other row keeps its line number) and the copies are read again.
    Each copy's directory has its layer's name, so findings' layer labels match.
    """

    def __init__(self, root: Path, layers: dict[Path, dict[str, list]]):
        self.originals: dict[str, str] = {}
        self.lines: dict[Path, list[str]] = {}
        self.dirs: list[Path] = []
        for i, (layer, rows) in enumerate(layers.items()):
            copy = root / str(i) / (layer.resolve().name or "layer")
            copy.mkdir(parents=True)
            self.dirs.append(copy)
            self.originals[str(copy)] = str(layer)
            for name in rows:
                text = (layer / name).read_bytes().decode("utf-8-sig")
                # Split as csv.reader counts lines (newline=""), so line numbers agree with the loader's.
                self.lines[copy / name] = io.StringIO(text, newline="").readlines()
                (copy / name).write_text(text, encoding="utf-8", newline="")

    def original(self, text: str) -> str:
        """`text` with every copy's path replaced by its layer's."""
        for copy, layer in sorted(self.originals.items(), key=lambda item: -len(item[0])):
            text = text.replace(copy, layer)
        return text

    def set_aside(self, file: str, line: int) -> bool:
        """Blank the record ending on `line` of the copy `file` (or of the original so named); False if not a copy."""
        path = next((p for p in self.lines if file in (str(p), self.original(str(p)))), None)
        if path is None or line < 2:
            return False
        lines = self.lines[path]
        reader = csv.reader(io.StringIO("".join(lines), newline=""))
        start = 1
        try:
            for _ in reader:
                if reader.line_num >= line:
                    break
                start = reader.line_num + 1
        except csv.Error:
            return False
        if any(lines[i].strip() for i in range(start - 1, min(line, len(lines)))):
            for i in range(start - 1, min(line, len(lines))):
                lines[i] = "\n"
            path.write_text("".join(lines), encoding="utf-8", newline="")
            return True
        return False


def _across_layers(directory: Path, layers: dict[Path, dict[str, list]],
                   set_aside: set[tuple[str, int]]) -> list[Problem]:
    """Read the base with the layers on top until it loads, recording and setting aside each faulty row."""
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="screener-validate-") as tmp:
        copies = _LayerCopies(Path(tmp), layers)
        for file, line in set_aside:  # rows already reported on their own are not checked again
            copies.set_aside(file, line)
        for _ in range(MAX_ROUNDS):
            try:
                tables = read_layers(directory, tuple(copies.dirs))
            except KnowledgeError as exc:
                file = copies.original(exc.file or "")
                header = COLUMNS.get(Path(file).name, ())
                problems.append(Problem(file, exc.line or 0, _column_in(exc.problem, header),
                                        copies.original(exc.problem)))
                if not copies.set_aside(exc.file or "", exc.line or 0):  # not a row: nothing more to check
                    return problems
                continue
            return problems + [Problem(copies.original(p.file), p.line, p.column, copies.original(p.message))
                               for p in _graph_problems(tables)]
    problems.append(Problem("", 0, "", f"more than {MAX_ROUNDS} problems; stopped"))
    return problems


__all__ = ["AGE_EXPRESSION", "REQUIRED_FILES", "Problem", "validate", "validate_layers"]
