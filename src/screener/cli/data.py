"""`screener data …`: check a knowledge directory, and say what is loaded.

`validate` names every problem by file, line and column (pandera for the
table schemas, then the loader's own checks across files, the graph, and
rules that tie); `info` prints the knowledge version with counts of
concepts, relations and rules by kind. Both take a directory (DIRECTORY or
--knowledge DIR; default: the bundled knowledge) and local layers (--data).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from .options import InputProblem, knowledge_options, load_from_options
from .output import emit


@click.group()
def data() -> None:
    """Check and describe knowledge directories."""


@data.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@knowledge_options
def validate(directory: str | None, knowledge_dir: str | None, layers: tuple[str, ...]) -> None:
    """Check DIRECTORY (default: the bundled knowledge) and local layers, and list every problem.

    The knowledge checked is DIRECTORY or --knowledge DIR (not both), and each
    layer of --data or $SCREENER_DATA: first its files on their own, then over
    the knowledge below it (a layer may name concepts only the base defines;
    an override of a rule that does not exist is a problem). One line per
    problem, `file:line:column: message` (a layer's files named by their
    path), on stdout; a summary on stderr. Exit 0 when valid, 1 when there are
    problems, 2 for a usage error.

    \b
    Examples:
      screener data validate
      screener data validate ./my-hospital-knowledge
      screener data validate --data ./st-elsewhere
    """
    from ..paths import bundled_data_dir
    from ..validate import validate as run
    from ..validate import validate_layers

    given = base_directory(directory, knowledge_dir)
    target = Path(given) if given else bundled_data_dir()
    problems = validate_layers(target, layers) if layers else run(target)
    what = f"{target}" + (f" with layer{'s' if len(layers) != 1 else ''} {', '.join(layers)}" if layers else "")
    if problems:
        emit("\n".join(map(str, problems)), what="the problems")
        files = len({p.file for p in problems})
        emit(f"screener: {len(problems)} problem{'s' if len(problems) != 1 else ''} in "
             f"{files} file{'s' if files != 1 else ''} of {what}.", err=True)
        raise click.exceptions.Exit(1)
    emit(f"screener: {what} is valid.", err=True)


@data.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@knowledge_options
def info(directory: str | None, fmt: str, knowledge_dir: str | None, layers: tuple[str, ...]) -> None:
    """Print the knowledge version and counts of concepts, relations and rules by kind.

    The knowledge is DIRECTORY or --knowledge DIR (default: the bundled
    knowledge) with the local layers of --data or $SCREENER_DATA on top; the
    layers and the rules they switch off are listed.

    \b
    Examples:
      screener data info
      screener data info --format json
      screener data info --data ./st-elsewhere
    """
    from ..errors import KnowledgeError

    knowledge = load_from_options(base_directory(directory, knowledge_dir), layers)
    try:
        tables = knowledge.tables()
    except KnowledgeError as exc:
        raise InputProblem(f"knowledge: {exc}") from None
    summary = describe(knowledge, tables)
    emit(json.dumps(summary, indent=2) if fmt == "json" else "\n".join(info_lines(summary)))


@data.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("-f", "--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True, help="Output format.")
@knowledge_options
def rules(directory: str | None, fmt: str, knowledge_dir: str | None, layers: tuple[str, ...]) -> None:
    """Print every rule, counselling point and rule exception with its source and check date.

    One row each: the rule id, the finding kind, what it applies to, the
    severity, the evidence grade, the source, when the row was last checked
    and against what. A rule exception is a row of kind `exception` under the
    rule it sets aside. For the bundled knowledge this is `docs/rules.md`.

    \b
    Examples:
      screener data rules > docs/rules.md
      screener data rules --data ./st-elsewhere -f json
    """
    from dataclasses import asdict

    from ..errors import KnowledgeError
    from ..rule_table import markdown, rule_rows

    knowledge = load_from_options(base_directory(directory, knowledge_dir), layers)
    try:
        rows = rule_rows(knowledge.tables())
    except KnowledgeError as exc:
        raise InputProblem(f"knowledge: {exc}") from None
    if fmt == "json":
        emit(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        emit(markdown(rows, "Rules of the screener knowledge base").rstrip("\n"))


def info_lines(summary: dict) -> list[str]:
    """The lines `screener data info` prints for `summary` (see `describe`)."""
    lines = [f"knowledge version  {summary['version']}", f"directory          {summary['directory']}"]
    if summary["vocabulary"]:
        v = summary["vocabulary"]
        lines.append(f"vocabulary         {v['names']:,} names, {v['source']} ({v['source_date']})")
    if summary.get("ndc"):
        n = summary["ndc"]
        through = "–".join(n.get("certified_through") or [])
        lines.append(f"NDC Directory      {n['products']:,} products, {n['packages']:,} packages, FDA NDC Directory "
                     f"of {n['source_date']} (listings certified through {through}; {n['source_copy']})")
    if summary.get("icd10cm"):
        i = summary["icd10cm"]
        lines.append(f"ICD-10-CM          {i['codes']:,} codes ({i['billable']:,} billable), {i['blocks']:,} blocks, "
                     f"{i['release']} of {i['source_date']} ({i['source_copy']})")
    for section in ("concepts", "relations", "rules"):
        counts = summary[section]
        detail = ", ".join(f"{n} {k}" for k, n in counts.items())
        lines.append(f"{section:<18} {sum(counts.values())} ({detail})")
    derived = summary.get("derived", {})
    if derived:
        lines.append(f"{'derived classes':<18} {derived['memberships']} memberships of {derived['drugs']} drugs "
                     f"from {derived['fda_classes']} mapped FDA classes ({derived['excluded']} excluded); "
                     f"{derived['epc_classes']} FDA established pharmacologic classes, each a class of its own")
    lines.append(f"{'counselling':<18} {summary['counselling']}")
    lines.append(f"{'condition codes':<18} {summary['condition_codes']}")
    scope = summary.get("scope")
    if scope:
        lines += wrap_scope(scope)
    lines += [f"{'layer':<18} {layer}" for layer in summary["layers"]]
    lines += [f"{'switched off':<18} {off['rule']} by {off['layer']}: {off['reason']}" for off in summary["disabled"]]
    return lines


def wrap_scope(scope: dict) -> list[str]:
    """The scope lines of `data info`: what the knowledge's rules name, wrapped under their label."""
    import textwrap

    out = []
    for label, key in (("scope: drugs", "drugs"), ("scope: conditions", "conditions")):
        text = ", ".join(scope[key])
        wrapped = textwrap.wrap(text, width=100 - 19) or [""]
        out.append(f"{label:<18} {wrapped[0]}")
        out += [" " * 19 + line for line in wrapped[1:]]
    out.append(" " * 19 + "Any other recognised medication is reported as not covered (the screen is incomplete).")
    return out


def base_directory(directory: str | None, knowledge_dir: str | None) -> str | None:
    """The base knowledge directory, given as DIRECTORY or --knowledge DIR (not both); None for the bundled one."""
    if directory and knowledge_dir:
        raise click.UsageError("give the knowledge directory once: as DIRECTORY or with --knowledge, not both")
    return directory or knowledge_dir


def describe(knowledge, tables) -> dict:
    """The counts `screener data info` prints, as data."""
    from ..icd10cm import ICD10CM_DIR
    from ..vocabulary import VOCABULARY_DIR

    manifest_path = Path(knowledge.directory) / VOCABULARY_DIR / "manifest.json"
    vocabulary = None
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        vocabulary = {k: manifest.get(k) for k in ("names", "source", "source_date", "source_copy")}
    ndc_path = Path(knowledge.directory) / "ndc" / "manifest.json"
    ndc = None
    if ndc_path.exists():
        manifest = json.loads(ndc_path.read_text(encoding="utf-8"))
        ndc = {k: manifest.get(k) for k in ("products", "packages", "source", "source_date", "certified_through",
                                            "source_copy")}
    icd_path = Path(knowledge.directory) / ICD10CM_DIR / "manifest.json"
    icd10cm = None
    if icd_path.exists():
        manifest = json.loads(icd_path.read_text(encoding="utf-8"))
        icd10cm = {k: manifest.get(k) for k in ("codes", "billable", "blocks", "release", "source", "source_date",
                                                "source_copy")}
    kinds = {c.id: c.kind for c in tables.concepts}
    derived = [r for r in tables.relations if r.derived and kinds.get(r.subject) != "class"]
    drugs, conditions = knowledge.index.scope
    return {
        "version": knowledge.version,
        "directory": str(knowledge.directory),
        "vocabulary": vocabulary,
        "ndc": ndc,
        "icd10cm": icd10cm,
        "derived": {"memberships": len(derived), "drugs": len({r.subject for r in derived}),
                    "fda_classes": len(tables.class_maps), "excluded": len(tables.excluded),
                    "epc_classes": len(tables.fda_epc)},
        "scope": {"drugs": list(drugs), "conditions": list(conditions)},
        "concepts": dict(sorted(Counter(c.kind for c in tables.concepts).items())),
        "relations": dict(sorted(Counter(r.relation for r in tables.relations).items())),
        "rules": dict(sorted(Counter(r.kind for r in tables.rules).items())),
        "counselling": len(tables.counselling),
        "condition_codes": len(tables.condition_codes),
        "layers": list(knowledge.index.layers),
        "disabled": [{"rule": rule, "layer": layer, "reason": reason} for rule, layer, reason in tables.disabled],
    }
