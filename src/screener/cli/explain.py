"""`screener explain`: what the knowledge base knows about one name."""

from __future__ import annotations

import click

from ..errors import ScreenerError, UnknownConceptError
from ..formats import Display, get_format
from .check import FORMATS
from .options import InputProblem, display_options, knowledge_options, load_from_options
from .output import emit, terminal_width, use_color


@click.command()
@click.argument("name")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Output format.")
@display_options
@knowledge_options
@click.pass_context
def explain(ctx, name, fmt, width, color, knowledge_dir, layers) -> None:
    """Show what the knowledge base knows about NAME: a drug, brand, class or condition.

    Lists its names, classes (with the is_a chain), ingredients or products,
    and every rule that applies to it, inherited ones included, with sources.
    Local layers (--data) are included.

    \b
    Examples:
      screener explain carisoprodol
      screener explain Norco
      screener explain pregnancy

    \b
    Exit codes: 0 shown; 1 NAME is not in the knowledge base; 2 usage error
    or bad knowledge files.
    """
    knowledge = load_from_options(knowledge_dir, layers)
    try:
        explanation = knowledge.explain(name)
    except UnknownConceptError as exc:
        raise click.ClickException(str(exc)) from None
    except ScreenerError as exc:
        raise InputProblem(str(exc)) from None
    color = use_color(ctx, color)
    emit(get_format(fmt).render_explanation(explanation, color=color, display=Display(width=terminal_width(width))),
         color=color)
