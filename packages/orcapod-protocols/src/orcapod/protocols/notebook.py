"""HTML shown in a notebook: the compact summaries behind every ``_repr_html_`` of orcapod.

- :func:`escape_html`: a stored value as HTML text, control characters escaped;
- :func:`html_table`: rows as an HTML table, at most :data:`MAX_ROWS` of them;
- :func:`arrow_preview`: the first rows of an Arrow table and how many it has;
- :func:`html_summary`: a title, a line of facts and sections, in one ``<div>``.

Tags, values, labels and captured output come from user data: a ``<``, ``&``
or a control character shown raw would break the page or hide what follows.
Every value goes through :func:`escape_html`, so what is made here is
well-formed (it parses as XML) whatever the data holds; and however large a
table is, only its first :data:`MAX_ROWS` rows are read and shown, with the
count of the rest. It lives here, beside :mod:`orcapod.protocols.text`, so that
orcapod-core and plugins display things the same way.
"""

from __future__ import annotations

import html
import itertools
from typing import TYPE_CHECKING, Any

from orcapod.protocols.text import escape_control

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["MAX_CELL", "MAX_ROWS", "arrow_preview", "escape_html", "html_summary", "html_table"]

MAX_ROWS = 20
"""Rows shown by a table, however many it has."""

MAX_CELL = 200
"""Characters shown of one value; the rest is cut and marked ``…``."""

_STYLE = "font-family: monospace; font-size: 90%"


def escape_html(value: object, *, limit: int = MAX_CELL) -> str:
    """``value`` as HTML text: ``str()``-ed, cut to ``limit`` characters, control
    characters written as Python writes them (``\\x00``) and ``<``, ``>``, ``&``
    and quotes escaped. A value whose ``str`` fails is shown by its type."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        text = f"<{type(value).__qualname__}>"
    if len(text) > limit:
        text = text[:limit] + "…"
    return html.escape(escape_control(text))


def html_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    total: int | None = None,
    limit: int = MAX_ROWS,
) -> str:
    """An HTML table of at most ``limit`` of ``rows`` (only those are read), every
    cell escaped, and under it how many rows were left out.

    Args:
        headers: the column titles.
        rows: one sequence of cells per row.
        total: how many rows there are in all, when ``rows`` holds fewer (a
            preview); by default, as many as ``rows`` yields.
        limit: rows shown at most.
    """
    iterator = iter(rows)
    shown = list(itertools.islice(iterator, limit))
    if total is None:
        total = len(shown) + sum(1 for _ in iterator)
    head = "".join(f"<th>{escape_html(name)}</th>" for name in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape_html(cell)}</td>" for cell in row) + "</tr>" for row in shown
    )
    parts = [f'<table style="{_STYLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>']
    if total > len(shown):
        parts.append(f"<p><em>{len(shown):,} of {total:,} rows shown</em></p>")
    return "".join(parts)


def arrow_preview(table: Any, *, title: str | None = None, limit: int = MAX_ROWS) -> str:
    """The first ``limit`` rows of an Arrow table (only those are converted) and its
    row count, as HTML; system columns (``__...``) are shown like any other.

    Args:
        table: a ``pyarrow.Table`` (or anything with ``num_rows``, ``column_names``
            and ``slice(offset, length).to_pylist()``).
        title: a heading put before it.
        limit: rows shown at most.
    """
    count = int(table.num_rows)
    names = list(table.column_names)
    rows = [[row.get(name) for name in names] for row in table.slice(0, limit).to_pylist()]
    noun = "row" if count == 1 else "rows"
    heading = f"<strong>{escape_html(title)}</strong> " if title is not None else ""
    parts = [f"<p>{heading}<em>{count:,} {noun}, {len(names)} columns</em></p>"]
    if count:
        parts.append(html_table(names, rows, total=count, limit=limit))
    return f"<div>{''.join(parts)}</div>"


def html_summary(
    title: str, facts: Sequence[tuple[str, object]], sections: Sequence[tuple[str, str]] = ()
) -> str:
    """One ``<div>``: a bold title, a line of ``name: value`` facts, then each
    section's heading (escaped) and HTML (made by the functions above: not escaped)."""
    line = " · ".join(f"{escape_html(name)}: <b>{escape_html(value)}</b>" for name, value in facts)
    parts = [f"<p><strong>{escape_html(title)}</strong></p>", f"<p>{line}</p>"]
    for heading, body in sections:
        parts.append(f"<p><em>{escape_html(heading)}</em></p>{body}")
    return f'<div class="orcapod" style="{_STYLE}">{"".join(parts)}</div>'
