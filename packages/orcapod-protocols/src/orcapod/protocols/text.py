"""Text shown on a terminal: stored values with their control characters escaped.

Tags, values, labels and captured output come from user data; printed raw, a
NUL, an escape sequence (``\\x1b[31m``) or a carriage return can recolour,
overwrite or hide what a command line prints, and a newline or tab breaks a
table's row in two. Every text printer of ``orcapod`` (core and plugins) routes
what it prints of stored values through :func:`escape_control`. It lives here,
in orcapod-protocols, because plugins may not import orcapod-core.
"""

from __future__ import annotations

__all__ = ["escape_control"]


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
