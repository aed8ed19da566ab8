"""Render a report whose inputs came from FHIR, in any output format, saying what was skipped.

- text: the usual text report, then a FROM FHIR section (which resource each
  input came from, what was not screened and why, what was read only in part);
- json: the report contract plus a `fhir` key (`FhirInputs.to_dict()`);
- fhir: the DetectedIssue Bundle with `patient` and `implicated` references.
"""

from __future__ import annotations

import json
import textwrap

import click

from ..formats import DEFAULT_WIDTH, Display, OutputFormat, get_format
from ..model import Report
from .model import FhirInputs, FhirReport


def render(report: Report, inputs: FhirInputs, fmt: OutputFormat | str, color: bool = False,
           display: Display | None = None) -> str:
    """`report` (screened from `inputs`) in format `fmt`, with the FHIR provenance and skipped resources
    (text laid out as `display` says)."""
    fmt = OutputFormat(fmt)
    if fmt is OutputFormat.FHIR:
        return get_format(fmt).render_report(report, color, inputs=inputs)
    if fmt is OutputFormat.JSON:
        return json.dumps(FhirReport(report, inputs).to_dict(), indent=2, ensure_ascii=False)
    display = display or Display()
    return (get_format(fmt).render_report(report, color, display) + "\n\n"
            + text_section(inputs, color, display.width))


def text_section(inputs: FhirInputs, color: bool = False, width: int = DEFAULT_WIDTH) -> str:
    """The FROM FHIR section of the text report, wrapped to `width`."""
    title = "FROM FHIR" + (f" ({inputs.patient})" if inputs.patient else "")
    lines = [click.style(title, bold=True) if color else title]
    for item in inputs.items:
        source = item.resource or "command line"
        lines.append(f'  {item.field:<10} "{item.entry}" ← {source}')
        if item.note:
            lines.append(f"             note: {item.note}")
    if inputs.age is not None:
        lines.append(f"  age        {inputs.age:g} ← {inputs.age_source or 'command line'}")
    if inputs.skipped:
        head = f"  not screened ({len(inputs.skipped)}):"
        lines.append(click.style(head, fg="yellow") if color else head)
        for skipped in inputs.skipped:
            lines += textwrap.wrap(f"    - {skipped.resource}: {skipped.reason}", width=width,
                                   subsequent_indent="      ", break_long_words=False, break_on_hyphens=False)
    notes = [(r, n) for r, n in inputs.notes if not any(i.resource == r and i.note == n for i in inputs.items)]
    for resource, note in notes:
        lines.append(f"  note: {resource}: {note}")
    if inputs.ignored:
        lines.append("  not read (types the screener does not use): "
                     + ", ".join(f"{n} {kind}" for kind, n in inputs.ignored))
    return "\n".join(lines)
