"""Writing what a command prints: colour only on a terminal."""

from __future__ import annotations

import sys

import click


def use_color(ctx: click.Context) -> bool:
    """Colour only when stdout is a terminal, unless click was told otherwise (click strips styles then)."""
    return bool(ctx.color) if ctx.color is not None else sys.stdout.isatty()
