"""How a pipeline node shows itself in a notebook (``Node._repr_html_``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.notebook import MAX_ROWS, arrow_preview, escape_html, html_summary

if TYPE_CHECKING:
    from orcapod.core.pipeline._nodes import Node

__all__ = ["node_html"]


def node_html(node: Node) -> str:
    """``node`` as compact HTML: label, kind, hash and upstreams, the counts of its
    latest run in this process, and the first :data:`MAX_ROWS` of its rows."""
    facts: list[tuple[str, object]] = [("kind", node.kind), ("hash", node.node_hash)]
    if node.upstreams:
        facts.append(("inputs", ", ".join(upstream.label for upstream in node.upstreams)))
    if node.latest_run is None:
        facts.append(("latest run", "none in this process"))
    else:
        run_id, counts = node.latest_run
        facts += [
            ("latest run", run_id),
            ("computed", counts.computed),
            ("cached", counts.cached),
            ("failed", counts.failed),
            ("rows", counts.rows),
        ]
    return html_summary(f"{node.kind} node {node.label!r}", facts, [_rows(node)])


def _rows(node: Node) -> tuple[str, str]:
    """The heading and HTML of the node's first rows; what went wrong, if they cannot be read."""
    from orcapod.core.pipeline._nodes import FunctionNode

    try:
        if isinstance(node, FunctionNode):
            rows, inputs = node.preview(MAX_ROWS)
            heading = f"stored results of its current inputs ({inputs:,} input rows)"
            if rows.num_rows >= MAX_ROWS:
                heading = f"first {heading}"
            return heading, arrow_preview(rows)
        return "rows", arrow_preview(node.as_table())
    except Exception as error:  # a display never raises: say why there is nothing to show
        return "rows", f"<p>not readable: {escape_html(f'{type(error).__name__}: {error}')}</p>"
