"""`screener graph`: draw part of the knowledge graph (a click adapter over `screener.graph_render`).

The `screener` group imports this module only when `graph` runs (`LazyGroup`). It imports
nothing heavy at module level: networkx is loaded only when the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..graph_render import DEFAULT_DEPTH, SUFFIXES, GraphFormat
from .options import InputProblem, knowledge_options, load_from_options
from .output import emit, emit_bytes

_KINDS = ("drug", "product", "class", "substance", "condition")


@click.command()
@click.argument("name", required=False)
@click.option("-d", "--depth", type=click.IntRange(min=0), metavar="N",
              help=f"Draw the concepts within N hops of NAME, over every relation and rule  [default: {DEFAULT_DEPTH}]")
@click.option("-f", "--format", "fmt", type=click.Choice([f.value for f in GraphFormat]),
              help="Output format  [default: from the -o file's extension, else dot]")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write to FILE instead of stdout.")
@click.option("--hide", "hidden", multiple=True, type=click.Choice(_KINDS), metavar="KIND",
              help="Leave out concepts of this kind (repeatable; NAME itself stays): " + ", ".join(_KINDS) + ".")
@knowledge_options
def graph(name, depth, fmt, output, hidden, knowledge_dir, layers) -> None:
    """Draw the knowledge graph around NAME (a drug, brand, class or condition).

    Without NAME, draws the whole graph, local layers (--data) included. Edges are labelled with the relation
    (is_a, has_ingredient, metabolized_to) or the rule's severity and kind;
    rules are coloured by severity (contraindicated purple, major red,
    moderate orange, minor blue). Formats: Graphviz DOT, Mermaid (renders in
    GitHub Markdown), GraphML (Gephi, Cytoscape), and SVG or PNG, which need
    Graphviz's `dot` program.

    \b
    Examples:
      screener graph carisoprodol
      screener graph Soma --hide product -o carisoprodol.svg
      screener graph pregnancy --depth 2 --format mermaid
      screener graph --format graphml -o knowledge.graphml
    """
    from ..errors import ScreenerError, UnknownConceptError
    from ..graph_render import GraphvizError, neighbourhood, render, resolve, without_kinds

    if depth is not None and name is None:
        raise click.UsageError("--depth can only be used with NAME (without NAME the whole graph is drawn)")
    if fmt is None:
        fmt = SUFFIXES.get(Path(output).suffix.lower(), GraphFormat.DOT) if output else GraphFormat.DOT
    fmt = GraphFormat(fmt)
    if fmt.binary and output is None and sys.stdout.isatty():
        # A picture's bytes would garble the terminal: one line, exit 2, and nothing written.
        raise InputProblem(f"--format {fmt.value} is binary and stdout is a terminal: write it to a file with -o FILE "
                           "(or redirect stdout)")

    knowledge = load_from_options(knowledge_dir, layers)
    try:
        centre = resolve(knowledge.index, name) if name is not None else None
        full = knowledge.graph()
    except UnknownConceptError as exc:
        raise click.ClickException(str(exc)) from None
    except ScreenerError as exc:
        raise InputProblem(str(exc)) from None

    depth = DEFAULT_DEPTH if depth is None else depth
    if hidden:  # before the hops are counted, so a neighbourhood is not reached through what is hidden
        full = without_kinds(full, set(hidden), keep=centre)
    picture = neighbourhood(full, centre, depth) if centre is not None else full
    what = f"{centre} within {depth} hop{'s' if depth != 1 else ''}" if centre else "the whole knowledge graph"
    comment = f"screener graph: {what}; knowledge {knowledge.version}"
    try:
        drawn = render(picture, fmt, centre, comment)
    except GraphvizError as exc:
        raise click.ClickException(str(exc)) from None

    if output is None:
        if isinstance(drawn, bytes):
            emit_bytes(drawn, what="the picture")
        else:
            emit(drawn, nl=False, what="the picture")
    else:
        try:
            if isinstance(drawn, bytes):
                Path(output).write_bytes(drawn)
            else:
                Path(output).write_text(drawn, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    n, m = picture.number_of_nodes(), picture.number_of_edges()
    where = f" to {output}" if output else ""
    emit(f"screener: {what}: {n} concept{'s' if n != 1 else ''}, {m} edge{'s' if m != 1 else ''}"
               f" ({fmt.value}){where}.", err=True)
