"""Build the knowledge graph (networkx) from checked tables.

Nodes are concepts; edges are the structural relations (`is_a`,
`has_ingredient`, `metabolized_to`) and the rules (an edge from each rule's
first operand to each other operand, keyed by the rule id). The graph is the
model the compiler walks; it is built only when the compiled cache is stale,
or when a user asks for it, so networkx stays off the `screener check` path.
"""

from __future__ import annotations

import networkx as nx

from ..errors import KnowledgeError
from ..rules.duplicates import ANY_INGREDIENT
from .tables import Tables


def build_graph(tables: Tables) -> nx.MultiDiGraph:
    """Return the knowledge graph; raise KnowledgeError on an `is_a` cycle."""
    graph = nx.MultiDiGraph()
    for concept in tables.concepts:
        graph.add_node(
            concept.id, kind=concept.kind, name=concept.name, synonyms=concept.synonyms,
            codes=concept.codes, source=concept.source,
        )
    for rel in tables.relations:
        graph.add_edge(rel.subject, rel.object, key=rel.relation, relation=rel.relation, source=rel.source,
                       line=rel.where.line)
    _check_no_cycles(graph, tables)
    for rule in tables.rules:
        first, *others = rule.concepts
        for other in others or [first]:
            if ANY_INGREDIENT in (first, other):
                continue
            graph.add_edge(first, other, key=rule.id, relation="rule", rule=rule)
    return graph


def is_a_view(graph: nx.MultiDiGraph) -> nx.DiGraph:
    """The `is_a` hierarchy alone (edges point from the narrower concept to the broader one)."""
    view = nx.DiGraph()
    view.add_nodes_from(graph.nodes)
    view.add_edges_from((u, v) for u, v, k in graph.edges(keys=True) if k == "is_a")
    return view


def _check_no_cycles(graph: nx.MultiDiGraph, tables: Tables) -> None:
    hierarchy = is_a_view(graph)
    try:
        cycle = nx.find_cycle(hierarchy)
    except nx.NetworkXNoCycle:
        return
    names = " → ".join([u for u, _ in cycle] + [cycle[0][0]])
    line = next(
        (r.where.line for r in tables.relations if r.relation == "is_a" and (r.subject, r.object) == cycle[0][:2]),
        None,
    )
    raise KnowledgeError(f"is_a cycle: {names}", "relations.csv", line)
