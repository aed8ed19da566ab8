"""FHIR output: the report as a FHIR R4B Bundle of DetectedIssue resources (JSON).

Works for any report: from a plain `screener check` the issues reference no
resources; from `screener check --fhir FILE` pass `inputs` (the CLI does) and
each DetectedIssue gets `patient` and `implicated` references to the resources
its inputs came from. See `screener.fhir.write` for the mapping.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from ..model import Report
from . import Display

if TYPE_CHECKING:  # not imported on the check path
    from ..explain import Explanation
    from ..fhir.model import FhirInputs


def render_report(report: Report, color: bool = False, display: Display | None = None,
                  inputs: FhirInputs | None = None) -> str:
    """The report as an indented FHIR Bundle (JSON); `implicated` only when `inputs` came from FHIR.

    `display` is for text and changes nothing here.
    """
    from ..fhir.write import detected_issues

    return json.dumps(detected_issues(report, inputs), indent=2, ensure_ascii=False)


def render_explanation(explanation: Explanation, color: bool = False, display: Display | None = None) -> str:
    """Explanations have no FHIR form: a usage error (exit 2) saying to use text or json."""
    raise click.UsageError("--format fhir writes screening reports (DetectedIssue); use text or json for explain")
