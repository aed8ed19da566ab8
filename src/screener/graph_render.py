"""Pictures of the knowledge graph: `screener graph`.

Pick a part of the graph (`neighbourhood`: every concept within N hops of one
concept, over both directions of every relation and rule), then write it as
Graphviz DOT (`render_dot`), Mermaid (`render_mermaid`), GraphML
(`render_graphml`), or SVG/PNG through Graphviz's `dot` program
(`render_image`).

Edges are labelled with their relation (`is_a`, `has_ingredient`,
`metabolized_to`) or, for a rule, with its severity and kind (plus the age or
dose limit for rules on one drug). Rule edges are coloured by severity, with
the colours of the text report: contraindicated purple, major red, moderate
orange, minor blue. Node shape and fill follow the concept's kind. In the
pictures (DOT, Mermaid, SVG, PNG) the rules on one concept alone (age, dose,
duration, duplicate) are drawn as one loop listing them all, most serious
first, coloured by the most serious; GraphML keeps every rule as its own edge.
Nodes and edges are written in sorted order, so the same knowledge always
gives the same text.

networkx is imported inside the functions that need it, so importing this
module (as the CLI does) stays light.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from .errors import ScreenerError, UnknownConceptError
from .model import Severity
from .text import clean_entry, normalize_name, suggest

if TYPE_CHECKING:  # pragma: no cover - typing only
    import networkx as nx

    from .knowledge.index import Index

DEFAULT_DEPTH = 1
"""Hops from the named concept. One hop shows every rule written for it and its classes and brands."""


class GraphFormat(str, Enum):
    """Output formats of `screener graph`."""

    DOT = "dot"
    MERMAID = "mermaid"
    GRAPHML = "graphml"
    SVG = "svg"
    PNG = "png"

    @property
    def needs_graphviz(self) -> bool:
        """Rendered by Graphviz's `dot` program rather than written as text."""
        return self in (GraphFormat.SVG, GraphFormat.PNG)

    @property
    def binary(self) -> bool:
        """Bytes, not text."""
        return self is GraphFormat.PNG


SUFFIXES = {
    ".dot": GraphFormat.DOT,
    ".gv": GraphFormat.DOT,
    ".mmd": GraphFormat.MERMAID,
    ".mermaid": GraphFormat.MERMAID,
    ".graphml": GraphFormat.GRAPHML,
    ".svg": GraphFormat.SVG,
    ".png": GraphFormat.PNG,
}
"""File name endings that choose a format when none is given."""


class GraphvizError(ScreenerError):
    """Graphviz's `dot` program is not installed, or it failed."""


SEVERITY_COLOURS = {
    "contraindicated": "#8e24aa",
    "major": "#d32f2f",
    "moderate": "#ef6c00",
    "minor": "#0288d1",
}
"""Rule edge colour by severity (the text report's magenta, red, yellow/orange, cyan)."""

STRUCTURE_COLOUR = "#757575"
"""Colour of is_a, has_ingredient and metabolized_to edges."""

# kind → (DOT shape, DOT style, fill, stroke, Mermaid opening and closing brackets)
_KIND_STYLES: dict[str, tuple[str, str, str, str, str, str]] = {
    "drug": ("ellipse", "filled", "#e3f2fd", "#1565c0", '(["', '"])'),
    "product": ("box", "filled", "#f5f5f5", "#616161", '["', '"]'),
    "class": ("box", "rounded,filled", "#e8f5e9", "#2e7d32", '("', '")'),
    "substance": ("parallelogram", "filled", "#fff8e1", "#f9a825", '[/"', '"/]'),
    "condition": ("hexagon", "filled", "#fce4ec", "#ad1457", '{{"', '"}}'),
}
_FALLBACK_STYLE = ("ellipse", "filled", "#ffffff", "#000000", '["', '"]')

# Structural edges in DOT: is_a plain, has_ingredient dashed, metabolized_to dotted.
_STRUCTURE_STYLES = {"is_a": "solid", "has_ingredient": "dashed", "metabolized_to": "dotted"}


# --------------------------------------------------------------------------------------------
# choosing what to draw


def resolve(index: Index, name: str) -> str:
    """The concept id for `name` (any name, brand, synonym or id), as `screener explain` resolves it.

    Raises UnknownConceptError (with suggestions) for a name the knowledge base
    does not hold, and InputError for text that cannot be a name at all.
    """
    text = clean_entry(name, "name")
    cid = index.names.get(normalize_name(text))
    if cid is None:
        raise UnknownConceptError(text, suggest(text, index.name_text, index.names))
    return cid


def neighbourhood(graph: nx.MultiDiGraph, centre: str, depth: int = DEFAULT_DEPTH) -> nx.MultiDiGraph:
    """The concepts within `depth` hops of `centre` (edges followed both ways), with every edge among them."""
    import networkx as nx

    if depth < 0:
        raise ValueError("depth must be 0 or more")
    hops = nx.single_source_shortest_path_length(graph.to_undirected(as_view=True), centre, cutoff=depth)
    return graph.subgraph(hops).copy()


def without_kinds(graph: nx.MultiDiGraph, kinds: set[str], keep: str | None = None) -> nx.MultiDiGraph:
    """`graph` without the concepts of the given kinds (the concept `keep` always stays)."""
    drop = [n for n, kind in graph.nodes(data="kind") if kind in kinds and n != keep]
    smaller = graph.copy()
    smaller.remove_nodes_from(drop)
    return smaller


def edge_label(data: dict[str, Any]) -> str:
    """`is_a`, `has_ingredient`, `metabolized_to`, or a rule's `<severity> <kind>` (with its limit, if any)."""
    if data.get("relation") != "rule":
        return str(data.get("relation", ""))
    rule = data["rule"]
    label = f"{rule.severity} {rule.kind}"
    if rule.family in ("age", "dose") and rule.target:
        label += f" {rule.target}"
    return label


def edge_colour(data: dict[str, Any]) -> str:
    """The severity colour of a rule edge; grey for a structural edge."""
    if data.get("relation") == "rule":
        return SEVERITY_COLOURS.get(data["rule"].severity, STRUCTURE_COLOUR)
    return STRUCTURE_COLOUR


def _severity_rank(data: dict[str, Any]) -> int:
    try:
        return Severity(data["rule"].severity).rank
    except (KeyError, ValueError):
        return -1


@dataclass(frozen=True, slots=True)
class DrawnEdge:
    """One line of a picture: an edge, or all the rules on one concept alone merged into a loop."""

    tail: str
    head: str
    labels: tuple[str, ...]
    """One label per edge drawn here (several only for a merged loop), most serious first."""
    colour: str
    rule: bool
    """A rule edge (drawn without an arrowhead) rather than a structural relation."""
    relation: str


def drawn_edges(graph: nx.MultiDiGraph) -> list[DrawnEdge]:
    """The edges as the pictures draw them, in sorted order (see the module docstring on loops)."""
    drawn: list[DrawnEdge] = []
    loops: dict[str, list[dict[str, Any]]] = {}
    for u, v, _, data in _edges(graph):
        rule = data.get("relation") == "rule"
        if rule and u == v:
            if u not in loops:
                loops[u] = []
                drawn.append(DrawnEdge(u, v, (), "", True, "rule"))  # placeholder, keeps the sorted place
            loops[u].append(data)
            continue
        drawn.append(DrawnEdge(u, v, (edge_label(data),), edge_colour(data), rule, str(data.get("relation", ""))))
    for n, edge in enumerate(drawn):
        if edge.rule and edge.tail == edge.head and not edge.labels:
            rules = sorted(loops[edge.tail], key=lambda d: (-_severity_rank(d), edge_label(d)))
            drawn[n] = DrawnEdge(edge.tail, edge.head, tuple(edge_label(d) for d in rules),
                                 edge_colour(rules[0]), True, "rule")
    return drawn


def _nodes(graph: nx.MultiDiGraph) -> list[tuple[str, dict[str, Any]]]:
    return sorted(graph.nodes(data=True), key=lambda item: item[0])


def _edges(graph: nx.MultiDiGraph) -> list[tuple[str, str, str, dict[str, Any]]]:
    return sorted(graph.edges(keys=True, data=True), key=lambda e: (e[0], e[1], str(e[2])))


def _name(node: str, data: dict[str, Any]) -> str:
    return str(data.get("name") or node)


# --------------------------------------------------------------------------------------------
# DOT


def _dot_escape(text: str) -> str:
    text = " ".join(str(text).splitlines())
    return text.replace("\\", "\\\\").replace('"', '\\"')


def dot_quote(text: str) -> str:
    """`text` as a double-quoted DOT string: backslashes and quotes escaped, line breaks as spaces."""
    return '"' + _dot_escape(text) + '"'


def render_dot(graph: nx.MultiDiGraph, centre: str | None = None, comment: str = "") -> str:
    """The graph as Graphviz DOT text; `centre` is drawn with a thick border."""
    q = dot_quote
    lines = ["digraph screener {"]
    if comment:
        lines.append(f"  // {' '.join(comment.splitlines())}")
    lines += [
        '  graph [rankdir=LR, fontname="Helvetica", fontsize=10];',
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=8];',
    ]
    for node, data in _nodes(graph):
        shape, style, fill, stroke, _, _ = _KIND_STYLES.get(data.get("kind", ""), _FALLBACK_STYLE)
        attrs = [f"label={q(_name(node, data))}", f"shape={shape}", f"style={q(style)}",
                 f"fillcolor={q(fill)}", f"color={q(stroke)}"]
        if node == centre:
            attrs.append("penwidth=3")
        lines.append(f"  {q(node)} [{', '.join(attrs)}];")
    for edge in drawn_edges(graph):
        colour = q(edge.colour)
        if len(edge.labels) == 1:
            label = q(edge.labels[0])
        else:  # a merged loop: one left-aligned line per rule
            label = '"' + "".join(_dot_escape(line) + "\\l" for line in edge.labels) + '"'
        attrs = [f"label={label}", f"color={colour}", f"fontcolor={colour}"]
        if edge.rule:
            # A rule is about the pair (or the drug and its condition), not a direction.
            attrs += ["dir=none", "penwidth=1.5"]
        else:
            attrs.append(f"style={_STRUCTURE_STYLES.get(edge.relation, 'solid')}")
        lines.append(f"  {q(edge.tail)} -> {q(edge.head)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Mermaid

# Mermaid reads `#name;`/`#123;` as character entities; everything it could take as syntax
# inside a quoted label is written that way.
_MERMAID_ESCAPES = str.maketrans({
    "#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "|": "#124;", "`": "#96;",
})


def mermaid_text(text: str) -> str:
    """`text` safe inside a quoted Mermaid label (entities for quotes, #, <, >, &, | and backticks)."""
    return " ".join(str(text).splitlines()).translate(_MERMAID_ESCAPES)


def render_mermaid(graph: nx.MultiDiGraph, centre: str | None = None, comment: str = "") -> str:
    """The graph as a Mermaid flowchart (GitHub renders it in a ```mermaid block).

    Node ids are the concept ids with every character but letters and digits
    written `_`, after `c_` (so no id is one of Mermaid's words, such as `end`).
    """
    ids = mermaid_ids(node for node, _ in _nodes(graph))
    lines = ["flowchart LR"]
    if comment:
        lines.append(f"  %% {' '.join(comment.splitlines())}")
    by_kind: dict[str, list[str]] = {}
    for node, data in _nodes(graph):
        kind = str(data.get("kind", ""))
        _, _, _, _, opening, closing = _KIND_STYLES.get(kind, _FALLBACK_STYLE)
        lines.append(f"  {ids[node]}{opening}{mermaid_text(_name(node, data))}{closing}")
        by_kind.setdefault(kind, []).append(ids[node])
    by_colour: dict[str, list[str]] = {}
    for n, edge in enumerate(drawn_edges(graph)):
        arrow = "---" if edge.rule else "-->"
        label = "<br>".join(mermaid_text(line) for line in edge.labels)
        lines.append(f'  {ids[edge.tail]} {arrow}|"{label}"| {ids[edge.head]}')
        by_colour.setdefault(edge.colour, []).append(str(n))
    for kind in sorted(by_kind):
        _, _, fill, stroke, _, _ = _KIND_STYLES.get(kind, _FALLBACK_STYLE)
        lines.append(f"  classDef kind_{_mermaid_class(kind)} fill:{fill},stroke:{stroke}")
        lines.append(f"  class {','.join(by_kind[kind])} kind_{_mermaid_class(kind)}")
    if centre is not None and centre in ids:
        lines.append("  classDef centre stroke-width:3px")
        lines.append(f"  class {ids[centre]} centre")
    for colour in sorted(by_colour):
        width = "1px" if colour == STRUCTURE_COLOUR else "2px"
        lines.append(f"  linkStyle {','.join(by_colour[colour])} stroke:{colour},stroke-width:{width},color:{colour}")
    return "\n".join(lines) + "\n"


def mermaid_ids(nodes: Iterable[str]) -> dict[str, str]:
    """Mermaid node ids for concept ids, in the given order; `_2`, `_3`… keep clashing ones apart."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for node in nodes:
        base = "c_" + "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in node)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        ids[node] = candidate
        taken.add(candidate)
    return ids


def _mermaid_class(kind: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in kind) or "none"


# --------------------------------------------------------------------------------------------
# GraphML


def graphml_graph(graph: nx.MultiDiGraph, centre: str | None = None, comment: str = "") -> nx.MultiDiGraph:
    """A copy of `graph` whose attributes are all strings, as GraphML (and Gephi, Cytoscape) expect.

    Nodes: label, kind, name, synonyms and codes (`; `-separated), source,
    color, centre (`true`/`false`). Edges: label, relation, rule, kind,
    severity, source, layer and override (rules only), color; each is keyed `tail|relation or rule id|head`,
    because GraphML edge ids must be unique (Gephi drops repeated ones).
    """
    import networkx as nx

    out = nx.MultiDiGraph()
    if comment:
        out.graph["description"] = " ".join(comment.splitlines())
    for node, data in _nodes(graph):
        _, _, fill, _, _, _ = _KIND_STYLES.get(data.get("kind", ""), _FALLBACK_STYLE)
        out.add_node(
            node,
            label=_name(node, data),
            kind=str(data.get("kind", "")),
            name=_name(node, data),
            synonyms="; ".join(data.get("synonyms", ())),
            codes="; ".join(data.get("codes", ())),
            source=str(data.get("source", "")),
            color=fill,
            centre="true" if node == centre else "false",
        )
    for u, v, key, data in _edges(graph):
        rule = data.get("rule") if data.get("relation") == "rule" else None
        out.add_edge(
            u, v, key=f"{u}|{key}|{v}",
            label=edge_label(data),
            relation=str(data.get("relation", "")),
            rule=rule.id if rule else "",
            kind=rule.kind if rule else "",
            severity=rule.severity if rule else "",
            source=rule.source if rule else str(data.get("source", "")),
            layer=rule.where.layer if rule else "",
            override=rule.override if rule else "",
            color=edge_colour(data),
        )
    return out


def render_graphml(graph: nx.MultiDiGraph, centre: str | None = None, comment: str = "") -> str:
    """The graph as GraphML text (networkx's writer; every attribute a string)."""
    import networkx as nx

    body = "\n".join(nx.generate_graphml(graphml_graph(graph, centre, comment)))
    return "<?xml version='1.0' encoding='utf-8'?>\n" + body + "\n"


# --------------------------------------------------------------------------------------------
# SVG and PNG through Graphviz


def find_dot() -> str | None:
    """The path of Graphviz's `dot` program, or None when it is not on PATH."""
    return shutil.which("dot")


def render_image(dot_text: str, fmt: GraphFormat | str, *, timeout: float = 120) -> bytes:
    """Render DOT text to SVG or PNG bytes with Graphviz's `dot`; raise GraphvizError."""
    fmt = GraphFormat(fmt)
    if not fmt.needs_graphviz:
        raise ValueError(f"{fmt.value} is not rendered by Graphviz")
    program = find_dot()
    if program is None:
        raise GraphvizError(
            f"--format {fmt.value} needs Graphviz's 'dot' program, which is not on PATH; "
            "install Graphviz (e.g. apt-get install graphviz) or use --format dot, mermaid or graphml"
        )
    try:
        done = subprocess.run([program, f"-T{fmt.value}"], input=dot_text.encode("utf-8"),
                              capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphvizError(f"Graphviz 'dot' failed: {exc}") from None
    if done.returncode != 0:
        problem = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphvizError(f"Graphviz 'dot' failed (exit {done.returncode})"
                            + (f": {problem[0]}" if problem else ""))
    return done.stdout


def render(graph: nx.MultiDiGraph, fmt: GraphFormat | str, centre: str | None = None,
           comment: str = "") -> str | bytes:
    """`graph` in `fmt`: text for dot, mermaid and graphml; SVG text or PNG bytes via Graphviz."""
    fmt = GraphFormat(fmt)
    if fmt is GraphFormat.MERMAID:
        return render_mermaid(graph, centre, comment)
    if fmt is GraphFormat.GRAPHML:
        return render_graphml(graph, centre, comment)
    dot_text = render_dot(graph, centre, comment)
    if fmt is GraphFormat.DOT:
        return dot_text
    image = render_image(dot_text, fmt)
    return image if fmt.binary else image.decode("utf-8")
