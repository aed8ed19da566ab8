"""Output formats for reports and explanations, behind one small interface.

Each format is a module with `render_report(report, color, display) -> str`
and `render_explanation(explanation, color, display) -> str`. `OutputFormat`
is the closed list of names the CLI offers; `get_format(name)` returns the
module. `Display` says how wide and how full the text is; the machine formats
(JSON, FHIR) take it and ignore it, so a caller need not know which it has.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import Enum
from types import ModuleType

DEFAULT_WIDTH = 80
"""The width of the text report when the terminal's is unknown (a pipe, a file, a notebook)."""


@dataclass(frozen=True, slots=True)
class Display:
    """How a report is laid out as text. A display choice only: nothing here changes what was found."""

    width: int = DEFAULT_WIDTH
    """Columns to wrap to (the terminal's, `COLUMNS`, or `--width`)."""
    details: bool = False
    """Each finding in full (why, path, patient wording, sources by section) and the full counselling;
    by default a finding takes at most three lines: what, its effect, the first thing to do."""
    counsel: bool = False
    """The counselling points in full; by default one line each."""


class OutputFormat(str, Enum):
    """Formats `screener check` and `screener explain` can write."""

    TEXT = "text"
    """Grouped by severity, for a person at a terminal."""
    JSON = "json"
    """The JSON report contract (`Report.to_dict()`)."""
    FHIR = "fhir"
    """A FHIR R4B Bundle of DetectedIssue resources."""

    def __str__(self) -> str:
        return self.value


def get_format(fmt: OutputFormat | str) -> ModuleType:
    """The module that renders `fmt`."""
    return importlib.import_module(f"{__name__}.{OutputFormat(fmt).value}_format")
