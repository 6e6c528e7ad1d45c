"""How an :class:`~orcapod.observers.ObservabilityReader` shows itself in a notebook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.notebook import arrow_preview, escape_html, html_summary

if TYPE_CHECKING:
    from orcapod.observers._reader import ObservabilityReader

__all__ = ["reader_html"]


def reader_html(reader: ObservabilityReader) -> str:
    """The pipeline's runs, newest first, and per node the packet states of its latest
    run: each a bounded preview with its row count. What cannot be read (no records
    of the pipeline) is said, never raised."""
    title = f"observability of pipeline {reader.pipeline!r}"
    try:
        runs = reader.runs()
        summary = reader.summary()
    except Exception as error:
        reason = f"<p>not readable: {escape_html(f'{type(error).__name__}: {error}')}</p>"
        return html_summary(title, [("database", repr(reader.database))], [("runs", reason)])
    facts: list[tuple[str, object]] = [("runs", runs.num_rows)]
    if runs.num_rows:
        latest = runs.slice(0, 1).to_pylist()[0]
        facts += [
            ("latest run", latest["__run_id"]),
            ("state", latest["__state"]),
            ("succeeded", latest["__n_success"]),
            ("cached", latest["__n_cached"]),
            ("failed", latest["__n_failed"]),
        ]
    return html_summary(
        title,
        facts,
        [
            ("runs, newest first", arrow_preview(runs)),
            ("packet states of the latest run, per node", arrow_preview(summary)),
        ],
    )
