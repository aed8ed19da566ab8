"""JSON output: the report contract of `--format json`, as `Report.to_dict()` gives it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..model import Report
from . import Display

if TYPE_CHECKING:  # explain is not imported on the check path
    from ..explain import Explanation


def render_report(report: Report, color: bool = False, display: Display | None = None) -> str:
    """The report as indented JSON (UTF-8 text, not ASCII-escaped); `display` is for text and changes nothing here."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


def render_explanation(explanation: Explanation, color: bool = False, display: Display | None = None) -> str:
    """The explanation as indented JSON."""
    return json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False)
