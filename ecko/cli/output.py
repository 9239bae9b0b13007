"""Colour and tables for the `ecko` command: ANSI styles only on a terminal, never with NO_COLOR."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

__all__ = ["colour_enabled", "error", "info", "style", "table", "visible_width"]

_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def colour_enabled(stream: TextIO) -> bool:
    """Tell whether to colour text written to `stream`.

    `NO_COLOR` (any non-empty value, https://no-color.org) turns colour off; `FORCE_COLOR`
    turns it on; otherwise colour is used on a terminal only, so pipes and logs stay plain.
    """
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def style(text: str, *styles: str, stream: TextIO | None = None) -> str:
    """Wrap `text` in the ANSI codes of `styles` ("bold", "red", ...) if `stream` takes colour."""
    if not text or not styles or not colour_enabled(sys.stdout if stream is None else stream):
        return text
    codes = ";".join(_CODES[name] for name in styles)
    return f"\x1b[{codes}m{text}\x1b[0m"


def visible_width(text: str) -> int:
    """Return the width of `text` on screen, ANSI codes left out."""
    return len(_ANSI.sub("", text))


def error(message: str) -> None:
    """Print `message` to stderr after a red `error:`."""
    print(f"{style('error:', 'bold', 'red', stream=sys.stderr)} {message}", file=sys.stderr)


def info(message: str) -> None:
    """Print a status line to stderr, where it does not mix with a command's data on stdout."""
    print(message, file=sys.stderr, flush=True)


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    styles: Callable[[int, str], tuple[str, ...]] | None = None,
    stream: TextIO | None = None,
) -> str:
    """Render `rows` under `header` as columns aligned on their visible width.

    Args:
        header: column titles, shown in bold.
        rows: the cells, plain text.
        styles: `styles(column, cell)` gives a cell's styles ("green", "bold", ...).
        stream: where the table goes, to decide on colour (default: stdout).
    """
    stream = sys.stdout if stream is None else stream
    widths = [max([len(header[i]), *(len(row[i]) for row in rows)]) for i in range(len(header))]

    def line(cells: Sequence[str], cell_styles: Callable[[int, str], tuple[str, ...]]) -> str:
        parts = [
            style(cell, *cell_styles(index, cell), stream=stream) + " " * (width - len(cell))
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    lines = [line(header, lambda index, cell: ("bold",))]
    lines += [line(row, styles or (lambda index, cell: ())) for row in rows]
    return "\n".join(lines)
