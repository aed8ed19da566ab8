"""Text output for people: findings grouped by severity, most serious first.

Colour is added with ANSI styles only when `color` is true (the CLI passes
true only for a terminal).
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import click

from ..model import NO_FINDINGS_TEXT, RULE_MARK, Coverage, Finding, Report, Severity

if TYPE_CHECKING:  # explain is not imported on the check path
    from ..explain import Explanation

_COLOURS = {
    Severity.CONTRAINDICATED: "magenta",
    Severity.MAJOR: "red",
    Severity.MODERATE: "yellow",
    Severity.MINOR: "cyan",
}
_WIDTH = 100
_LABEL = 10


def render_path(path: tuple[str, ...] | list[str]) -> str:
    """A finding's path as one line: inputs → concepts ⟷ concepts ← inputs.

    The rule step itself is left out here (the Source line names the rule).
    """
    out = ""
    after_rule = False
    joiner = ""
    for step in path:
        if step.startswith(RULE_MARK):
            joiner, after_rule = f" {RULE_MARK} ", True
        elif step == "+":
            joiner = " + "
        else:
            out += joiner + step
            joiner = " ← " if after_rule else " → "
    return out


def path_text(finding: Finding) -> str:
    """The finding's path as text, with each class membership derived from the FDA's indexing said after it:
    `… ⟷ cyp2c19-inhibitors ← fluconazole ← "fluconazole" (fluconazole is_a cyp2c19-inhibitors — FDA MoA …)`."""
    text = render_path(finding.path)
    return f"{text} ({'; '.join(finding.derived)})" if finding.derived else text


def _style(text: str, color: bool, **styles) -> str:
    return click.style(text, **styles) if color else text


def _field(label: str, text: str) -> list[str]:
    lines = textwrap.wrap(text, width=_WIDTH - 4 - _LABEL, break_long_words=False, break_on_hyphens=False) or [""]
    first = f"    {label + ':':<{_LABEL}}{lines[0]}"
    return [first] + [" " * (4 + _LABEL) + line for line in lines[1:]]


def _finding(finding: Finding, color: bool) -> list[str]:
    head = f"  ● {finding.kind.value} · {finding.title}"
    lines = [_style(head, color, bold=True)]
    lines += _field("Effect", finding.summary)
    if finding.mechanism:
        lines += _field("Why", finding.mechanism)
    lines += _field("Do", finding.advice)
    lines += _field("Patient", finding.plain)
    lines += _field("Path", path_text(finding))
    codes = " ".join(f"{k}:{v}" for k, v in finding.codes)
    layer = "" if finding.layer == "bundled" else f"; layer {finding.layer}"
    lines += _field("Source", f"{'; '.join(finding.sources)} [{finding.evidence}; rule {finding.rule_id}{layer}"
                    + (f"; {codes}]" if codes else "]"))
    if finding.override:
        lines += _field("Changed", finding.override)
    return lines


def render_report(report: Report, color: bool = False) -> str:
    """The report as text: findings by severity, counselling, unrecognised inputs, what was screened."""
    lines: list[str] = []
    if not report.findings and not report.hidden:
        lines.append(NO_FINDINGS_TEXT)
    elif not report.findings:
        lines.append(f"No finding at or above {report.hidden_below}; {report.hidden_text}.")
    for severity in Severity:
        group = [f for f in report.findings if f.severity is severity]
        if not group:
            continue
        if lines:
            lines.append("")
        lines.append(_style(f"{severity.value.upper()} ({len(group)})", color, fg=_COLOURS[severity], bold=True))
        for n, finding in enumerate(group):
            if n:
                lines.append("")
            lines += _finding(finding, color)
    if report.findings and report.hidden:
        lines += ["", f"({report.hidden_text}: --min-severity {report.hidden_below})"]
    if report.suppressed:
        lines += ["", _style("SWITCHED OFF BY A LOCAL LAYER: these would have applied", color, fg="yellow", bold=True)]
        for off in report.suppressed:
            text = (f"  - {off.severity.value} {off.kind.value} · {off.title} (rule {off.rule_id}): "
                    f"switched off by layer '{off.layer}': {off.reason}")
            lines += textwrap.wrap(text, width=_WIDTH, subsequent_indent="    ", break_long_words=False)
    if report.unrecognized:
        lines += ["", _style("NOT RECOGNISED OR NOT CHECKED: this screen is incomplete", color, fg="red", bold=True)]
        for item in report.unrecognized:
            text = f'  ? "{item.input}" ({item.field}): {item.reason}'
            if item.suggestions:
                text += f". Did you mean: {', '.join(item.suggestions)}?"
            lines += textwrap.wrap(text, width=_WIDTH, subsequent_indent="    ", break_long_words=False)
    assumed = [m for m in report.medications if m.assumed]
    if assumed:
        lines += ["", _style("NAMES ASSUMED: check them", color, fg="yellow", bold=True)]
        for med in assumed:
            lines.append(f'  ~ "{med.input}" was read as {med.assumed} ({med.via})')
    if report.counselling:
        lines += ["", _style("COUNSEL THE PATIENT", color, bold=True)]
        for point in report.counselling:
            lines += textwrap.wrap(f"  - [{point.topic}] {point.text} ({point.source})", width=_WIDTH,
                                   subsequent_indent="    ", break_long_words=False)
    lines += ["", _style("SCREENED", color, bold=True)]
    for med in report.medications:
        if med.concept is None:
            continue
        detail = ", ".join(med.ingredients)
        if reading := med.reading():
            detail += f"; {reading}"
        lines += textwrap.wrap(f'  medication "{med.input}" → {detail}', width=_WIDTH, subsequent_indent="    ",
                               break_long_words=False)
    for text, concept in report.conditions:
        lines.append(f'  condition  "{text}" → {concept}')
    for text, concept in report.allergies:
        lines.append(f'  allergy    "{text}" → {concept}')
    for noted in report.noted:
        lines += textwrap.wrap(f'  {noted.field:<10} "{noted.input}" → {noted.text}', width=_WIDTH,
                               subsequent_indent=" " * 13, break_long_words=False)
    if report.age is not None:
        lines.append(f"  age        {report.age:g}")
    lines.append(f"  knowledge  {report.knowledge_version}")
    if report.scope:
        lines += textwrap.wrap(f"  scope      {report.scope}", width=_WIDTH, subsequent_indent=" " * 13,
                               break_long_words=False)
    if report.layers:
        lines.append(f"  layers     {', '.join(report.layers)} (local, over the bundled knowledge)")
    return "\n".join(lines)


def render_explanation(explanation: Explanation, color: bool = False) -> str:
    """The explanation as text."""
    e = explanation
    lines = [_style(f"{e.name} ({e.kind}, id {e.id})", color, bold=True)]
    if e.synonyms:
        lines += textwrap.wrap("  also known as: " + ", ".join(e.synonyms), width=_WIDTH, subsequent_indent="    ")
    if e.codes:
        lines.append("  codes: " + ", ".join(e.codes))
    if e.recognised_as and e.recognised_as != e.source:
        lines += textwrap.wrap(f"  recognised as: {e.recognised_as}", width=_WIDTH, subsequent_indent="    ")
    lines += textwrap.wrap(f"  source: {e.source}", width=_WIDTH, subsequent_indent="    ", break_long_words=False)
    if e.classes:
        lines.append("  classes:")
        lines += [f"    {' → '.join(chain)}" for chain in e.classes]
    for how in e.derived:
        lines += textwrap.wrap(f"  derived: {how}", width=_WIDTH, subsequent_indent="    ", break_long_words=False)
    for why in e.excluded:
        lines += textwrap.wrap(f"  excluded: {why}", width=_WIDTH, subsequent_indent="    ", break_long_words=False)
    if e.fda_classes:
        lines += textwrap.wrap("  FDA classes on the product: " + ", ".join(e.fda_classes), width=_WIDTH,
                               subsequent_indent="    ", break_long_words=False)
    if e.kind in ("drug", "substance", "product") and e.coverage is Coverage.NOT_COVERED:
        what = "it" if e.not_covered == (e.id,) or not e.not_covered else ", ".join(e.not_covered)
        their = "their" if len(e.not_covered) > 1 else "its"
        lines += textwrap.wrap(f"  coverage: not covered: this knowledge base does not classify {what}, so "
                               f"{their} interactions are not checked", width=_WIDTH, subsequent_indent="    ")
    if e.ingredients:
        lines.append("  ingredients: " + ", ".join(e.ingredients))
    if e.metabolites:
        lines.append("  metabolised to: " + ", ".join(e.metabolites))
    if e.products:
        lines += textwrap.wrap("  in products: " + ", ".join(e.products), width=_WIDTH, subsequent_indent="    ")
    if e.members:
        lines += textwrap.wrap("  members: " + ", ".join(e.members), width=_WIDTH, subsequent_indent="    ")
    if e.rules:
        lines.append(f"  rules ({len(e.rules)}):")
        for via, rule in e.rules:
            operands = " + ".join(rule.operands) + (f" {rule.target}" if rule.kind.value == "drug-age" else "")
            inherited = "" if via == e.id else f" (via {via})"
            head = f"    {rule.severity.value:<15} {rule.kind.value:<14} {operands}{inherited}"
            lines.append(_style(head, color, fg=_COLOURS[rule.severity]))
            lines += textwrap.wrap(f"{rule.summary} [{rule.id}; {rule.source}]", width=_WIDTH,
                                   initial_indent=" " * 6, subsequent_indent=" " * 6, break_long_words=False)
    else:
        lines.append("  rules: none in this knowledge base")
    return "\n".join(lines)
