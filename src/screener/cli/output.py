"""Writing what a command prints: colour and width from the terminal, symbols it can print, and a
failed write named as such.

Commands print through `emit` (text) and `emit_bytes` (a binary picture). A
write to stdout that fails (a full disk, a closed pipe, an I/O error) raises
`OutputError`, which the `screener` group turns into one line and an exit code
(see `screener.cli`), rather than a traceback and exit 1, the code for findings.

- Colour (`use_color`): `--color`/`--no-color` when given; else none when
  `NO_COLOR` is set (https://no-color.org); else only on a terminal.
- Width (`terminal_width`): `--width` when given; else `COLUMNS`; else the
  terminal's; else 80 (a pipe, a file).
- Symbols (`printable`): a console whose encoding cannot print the report's
  symbols (PYTHONIOENCODING=ascii, a cp1252 Windows console, LANG=C on an old
  Python) gets ASCII ones (* -> <- <-> ...) instead of a UnicodeEncodeError.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from typing import BinaryIO

import click

from ..formats import DEFAULT_WIDTH

NO_COLOR_ENV = "NO_COLOR"
"""Set (to anything but the empty string) for no colour unless --color is given: https://no-color.org."""

ASCII_SYMBOLS = {
    "●": "*", "→": "->", "←": "<-", "⟷": "<->", "…": "...", "·": "-", "×": "x", "÷": "/", "–": "-",
    "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "≥": ">=", "≤": "<=", "±": "+/-", "§": "sec. ",
    "µ": "u", "μ": "u", "⏎": " ", "✓": "ok",
}
"""What each symbol the reports use becomes on a console that cannot print it."""


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


def use_color(ctx: click.Context, choice: bool | None = None) -> bool:
    """Whether to colour: `choice` (--color/--no-color) when given; else not when $NO_COLOR is set; else
    click's own setting (a test runner's `color=`), else only when stdout is a terminal."""
    if choice is not None:
        return choice
    if os.environ.get(NO_COLOR_ENV, ""):
        return False
    return bool(ctx.color) if ctx.color is not None else _isatty(sys.stdout)


def terminal_width(given: int | None = None) -> int:
    """The columns to lay text out in: `given` (--width); else $COLUMNS; else the terminal's; else 80."""
    if given:
        return given
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if _isatty(sys.stdout):
        try:
            return os.get_terminal_size(sys.stdout.fileno()).columns or DEFAULT_WIDTH
        except (OSError, ValueError):
            pass
    return DEFAULT_WIDTH


def printable(message: str, stream) -> str:
    """`message` as `stream` can encode it: unchanged when it can; else with ASCII symbols, accents taken
    off, and anything left as "?" (never an error: a report that cannot be printed helps nobody)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        message.encode(encoding)
        return message
    except (UnicodeEncodeError, LookupError):
        pass
    try:
        "".encode(encoding)
    except LookupError:
        encoding = "ascii"
    out = []
    for ch in message:
        try:
            ch.encode(encoding)
            out.append(ch)
            continue
        except UnicodeEncodeError:
            pass
        text = ASCII_SYMBOLS.get(ch) or "".join(c for c in unicodedata.normalize("NFKD", ch)
                                                 if not unicodedata.combining(c))
        out.append(text.encode(encoding, "replace").decode(encoding).replace("\ufffd", "?"))
    return "".join(out)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def emit(message: str = "", *, err: bool = False, nl: bool = True, color: bool | None = None,
         what: str = "the report") -> None:
    """`click.echo` to stdout, raising `OutputError` if the write fails; or to stderr with `err`.

    `what` names the text in the error message. A failed write to stderr (the
    summary, a progress line) is ignored: the report and the exit code are
    what a caller relies on, and they need not suffer for it.
    """
    try:
        click.echo(printable(message, sys.stderr if err else sys.stdout), err=err, nl=nl, color=color)
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
