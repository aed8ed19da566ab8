"""`screener graph`: exact DOT and Mermaid for the tiny knowledge base, GraphML round trips,
escaping, Graphviz present, missing or failing, and the carisoprodol neighbourhood of the
bundled knowledge."""

from __future__ import annotations

import copy
import shutil
import stat

import networkx as nx
import pytest

import screener
from conftest import TINY, write_knowledge
from screener import graph_render
from screener.cli import cli
from screener.graph_render import GraphFormat, dot_quote, mermaid_ids, mermaid_text

HAVE_DOT = shutil.which("dot") is not None


def invoke(runner, tiny_dir, *args):
    return runner.invoke(cli, ["graph", *args, "--knowledge", str(tiny_dir)])


def test_dot_draws_the_neighbourhood_sorted_labelled_and_coloured(runner, tiny_dir):
    version = screener.load_knowledge(tiny_dir).version
    result = invoke(runner, tiny_dir, "drug-a")
    assert result.exit_code == 0, result.output
    assert result.stdout == r'''digraph screener {
  // screener graph: drug-a within 1 hop; knowledge VERSION
  graph [rankdir=LR, fontname="Helvetica", fontsize=10];
  node [fontname="Helvetica", fontsize=10];
  edge [fontname="Helvetica", fontsize=8];
  "benzos" [label="benzos", shape=box, style="rounded,filled", fillcolor="#e8f5e9", color="#2e7d32"];
  "drug-a" [label="drug-a", shape=ellipse, style="filled", fillcolor="#e3f2fd", color="#1565c0", penwidth=3];
  "drug-c" [label="drug-c", shape=ellipse, style="filled", fillcolor="#e3f2fd", color="#1565c0"];
  "drug-d" [label="drug-d", shape=ellipse, style="filled", fillcolor="#e3f2fd", color="#1565c0"];
  "liver-disease" [label="liver disease", shape=hexagon, style="filled", fillcolor="#fce4ec", color="#ad1457"];
  "sedatives" [label="sedatives", shape=box, style="rounded,filled", fillcolor="#e8f5e9", color="#2e7d32"];
  "benzos" -> "sedatives" [label="is_a", color="#757575", fontcolor="#757575", style=solid];
  "drug-a" -> "benzos" [label="major drug-drug", color="#d32f2f", fontcolor="#d32f2f", dir=none, penwidth=1.5];
  "drug-a" -> "benzos" [label="contraindicated drug-allergy", color="#8e24aa", fontcolor="#8e24aa", dir=none, penwidth=1.5];
  "drug-a" -> "benzos" [label="major combination", color="#d32f2f", fontcolor="#d32f2f", dir=none, penwidth=1.5];
  "drug-a" -> "drug-a" [label="major dose max_daily_dose=300\lmoderate dose max_single_dose=100\lmoderate drug-age >65\lmoderate duration max_duration=14\l", color="#d32f2f", fontcolor="#d32f2f", dir=none, penwidth=1.5];
  "drug-a" -> "drug-c" [label="moderate drug-drug", color="#ef6c00", fontcolor="#ef6c00", dir=none, penwidth=1.5];
  "drug-a" -> "drug-d" [label="major combination", color="#d32f2f", fontcolor="#d32f2f", dir=none, penwidth=1.5];
  "drug-a" -> "liver-disease" [label="moderate drug-condition", color="#ef6c00", fontcolor="#ef6c00", dir=none, penwidth=1.5];
  "drug-a" -> "sedatives" [label="is_a", color="#757575", fontcolor="#757575", style=solid];
  "drug-c" -> "benzos" [label="is_a", color="#757575", fontcolor="#757575", style=solid];
  "drug-d" -> "sedatives" [label="is_a", color="#757575", fontcolor="#757575", style=solid];
  "sedatives" -> "sedatives" [label="minor drug-drug", color="#0288d1", fontcolor="#0288d1", dir=none, penwidth=1.5];
}
'''.replace("VERSION", version)
    assert result.stderr == "screener: drug-a within 1 hop: 6 concepts, 15 edges (dot).\n"


def test_mermaid_draws_the_same_picture(runner, tiny_dir):
    version = screener.load_knowledge(tiny_dir).version
    result = invoke(runner, tiny_dir, "drug-a", "--format", "mermaid")
    assert result.exit_code == 0, result.output
    assert result.stdout == '''flowchart LR
  %% screener graph: drug-a within 1 hop; knowledge VERSION
  c_benzos("benzos")
  c_drug_a(["drug-a"])
  c_drug_c(["drug-c"])
  c_drug_d(["drug-d"])
  c_liver_disease{{"liver disease"}}
  c_sedatives("sedatives")
  c_benzos -->|"is_a"| c_sedatives
  c_drug_a ---|"major drug-drug"| c_benzos
  c_drug_a ---|"contraindicated drug-allergy"| c_benzos
  c_drug_a ---|"major combination"| c_benzos
  c_drug_a ---|"major dose max_daily_dose=300<br>moderate dose max_single_dose=100<br>moderate drug-age #gt;65<br>moderate duration max_duration=14"| c_drug_a
  c_drug_a ---|"moderate drug-drug"| c_drug_c
  c_drug_a ---|"major combination"| c_drug_d
  c_drug_a ---|"moderate drug-condition"| c_liver_disease
  c_drug_a -->|"is_a"| c_sedatives
  c_drug_c -->|"is_a"| c_benzos
  c_drug_d -->|"is_a"| c_sedatives
  c_sedatives ---|"minor drug-drug"| c_sedatives
  classDef kind_class fill:#e8f5e9,stroke:#2e7d32
  class c_benzos,c_sedatives kind_class
  classDef kind_condition fill:#fce4ec,stroke:#ad1457
  class c_liver_disease kind_condition
  classDef kind_drug fill:#e3f2fd,stroke:#1565c0
  class c_drug_a,c_drug_c,c_drug_d kind_drug
  classDef centre stroke-width:3px
  class c_drug_a centre
  linkStyle 11 stroke:#0288d1,stroke-width:2px,color:#0288d1
  linkStyle 0,8,9,10 stroke:#757575,stroke-width:1px,color:#757575
  linkStyle 2 stroke:#8e24aa,stroke-width:2px,color:#8e24aa
  linkStyle 1,3,4,6 stroke:#d32f2f,stroke-width:2px,color:#d32f2f
  linkStyle 5,7 stroke:#ef6c00,stroke-width:2px,color:#ef6c00
'''.replace("VERSION", version)


def test_graphml_keeps_every_rule_as_its_own_edge_with_string_attributes(runner, tiny_dir, tmp_path):
    out = tmp_path / "tiny.graphml"
    result = invoke(runner, tiny_dir, "drug-a", "-o", str(out))  # format from the extension
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == f"screener: drug-a within 1 hop: 6 concepts, 15 edges (graphml) to {out}.\n"
    assert out.read_text(encoding="utf-8").startswith("<?xml version='1.0' encoding='utf-8'?>\n<graphml")

    g = nx.read_graphml(out)
    assert isinstance(g, nx.MultiDiGraph)
    assert sorted(g.nodes) == ["benzos", "drug-a", "drug-c", "drug-d", "liver-disease", "sedatives"]
    assert g.nodes["liver-disease"] == {
        "label": "liver disease", "kind": "condition", "name": "liver disease", "synonyms": "", "codes": "",
        "source": "test", "color": "#fce4ec", "centre": "false",
    }
    assert g.nodes["drug-a"]["centre"] == "true"
    assert sorted(k for _, _, k in g.edges(keys=True)) == [
        "benzos|is_a|sedatives", "drug-a|a+benzos|benzos", "drug-a|a+c|drug-c", "drug-a|a-allergy|benzos",
        "drug-a|a-daily|drug-a", "drug-a|a-days|drug-a", "drug-a|a-liver|liver-disease", "drug-a|a-old|drug-a",
        "drug-a|a-single|drug-a", "drug-a|is_a|sedatives", "drug-a|triple|benzos", "drug-a|triple|drug-d",
        "drug-c|is_a|benzos", "drug-d|is_a|sedatives", "sedatives|sed+sed|sedatives",
    ]
    assert g.edges["drug-a", "drug-a", "drug-a|a-old|drug-a"] == {
        "label": "moderate drug-age >65", "relation": "rule", "rule": "a-old", "kind": "drug-age",
        "severity": "moderate", "source": "S7", "layer": "bundled", "override": "", "color": "#ef6c00",
    }
    assert g.edges["drug-c", "benzos", "drug-c|is_a|benzos"] == {
        "label": "is_a", "relation": "is_a", "rule": "", "kind": "", "severity": "", "source": "test",
        "layer": "", "override": "", "color": "#757575",
    }
    assert g.graph["description"].startswith("screener graph: drug-a within 1 hop; knowledge ")


def test_name_resolves_like_explain_and_depth_zero_is_the_concept_alone(runner, tiny_dir):
    result = invoke(runner, tiny_dir, "BRAND  b", "--depth", "0", "-f", "mermaid")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2:] == [
        '  c_brand_b["Brand B"]',
        "  classDef kind_product fill:#f5f5f5,stroke:#616161",
        "  class c_brand_b kind_product",
        "  classDef centre stroke-width:3px",
        "  class c_brand_b centre",
    ]
    assert result.stderr == "screener: brand-b within 0 hops: 1 concept, 0 edges (mermaid).\n"


def test_depth_two_reaches_further(runner, tiny_dir):
    result = invoke(runner, tiny_dir, "brand-b", "--depth", "2", "-f", "graphml")
    assert result.exit_code == 0, result.output
    g = nx.parse_graphml(result.stdout)
    assert sorted(g.nodes) == ["benzos", "brand-b", "drug-b"]
    result = invoke(runner, tiny_dir, "brand-b", "--depth", "3", "-f", "graphml")
    assert sorted(nx.parse_graphml(result.stdout).nodes) == [
        "benzos", "brand-b", "drug-a", "drug-b", "drug-c", "sedatives"]


def test_without_name_the_whole_graph_is_drawn(runner, tiny_dir):
    result = invoke(runner, tiny_dir, "-f", "graphml")
    assert result.exit_code == 0, result.output
    g = nx.parse_graphml(result.stdout)
    assert g.number_of_nodes() == len(TINY["concepts.csv"]) - 1
    assert not any(centre == "true" for _, centre in g.nodes(data="centre"))
    assert result.stderr == "screener: the whole knowledge graph: 10 concepts, 20 edges (graphml).\n"


def test_hide_leaves_out_a_kind_but_keeps_the_named_concept(runner, tiny_dir):
    result = invoke(runner, tiny_dir, "benzos", "--hide", "class", "--hide", "product", "-f", "graphml")
    assert result.exit_code == 0, result.output
    assert sorted(nx.parse_graphml(result.stdout).nodes) == ["benzos", "drug-a", "drug-b", "drug-c"]
    # Hidden concepts are not walked through either: benzos would lead from drug-b to drug-a and drug-c.
    result = invoke(runner, tiny_dir, "drug-b", "--depth", "2", "--hide", "class", "-f", "graphml")
    assert sorted(nx.parse_graphml(result.stdout).nodes) == ["brand-b", "drug-b"]


def test_output_is_deterministic(runner, tiny_dir):
    for fmt in ("dot", "mermaid", "graphml"):
        first = invoke(runner, tiny_dir, "-f", fmt).stdout
        assert first == invoke(runner, tiny_dir, "-f", fmt).stdout


@pytest.mark.parametrize("args, code, message", [
    (["drug-x"], 1, "Error: 'drug-x' is not in the knowledge base. Did you mean: drug-d, drug-c, drug-b, drug-a?\n"),
    ([""], 2, "Error: an empty name entry was given; remove it or write the name\n"),
])
def test_unknown_or_empty_name_is_one_line(runner, tiny_dir, args, code, message):
    result = invoke(runner, tiny_dir, *args)
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr == message


def test_depth_needs_a_name(runner, tiny_dir):
    result = invoke(runner, tiny_dir, "--depth", "2")
    assert result.exit_code == 2
    assert "Error: --depth can only be used with NAME (without NAME the whole graph is drawn)" in result.stderr


def test_bad_knowledge_dir_exits_2(runner, tmp_path):
    result = runner.invoke(cli, ["graph", "drug-a", "--knowledge", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: knowledge: knowledge directory not found")


# --------------------------------------------------------------------------------------------
# escaping


@pytest.fixture
def odd_dir(tmp_path):
    """The tiny knowledge base with a drug whose name holds every character that needs escaping."""
    tables = copy.deepcopy(TINY)
    row = next(r for r in tables["concepts.csv"] if r[0] == "drug-d")
    row[2] = 'Dr. "D" #1 <x> | a\\b & c --> end'
    return write_knowledge(tmp_path / "odd", tables)


ODD = 'Dr. "D" #1 <x> | a\\b & c --> end'


def test_labels_are_escaped_for_each_format(runner, odd_dir):
    dot = invoke(runner, odd_dir, "drug-d", "--hide", "class").stdout
    assert '  "drug-d" [label="Dr. \\"D\\" #1 <x> | a\\\\b & c --> end", shape=ellipse,' in dot
    mermaid = invoke(runner, odd_dir, "drug-d", "--hide", "class", "-f", "mermaid").stdout
    assert '  c_drug_d(["Dr. #quot;D#quot; #35;1 #lt;x#gt; #124; a\\b #amp; c --#gt; end"])\n' in mermaid
    graphml = invoke(runner, odd_dir, "drug-d", "-f", "graphml").stdout
    assert nx.parse_graphml(graphml).nodes["drug-d"]["name"] == ODD


def test_escaping_helpers():
    assert dot_quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c d"'
    assert mermaid_text('x"#<>&|`') == "x#quot;#35;#lt;#gt;#amp;#124;#96;"
    assert mermaid_ids(["a-b", "a_b", "a.b", "end"]) == {"a-b": "c_a_b", "a_b": "c_a_b_2", "a.b": "c_a_b_3",
                                                          "end": "c_end"}


# --------------------------------------------------------------------------------------------
# SVG and PNG through Graphviz


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_svg_and_png_without_graphviz_say_so_in_one_line(runner, tiny_dir, tmp_path, fmt):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = runner.invoke(cli, ["graph", "drug-a", "-f", fmt, "--knowledge", str(tiny_dir)], env={"PATH": str(empty)})
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: --format {fmt} needs Graphviz's 'dot' program, which is not on PATH; install Graphviz "
        "(e.g. apt-get install graphviz) or use --format dot, mermaid or graphml\n"
    )


def test_a_failing_dot_is_reported(runner, tiny_dir, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: <stdin>: syntax error in line 1' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    result = runner.invoke(cli, ["graph", "drug-a", "-o", str(tmp_path / "x.svg"), "--knowledge", str(tiny_dir)],
                           env={"PATH": str(bin_dir)})
    assert result.exit_code == 1
    assert result.stderr == "Error: Graphviz 'dot' failed (exit 3): Error: <stdin>: syntax error in line 1\n"
    assert not (tmp_path / "x.svg").exists()


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")
def test_svg_and_png_with_graphviz(runner, tiny_dir, tmp_path):
    result = invoke(runner, tiny_dir, "drug-a", "-f", "svg")
    assert result.exit_code == 0, result.output
    assert "<svg" in result.stdout and "liver disease" in result.stdout and "#d32f2f" in result.stdout
    out = tmp_path / "drug-a.png"
    result = invoke(runner, tiny_dir, "drug-a", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert result.stderr == f"screener: drug-a within 1 hop: 6 concepts, 15 edges (png) to {out}.\n"


def test_render_rejects_a_text_format_for_graphviz():
    with pytest.raises(ValueError):
        graph_render.render_image("digraph {}", GraphFormat.DOT)


# --------------------------------------------------------------------------------------------
# the bundled knowledge


def test_carisoprodol_neighbourhood_links_opioids_benzodiazepines_pregnancy_and_cyp2c19(runner, tmp_path):
    out = tmp_path / "carisoprodol.graphml"
    result = runner.invoke(cli, ["graph", "Soma", "--depth", "2", "--hide", "product", "-o", str(out)])
    assert result.exit_code == 0, result.output
    g = nx.read_graphml(out)
    assert {"carisoprodol", "opioids", "benzodiazepines", "pregnancy", "cyp2c19-inhibitors", "meprobamate"} <= set(g)
    assert not [n for n, kind in g.nodes(data="kind") if kind == "product" and n != "soma"]
    severities = {(u, v): d["severity"] for u, v, d in g.edges(data=True) if d["relation"] == "rule"}
    assert severities["carisoprodol", "opioids"] == "major"
    assert severities["carisoprodol", "pregnancy"] == "moderate"
    assert severities["carisoprodol", "cyp2c19-inhibitors"] == "moderate"
    assert severities["carisoprodol", "acute-intermittent-porphyria"] == "contraindicated"
    assert g.nodes["soma"]["centre"] == "true"


def test_carisoprodol_default_picture_is_one_hop(runner):
    result = runner.invoke(cli, ["graph", "carisoprodol", "-f", "graphml"])
    assert result.exit_code == 0, result.output
    g = nx.parse_graphml(result.stdout)
    assert {"opioids", "benzodiazepines", "pregnancy", "cyp2c19-inhibitors", "soma", "prosoma"} <= set(g)
    assert "alprazolam" not in g  # two hops away
    mermaid = runner.invoke(cli, ["graph", "carisoprodol", "-f", "mermaid"]).stdout
    assert '  c_carisoprodol ---|"major drug-drug"| c_opioids\n' in mermaid


def test_local_layers_are_drawn_with_their_overrides(runner, tmp_path):
    layer = write_knowledge(tmp_path / "hospital", {
        "concepts.csv": [
            ["id", "kind", "name", "synonyms", "codes", "source"],
            ["relaxo", "product", "Relaxo", "", "", "St Elsewhere formulary 2026"],
        ],
        "relations.csv": [
            ["subject", "relation", "object", "source"],
            ["relaxo", "has_ingredient", "carisoprodol", "St Elsewhere formulary 2026"],
        ],
        "overrides.csv": [
            ["rule", "action", "severity", "reason", "source"],
            ["carisoprodol+cyp2c19-inhibitors", "severity", "minor", "alert fatigue", "St Elsewhere P&T 2026-03"],
        ],
    })
    result = runner.invoke(cli, ["graph", "Relaxo", "--depth", "2", "-f", "graphml", "--data", str(layer)])
    assert result.exit_code == 0, result.output
    g = nx.parse_graphml(result.stdout)
    assert {"relaxo", "carisoprodol", "cyp2c19-inhibitors"} <= set(g)
    edge = g.edges["carisoprodol", "cyp2c19-inhibitors", "carisoprodol|carisoprodol+cyp2c19-inhibitors|cyp2c19-inhibitors"]
    assert (edge["severity"], edge["color"], edge["layer"]) == ("minor", "#0288d1", "hospital")
    assert "hospital" in edge["override"]
