"""Text output for people: findings grouped by severity, most serious first, sized to the screen.

By default (`Display()`) a finding takes at most three lines — what it is
about, its effect, the first thing to do — and each counselling point one
line, so the report of a long medication list fits a terminal; `details`
gives each finding in full (why, path, patient wording, sources by section)
and `counsel` the counselling in full. Sources are listed once, numbered, at
the end; findings and points refer to them as [1], [2]. What makes a screen
incomplete (unrecognised or not-covered inputs), rules a local layer switched
off and names that were assumed are always shown in full: shortening is for
what can be looked up, never for what the reader must not miss.

Colour is added with ANSI styles only when `color` is true (the CLI passes
true for a terminal unless told otherwise). The text uses a few symbols
(● → ⟷ …); `screener.cli.output.emit` turns them into ASCII for a console
that cannot print them.
"""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING

import click

from ..model import NO_FINDINGS_TEXT, Coverage, Finding, Report, Severity, render_path
from . import Display

if TYPE_CHECKING:  # explain is not imported on the check path
    from ..explain import Explanation

__all__ = ["path_text", "render_explanation", "render_path", "render_report"]

_COLOURS = {
    Severity.CONTRAINDICATED: "magenta",
    Severity.MAJOR: "red",
    Severity.MODERATE: "yellow",
    Severity.MINOR: "cyan",
}
_LABEL = 10
MIN_WIDTH = 40
"""Narrower than this, the labels and indents leave no room for text: the report is laid out at 40."""
ELLIPSIS = "…"
"""Ends a line that was shortened for the screen (the rest is under --details or --counsel)."""


def path_text(finding: Finding) -> str:
    """The finding's path as text (`Finding.path_text`): kept here for the formats and adapters that import it."""
    return finding.path_text()


# --- sources, numbered once ---------------------------------------------------------

# "SOMA label §5.1, §7.1 (DailyMed setid …, rev 5/2023)": one document cited at some of its sections. The
# document is listed once with every section any finding cites; each finding names its own sections.
_SECTIONED = re.compile(r"^(?P<doc>.+?) (?P<sections>§[\w.\-–]+(?:, §[\w.\-–]+)*) (?P<where>\(.+\))$")


def split_sources(text: str) -> list[str]:
    """The citations in one source text: its parts separated by "; " outside brackets and parentheses.

    ("A §1 (setid x); B (p; q)" is two citations: "A §1 (setid x)" and "B (p; q)".)
    """
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == ";" and depth == 0 and text[i + 1:i + 2] == " ":
            parts.append(text[start:i])
            start = i + 2
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _section_key(section: str) -> tuple:
    numbers = re.findall(r"\d+", section)
    return (tuple(int(n) for n in numbers), section) if numbers else ((10**9,), section)


class SourceList:
    """The sources of one report, numbered in the order they are first cited.

    A citation of a document at some sections ("SOMA label §5.1, §7.1 (DailyMed setid …)") counts as
    that document: it is listed once, with the union of the sections cited, and each citer keeps its
    own sections. Any other citation is listed as written; identical ones once.
    """

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, str], int] = {}
        self._entries: list[tuple[str, str, set[str]]] = []  # (document, where, sections) in number order

    def cite(self, texts) -> list[tuple[int, str]]:
        """Number every citation in `texts` (source strings); (number, its sections or "") for each, in order,
        each number once."""
        refs: list[tuple[int, str]] = []
        for text in texts:
            for citation in split_sources(text):
                match = _SECTIONED.match(citation)
                key = (match["doc"], match["where"]) if match else (citation, "")
                sections = match["sections"] if match else ""
                if key not in self._numbers:
                    self._numbers[key] = len(self._entries) + 1
                    self._entries.append((key[0], key[1], set()))
                number = self._numbers[key]
                if sections:
                    self._entries[number - 1][2].update(s.strip() for s in sections.split(","))
                if all(n != number for n, _ in refs):
                    refs.append((number, sections))
        return refs

    def entries(self) -> list[tuple[int, str]]:
        """(number, the citation as listed), in number order."""
        out = []
        for n, (doc, where, sections) in enumerate(self._entries, 1):
            if where:
                doc = f"{doc} {', '.join(sorted(sections, key=_section_key))} {where}" if sections else f"{doc} {where}"
            out.append((n, doc))
        return out


def _refs(refs: list[tuple[int, str]], sections: bool = False) -> str:
    """"[1, 3-5]", or with `sections` each one with the sections it cites: "[1] §5.1, §7.1; [2]"."""
    if sections:
        return "; ".join(f"[{n}] {s}" if s else f"[{n}]" for n, s in sorted(refs))
    numbers = sorted(n for n, _ in refs)
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return "[" + ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs) + "]" \
        if numbers else ""


# --- layout ---------------------------------------------------------------------------


def _style(text: str, color: bool, **styles) -> str:
    return click.style(text, **styles) if color else text


def fit(text: str, width: int) -> str:
    """`text` on one line of at most `width` characters: whole if it fits, else cut at a space and ended
    with "…" (so the reader knows there is more)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[:max(1, width - 1)]
    if " " in cut[1:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + ELLIPSIS


def _first_sentence(text: str) -> tuple[str, bool]:
    """The first sentence of `text`, and whether more follows it."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z(])", " ".join(text.split()), maxsplit=1)
    return parts[0], len(parts) > 1


def _wrap(text: str, width: int, indent: int = 4, first: str = "") -> list[str]:
    """`text` wrapped to `width`, its first line starting with `first`, the others indented by `indent`."""
    return textwrap.wrap(first + text, width=width, subsequent_indent=" " * indent, break_long_words=False,
                         break_on_hyphens=False) or [first.rstrip()]


def _field(label: str, text: str, width: int) -> list[str]:
    lines = textwrap.wrap(text, width=width - 4 - _LABEL, break_long_words=False, break_on_hyphens=False) or [""]
    first = f"    {label + ':':<{_LABEL}}{lines[0]}"
    return [first] + [" " * (4 + _LABEL) + line for line in lines[1:]]


def _head(finding: Finding, refs: str, width: int) -> str:
    """"  ● kind · title [1][2]": the title shortened only if it cannot fit beside the references."""
    changed = f" (changed by layer {finding.layer})" if finding.override else ""
    tail = f"{changed} {refs}" if refs else changed
    return "  " + fit(f"● {finding.kind.value} · {finding.title}", max(24, width - 2 - len(tail))) + tail


def _short_finding(finding: Finding, refs: str, width: int, color: bool) -> list[str]:
    """Three lines: what (with its sources), the effect, the first thing to do."""
    first, more = _first_sentence(finding.advice)
    do = fit(first, width - 8)
    if more and not do.endswith(ELLIPSIS):
        do = fit(f"{first} {ELLIPSIS}", width - 8)
    return [_style(_head(finding, refs, width), color, bold=True),
            "    " + fit(finding.summary, width - 4),
            "    Do: " + do]


def _full_finding(finding: Finding, refs: str, width: int, color: bool) -> list[str]:
    # In full: the title is wrapped, never cut (an MME title carries its sum and what it left out).
    changed = f" (changed by layer {finding.layer})" if finding.override else ""
    lines = [_style(line, color, bold=True)
             for line in _wrap(f"● {finding.kind.value} · {finding.title}{changed}", width, first="  ")]
    lines += _field("Effect", finding.summary, width)
    if finding.mechanism:
        lines += _field("Why", finding.mechanism, width)
    lines += _field("Do", finding.advice, width)
    lines += _field("Patient", finding.plain, width)
    lines += _field("Path", path_text(finding), width)
    lines += _field("Source", refs, width)
    codes = " ".join(f"{k}:{v}" for k, v in finding.codes)
    layer = "" if finding.layer == "bundled" else f"; layer {finding.layer}"
    lines += _field("Rule", f"{finding.rule_id} ({finding.evidence}{layer}" + (f"; {codes})" if codes else ")"),
                    width)
    if finding.override:
        lines += _field("Changed", finding.override, width)
    return lines


def render_report(report: Report, color: bool = False, display: Display | None = None) -> str:
    """The report as text: findings by severity, what makes the screen incomplete, counselling, what was
    screened, and the sources, laid out as `display` says (default: 80 columns, the short form)."""
    display = display or Display()
    width = max(MIN_WIDTH, display.width)
    full_counsel = display.details or display.counsel
    sources = SourceList()
    finding_refs = [sources.cite(f.sources) for f in report.findings]
    counsel_refs = [sources.cite([point.source]) for point in report.counselling]

    lines: list[str] = []
    if not report.findings and not report.hidden:
        lines.append(NO_FINDINGS_TEXT)
    elif not report.findings:
        lines.append(f"No finding at or above {report.hidden_below}; {report.hidden_text}.")
    for severity in Severity:
        group = [(f, r) for f, r in zip(report.findings, finding_refs, strict=True) if f.severity is severity]
        if not group:
            continue
        if lines:
            lines.append("")
        lines.append(_style(f"{severity.value.upper()} ({len(group)})", color, fg=_COLOURS[severity], bold=True))
        for n, (finding, refs) in enumerate(group):
            if display.details:
                if n:
                    lines.append("")
                lines += _full_finding(finding, _refs(refs, sections=True), width, color)
            else:
                lines += _short_finding(finding, _refs(refs), width, color)
    if report.findings and report.hidden:
        lines += ["", f"({report.hidden_text}: --min-severity {report.hidden_below})"]
    if report.suppressed:
        lines += ["", _style("SWITCHED OFF BY A LOCAL LAYER: these would have applied", color, fg="yellow", bold=True)]
        for off in report.suppressed:
            lines += _wrap(f"  - {off.severity.value} {off.kind.value} · {off.title} (rule {off.rule_id}): "
                           f"switched off by layer '{off.layer}': {off.reason}", width)
    if report.unrecognized:
        lines += ["", _style("NOT RECOGNISED OR NOT CHECKED: this screen is incomplete", color, fg="red", bold=True)]
        for item in report.unrecognized:
            text = f'  ? "{item.input}" ({item.field}): {item.reason}'
            if item.suggestions:
                text += f". Did you mean: {'; '.join(item.suggestions)}?"
            lines += _wrap(text, width)
    assumed = [m for m in report.medications if m.assumed]
    if assumed:
        lines += ["", _style("NAMES ASSUMED: check them", color, fg="yellow", bold=True)]
        for med in assumed:
            lines += _wrap(f'  ~ "{med.input}" was read as {med.assumed} ({med.via})', width)
    if report.counselling:
        heading = "COUNSEL THE PATIENT" + ("" if full_counsel else " (one line each; --counsel for the full text)")
        lines += ["", _style(fit(heading, width), color, bold=True)]
        for point, refs in zip(report.counselling, counsel_refs, strict=True):
            head = f"  - {point.topic} ({point.concept}): "
            if full_counsel:
                lines += _wrap(f"{point.text} {_refs(refs, sections=True)}", width, first=head)
            else:  # one line; on a very narrow screen the shortened point wraps rather than vanish
                tail = f" {_refs(refs)}"
                lines += _wrap(head + fit(point.text, max(16, width - len(head) - len(tail))) + tail, width)
    lines += ["", _style("SCREENED", color, bold=True)]
    for med in report.medications:
        if med.concept is None:
            continue
        detail = ", ".join(med.ingredients)
        if reading := med.reading():
            detail += f"; {reading}"
        lines += _wrap(f'  medication "{med.input}" → {detail}', width)
    for text, concept in report.conditions:
        lines += _wrap(f'  condition  "{text}" → {concept}', width, indent=13)
    for text, concept in report.allergies:
        lines += _wrap(f'  allergy    "{text}" → {concept}', width, indent=13)
    for noted in report.noted:
        lines += _wrap(f'  {noted.field:<10} "{noted.input}" → {noted.text}', width, indent=13)
    if report.age is not None:
        lines.append(f"  age        {report.age:g}")
    lines.append(f"  knowledge  {report.knowledge_version}")
    if report.scope:
        lines += _wrap(f"  scope      {report.scope}", width, indent=13)
    if report.layers:
        lines += _wrap(f"  layers     {', '.join(report.layers)} (local, over the bundled knowledge)", width,
                       indent=13)
    listed = sources.entries()
    if listed:
        lines += ["", _style("SOURCES", color, bold=True)]
        for n, citation in listed:
            label = f"  [{n}] "
            lines += _wrap(citation, width, indent=len(label), first=label)
    if report.findings and not display.details:
        lines += ["", fit("More: --details gives each finding's why, path, patient wording and sections.", width)]
    return "\n".join(lines)


def render_explanation(explanation: Explanation, color: bool = False, display: Display | None = None) -> str:
    """The explanation as text, wrapped to `display.width` (ids and names are never broken at a hyphen,
    so they can be copied whole)."""
    e = explanation
    width = max(MIN_WIDTH, (display or Display()).width)
    lines = [_style(f"{e.name} ({e.kind}, id {e.id})", color, bold=True)]
    if e.synonyms:
        lines += _wrap_keep("  also known as: " + ", ".join(e.synonyms), width=width, subsequent_indent="    ")
    if e.codes:
        lines.append("  codes: " + ", ".join(e.codes))
    if e.recognised_as and e.recognised_as != e.source:
        lines += _wrap_keep(f"  recognised as: {e.recognised_as}", width=width, subsequent_indent="    ")
    lines += _wrap_keep(f"  source: {e.source}", width=width, subsequent_indent="    ")
    if e.classes:
        lines.append("  classes:")
        lines += [f"    {' → '.join(chain)}" for chain in e.classes]
    for how in e.derived:
        lines += _wrap_keep(f"  derived: {how}", width=width, subsequent_indent="    ")
    for why in e.excluded:
        lines += _wrap_keep(f"  excluded: {why}", width=width, subsequent_indent="    ")
    for why in e.exceptions:
        lines += _wrap_keep(f"  exception: {why}", width=width, subsequent_indent="    ")
    if e.fda_classes:
        lines += _wrap_keep("  FDA classes on the product: " + ", ".join(e.fda_classes), width=width,
                            subsequent_indent="    ")
    if e.kind in ("drug", "substance", "product") and e.coverage is Coverage.NOT_COVERED:
        what = "it" if e.not_covered == (e.id,) or not e.not_covered else ", ".join(e.not_covered)
        their = "their" if len(e.not_covered) > 1 else "its"
        lines += _wrap_keep(f"  coverage: not covered: this knowledge base does not classify {what}, so "
                            f"{their} interactions are not checked", width=width, subsequent_indent="    ")
    if e.ingredients:
        lines.append("  ingredients: " + ", ".join(e.ingredients))
    if e.metabolites:
        lines.append("  metabolised to: " + ", ".join(e.metabolites))
    if e.products:
        lines += _wrap_keep("  in products: " + ", ".join(e.products), width=width, subsequent_indent="    ")
    if e.members:
        lines += _wrap_keep("  members: " + ", ".join(e.members), width=width, subsequent_indent="    ")
    if e.rules:
        lines.append(f"  rules ({len(e.rules)}):")
        for via, rule in e.rules:
            operands = " + ".join(rule.operands) + (f" {rule.target}" if rule.kind.value == "drug-age" else "")
            inherited = "" if via == e.id else f" (via {via})"
            head = f"    {rule.severity.value:<15} {rule.kind.value:<14} {operands}{inherited}"
            lines.append(_style(head, color, fg=_COLOURS[rule.severity]))
            lines += _wrap_keep(f"{rule.summary} [{rule.id}; {rule.source}]", width=width,
                            initial_indent=" " * 6, subsequent_indent=" " * 6)
    else:
        lines.append("  rules: none in this knowledge base")
    return "\n".join(lines)


def _wrap_keep(text: str, **kw) -> list[str]:
    """textwrap.wrap that never breaks a word or a hyphenated id."""
    kw.setdefault("break_long_words", False)
    kw["break_on_hyphens"] = False
    return textwrap.wrap(text, **kw)
