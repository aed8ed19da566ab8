"""Shared fixtures: an isolated cache, the bundled knowledge, a CLI runner, and a tiny knowledge base.

The tiny knowledge base is written by the tests themselves, so rule-family
tests do not depend on the wording or growth of the bundled data.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import screener
from screener.paths import bundled_data_dir


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Never read or write the user's real cache from the tests."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SCREENER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def kb():
    """The bundled knowledge base."""
    return screener.load_knowledge()


@pytest.fixture
def runner():
    """A click CLI runner (stdout and stderr are kept apart)."""
    return CliRunner()


@pytest.fixture
def data_copy(tmp_path) -> Path:
    """A writable copy of the bundled knowledge directory."""
    target = tmp_path / "data"
    shutil.copytree(bundled_data_dir(), target, ignore=shutil.ignore_patterns("README.md"))
    return target


TINY = {
    "concepts.csv": [
        ["id", "kind", "name", "synonyms", "codes", "source"],
        ["sedatives", "class", "sedatives", "", "", "test"],
        ["benzos", "class", "benzos", "", "", "test"],
        ["drug-a", "drug", "drug-a", "", "", "test"],
        ["drug-b", "drug", "drug-b", "", "", "test"],
        ["drug-c", "drug", "drug-c", "", "", "test"],
        ["drug-d", "drug", "drug-d", "", "", "test"],
        ["brand-b", "product", "Brand B", "", "", "test"],
        ["combo-cd", "product", "Combo CD", "", "", "test"],
        ["liver-disease", "condition", "liver disease", "", "", "test"],
        ["cirrhosis", "condition", "cirrhosis", "", "", "test"],
    ],
    "relations.csv": [
        ["subject", "relation", "object", "source"],
        ["benzos", "is_a", "sedatives", "test"],
        ["drug-b", "is_a", "benzos", "test"],
        ["drug-c", "is_a", "benzos", "test"],
        ["drug-d", "is_a", "sedatives", "test"],
        ["drug-a", "is_a", "sedatives", "test"],
        ["brand-b", "has_ingredient", "drug-b", "test"],
        ["combo-cd", "has_ingredient", "drug-c", "test"],
        ["combo-cd", "has_ingredient", "drug-d", "test"],
        ["cirrhosis", "is_a", "liver-disease", "test"],
    ],
    "interactions.csv": [
        ["id", "kind", "a", "b", "c", "severity", "summary", "mechanism", "advice", "plain", "evidence", "source", "checked", "checked_against"],
        ["sed+sed", "drug-drug", "sedatives", "sedatives", "", "minor", "general", "", "adv", "pl", "label", "S1", "2026-12-01", "E"],
        ["a+benzos", "drug-drug", "drug-a", "benzos", "", "major", "class rule", "", "adv", "pl", "label", "S2", "2026-12-01", "E"],
        ["a+c", "drug-drug", "drug-a", "drug-c", "", "moderate", "specific rule", "", "adv", "pl", "label", "S3", "2026-12-01", "E"],
        ["triple", "combination", "drug-a", "benzos", "drug-d", "major", "three", "", "adv", "pl", "label", "S4", "2026-12-01", "E"],
    ],
    "conditions.csv": [
        ["id", "drug", "context", "target", "severity", "summary", "advice", "plain", "evidence", "source", "checked", "checked_against"],
        ["a-liver", "drug-a", "condition", "liver-disease", "moderate", "liver", "adv", "pl", "label", "S5", "2026-12-01", "E"],
        ["a-allergy", "drug-a", "allergy", "benzos", "contraindicated", "allergy", "adv", "pl", "label", "S6", "2026-12-01", "E"],
        ["a-old", "drug-a", "age", ">65", "moderate", "old", "adv", "pl", "label", "S7", "2026-12-01", "E"],
    ],
    "dosing.csv": [
        ["id", "drug", "limit", "value", "severity", "summary", "advice", "plain", "evidence", "source", "checked", "checked_against"],
        ["a-single", "drug-a", "max_single_dose", "100", "moderate", "single", "adv", "pl", "label", "S8", "2026-12-01", "E"],
        ["a-daily", "drug-a", "max_daily_dose", "300", "major", "daily", "adv", "pl", "label", "S9", "2026-12-01", "E"],
        ["a-days", "drug-a", "max_duration", "14", "moderate", "days", "adv", "pl", "label", "S10", "2026-12-01", "E"],
    ],
    "counselling.csv": [
        ["id", "concept", "topic", "text", "source", "checked", "checked_against"],
        ["a-drive", "drug-a", "driving", "Do not drive.", "S11", "2026-12-01", "E"],
    ],
    "strengths.csv": [
        ["product", "ingredients", "strengths", "unit", "form", "source"],
        ["drug-a", "drug-a", "100|150", "mg", "tablet", "S14"],
        ["combo-cd", "drug-c/drug-d", "5/10", "mg", "tablet", "S15"],
    ],
    "fda_classes.csv": [
        ["fda_class", "class", "source", "note"],
        ["Benzodiazepine [EPC]", "benzos", "S16", ""],
    ],
    "class_exclusions.csv": [
        ["drug", "class", "reason", "source"],
        ["drug-e", "benzos", "R1", "S17"],
    ],
    "condition_names.csv": [
        ["name", "icd10cm", "source"],
        ["HTN", "I10", "S18"],
        ["high blood pressure", "I10", "S19"],
    ],
    "allergens.csv": [
        ["name", "category", "source"],
        ["latex", "environment", "S20"],
        ["peanuts", "food", "S21"],
    ],
    "mme_factors.csv": [
        ["drug", "unit", "factor", "source"],
        ["drug-a", "mg", "1.5", "S22"],
    ],
    "ambiguous_names.csv": [
        ["name", "meanings", "source"],
        ["DA", "drug-a|drug-c", "S22"],
    ],
    "condition_history.csv": [
        ["condition", "reading", "source"],
        ["cirrhosis", "past", "S23"],
    ],
    "condition_negations.csv": [
        ["condition", "names", "source"],
        ["cirrhosis", "cirrhosis", "S25"],
    ],
    "rule_exceptions.csv": [
        ["rule", "drug", "entries", "reason", "source", "checked", "checked_against"],
        ["a-liver", "drug-a", "route:sublingual", "R", "S24", "2026-12-01", "E"],
    ],
    "condition_codes.csv": [
        ["system", "code", "match", "condition", "source"],
        ["icd10", "K74", "prefix", "liver-disease", "S12"],
        ["icd10", "K74.60", "exact", "cirrhosis", "S13"],
    ],
}


def write_knowledge(directory: Path, tables: dict[str, list[list[str]]]) -> Path:
    """Write `tables` ({file name: rows}) as CSV files in `directory` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        with (directory / name).open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
    return directory


@pytest.fixture
def tiny_dir(tmp_path) -> Path:
    """A small, fully known knowledge directory (see TINY)."""
    return write_knowledge(tmp_path / "tiny", {k: [list(r) for r in v] for k, v in TINY.items()})


@pytest.fixture
def tiny(tiny_dir):
    """The tiny knowledge base, loaded."""
    return screener.load_knowledge(tiny_dir)
