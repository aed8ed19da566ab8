"""The `screener` command line: a thin click adapter over the library.

Each command lives in its own module of this package, parses its options,
calls one library function, renders the result with a format from
`screener.formats`, and turns library errors into one-line messages. The
report goes to stdout; the one-line summary goes to stderr. Heavy libraries
are never imported here, and `screener check` imports only `check` (and
`explain`, which shares its imports): the other commands' modules are loaded
by `LazyGroup` when they run.

Exit codes (the contract in the README):
  0  every input recognised, no finding at or above --fail-on
  1  at least one finding at or above --fail-on (default: moderate)
  2  usage error, unreadable input or bad knowledge files
  3  some input not recognised and no finding at or above --fail-on
"""

from __future__ import annotations

import importlib
import sys

import click

from ..version import __version__

EXIT_OK = 0
"""Every input recognised, no finding at or above --fail-on."""
EXIT_FINDINGS = 1
"""At least one finding at or above --fail-on."""
EXIT_USAGE = 2
"""Usage error, input that cannot be screened, or bad knowledge files."""
EXIT_INCOMPLETE = 3
"""Some input not recognised, and no finding at or above --fail-on."""


class LazyGroup(click.Group):
    """A group whose other commands are imported only when asked for.

    `screener check` must start fast: the modules of batch, graph, data and
    serve (and their option tables) are imported only when one of them runs,
    or for `screener --help`.
    """

    lazy_commands = {
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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="screener")
def cli() -> None:
    """Screen a patient's medications, conditions, allergies and age for cautions.

    Every finding says how serious it is, why it fired (the path through the
    knowledge graph), what to do, and where the knowledge comes from. An input
    that is not recognised is always reported: such a screen is "incomplete",
    never clean. The screener never says "safe".
    """


def main() -> None:
    """Entry point of the `screener` program and `python -m screener`."""
    if sys.argv[1:2] == ["batch"]:
        # This process runs one command and ends: set it up for a batch run (pandas
        # deferred, freed memory kept; see screener.batch.process_setup). Not done
        # for `cli` invoked in-process.
        from ..batch import process_setup

        process_setup.prepare()
    cli(prog_name="screener")


# The hot path's commands are registered eagerly (the others are in LazyGroup.lazy_commands). These
# imports come last because the command modules import the exit codes above.
# Imported as modules, not as `from .check import check`, so that `screener.cli.check` stays the module
# (monkeypatching and `python -m` tooling resolve names through it).
from . import check as _check_module, explain as _explain_module  # noqa: E402

cli.add_command(_check_module.check)
cli.add_command(_explain_module.explain)

__all__ = ["cli", "main", "LazyGroup", "EXIT_OK", "EXIT_FINDINGS", "EXIT_USAGE", "EXIT_INCOMPLETE"]
