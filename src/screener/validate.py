"""Check a knowledge directory and name every problem by file, line and column.

`screener data validate [DIR]` runs `validate(directory)`. Unlike loading,
which stops at the first problem, validation reports them all:
1. structure: encoding, quoting, headers (unknown or missing columns);
2. table schemas, with pandera: closed vocabularies (severity, evidence, kind,
   relation, context, limit, code system), id and code formats, empty sources
   and texts — every failing cell;
3. meaning, across files: references to concepts that do not exist, wrong
   kinds of concept, duplicate ids, two rules covering the same case, bad age
   expressions and dose values — the loader's own checks, run row by row;
4. the graph: `is_a` cycles;
5. rules that tie: two rules of different severity equally specific for the
   same pair or condition (the screen would pick the more severe silently).
pandas and pandera are imported only here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import KnowledgeError
from .knowledge.files import KNOWLEDGE_FILES, REQUIRED_FILES
from .knowledge.loader import AGE_EXPRESSION, CODE_FORMATS, COLUMNS, read_csv_rows, build_tables
from .knowledge.tables import (
    CODE_MATCHES,
    CONCEPT_KINDS,
    CONDITION_CONTEXTS,
    DOSE_LIMITS,
    EVIDENCE,
    INTERACTION_KINDS,
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
    tables, meaning = _meaning_problems(rows)
    problems += meaning
    if tables is not None:
        problems += _graph_problems(tables)
    return sorted(set(problems))


# --- 2. schemas (pandera) -------------------------------------------------------------

_ID = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_RULE_ID = r"^[a-z0-9]+(?:[-+][a-z0-9]+)*$"
_SEVERITIES = [s.value for s in Severity]


def _schemas():
    import pandera.pandas as pa

    def text(**kw):
        return pa.Column(str, pa.Check.str_length(min_value=1), **kw)

    def one_of(values):
        return pa.Column(str, pa.Check.isin(list(values)))

    def codes_ok(cell: str) -> bool:
        for code in filter(None, (c.strip() for c in cell.split("|"))):
            system, _, value = code.partition(":")
            if system not in CODE_FORMATS or not CODE_FORMATS[system].match(value):
                return False
        return True

    rule = {"severity": one_of(_SEVERITIES), "evidence": one_of(EVIDENCE), "summary": text(), "advice": text(),
            "plain": text(), "source": text(), "id": pa.Column(str, pa.Check.str_matches(_RULE_ID))}
    return {
        "concepts.csv": {"id": pa.Column(str, pa.Check.str_matches(_ID)), "kind": one_of(CONCEPT_KINDS),
                         "name": text(), "source": text(),
                         "codes": pa.Column(str, pa.Check(codes_ok, element_wise=True,
                                                          error="codes must be system:code in that system's format"))},
        "relations.csv": {"subject": text(), "relation": one_of(RELATIONS), "object": text(), "source": text()},
        "interactions.csv": {**rule, "kind": one_of(INTERACTION_KINDS), "a": text(), "b": text()},
        "conditions.csv": {**rule, "context": one_of(CONDITION_CONTEXTS), "drug": text(), "target": text()},
        "dosing.csv": {**rule, "limit": one_of(DOSE_LIMITS), "drug": text(), "value": text()},
        "counselling.csv": {"id": pa.Column(str, pa.Check.str_matches(_ID)), "concept": text(), "topic": text(),
                            "text": text(), "source": text()},
        "condition_codes.csv": {"system": one_of(CODE_FORMATS), "match": one_of(CODE_MATCHES), "code": text(),
                                "condition": text(), "source": text()},
    }


def _schema_problems(rows: dict[str, list]) -> list[Problem]:
    import pandas as pd
    import pandera.pandas as pa

    problems = []
    for name, columns in _schemas().items():
        file_rows = rows.get(name) or []
        if not file_rows:
            continue
        frame = pd.DataFrame([{c: row.get(c, "") for c in COLUMNS[name]} for _, row in file_rows], dtype=str)
        lines = [where.line for where, _ in file_rows]
        schema = pa.DataFrameSchema({c: check for c, check in columns.items() if c in frame.columns})
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            for case in exc.failure_cases.itertuples(index=False):
                index = case.index
                if index is None or (isinstance(index, float) and index != index):
                    continue
                value = case.failure_case
                problems.append(Problem(name, lines[int(index)], str(case.column),
                                        _describe(str(case.check), str(case.column), value)))
    return problems


def _describe(check: str, column: str, value) -> str:
    if check.startswith("isin"):
        return f"'{value}' is not an allowed {column}: {check[len('isin('):-1]}"
    if check.startswith("str_length"):
        return f"{column} is empty"
    if check.startswith("str_matches"):
        return f"'{value}' is not a valid {column}"
    return f"'{value}': {check}"


# --- 3. meaning, across files ---------------------------------------------------------


def _meaning_problems(rows: dict[str, list]):
    """Run the loader's checks; on each problem, record it, set that row aside, and check again."""
    problems = []
    rows = {name: list(file_rows) for name, file_rows in rows.items()}
    for _ in range(MAX_ROUNDS):
        try:
            return build_tables(rows), problems
        except KnowledgeError as exc:
            header = COLUMNS.get(exc.file or "", ())
            problems.append(Problem(exc.file or "", exc.line or 0, _column_in(exc.problem, header), exc.problem))
            before = len(rows.get(exc.file, []))
            rows[exc.file] = [r for r in rows.get(exc.file, []) if r[0].line != exc.line]
            if len(rows[exc.file]) == before:  # not a row problem: nothing more can be checked
                return None, problems
    problems.append(Problem("", 0, "", f"more than {MAX_ROUNDS} problems; stopped"))
    return None, problems


def _column_in(message: str, header: tuple[str, ...]) -> str:
    """The column a loader message is about, when it names one."""
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
        return [Problem(exc.file or "relations.csv", exc.line or 0, "", exc.problem)]
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


__all__ = ["Problem", "validate", "REQUIRED_FILES", "AGE_EXPRESSION"]
