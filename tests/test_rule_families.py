"""The rule families are declared once, and everything else is derived from them.

Every kind of finding has its family; each family compiles its table, screens
at its scope and declares a trigger the batch engine can evaluate. Modules use
each other's public names only, and one age reader serves check and batch.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

import screener
from screener.batch import screen_frame
from screener.batch.engine import Codebook
from screener.model import FindingKind
from screener.rules import FAMILIES, family_of
from screener.rules.age import parse_age
from screener.rules.base import Family, Scope
from screener.rules.triggers import TRIGGER_TYPES

SRC = Path(screener.__file__).resolve().parent

SCOPE_METHOD = {Scope.PAIR: "pair", Scope.FACT: "fact", Scope.AGE: "at_age", Scope.LIST: "whole"}


def test_every_kind_of_finding_has_exactly_one_family():
    kinds = [family.kind for family in FAMILIES]
    assert sorted(kinds) == sorted(FindingKind), "a FindingKind without a family (or with two) in screener.rules"
    assert len({family.name for family in FAMILIES}) == len(FAMILIES)
    for kind in FindingKind:
        assert family_of(kind).kind is kind
        assert family_of(kind.value).kind is kind


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_each_family_implements_its_scope_and_compiles_codes(family, kb):
    method = SCOPE_METHOD[family.scope]
    assert getattr(type(family), method) is not getattr(Family, method), f"{family.name} has no {method}()"
    assert type(family).compile is not Family.compile and type(family).trigger is not Family.trigger
    if family.scope is Scope.FACT:
        assert family.field in ("condition", "allergy")
    # Its table is in the index, and every rule of its kind carries the codes the family gave it.
    assert family.name in kb.index.families
    for rule in kb.index.rules.values():
        if rule.kind is family.kind and rule.kind is not FindingKind.DOSE:
            assert dict(rule.codes).get("ncpdp"), rule.id


@pytest.mark.parametrize("which", ["bundled", "tiny"])
def test_every_trigger_is_a_shape_the_batch_prefilter_evaluates(which, kb, tiny):
    knowledge = kb if which == "bundled" else tiny
    for family in FAMILIES:
        trigger = family.trigger(knowledge.index, knowledge.index.families[family.name])
        assert isinstance(trigger, TRIGGER_TYPES), family.name
    Codebook(knowledge.index)  # refuses a trigger it cannot evaluate


def test_a_trigger_shape_the_prefilter_does_not_know_is_refused(kb, monkeypatch):
    class Shapeless:
        pass

    family = FAMILIES[0]
    monkeypatch.setattr(type(family), "trigger", lambda self, index, table: Shapeless())
    with pytest.raises(TypeError, match="cannot evaluate Shapeless"):
        Codebook(kb.index)


def _imported_privates(path: Path) -> list[str]:
    """`from x import _y` and `module._y` uses where x or module is another screener module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems = []
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("screener")):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    problems.append(f"{path.relative_to(SRC)}:{node.lineno}: from {node.module} import {alias.name}")
                else:
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("screener"):
                    modules.add((alias.asname or alias.name).split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in modules):
            problems.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value.id}.{node.attr}")
    return problems


def test_no_module_uses_another_modules_private_names():
    problems = [p for path in sorted(SRC.rglob("*.py")) for p in _imported_privates(path)]
    assert problems == []


def test_the_knowledge_package_does_not_import_the_screening_code():
    for path in (SRC / "knowledge").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = node.module or ""
                assert not target.startswith(("screening", "api", "batch", "formats", "service")), (path, target)


AGES = ["70", " 70 ", "70.5", "70 years", "70 yo", "18 months", "0", "130", "1_0", "nan", "-1", "131", "ten",
        "1e2", str(10 ** 400), "inf", "+70"]


@pytest.mark.parametrize("text", AGES)
def test_check_and_batch_read_an_age_the_same_way(kb, text):
    try:
        years = parse_age(text)
        library = ("ok", kb.screen(["Soma"], age=text).age)
    except screener.InputError as exc:
        years, library = None, ("invalid", str(exc))
    frame = pd.DataFrame({"patient_id": ["p"], "medications": ["Soma"], "age": [text]})
    _, patients = screen_frame(frame, knowledge=kb)
    row = patients.iloc[0]
    if library[0] == "invalid":
        assert row["status"] == "invalid" and row["error"] == library[1]
    else:
        assert row["status"] != "invalid" and library[1] == years


@pytest.mark.parametrize("value", [True, 10 ** 400, float("nan"), float("inf"), -1, [70], 1j, "1_0"])
def test_impossible_ages_are_refused_by_the_library_with_its_own_error(kb, value):
    with pytest.raises(screener.InputError, match=r"^age "):
        kb.screen(["Soma"], age=value)


@pytest.mark.parametrize("value", [None, 123, b"Soma", {"Soma": 1}, "Soma"])
def test_wrong_types_for_a_list_are_refused_with_the_projects_own_error(kb, value):
    with pytest.raises(screener.InputError):
        kb.screen(value)
    with pytest.raises(screener.InputError):
        kb.screen(["Soma"], conditions=value)


@pytest.mark.parametrize("entry", [{"a": 1}, ["Soma"], None, 1.5, b"Soma"])
def test_entries_that_are_not_text_are_refused_before_anything_is_looked_up(kb, entry):
    with pytest.raises(screener.InputError, match="is not text"):
        kb.screen([entry])


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The screener modules `path` imports, at module level or inside functions (not for typing only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, (ast.ImportFrom, ast.Import)):
            # Importing a.b.c runs the package a.b first.
            names = [".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                     if isinstance(node, ast.ImportFrom) and node.level else (getattr(node, "module", None) or "")]
            for name in names:
                parts = name.split(".")
                out |= {".".join(parts[:n]) for n in range(2, len(parts))}
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if not target.startswith("screener"):
                continue
            for alias in node.names:  # `from . import x` may name a module
                candidate = f"{target}.{alias.name}"
                out.add(candidate if (SRC.parent / candidate.replace(".", "/")).with_suffix(".py").exists()
                        or (SRC.parent / candidate.replace(".", "/")).is_dir() else target)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("screener")}
    return out


def test_no_import_cycles_between_modules():
    import networkx as nx

    graph = nx.DiGraph()
    for path in SRC.rglob("*.py"):
        for target in _imports(path):
            graph.add_edge(_module_name(path), target)
    # Imports inside functions count too: they are what a deferred-import cycle hides. Within one
    # package, a submodule "importing" its package's __init__ is how Python packages work; a cycle
    # across packages (knowledge -> screening -> knowledge) is a layering fault.
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    cycles = [c for c in nx.simple_cycles(graph) if len({package(m) for m in c}) > 1]
    assert cycles == []


@pytest.mark.parametrize("text", AGES)
def test_check_on_the_command_line_reads_an_age_as_batch_does(runner, kb, text):
    from screener.cli import cli

    result = runner.invoke(cli, ["check", "gabapentin", "--age", text, "-f", "json"])
    try:
        years = parse_age(text)
    except screener.InputError as exc:
        assert result.exit_code == 2 and str(exc) in result.stderr
    else:
        import json

        assert result.exit_code == 0 and json.loads(result.stdout)["screened"]["age"] == years


@pytest.mark.parametrize("call", [
    lambda: screener.load_knowledge(123),
    lambda: screener.load_knowledge(b"/some/dir"),
    lambda: screener.load_knowledge(layers=None),
    lambda: screener.load_knowledge(layers=[None]),
    lambda: screener.load_knowledge(layers="abc"),
    lambda: screener.load_knowledge("/no/such/directory"),
])
def test_load_knowledge_refuses_wrong_arguments_with_knowledge_error(call):
    with pytest.raises(screener.KnowledgeError):
        call()
