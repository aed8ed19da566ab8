"""Options shared by the commands, and loading the knowledge they name.

Every command that loads knowledge takes the same options through one
decorator, `knowledge_options`: `--knowledge DIR` (the base knowledge instead
of the bundled one) and `--data DIR` (local layers on top, repeatable; default
`$SCREENER_DATA`, separated like PATH). The command then calls
`load_from_options(knowledge_dir, layers)`. Commands that print text for a
person take `display_options`: `--width N` and `--color/--no-color`. Only
click and the standard library are imported here, so every command module can
import this cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..api import Knowledge

LAYERS_ENV = "SCREENER_DATA"
"""Environment variable with local knowledge layers, separated like PATH."""

LOADS_KNOWLEDGE = "loads_knowledge"
"""The attribute `knowledge_options` sets on a command's callback (see `loads_knowledge`)."""

F = TypeVar("F", bound=Callable)


class InputProblem(click.UsageError):
    """Bad patient input or knowledge files: exit 2 with `Error: …`, like any usage error."""

    def show(self, file=None) -> None:
        """Print the one-line message (no "Usage:" block: the problem is the input, not the command line)."""
        click.echo(f"Error: {self.format_message()}", err=True)


def _split_layers(ctx, param, value):
    # click gives () when the option is absent; then the environment variable applies.
    if value:
        return tuple(value)
    env = os.environ.get(LAYERS_ENV, "")
    return tuple(part for part in env.split(os.pathsep) if part)


_knowledge_option = click.option(
    "--knowledge", "knowledge_dir", type=click.Path(file_okay=False), metavar="DIR",
    help="Use the knowledge CSVs in DIR instead of the bundled knowledge base.",
)

_layers_option = click.option(
    "--data", "layers", multiple=True, type=click.Path(file_okay=False), metavar="DIR", callback=_split_layers,
    help=f"A local knowledge layer over the knowledge: brands, synonyms, rules, overrides.csv "
         f"(repeatable; default: ${LAYERS_ENV}, separated like PATH).",
)


def knowledge_options(f: F) -> F:
    """Add `--knowledge DIR` and `--data DIR` (repeatable, default $SCREENER_DATA) to a command.

    The command receives them as `knowledge_dir` (None for the bundled
    knowledge) and `layers` (a tuple of directories) and passes both to
    `load_from_options`. The callback is marked so that a test can find every
    command that loads knowledge (`loads_knowledge`).
    """
    f = _knowledge_option(_layers_option(f))
    setattr(f, LOADS_KNOWLEDGE, True)
    return f


_width_option = click.option(
    "--width", type=click.IntRange(min=40), metavar="N",
    help="Lay text out in N columns  [default: the terminal's width, $COLUMNS, else 80]",
)

_color_option = click.option(
    "--color/--no-color", "color", default=None,
    help="Colour the text, or not  [default: only on a terminal, and never when $NO_COLOR is set]",
)


def display_options(f: F) -> F:
    """Add `--width N` and `--color/--no-color` to a command; it receives them as `width` (None: from the
    terminal) and `color` (None: decide from the terminal and $NO_COLOR; see `screener.cli.output`)."""
    return _width_option(_color_option(f))


def loads_knowledge(command: click.Command) -> bool:
    """Whether `command` was declared with `knowledge_options`."""
    return bool(getattr(command.callback, LOADS_KNOWLEDGE, False))


def load_from_options(knowledge_dir: str | None, layers: tuple[str, ...] = ()) -> Knowledge:
    """The knowledge the options name: `knowledge_dir` (default: bundled) with `layers` on top.

    The bundled knowledge without layers is loaded once per process
    (`default_knowledge`). A missing directory or a bad file is a one-line
    usage error, exit 2: `Error: knowledge: <file>:<line>: <problem>`.
    """
    from ..api import default_knowledge, load_knowledge
    from ..errors import KnowledgeError

    try:
        if knowledge_dir or layers:
            return load_knowledge(knowledge_dir, layers=layers)
        return default_knowledge()
    except KnowledgeError as exc:
        raise InputProblem(f"knowledge: {exc}") from None
