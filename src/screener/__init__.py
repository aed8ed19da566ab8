"""screener: a drug interaction and precaution screener.

Medications, conditions, allergies and age go in; the cautions that apply come
out, each with its severity, the path through the knowledge graph that made it
fire, what to do, and where the knowledge comes from.

    >>> import screener
    >>> report = screener.screen(["Soma 350 mg qid", "Xanax"], conditions=["pregnancy"])
    >>> [(f.kind.value, f.severity.value) for f in report.findings][:1]
    [('drug-drug', 'major')]

Unrecognised inputs are never dropped: they are listed in
`report.unrecognized` and make `report.status` "incomplete".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .errors import InputError, KnowledgeError, ScreenerError, UnknownConceptError
from .model import (
    NO_FINDINGS_TEXT,
    Counselling,
    Coverage,
    Dosing,
    Finding,
    FindingKind,
    Medication,
    MedicationEntry,
    Report,
    Severity,
    Status,
    Unrecognized,
)
from .version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from .api import Knowledge


def load_knowledge(path=None, *, layers=(), use_cache: bool = True) -> Knowledge:
    """Load a knowledge directory (default: the bundled one) with local `layers` on top.

    See `screener.api.load_knowledge`.
    """
    from .api import load_knowledge as _load

    return _load(path, layers=layers, use_cache=use_cache)


def screen(
    medications: Iterable[str | MedicationEntry] = (),
    conditions: Iterable[str] = (),
    allergies: Iterable[str] = (),
    age: float | None = None,
    *,
    knowledge: Knowledge | None = None,
) -> Report:
    """Screen one patient and return a Report.

    `medications` are free text as a person types them: a name, brand or
    combination product, optionally with strength, frequency and duration
    ("Soma 350 mg qid x 30 days"), read as `docs/sig-reading.md` describes, or
    `MedicationEntry` items whose dosing another system already holds as numbers
    (a `Dosing`: it is used as given, never turned into text and read again).
    `conditions` ("pregnancy", "cirrhosis") and
    `allergies` ("meprobamate") are names; `age` is in years. `knowledge`
    defaults to the bundled knowledge base. Raises `InputError` for input that
    cannot be screened at all (an empty entry, control characters, an entry
    longer than 200 characters, an impossible age).
    """
    if knowledge is None:
        from .api import default_knowledge

        knowledge = default_knowledge()
    return knowledge.screen(medications, conditions, allergies, age)


__all__ = [
    "NO_FINDINGS_TEXT",
    "Counselling",
    "Coverage",
    "Dosing",
    "Finding",
    "FindingKind",
    "InputError",
    "KnowledgeError",
    "Medication",
    "MedicationEntry",
    "Report",
    "ScreenerError",
    "Severity",
    "Status",
    "UnknownConceptError",
    "Unrecognized",
    "__version__",
    "load_knowledge",
    "screen",
]
