"""The files a knowledge directory holds (kept apart so the check path need not import the loader)."""

KNOWLEDGE_FILES = (
    "concepts.csv",
    "relations.csv",
    "interactions.csv",
    "conditions.csv",
    "dosing.csv",
    "counselling.csv",
    "condition_codes.csv",
)
"""Every file a knowledge directory may hold, in load order."""

REQUIRED_FILES = ("concepts.csv", "relations.csv", "interactions.csv", "conditions.csv")
"""The files a knowledge directory must hold; the others are optional."""

HASHED_FILES = KNOWLEDGE_FILES + ("vocabulary/manifest.json",)
"""What the content hash (and so the knowledge version) covers: the CSVs and the vocabulary's manifest,
which carries the vocabulary files' own hash."""
