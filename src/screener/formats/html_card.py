"""A report as HTML cards, for Jupyter (`Report._repr_html_`) and anything else that shows an HTML fragment.

One card per finding, most serious first, coloured by severity: what it is
about, its effect and what to do, with the why, the path, the patient's
wording and the sources folded under a `<details>`. Inputs that were not
recognised or not checked come first, in a red box: the screen is incomplete.
Every piece of text is HTML-escaped (an input is whatever the user typed), and
the fragment needs no script, stylesheet or network: inline styles only.

It imports nothing of the screener's own (it reads the report's attributes),
because `Report._repr_html_` imports it: model imports no other module.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..model import Report

SEVERITY_COLOURS = {
    "contraindicated": "#8e24aa",
    "major": "#c62828",
    "moderate": "#ef6c00",
    "minor": "#1565c0",
}
"""The colour of each severity value (the same as `screener graph` uses for rules)."""

_BOX = "border:1px solid #ccc;border-radius:6px;padding:.5em .8em;margin:.5em 0"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _badge(severity) -> str:
    return (f'<span style="background:{SEVERITY_COLOURS[severity.value]};color:#fff;border-radius:3px;'
            f'padding:0 .4em;font-size:.85em;font-weight:600">{_e(severity.value.upper())}</span>')


def render_report(report: Report) -> str:
    """The report as an HTML fragment of cards (every text escaped)."""
    parts = ['<div class="screener-report" style="font-family:system-ui,sans-serif;line-height:1.4;max-width:60em">']
    status_colour = "#c62828" if report.status.value == "incomplete" else "#333"
    parts.append(f'<p style="margin:.2em 0"><strong style="color:{status_colour}">{_e(report.status.value)}</strong>: '
                 f"{_e(report.message)}</p>")
    if report.unrecognized:
        items = "".join(f"<li><q>{_e(u.input)}</q> ({_e(u.field)}): {_e(u.reason)}"
                        + (f". Did you mean: {_e('; '.join(u.suggestions))}?" if u.suggestions else "") + "</li>"
                        for u in report.unrecognized)
        parts.append(f'<div style="border:2px solid #c62828;border-radius:6px;padding:.5em .8em;margin:.5em 0">'
                     f"<strong>Not recognised or not checked: this screen is incomplete</strong>"
                     f'<ul style="margin:.3em 0">{items}</ul></div>')
    if not report.findings and report.hidden and report.hidden_below is not None:
        parts.append(f"<p>{_e(f'No finding at or above {report.hidden_below.value}.')}</p>")
    for finding in report.findings:
        colour = SEVERITY_COLOURS[finding.severity.value]
        sources = "".join(f"<li>{_e(s)}</li>" for s in finding.sources)
        why = f"<div><b>Why:</b> {_e(finding.mechanism)}</div>" if finding.mechanism else ""
        changed = f"<div><b>Changed:</b> {_e(finding.override)}</div>" if finding.override else ""
        parts.append(
            f'<div style="{_BOX};border-left:6px solid {colour}">'
            f"<div>{_badge(finding.severity)} <small>{_e(finding.kind.value)}</small> "
            f"<strong>{_e(finding.title)}</strong></div>"
            f"<div>{_e(finding.summary)}</div>"
            f"<div><b>Do:</b> {_e(finding.advice)}</div>{changed}"
            f"<details><summary>Why, path, for the patient, sources</summary>{why}"
            f"<div><b>Patient:</b> {_e(finding.plain)}</div>"
            f"<div><b>Path:</b> <code>{_e(finding.path_text())}</code></div>"
            f'<div><b>Sources</b> (rule <code>{_e(finding.rule_id)}</code>, {_e(finding.evidence)}):'
            f'<ul style="margin:.2em 0">{sources}</ul></div></details></div>')
    if report.hidden:
        parts.append(f"<p><small>({_e(report.hidden_text)})</small></p>")
    if report.suppressed:
        items = "".join(f"<li>{_e(s.severity.value)} {_e(s.kind.value)} · {_e(s.title)} (rule {_e(s.rule_id)}): "
                        f"switched off by layer {_e(s.layer)}: {_e(s.reason)}</li>" for s in report.suppressed)
        parts.append(f'<div style="{_BOX}"><strong>Switched off by a local layer: these would have applied</strong>'
                     f"<ul>{items}</ul></div>")
    assumed = [m for m in report.medications if m.assumed]
    if assumed:
        items = "".join(f"<li><q>{_e(m.input)}</q> was read as {_e(m.assumed)} ({_e(m.via)})</li>" for m in assumed)
        parts.append(f'<div style="{_BOX}"><strong>Names assumed: check them</strong><ul>{items}</ul></div>')
    if report.counselling:
        items = "".join(f"<li><b>{_e(c.topic)}</b> ({_e(c.concept)}): {_e(c.text)} <small>({_e(c.source)})</small></li>"
                        for c in report.counselling)
        parts.append(f"<details><summary><strong>Counsel the patient</strong> ({len(report.counselling)})</summary>"
                     f"<ul>{items}</ul></details>")
    rows = [(f"medication <q>{_e(m.input)}</q>", _e(", ".join(m.ingredients) + (f"; {m.reading()}" if m.reading()
                                                                                   else "")))
            for m in report.medications if m.concept is not None]
    rows += [(f"condition <q>{_e(t)}</q>", _e(c)) for t, c in report.conditions]
    rows += [(f"allergy <q>{_e(t)}</q>", _e(c)) for t, c in report.allergies]
    rows += [(f"{_e(n.field)} <q>{_e(n.input)}</q>", _e(n.text)) for n in report.noted]
    if report.age is not None:
        rows.append(("age", _e(f"{report.age:g}")))
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    parts.append(f"<details><summary>Screened</summary><table>{body}</table></details>")
    foot = f"knowledge {_e(report.knowledge_version)}"
    if report.layers:
        foot += f"; layers {_e(', '.join(report.layers))}"
    parts.append(f'<p style="color:#666"><small>{foot}</small></p></div>')
    return "".join(parts)
