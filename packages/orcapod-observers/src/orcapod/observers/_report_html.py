"""The HTML of ``orcapod report``: one page, its CSS, JS and SVG inline, no request made.

Every value read from the store goes through :func:`text` (or :func:`block`
for captured output): HTML-escaped, with control characters written as
escapes (a tag may hold ``<``, ``&`` or a NUL).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orcapod.protocols.text import escape_control

if TYPE_CHECKING:
    from orcapod.observers._report import Durations, FailedPacket, NodeReport, RunReport

__all__ = ["render_report", "text"]

_OUTCOMES = (("computed", "SUCCESS"), ("cached", "CACHED"), ("failed", "FAILED"))
_OTHERS = ("CANCELLED", "LOST", "RUNNING")

CSS = """
:root{--fg:#1f2a30;--muted:#5f6b73;--line:#d9dee2;--bg:#fafbfc;--bad:#c62828;--ok:#2e7d32}
*{box-sizing:border-box}
body{
  margin:0;
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:var(--fg);
  background:#fff;
}
header{padding:16px 24px 8px;border-bottom:1px solid var(--line);background:var(--bg)}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 8px}
main{padding:0 24px 24px;max-width:1400px}
code,pre,.mono{
  font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;
  font-size:12.5px;
}
pre{
  white-space:pre-wrap;
  word-break:break-word;
  background:var(--bg);
  border:1px solid var(--line);
  padding:6px 8px;
  margin:4px 0 8px;
  max-height:360px;
  overflow:auto;
}
nav a{margin-right:14px;color:#1565c0;text-decoration:none}
.muted{color:var(--muted)}.note{color:#8a5a00;margin:6px 0}
table{border-collapse:collapse;margin:4px 0}
th,td{
  padding:3px 10px 3px 0;
  text-align:left;
  vertical-align:top;
  border-bottom:1px solid var(--line);
}
th{font-weight:600;color:var(--muted);font-size:12.5px}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.selected td{background:#fff6d6}tr.chosen td{background:#eef5ff}
.state{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;border:1px solid}
.s-SUCCESS{
  color:var(--ok)}.s-PARTIAL,.s-CRASHED,.s-INTERRUPTED{color:#b26a00}.s-FAILED{color:var(--bad)}.s-RUNNING{color:#00838f;
}
.graph{
  display:inline-block;
  max-width:100%;
  overflow:auto;
  border:1px solid var(--line);
  background:#fff;
  padding:8px;
  max-height:640px;
}
.graph svg .orcapod-node{cursor:pointer}
.legend span{display:inline-block;margin-right:14px;font-size:12.5px}
.legend i{
  display:inline-block;
  width:12px;
  height:12px;
  border:1px solid;
  margin-right:4px;
  vertical-align:-2px;
}
details.failure{
  border:1px solid var(--line);
  border-left:3px solid var(--bad);
  margin:6px 0;
  padding:4px 10px;
  background:#fff;
}
details.failure>summary{cursor:pointer;overflow-wrap:anywhere}
details.failure[hidden]{display:none}
.tags td{border:0;padding:0 12px 0 0}
button{font:inherit;font-size:12.5px;margin-right:6px}
.hist rect.bar{fill:#78909c}
"""

SCRIPT = """
(function () {
  "use strict";
  var body = document.body;
  window.addEventListener("error", function (event) {
    body.setAttribute("data-orcapod-error", String(event.message));
  });
  function each(selector, action) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), action);
  }
  function select(label) {
    var shown = 0;
    each("tr[data-node]", function (row) {
      row.classList.toggle("selected", row.getAttribute("data-node") === label);
    });
    each("details.failure", function (item) {
      var keep = label === null || item.getAttribute("data-node") === label;
      item.hidden = !keep;
      if (keep) { shown += 1; }
    });
    var said = document.getElementById("failure-filter");
    if (said) {
      said.textContent = label === null ? "" : "showing the " + shown +
        " listed failure(s) of node " + label + " ";
    }
  }
  each(".graph svg .orcapod-node", function (node) {
    node.addEventListener("click", function () { select(node.getAttribute("data-label")); });
  });
  each("tr[data-node]", function (row) {
    row.addEventListener("click", function () { select(row.getAttribute("data-node")); });
  });
  each("button[data-failures]", function (button) {
    button.addEventListener("click", function () {
      var what = button.getAttribute("data-failures");
      if (what === "all") { select(null); return; }
      each("details.failure", function (item) { item.open = what === "open"; });
    });
  });
  body.setAttribute("data-orcapod-report", "ready");
})();
"""


SUMMARY_CHARACTERS = 160
"""How much of a failed packet's tags or error its one-line summary shows."""


def _shortened(value: str) -> str:
    if len(value) <= SUMMARY_CHARACTERS:
        return value
    return f"{value[: SUMMARY_CHARACTERS - 1]}…"


def text(value: Any) -> str:
    """``value`` as HTML text: control characters as escapes, then HTML-escaped."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        value = _time(value)
    return html.escape(escape_control(str(value)), quote=True)


def block(value: str | None, limit: int) -> str:
    """Captured output as HTML text, newlines and tabs kept, cut to ``limit`` characters
    (its start and its end, the cut said)."""
    value = value or ""
    if len(value) > limit:
        half = limit // 2
        cut = len(value) - 2 * half
        value = f"{value[:half]}\n[... {cut:,} characters not shown ...]\n{value[-half:]}"
    return html.escape(escape_control(value, keep="\n\t"), quote=True)


def render_report(report: RunReport) -> str:
    """The report's page."""
    run = report.run
    title = f"orcapod report: {report.pipeline}, run {report.run_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{text(title)}</title><style>{CSS}</style></head>",
        '<body data-orcapod-report="loading">',
        _header(report, run),
        "<main>",
        _graph_section(report),
        _nodes_section(report),
        _failures_section(report),
        _runs_section(report),
        _context_section(report),
        f'<p class="muted">Generated by <code>orcapod report</code> at '
        f"{text(report.generated_at)} UTC.</p>",
        "</main>",
        f"<script>{SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _header(report: RunReport, run: dict[str, Any]) -> str:
    state = str(run.get("__state") or "")
    counts = (
        f"{run.get('__n_success') or 0:,} computed, {run.get('__n_cached') or 0:,} cached, "
        f"{run.get('__n_failed') or 0:,} failed"
    )
    error = run.get("__error")
    return (
        "<header>"
        f"<h1>Pipeline <code>{text(report.pipeline)}</code>, run "
        f"<code>{text(report.run_id)}</code> {_state(state)}</h1>"
        f'<div class="muted">{counts} &middot; started {text(run.get("__started_at"))} '
        f"&middot; {_span(run.get('__started_at'), run.get('__ended_at'))} &middot; store "
        f"<code>{text(report.uri)}</code></div>"
        + (f'<div class="note">{text(error)}</div>' if error else "")
        + '<nav><a href="#graph">Graph</a><a href="#nodes">Nodes</a>'
        f'<a href="#failures">Failed packets ({report.n_failed:,})</a>'
        f'<a href="#runs">Runs ({report.n_runs:,})</a><a href="#context">Context</a></nav>'
        "</header>"
    )


def _graph_section(report: RunReport) -> str:
    legend = "".join(
        f'<span><i style="background:{fill};border-color:{stroke}"></i>{text(state)}: '
        f"{text(meaning)}</span>"
        for state, fill, stroke, meaning in report.legend
    )
    note = f'<p class="note">{text(report.graph_note)}</p>' if report.graph_note else ""
    return (
        '<section id="graph"><h2>Graph</h2>'
        f'<div class="legend">{legend}</div>{note}'
        f'<div class="graph">{report.graph_svg}</div>'
        '<p class="muted">Click a node to pick out its row and its failed packets.</p></section>'
    )


def _nodes_section(report: RunReport) -> str:
    head = (
        "<tr><th>node</th><th>kind</th><th>state</th><th>computed</th><th>cached</th>"
        "<th>failed</th><th>other</th><th>rows</th><th>attempts</th><th>median</th>"
        "<th>p95</th><th>max</th><th>total</th><th>durations</th></tr>"
    )
    rows = "".join(_node_row(node) for node in report.nodes)
    return (
        '<section id="nodes"><h2>Nodes</h2>'
        f"<table>{head}{rows}</table>"
        '<p class="muted">Packets by their latest state in the run; <i>rows</i>: packets '
        "that gave a row (computed or cached); <i>attempts</i>: executed attempts, whose "
        "durations the histogram shows. Sources and operators record no packets.</p>"
        "</section>"
    )


def _node_row(node: NodeReport) -> str:
    def count(state: str) -> str:
        return f"{node.counts.get(state, 0):,}" if node.observed else ""

    others = ", ".join(
        f"{node.counts[state]:,} {state.lower()}" for state in _OTHERS if node.counts.get(state)
    )
    kind = node.kind if not node.detail else f"{node.kind}: {node.detail}"
    durations = node.durations
    timing = (
        "<td></td>" * 6
        if durations is None
        else (
            f'<td class="n">{durations.count:,}</td>'
            + "".join(
                f'<td class="n">{_seconds(v)}</td>'
                for v in (durations.median_s, durations.p95_s, durations.high_s, durations.total_s)
            )
            + f"<td>{histogram(durations)}</td>"
        )
    )
    return (
        f'<tr data-node="{text(node.label)}"><td><code>{text(node.label)}</code></td>'
        f"<td>{text(kind)}</td><td>{text(node.state or '')}</td>"
        + "".join(f'<td class="n">{count(state)}</td>' for _, state in _OUTCOMES)
        + f"<td>{text(others) if others else ''}</td>"
        f'<td class="n">{"" if node.rows is None else f"{node.rows:,}"}</td>{timing}</tr>'
    )


def histogram(durations: Durations, width: int = 168, height: int = 30) -> str:
    """A small inline SVG histogram of a node's attempt durations (a tooltip per bar)."""
    bins = durations.bins
    tallest = max(bins) or 1
    step = width / len(bins)
    spread = (durations.high_s - durations.low_s) / len(bins)
    bars = []
    for number, count in enumerate(bins):
        if not count:
            continue
        bar = max(1.0, (height - 2) * count / tallest)
        low = durations.low_s + number * spread
        bars.append(
            f'<rect class="bar" x="{number * step:.1f}" y="{height - bar:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{bar:.1f}"><title>{count:,} attempt(s), '
            f"{_seconds(low)} to {_seconds(low + spread)}</title></rect>"
        )
    return (
        f'<svg class="hist" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height + 12}" viewBox="0 0 {width} {height + 12}" role="img" '
        f'aria-label="durations">'
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#b0bec5"/>'
        + "".join(bars)
        + f'<text x="0" y="{height + 11}" font-size="9" fill="#5f6b73">'
        f"{_seconds(durations.low_s)}</text>"
        f'<text x="{width}" y="{height + 11}" font-size="9" fill="#5f6b73" '
        f'text-anchor="end">{_seconds(durations.high_s)}</text></svg>'
    )


def _failures_section(report: RunReport) -> str:
    from orcapod.observers._report import TEXT_CHARS

    items = "".join(_failure(failure, TEXT_CHARS) for failure in report.failures)
    rest = report.n_failed - len(report.failures)
    more = (
        f'<p class="note">{rest:,} more failed packet(s) are not listed (a report lists at '
        f"most {report.failures_shown:,}); <code>orcapod logs {text(report.uri)} --pipeline "
        f"{text(report.pipeline)} --run {text(report.run_id)} --failed</code> shows them "
        "all.</p>"
        if rest > 0
        else ""
    )
    controls = (
        '<p><span id="failure-filter" class="muted"></span>'
        '<button type="button" data-failures="open">expand all</button>'
        '<button type="button" data-failures="close">collapse all</button>'
        '<button type="button" data-failures="all">every node</button></p>'
        if report.failures
        else '<p class="muted">No packet failed in this run.</p>'
    )
    return (
        f'<section id="failures"><h2>Failed packets ({report.n_failed:,})</h2>'
        f"{controls}{items}{more}</section>"
    )


def _failure(failure: FailedPacket, limit: int) -> str:
    tags = ", ".join(f"{name}={_value(value)}" for name, value in failure.tags)
    first_line = (failure.error or "").strip().splitlines()[:1]
    error = first_line[0] if first_line else "failed"
    summary = (  # one line each: whole tags and error are in the body below
        f"<summary><code>{text(failure.node)}</code> &middot; <span class='mono'>"
        f"{text(_shortened(tags))}</span> &middot; {text(_shortened(error))}"
        "</summary>"
    )
    tag_rows = "".join(
        f"<tr><td><code>{text(name)}</code></td><td class='mono'>{text(_value(value))}</td></tr>"
        for name, value in failure.tags
    )
    attempts = "".join(_attempt(attempt, limit) for attempt in failure.attempts) or (
        '<p class="muted">No log row of this packet (it ran without a LoggingObserver).</p>'
    )
    return (
        f'<details class="failure" data-node="{text(failure.node)}">{summary}'
        f'<table class="tags">{tag_rows}</table>'
        f'<p class="muted">failed at {text(failure.timestamp)}, attempt '
        f"{text(failure.attempt)}</p>{attempts}</details>"
    )


def _attempt(row: dict[str, Any], limit: int) -> str:
    parts = [
        f"<h4>attempt {text(row.get('__attempt'))} &middot; {text(row.get('__timestamp'))} "
        f"&middot; {_seconds(row.get('__duration_s'))} &middot; "
        f"{text(row.get('__executor_type'))}, capture {text(row.get('__capture_level'))}</h4>"
    ]
    for name, column in (("stdout", "__stdout"), ("stderr", "__stderr")):
        value = row.get(column)
        if value:
            cut = " (truncated when captured)" if row.get(f"{column}_truncated") else ""
            parts.append(f"<div>{name}{cut}</div><pre>{block(value, limit)}</pre>")
    records = row.get("__python_logs") or []
    if records:
        lines = "\n".join(
            f"{_time(r.get('time'))} {r.get('level')} {r.get('logger')}: {r.get('message')}"
            for r in records
        )
        dropped = row.get("__python_logs_dropped")
        said = f" ({dropped:,} more dropped when captured)" if dropped else ""
        parts.append(f"<div>log records{said}</div><pre>{block(lines, limit)}</pre>")
    if row.get("__capture_error"):
        parts.append(f'<p class="note">capture: {text(row["__capture_error"])}</p>')
    if row.get("__traceback"):
        parts.append(f"<div>traceback</div><pre>{block(row['__traceback'], limit)}</pre>")
    return "".join(parts)


def _runs_section(report: RunReport) -> str:
    head = (
        "<tr><th>run</th><th>state</th><th>started (UTC)</th><th>took</th><th>computed</th>"
        "<th>cached</th><th>failed</th><th>host</th><th>error</th></tr>"
    )
    rows = "".join(
        f'<tr class="{"chosen" if row["__run_id"] == report.run_id else ""}">'
        f"<td><code>{text(row['__run_id'])}</code></td><td>{_state(row.get('__state'))}</td>"
        f"<td>{text(row.get('__started_at'))}</td>"
        f"<td>{_span(row.get('__started_at'), row.get('__ended_at'))}</td>"
        + "".join(
            f'<td class="n">{row.get(column) or 0:,}</td>'
            for column in ("__n_success", "__n_cached", "__n_failed")
        )
        + f"<td>{text(row.get('__host'))}</td>"
        f"<td>{text(_first_line(row.get('__error')))}</td></tr>"
        for row in report.runs
    )
    rest = report.n_runs - len(report.runs)
    more = (
        f'<p class="muted">{rest:,} older run(s) not listed; <code>orcapod runs</code> '
        "lists them all.</p>"
        if rest > 0
        else ""
    )
    return (
        f'<section id="runs"><h2>Runs ({report.n_runs:,})</h2>'
        f'<p class="muted">Newest first; this report\'s run is highlighted.</p>'
        f"<table>{head}{rows}</table>{more}</section>"
    )


def _context_section(report: RunReport) -> str:
    rows = "".join(
        f"<tr><td>{text(scope)}</td><td>{text(name)}</td><td class='mono'>"
        f"{block(value, 2000).replace(chr(10), '<br>')}</td></tr>"
        for scope, name, value in report.context
    )
    return (
        '<section id="context"><h2>Execution context</h2>'
        "<table><tr><th>of</th><th>what</th><th>value</th></tr>"
        f"{rows}</table></section>"
    )


def _state(state: Any) -> str:
    word = text(state or "")
    return f'<span class="state s-{word}">{word}</span>'


def _value(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return "null" if value is None else str(value)


def _first_line(value: Any) -> str:
    lines = str(value or "").strip().splitlines()
    return lines[0] if lines else ""


def _time(moment: Any) -> str:
    if not isinstance(moment, datetime):
        return "-" if moment is None else str(moment)
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    return utc.strftime("%Y-%m-%d %H:%M:%S")


def _span(start: Any, end: Any) -> str:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return "not ended"
    return _seconds((end - start).total_seconds())


def _seconds(value: Any) -> str:
    if value is None:
        return "-"
    seconds = float(value)
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"
