"""Output formats for reports and explanations, behind one small interface.

Each format is a module with `render_report(report, color) -> str` and
`render_explanation(explanation, color) -> str`. `OutputFormat` is the closed
list of names the CLI offers; `get_format(name)` returns the module.
"""

from __future__ import annotations

import importlib
from enum import Enum
from types import ModuleType


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
