"""What ``orcapod run`` and ``orcapod demo`` print of a run: a node's results and the summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.protocols.text import escape_control

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pyarrow as pa

    from orcapod.core.pipeline import Pipeline, RunResult

__all__ = ["print_outputs", "print_summary"]

SHOWN_ROWS = 20
"""Rows of a node's results shown after a run."""


def print_outputs(pipeline: Pipeline, only: str | None = None) -> None:
    """The last node's table (or ``only``'s), at most ``SHOWN_ROWS`` rows."""
    label = only or list(pipeline.nodes)[-1]
    table = pipeline.nodes[label].as_table()
    print(f"results of node {label!r} ({table.num_rows} rows):")
    _print_table(table.slice(0, SHOWN_ROWS))
    if table.num_rows > SHOWN_ROWS:
        print(f"... {table.num_rows - SHOWN_ROWS} more")


def print_summary(result: RunResult) -> None:
    print(
        f"\nrun {result.run_id}: {result.state} in {result.duration_s:.2f} s "
        f"(computed {result.n_computed}, cached {result.n_cached}, failed {result.n_failed})"
    )
    rows = [("NODE", "COMPUTED", "CACHED", "FAILED", "ROWS")]
    rows += [
        (label, str(c.computed), str(c.cached), str(c.failed), str(c.rows))
        for label, c in result.nodes.items()
    ]
    _print_rows(rows)


def _print_table(table: pa.Table) -> None:
    rows = [tuple(table.column_names)]
    for row in table.to_pylist():
        rows.append(tuple(_cell(row[name]) for name in table.column_names))
    _print_rows(rows)


def _print_rows(rows: Sequence[Sequence[str]]) -> None:
    """Columns aligned; control characters, newlines and tabs in a cell escaped."""
    rows = [[escape_control(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 6:
        return f"[{', '.join(map(_cell, value[:3]))}, ... {len(value)} items]"
    if isinstance(value, list):
        return f"[{', '.join(map(_cell, value))}]"
    return str(value)
