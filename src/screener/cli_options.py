"""Options shared by several commands (kept apart so every command module can import them cheaply)."""

from __future__ import annotations

import os

import click

LAYERS_ENV = "SCREENER_DATA"
"""Environment variable with local knowledge layers, separated like PATH."""


def _split_layers(ctx, param, value):
    # click gives () when the option is absent; then the environment variable applies.
    if value:
        return tuple(value)
    env = os.environ.get(LAYERS_ENV, "")
    return tuple(part for part in env.split(os.pathsep) if part)


layers_option = click.option(
    "--data", "layers", multiple=True, type=click.Path(file_okay=False), metavar="DIR", callback=_split_layers,
    help=f"A local knowledge layer over the bundled knowledge: brands, synonyms, rules, overrides.csv "
         f"(repeatable; default: ${LAYERS_ENV}, separated like PATH).",
)
"""`--data DIR` (repeatable) and $SCREENER_DATA: local layers applied in order over the knowledge."""
