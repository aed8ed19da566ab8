"""Recognise what people type: medication entries, conditions, allergies and their codes, and dosing text.

`read_medication` and `read_named` (in `entries`) turn one entry into concepts
of the knowledge base or the FDA vocabulary; `sig.read_sig` reads the dosing
text of a medication entry. Name normalisation, entry checks, the name finder
and suggestions, which the knowledge compiler shares, are in `screener.text`.
"""

from __future__ import annotations

from .entries import (
    COMPLETION_FIELDS,
    NO_ALLERGY,
    SYSTEM_URIS,
    TREATMENT_QUALIFIERS,
    complete_name,
    display_name,
    fda_vocabulary,
    ingredient_for_unii,
    listed_entries,
    medication_suggestions,
    parse_code,
    qualifier_entries,
    read_medication,
    read_named,
    with_coverage,
)

__all__ = ["COMPLETION_FIELDS", "NO_ALLERGY", "SYSTEM_URIS", "TREATMENT_QUALIFIERS", "complete_name", "display_name",
           "fda_vocabulary", "ingredient_for_unii", "listed_entries", "medication_suggestions", "parse_code",
           "qualifier_entries",
           "read_medication", "read_named", "with_coverage"]
