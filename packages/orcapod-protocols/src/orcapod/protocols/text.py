"""Text shown on a terminal: the one output layer of every ``orcapod`` sub-command.

- :func:`escape_control`: stored values with their control characters escaped;
- :func:`format_table` / :func:`print_table`: aligned tables, every cell escaped;
- :func:`colour_enabled`, :func:`paint`, :func:`paint_state`: colour, on a
  terminal only and never with ``NO_COLOR`` set.

Tags, values, labels and captured output come from user data; printed raw, a
NUL, an escape sequence (``\\x1b[31m``) or a carriage return can recolour,
overwrite or hide what a command line prints, and a newline or tab breaks a
table's row in two. Every text printer of ``orcapod`` (core and plugins) routes
what it prints of stored values through :func:`escape_control`. It lives here,
in orcapod-protocols, because plugins may not import orcapod-core; core's
sub-commands and plugins' print their tables through the same functions.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence

__all__ = [
    "STATE_STYLES",
    "colour_enabled",
    "escape_control",
    "format_table",
    "paint",
    "paint_state",
    "print_table",
]


def escape_control(text: str, *, keep: str = "") -> str:
    """``text`` with each character that is not printable written as Python's
    ``repr`` writes it: ``"\\x00"``, ``"\\x1b"``, ``"\\r"``, ``"\\n"``, ``"\\t"``,
    ``"\\u200b"``, ...

    Printable text, any script, emoji and the plain space included, is returned
    unchanged ("printable" as :meth:`str.isprintable` means it). Backslashes
    are not doubled, so escaping is idempotent and an ordinary path or regex
    reads as written (a literal ``\\x00`` and a NUL look the same).

    Args:
        text: what to show.
        keep: characters to leave as they are even so (e.g. ``"\\t"`` in a
            block of captured output, whose lines are printed one by one).

    Returns:
        ``text`` with nothing in it a terminal would act on, bar ``keep``.
    """
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char in keep else repr(char)[1:-1] for char in text
    )


# -- colour --------------------------------------------------------------------------

_SGR = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "cyan": "36", "dim": "2"}
"""Select Graphic Rendition codes of the few styles used."""

STATE_STYLES: Mapping[str, str] = {
    "SUCCESS": "green",
    "CACHED": "green",
    "RUNNING": "cyan",
    "PARTIAL": "yellow",
    "CANCELLED": "yellow",
    "INTERRUPTED": "yellow",
    "FAILED": "red",
    "CRASHED": "red",
    "LOST": "red",
}
"""The colour of each run and packet state, where colour is shown."""


def colour_enabled(stream: TextIO | None = None) -> bool:
    """Whether to colour what is written to ``stream`` (default ``sys.stdout``).

    Only a terminal gets colour: never a pipe or a file, never when ``NO_COLOR``
    is set to anything but the empty string (https://no-color.org), never on a
    ``TERM=dumb`` terminal.
    """
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    stream = sys.stdout if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def paint(text: str, style: str | None, *, colour: bool) -> str:
    """``text`` in ``style`` (``"bold"``, ``"red"``, ``"green"``, ``"yellow"``,
    ``"cyan"``, ``"dim"``) when ``colour`` is true, else unchanged.

    ``text`` should already be escaped: the escape sequences added here are
    the only ones a printer lets through.
    """
    if not colour or style is None or not text:
        return text
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m"


def paint_state(state: str, *, colour: bool) -> str:
    """A run or packet state (``"FAILED"``), escaped and in its colour from :data:`STATE_STYLES`."""
    return paint(escape_control(state), STATE_STYLES.get(state), colour=colour)


# -- tables ----------------------------------------------------------------------------


def format_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    indent: str = "",
    colour: bool = False,
    state_columns: Collection[str] = ("STATE",),
) -> list[str]:
    """The lines of a table: columns left-aligned, two spaces apart, no trailing spaces.

    Every cell is ``str()``-ed and escaped with :func:`escape_control`, so a row
    is always one line. With ``colour``, the headers are bold and the cells of
    the columns headed by a name in ``state_columns`` are coloured by their
    state (:data:`STATE_STYLES`); widths are those of the text, without colour.

    Args:
        headers: the column titles.
        rows: one sequence of cells per row, as many as ``headers``.
        indent: put before every line.
        colour: whether to add colour (see :func:`colour_enabled`).
        state_columns: the headers of the columns that hold states.

    Raises:
        ValueError: a row has more or fewer cells than there are headers.
    """
    table = [[escape_control(str(cell)) for cell in row] for row in [headers, *rows]]
    for number, row in enumerate(table[1:], start=1):
        if len(row) != len(headers):
            raise ValueError(f"row {number} has {len(row)} cells, the table {len(headers)} columns")
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    styles = [STATE_STYLES if header in state_columns else {} for header in headers]
    lines = []
    for number, row in enumerate(table):
        cells = [
            paint(
                cell,
                "bold" if number == 0 else style.get(cell),
                colour=colour,
            )
            + " " * (width - len(cell))
            for cell, width, style in zip(row, widths, styles, strict=True)
        ]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    indent: str = "",
    file: TextIO | None = None,
    state_columns: Collection[str] = ("STATE",),
) -> None:
    """Print :func:`format_table`'s lines to ``file`` (default ``sys.stdout``), in
    colour when :func:`colour_enabled` says so."""
    stream = sys.stdout if file is None else file
    lines = format_table(
        headers,
        rows,
        indent=indent,
        colour=colour_enabled(stream),
        state_columns=state_columns,
    )
    print("\n".join(lines), file=stream)
