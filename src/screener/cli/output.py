"""Writing what a command prints: colour only on a terminal, and a failed write named as such.

Commands print through `emit` (text) and `emit_bytes` (a binary picture). A
write to stdout that fails (a full disk, a closed pipe, an I/O error) raises
`OutputError`, which the `screener` group turns into one line and an exit code
(see `screener.cli`), rather than a traceback and exit 1, the code for findings.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

import click


class OutputError(Exception):
    """Writing the report (to stdout, or to an output file) failed with `error`."""

    def __init__(self, stream: str, error: OSError, what: str = "the report"):
        self.stream = stream
        """Where the write went: `stdout`, or `file` for an output file."""
        self.error = error
        """The OSError the write raised (its errno says whether the reader went away: EPIPE)."""
        self.what = what
        """What was being written, for the message: the report, the output, the picture…"""
        super().__init__(f"cannot write {what}: {error.strerror or error}")


def use_color(ctx: click.Context) -> bool:
    """Colour only when stdout is a terminal, unless click was told otherwise (click strips styles then)."""
    return bool(ctx.color) if ctx.color is not None else sys.stdout.isatty()


def emit(message: str = "", *, err: bool = False, nl: bool = True, color: bool | None = None,
         what: str = "the report") -> None:
    """`click.echo` to stdout, raising `OutputError` if the write fails; or to stderr with `err`.

    `what` names the text in the error message. A failed write to stderr (the
    summary, a progress line) is ignored: the report and the exit code are
    what a caller relies on, and they need not suffer for it.
    """
    try:
        click.echo(message, err=err, nl=nl, color=color)
    except OSError as exc:
        if err:
            quieten("stderr")
            return
        raise OutputError("stdout", exc, what) from None


def emit_bytes(data: bytes, what: str = "the report") -> None:
    """Write `data` to the binary stdout, raising `OutputError` if the write fails."""
    try:
        stream: BinaryIO = sys.stdout.buffer  # click.get_binary_stream is deprecated (Click 8.4)
        stream.write(data)
        stream.flush()
    except OSError as exc:
        raise OutputError("stdout", exc, what) from None


def quieten(stream_name: str) -> None:
    """Point a broken standard stream ("stdout" or "stderr") at /dev/null, so the flush at exit cannot fail again.

    Otherwise Python prints "Exception ignored … BrokenPipeError" (or ENOSPC)
    and exits 120 whatever the command chose. Only the process's real streams
    are touched, never a replaced one (click's CliRunner, pytest's capture).
    """
    if stream_name not in ("stdout", "stderr"):  # an output file: closing it is the writer's business
        return
    stream = getattr(sys, stream_name)
    if stream is not getattr(sys, f"__{stream_name}__"):
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
