"""What ``orcapod run`` and ``orcapod demo`` print of a run: a node's results and the summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.protocols.text import colour_enabled, paint_state, print_table

if TYPE_CHECKING:
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
    """The run's state, time and counts, then one row per node."""
    state = paint_state(str(result.state), colour=colour_enabled())
    print(
        f"\nrun {result.run_id}: {state} in {result.duration_s:.2f} s "
        f"(computed {result.n_computed}, cached {result.n_cached}, failed {result.n_failed})"
    )
    print_table(
        ["NODE", "COMPUTED", "CACHED", "FAILED", "ROWS"],
        [(label, c.computed, c.cached, c.failed, c.rows) for label, c in result.nodes.items()],
        indent="  ",
    )


def _print_table(table: pa.Table) -> None:
    rows = [[_cell(row[name]) for name in table.column_names] for row in table.to_pylist()]
    print_table(table.column_names, rows, indent="  ", state_columns=())


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 6:
        return f"[{', '.join(map(_cell, value[:3]))}, ... {len(value)} items]"
    if isinstance(value, list):
        return f"[{', '.join(map(_cell, value))}]"
    return str(value)
