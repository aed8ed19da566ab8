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
    "fda_classes.csv",
    "class_exclusions.csv",
    "condition_names.csv",
    "allergens.csv",
    "mme_factors.csv",
    "ambiguous_names.csv",
    "condition_history.csv",
    "condition_negations.csv",
    "rule_exceptions.csv",
)
"""Every file a knowledge directory may hold, in load order."""

SUBSTANCE_CLASSES = "ndc/substance_classes.tsv"
"""Built with the NDC Directory (`screener.ndc.build`): the FDA classes indexed on each substance's
single-ingredient, systemic products, which `fda_classes.csv` maps to the knowledge base's classes."""

REQUIRED_FILES = ("concepts.csv", "relations.csv", "interactions.csv", "conditions.csv")
"""The files a knowledge directory must hold; the others are optional."""

HASHED_FILES = KNOWLEDGE_FILES + ("vocabulary/manifest.json", "ndc/manifest.json", SUBSTANCE_CLASSES,
                                  "icd10cm/manifest.json")
"""What the content hash (and so the knowledge version) covers: the CSVs, the manifests of the FDA
vocabulary, the NDC Directory and the ICD-10-CM table (which carry their files' own hashes) and the
derived class table."""

OVERRIDES_FILE = "overrides.csv"
"""In a local layer only: rule severity changes and rules switched off, each with a reason."""

LAYER_FILES = KNOWLEDGE_FILES + (OVERRIDES_FILE,)
"""What a local layer may hold, and what its part of the content hash covers."""
