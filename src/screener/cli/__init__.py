"""The `screener` command line: a thin click adapter over the library.

Each command lives in its own module of this package, parses its options,
calls one library function, renders the result with a format from
`screener.formats`, and turns library errors into one-line messages. The
report goes to stdout; the one-line summary goes to stderr. Heavy libraries
are never imported here, and `screener check` imports only `check` (and
`explain`, which shares its imports): the other commands' modules are loaded
by `LazyGroup` when they run.

Every command's errors go one way (`ScreenerGroup`): the library's errors
become one-line usage errors in the commands (exit 2); anything unexpected
becomes one line and exit 4, never a traceback and exit 1, which would read
as "findings" to a CI job using --fail-on.

Exit codes (the contract in the README):
  0    every input recognised, no finding at or above --fail-on
  1    at least one finding at or above --fail-on (default: moderate)
  2    usage error, unreadable input, bad knowledge files, or the report
       could not be written (a full disk, an I/O error)
  3    some input not recognised or not checked, and no finding at or above --fail-on
  4    internal error: a bug in screener (one line; SCREENER_DEBUG=1 adds the traceback)
  130  interrupted (Ctrl-C)
  141  the reader of stdout went away (a closed pipe): nothing is printed
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys
from typing import ClassVar

import click

from ..version import __version__
from .output import OutputError, quieten

EXIT_OK = 0
"""Every input recognised, no finding at or above --fail-on."""
EXIT_FINDINGS = 1
"""At least one finding at or above --fail-on."""
EXIT_USAGE = 2
"""Usage error, input that cannot be screened, bad knowledge files, or a report that could not be written."""
EXIT_INCOMPLETE = 3
"""Some input not recognised or not checked, and no finding at or above --fail-on."""
EXIT_INTERNAL = 4
"""An unexpected exception: a bug in screener, never a finding."""
EXIT_INTERRUPTED = 130
"""Ctrl-C: 128 + SIGINT, what a shell reports for a program stopped by the signal."""
EXIT_BROKEN_PIPE = 141
"""stdout's reader closed the pipe (`screener check … | head -1`): 128 + SIGPIPE, as for other Unix tools."""

DEBUG_ENV = "SCREENER_DEBUG"
"""Set to 1 to print the traceback of an internal error (the exit code is still 4)."""


class LazyGroup(click.Group):
    """A group whose other commands are imported only when asked for.

    `screener check` must start fast: the modules of batch, graph, data and
    serve (and their option tables) are imported only when one of them runs,
    or for `screener --help`.
    """

    lazy_commands: ClassVar[dict[str, str]] = {
        "batch": "screener.cli.batch:batch",
        "data": "screener.cli.data:data",
        "graph": "screener.cli.graph:graph",
        "serve": "screener.cli.serve:serve",
    }
    """Command name → `module:attribute` of the click command, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, the lazy ones included, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """The command `name`, importing its module first if it is a lazy one not yet loaded."""
        if name not in self.commands and name in self.lazy_commands:
            module, attribute = self.lazy_commands[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())
"""What click 8.2+ raises for a group called without a command (it shows the help); () before."""


class ScreenerGroup(LazyGroup):
    """The `screener` group: lazy commands, and the one error path every command shares.

    Click already turns usage errors into `Error: …` and exit 2. Everything
    else a command raises ends here, in `invoke`, so it applies whether the
    group runs as a program or under click's `CliRunner` (which calls `main`
    in standalone mode): see `failure_exit_code`.
    """

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """Click's `main`, with a usage error said in one line: `Error: <what>`.

        Click prints the usage, a hint and the error on four lines; the rule here is one clear line for
        bad input. Everything else is click's standalone handling.
        """
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except _NO_ARGS_IS_HELP as exc:  # `screener` or `screener data` alone: the help, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            # Click would print the usage and a hint first; the message names the problem (and the option).
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        # With standalone_mode off, click returns the exit code of a `ctx.exit(code)` instead of exiting.
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context):
        """Run the command; an unexpected exception, Ctrl-C or a failed write becomes one line and an exit code."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # click's own: usage errors (exit 2), one-line errors, and the exit codes commands chose
        except (Exception, KeyboardInterrupt) as exc:
            raise click.exceptions.Exit(failure_exit_code(exc)) from None


def failure_exit_code(exc: BaseException) -> int:
    """Say what went wrong in one line on stderr (or nothing, for a closed pipe) and return the exit code.

    - KeyboardInterrupt: `screener: interrupted`, 130.
    - a package of an optional extra not installed (`MissingExtraError`, or an ImportError of one):
      `screener: check --fhir needs fhir.resources, which is not installed: pip install
      'screener[fhir]'`, 2.
    - a write to stdout whose reader went away (EPIPE): nothing, 141.
    - another failed write: `screener: cannot write the report: <reason>`, 2.
    - anything else: `screener: internal error: <Type>: <message> (please
      report this; SCREENER_DEBUG=1 shows the traceback)`, 4; with
      SCREENER_DEBUG=1 the traceback comes first.
    """
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        import traceback

        _say("".join(traceback.format_exception(exc)).rstrip("\n"))
    if isinstance(exc, KeyboardInterrupt):
        # On a terminal the "^C" echo is still on the line: start a new one.
        _say(("\n" if _isatty(sys.stderr) else "") + "screener: interrupted")
        return EXIT_INTERRUPTED
    from ..errors import MissingExtraError
    from ..extras import extra_for

    if isinstance(exc, ImportError) and not isinstance(exc, MissingExtraError):
        exc = extra_for(exc, "this command") or exc
    if isinstance(exc, MissingExtraError):  # a feature whose optional extra is not installed
        _say(f"screener: {exc}")
        return EXIT_USAGE
    if isinstance(exc, OutputError):
        quieten(exc.stream)
        if exc.error.errno == errno.EPIPE:  # the reader has what it wanted (| head): say nothing, as Unix tools do
            return EXIT_BROKEN_PIPE
        _say(f"screener: {exc}")
        return EXIT_USAGE
    message = " ".join(str(exc).split())  # one line, whatever the exception holds
    _say(f"screener: internal error: {type(exc).__name__}{': ' + message if message else ''} "
         f"(please report this; {DEBUG_ENV}=1 shows the traceback)")
    return EXIT_INTERNAL


def _say(line: str) -> None:
    # The message about a failure must not fail in turn (stderr may be the stream that broke).
    with contextlib.suppress(OSError, ValueError):
        click.echo(line, err=True)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


@click.group(cls=ScreenerGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="screener")
def cli() -> None:
    """Screen a patient's medications, conditions, allergies and age for cautions.

    Every finding says how serious it is, why it fired (the path through the
    knowledge graph), what to do, and where the knowledge comes from. An input
    that is not recognised is always reported: such a screen is "incomplete",
    never clean. The screener never says "safe".

    \b
    Exit codes: 0 nothing at or above --fail-on; 1 findings at or above
    --fail-on; 2 usage error, bad input or knowledge, or output that could not
    be written; 3 some input not recognised or not checked; 4 internal error (a bug: one
    line, or the traceback with SCREENER_DEBUG=1); 130 interrupted; 141 the
    reader of stdout went away.
    """


def main() -> None:
    """Entry point of the `screener` program and `python -m screener`."""
    try:
        if sys.argv[1:2] == ["batch"]:
            # This process runs one command and ends: set it up for a batch run (pandas
            # deferred, freed memory kept; see screener.batch.process_setup). Not done
            # for `cli` invoked in-process.
            from ..batch import process_setup

            process_setup.prepare()
    except (Exception, KeyboardInterrupt) as exc:  # before any command runs, the same one error path
        sys.exit(failure_exit_code(exc))
    cli(prog_name="screener")


# The hot path's commands are registered eagerly (the others are in LazyGroup.lazy_commands). These
# imports come last because the command modules import the exit codes above.
# Imported as modules, not as `from .check import check`, so that `screener.cli.check` stays the module
# (monkeypatching and `python -m` tooling resolve names through it).
from . import check as _check_module  # noqa: E402
from . import explain as _explain_module  # noqa: E402

# (mypy cannot see through the import of the command modules, which import this one back.)
cli.add_command(_check_module.check)  # type: ignore[has-type]
cli.add_command(_explain_module.explain)  # type: ignore[has-type]

__all__ = [
    "DEBUG_ENV",
    "EXIT_BROKEN_PIPE",
    "EXIT_FINDINGS",
    "EXIT_INCOMPLETE",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "LazyGroup",
    "ScreenerGroup",
    "cli",
    "failure_exit_code",
    "main",
]
