"""`screener check`: screen one patient's medication list (the hot path: keep its imports light).

The report goes to stdout in the chosen format; a one-line summary goes to
stderr; the exit code says whether anything reached `--fail-on` or the screen
is incomplete (`exit_code`).
"""

from __future__ import annotations

import click

from ..errors import InputError
from ..formats import Display, OutputFormat, get_format
from ..model import NO_FINDINGS_TEXT, Report, Severity, Status
from . import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from .options import InputProblem, display_options, knowledge_options, load_from_options
from .output import emit, terminal_width, use_color

SEVERITIES = [s.value for s in Severity]
"""The severity names, most serious first: the choices of --min-severity and --fail-on."""
FORMATS = [f.value for f in OutputFormat]
"""The report formats: the choices of --format."""


class Years(click.ParamType):
    """An age read by the library's own reader (`rules.age.parse_age`), so check and batch agree."""

    name = "years"

    def convert(self, value, param, ctx):
        """The age in years, or a usage error with the library's one-line reason."""
        if isinstance(value, float):
            return value
        from ..rules.age import parse_age

        if isinstance(value, str) and not value.strip():
            # `--age "$AGE"` with the variable unset: a blank CSV cell means no age, a blank option is a mistake
            # that would silently skip every age rule.
            self.fail("the age given is blank; give the patient's age in years, or leave --age out", param, ctx)
        try:
            return parse_age(value)
        except InputError as exc:
            self.fail(str(exc), param, ctx)


@click.command()
@click.argument("medications", nargs=-1, metavar="[MEDICATION]...")
@click.option("-c", "--condition", "conditions", multiple=True, metavar="TEXT",
              help="A condition or state: pregnancy, breastfeeding, cirrhosis, CKD stage 4… (repeatable).")
@click.option("-a", "--allergy", "allergies", multiple=True, metavar="TEXT",
              help="A reported allergy: meprobamate, carbamates… (repeatable).")
@click.option("--age", "ages", type=Years(), metavar="YEARS", multiple=True,
              help="The patient's age in years (70, 70.5, '70 years', '18 months'); 0 to 130; given once.")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Output format.")
@click.option("--min-severity", type=click.Choice(SEVERITIES), default="minor", show_default=True,
              help="Show only findings at or above this severity (exit codes still count every finding).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="moderate", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
@click.option("--details", is_flag=True,
              help="Each finding in full: why, the path, the patient's wording, sources by section; and the "
                   "counselling in full. By default a finding takes three lines.")
@click.option("--counsel", is_flag=True, help="The counselling points in full (by default one line each).")
@display_options
@knowledge_options
@click.option("--fhir", "fhir_file", type=click.File("rb"), metavar="FILE",
              help="Read the patient from a FHIR R4/R4B Bundle (JSON; - for stdin). Medications, -c and -a "
                   "given as well are added to it.")
@click.pass_context
def check(ctx, medications, conditions, allergies, ages, fmt, min_severity, fail_on, details, counsel, width, color,
          knowledge_dir, layers, fhir_file) -> None:
    """Screen one patient's medication list.

    Each MEDICATION is free text: a name, brand or combination product,
    optionally with strength, frequency and duration. Quote entries that
    contain spaces.

    The text report fits the terminal: each finding in three lines (what,
    its effect, the first thing to do), each counselling point in one, and
    the sources once at the end, numbered. --details and --counsel give the
    full text; what was not recognised or not checked is always shown in
    full. Display options never change the status or the exit code.

    \b
    Examples:
      screener check "Soma 350 mg qid" Xanax --condition pregnancy
      screener check carisoprodol Norco -c "alcohol use disorder" --age 70
      screener check "carisoprodol 500 mg three times a day and at bedtime x 30 days"
      screener check Soma Norco Xanax --details
      screener check Soma Norco Xanax --format json
      screener check --fhir bundle.json --format fhir
      screener check "CSP 350 mg" omeprazole --data ./st-elsewhere

    \b
    Exit codes: 0 nothing at or above --fail-on; 1 findings at or above
    --fail-on; 2 usage or input error, or the report could not be written;
    3 some input not recognised or not checked; 4 internal error; 130 interrupted;
    141 the reader of stdout went away (| head).
    """
    if not medications and fhir_file is None:
        raise click.UsageError("give at least one medication to screen, e.g. screener check \"Soma 350 mg qid\"")
    if len(set(ages)) > 1:  # which one is right cannot be told: refused, as batch refuses two ages
        raise click.UsageError(f"--age is given {len(ages)} times with different values "
                               f"({', '.join(f'{a:g}' for a in ages)}); give the patient's age once")
    age = ages[0] if ages else None
    knowledge = load_from_options(knowledge_dir, layers)
    fhir = None
    try:
        if fhir_file is not None:  # fhir.resources is imported only on this path
            from ..fhir import read_bundle

            fhir = read_bundle(fhir_file.read(), knowledge).merged(medications, conditions, allergies, age)
            medications, conditions, allergies, age = fhir.medications, fhir.conditions, fhir.allergies, fhir.age
        report = knowledge.screen(medications, conditions, allergies, age)
    except InputError as exc:
        raise InputProblem(str(exc)) from None

    shown = report.showing(Severity(min_severity))
    color = use_color(ctx, color)
    display = Display(width=terminal_width(width), details=details, counsel=counsel)
    if fhir is not None:
        from ..fhir.render import render

        emit(render(shown, fhir, fmt, color=color, display=display), color=color)
    else:
        emit(get_format(fmt).render_report(shown, color=color, display=display), color=color)
    emit(summary_line(report, len(report.findings) - len(shown.findings)), err=True)
    ctx.exit(exit_code(report, Severity(fail_on)))


def exit_code(report: Report, fail_on: Severity) -> int:
    """The exit code contract: 1 for findings at or above `fail_on`, else 3 if incomplete, else 0."""
    if any(f.severity.at_least(fail_on) for f in report.findings):
        return EXIT_FINDINGS
    if report.status is Status.INCOMPLETE:
        return EXIT_INCOMPLETE
    return EXIT_OK


def summary_line(report: Report, hidden: int) -> str:
    """One line for stderr: counts by severity, hidden findings, and whether the screen is complete."""
    parts = []
    if report.findings:
        counts = [f"{sum(f.severity is s for f in report.findings)} {s.value}"
                  for s in Severity if any(f.severity is s for f in report.findings)]
        n = len(report.findings)
        parts.append(f"{n} finding{'s' if n != 1 else ''} ({', '.join(counts)})")
        if hidden:
            parts.append(f"{hidden} below --min-severity not shown")
    else:
        parts.append(NO_FINDINGS_TEXT.rstrip("."))
    if report.unrecognized:
        n = len(report.unrecognized)
        parts.append(f"{n} input{'s' if n != 1 else ''} not recognised or not checked: screen incomplete")
    return "screener: " + "; ".join(parts) + "."
