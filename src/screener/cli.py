"""The `screener` command line: a thin click adapter over the library.

Each command parses its options, calls one library function, renders the
result with a format from `screener.formats`, and turns library errors into
one-line messages. The report goes to stdout; the one-line summary goes to
stderr. Heavy libraries are never imported here.

Exit codes of `screener check` (the contract in the README):
  0  every input recognised, no finding at or above --fail-on
  1  at least one finding at or above --fail-on (default: moderate)
  2  usage error, unreadable input or bad knowledge files
  3  some input not recognised and no finding at or above --fail-on
"""

from __future__ import annotations

import sys
from dataclasses import replace

import click

from .version import __version__
from .errors import InputError, KnowledgeError, ScreenerError, UnknownConceptError
from .cli_options import layers_option
from .formats import OutputFormat, get_format
from .model import NO_FINDINGS_TEXT, Report, Severity, Status

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3

_SEVERITIES = [s.value for s in Severity]
_FORMATS = [f.value for f in OutputFormat]


class InputProblem(click.UsageError):
    """Bad patient input or knowledge files: exit 2 with `Error: …`, like any usage error."""

    def show(self, file=None) -> None:
        # One line, no "Usage:" block: the problem is the input, not the command line.
        click.echo(f"Error: {self.format_message()}", err=True)


def _load(knowledge_dir: str | None, layers: tuple[str, ...] = ()):
    from .api import default_knowledge, load_knowledge

    try:
        if knowledge_dir or layers:
            return load_knowledge(knowledge_dir, layers=layers)
        return default_knowledge()
    except KnowledgeError as exc:
        raise InputProblem(f"knowledge: {exc}") from None


def _color(ctx: click.Context) -> bool:
    """Colour only when stdout is a terminal (click also strips styles otherwise)."""
    return bool(ctx.color) if ctx.color is not None else sys.stdout.isatty()


class LazyGroup(click.Group):
    """A group whose other commands are imported only when asked for.

    `screener check` must start fast: the modules of batch, graph, data and
    serve (and their option tables) are imported only when one of them runs,
    or for `screener --help`.
    """

    lazy_commands = {
        "batch": "screener.cli_batch:batch",
        "data": "screener.cli_data:data",
        "graph": "screener.cli_graph:graph",
        "serve": "screener.cli_service:serve",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy_commands:
            import importlib

            module, attribute = self.lazy_commands[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="screener")
def cli() -> None:
    """Screen a patient's medications, conditions, allergies and age for cautions.

    Every finding says how serious it is, why it fired (the path through the
    knowledge graph), what to do, and where the knowledge comes from. An input
    that is not recognised is always reported: such a screen is "incomplete",
    never clean. The screener never says "safe".
    """


@cli.command()
@click.argument("medications", nargs=-1, metavar="[MEDICATION]...")
@click.option("-c", "--condition", "conditions", multiple=True, metavar="TEXT",
              help="A condition or state: pregnancy, breastfeeding, cirrhosis, CKD stage 4… (repeatable).")
@click.option("-a", "--allergy", "allergies", multiple=True, metavar="TEXT",
              help="A reported allergy: meprobamate, carbamates… (repeatable).")
@click.option("--age", type=click.FloatRange(0, 130), metavar="YEARS", help="The patient's age in years.")
@click.option("-f", "--format", "fmt", type=click.Choice(_FORMATS), default="text", show_default=True,
              help="Output format.")
@click.option("--min-severity", type=click.Choice(_SEVERITIES), default="minor", show_default=True,
              help="Show only findings at or above this severity (exit codes still count every finding).")
@click.option("--fail-on", type=click.Choice(_SEVERITIES), default="moderate", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
@click.option("--knowledge", "knowledge_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Use the knowledge CSVs in DIR instead of the bundled knowledge base.")
@layers_option
@click.option("--fhir", "fhir_file", type=click.File("rb"), metavar="FILE",
              help="Read the patient from a FHIR R4/R4B Bundle (JSON; - for stdin). Medications, -c and -a "
                   "given as well are added to it.")
@click.pass_context
def check(ctx, medications, conditions, allergies, age, fmt, min_severity, fail_on, knowledge_dir, layers,
          fhir_file) -> None:
    """Screen one patient's medication list.

    Each MEDICATION is free text: a name, brand or combination product,
    optionally with strength, frequency and duration. Quote entries that
    contain spaces.

    \b
    Examples:
      screener check "Soma 350 mg qid" Xanax --condition pregnancy
      screener check carisoprodol Norco -c "alcohol use disorder" --age 70
      screener check "carisoprodol 500 mg three times a day and at bedtime x 30 days"
      screener check Soma Norco Xanax --format json
      screener check --fhir bundle.json --format fhir

    \b
    Exit codes: 0 nothing at or above --fail-on; 1 findings at or above
    --fail-on; 2 usage or input error; 3 some input not recognised.
    """
    if not medications and fhir_file is None:
        raise click.UsageError("give at least one medication to screen, e.g. screener check \"Soma 350 mg qid\"")
    knowledge = _load(knowledge_dir, layers)
    fhir = None
    try:
        if fhir_file is not None:  # fhir.resources is imported only on this path
            from .fhir import read_bundle

            fhir = read_bundle(fhir_file.read(), knowledge).merged(medications, conditions, allergies, age)
            medications, conditions, allergies, age = fhir.medications, fhir.conditions, fhir.allergies, fhir.age
        report = knowledge.screen(medications, conditions, allergies, age)
    except InputError as exc:
        raise InputProblem(str(exc)) from None

    shown_floor = Severity(min_severity)
    shown = replace(report, findings=tuple(f for f in report.findings if f.severity.at_least(shown_floor)))
    if fhir is not None:
        from .fhir.render import render

        click.echo(render(shown, fhir, fmt, color=_color(ctx)), color=_color(ctx))
    else:
        click.echo(get_format(fmt).render_report(shown, color=_color(ctx)), color=_color(ctx))
    click.echo(_summary(report, len(report.findings) - len(shown.findings)), err=True)
    ctx.exit(exit_code(report, Severity(fail_on)))


def exit_code(report: Report, fail_on: Severity) -> int:
    """The exit code contract: 1 for findings at or above `fail_on`, else 3 if incomplete, else 0."""
    if any(f.severity.at_least(fail_on) for f in report.findings):
        return EXIT_FINDINGS
    if report.status is Status.INCOMPLETE:
        return EXIT_INCOMPLETE
    return EXIT_OK


def _summary(report: Report, hidden: int) -> str:
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
        parts.append(f"{n} input{'s' if n != 1 else ''} not recognised: screen incomplete")
    return "screener: " + "; ".join(parts) + "."


@cli.command()
@click.argument("name")
@click.option("-f", "--format", "fmt", type=click.Choice(_FORMATS), default="text", show_default=True,
              help="Output format.")
@click.option("--knowledge", "knowledge_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Use the knowledge CSVs in DIR instead of the bundled knowledge base.")
@layers_option
@click.pass_context
def explain(ctx, name, fmt, knowledge_dir, layers) -> None:
    """Show what the knowledge base knows about NAME: a drug, brand, class or condition.

    Lists its names, classes (with the is_a chain), ingredients or products,
    and every rule that applies to it, inherited ones included, with sources.

    \b
    Examples:
      screener explain carisoprodol
      screener explain Norco
      screener explain pregnancy
    """
    knowledge = _load(knowledge_dir, layers)
    try:
        explanation = knowledge.explain(name)
    except UnknownConceptError as exc:
        raise click.ClickException(str(exc)) from None
    except ScreenerError as exc:
        raise InputProblem(str(exc)) from None
    click.echo(get_format(fmt).render_explanation(explanation, color=_color(ctx)), color=_color(ctx))


def main() -> None:
    """Entry point of the `screener` program and `python -m screener`."""
    if sys.argv[1:2] == ["batch"]:
        # This process runs one command and ends: set it up for a batch run (pandas
        # deferred, freed memory kept; see screener.batch.process_setup). Not done
        # for `cli` invoked in-process.
        from .batch import process_setup

        process_setup.prepare()
    cli(prog_name="screener")
