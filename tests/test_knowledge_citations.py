"""Text a pharmacist can look up (issue 13, points 3-5): no user-facing text cites our own notes, every rule
carries its check, and naloxone is advised wherever an opioid meets a benzodiazepine or CNS depressant."""

from __future__ import annotations

import csv
import re

import pytest

import screener
from screener.paths import bundled_data_dir

INTERNAL = re.compile(r"fact sheet|field survey|\[GK\]|\bGK\b|clinical review|our notes|seed article", re.I)
"""Ways the knowledge once cited internal documents instead of sources anyone can read."""


@pytest.mark.parametrize("name", sorted(p.name for p in bundled_data_dir().glob("*.csv")))
def test_no_knowledge_row_cites_an_internal_document(name):
    with (bundled_data_dir() / name).open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            for column, cell in row.items():
                assert not INTERNAL.search(cell or ""), f"{name}:{line}:{column}: {cell[:120]}"


@pytest.mark.parametrize("entries", [
    ["oxycodone", "alprazolam"], ["Norco", "zolpidem"], ["carisoprodol", "oxycodone"],
    ["gabapentin", "morphine"], ["Soma", "Xanax", "Percocet"],
])
def test_naloxone_is_advised_where_an_opioid_meets_another_cns_depressant(entries):
    findings = screener.screen(entries).findings
    opioid_findings = [f for f in findings if "opioids" in f.rule_id]
    assert opioid_findings
    assert all("naloxone" in f.advice.lower() for f in opioid_findings), [f.rule_id for f in opioid_findings]


def test_every_rule_says_when_it_was_checked_and_against_what():
    tables = screener.load_knowledge().tables()
    for rule in tables.rules:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rule.checked), rule.id
        assert rule.checked_against.strip(), rule.id
