"""ObservabilityReader in a notebook: its runs and packet states as escaped, bounded HTML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pyarrow as pa

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.observers import (
    CompositeObserver,
    LoggingObserver,
    ObservabilityReader,
    StatusObserver,
)

HOSTILE = "<i>x</i> & \x00"


@function_pod(output_keys="y")
def fragile(x: int) -> int:
    if x == 1:
        raise ValueError("<bad> & \x1b[31m")
    return x


def parse(html: str) -> ET.Element:
    """The HTML as XML: it parses only if every tag is closed and every value escaped."""
    return ET.fromstring(f"<root>{html}</root>")


def _observed(database: InMemoryArrowDatabase) -> ObservabilityReader:
    source = DictSource([{"who": f"{HOSTILE}{i}", "x": i} for i in range(3)], tag_columns=["who"])
    pipeline = Pipeline("shown", database)
    with pipeline:
        fragile.pod(source, label="fragile")
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    pipeline.run(observer=observer, run_id="first")
    pipeline.run(observer=observer, run_id="second")
    return ObservabilityReader(database, pipeline="shown")


def test_a_reader_shows_its_runs_and_the_latest_run_s_packet_states() -> None:
    html = _observed(InMemoryArrowDatabase())._repr_html_()
    root = parse(html)
    text = "".join(root.itertext())
    assert "observability of pipeline 'shown'" in text
    assert "runs: 2" in text
    assert "latest run: second" in text
    assert "state: PARTIAL" in text
    assert "failed: 1" in text
    assert "cached: 2" in text
    assert "2 rows" in text  # the runs table
    assert "fragile" in text
    assert len(root.findall(".//table")) == 2


def test_a_reader_of_an_unknown_pipeline_says_so_and_does_not_raise() -> None:
    html = ObservabilityReader(InMemoryArrowDatabase(), pipeline="nowhere")._repr_html_()
    assert "not readable: UnknownPipelineError" in html
    parse(html)


def test_a_reader_lists_at_most_20_of_100_000_runs_with_every_value_escaped() -> None:
    reader = _observed(InMemoryArrowDatabase())
    runs = reader.runs()
    many = pa.concat_tables([runs.slice(0, 1)] * 100_000)
    many = many.set_column(
        many.schema.get_field_index("__error"),
        "__error",
        pa.array([HOSTILE] * 100_000, many.schema.field("__error").type),
    )
    reader.runs = lambda: many  # type: ignore[method-assign]
    html = reader._repr_html_()
    root = parse(html)
    assert len(root.findall(".//table")[0].findall("./tbody/tr")) == 20
    assert "100,000 rows" in html
    assert "20 of 100,000 rows shown" in html
    assert "<i>x" not in html
    assert len(html) < 200_000
