"""The files a knowledge directory holds (kept apart so the check path need not import the loader)."""

KNOWLEDGE_FILES = (
    "concepts.csv",
    "relations.csv",
    "interactions.csv",
    "conditions.csv",
    "dosing.csv",
    "counselling.csv",
    "condition_codes.csv",
    "strengths.csv",
)
"""Every file a knowledge directory may hold, in load order."""

REQUIRED_FILES = ("concepts.csv", "relations.csv", "interactions.csv", "conditions.csv")
"""The files a knowledge directory must hold; the others are optional."""

HASHED_FILES = KNOWLEDGE_FILES + ("vocabulary/manifest.json",)
"""What the content hash (and so the knowledge version) covers: the CSVs and the vocabulary's manifest,
which carries the vocabulary files' own hash."""

OVERRIDES_FILE = "overrides.csv"
"""In a local layer only: rule severity changes and rules switched off, each with a reason."""

LAYER_FILES = KNOWLEDGE_FILES + (OVERRIDES_FILE,)
"""What a local layer may hold, and what its part of the content hash covers."""
