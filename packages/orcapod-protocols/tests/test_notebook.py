"""orcapod.protocols.notebook: escaped, well-formed, bounded HTML for notebooks."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pyarrow as pa

from orcapod.protocols.notebook import (
    MAX_CELL,
    MAX_ROWS,
    arrow_preview,
    escape_html,
    html_summary,
    html_table,
)

HOSTILE = "<script>alert('x')</script> & \x00\x1b[31m\r\n"


def parse(html: str) -> ET.Element:
    """The HTML as XML: it parses only if every tag is closed and every value escaped."""
    return ET.fromstring(f"<root>{html}</root>")


def test_a_hostile_value_is_escaped_text_that_parses_back_to_itself_shown_safely() -> None:
    text = escape_html(HOSTILE)
    assert "<" not in text
    assert "\x00" not in text
    assert "\\x00" in text
    assert parse(f"<p>{text}</p>").find("p").text == (  # type: ignore[union-attr]
        "<script>alert('x')</script> & \\x00\\x1b[31m\\r\\n"
    )


def test_a_long_value_is_cut_and_a_value_whose_str_fails_is_shown_by_its_type() -> None:
    assert len(escape_html("x" * 10_000)) == MAX_CELL + 1

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert escape_html(Broken()).endswith(".Broken&gt;")


def test_a_table_reads_and_shows_at_most_its_limit_of_rows_and_counts_the_rest() -> None:
    read = []

    def rows():  # type: ignore[no-untyped-def]
        for number in range(100_000):
            read.append(number)
            yield [number, HOSTILE]

    html = html_table(["n", "tag"], rows(), total=100_000)
    root = parse(html)
    assert len(root.findall(".//tbody/tr")) == MAX_ROWS
    assert len(read) == MAX_ROWS  # the rest were never read
    assert "20 of 100,000 rows shown" in html


def test_an_arrow_preview_converts_only_its_first_rows_and_names_the_count() -> None:
    table = pa.table({"id": list(range(100_000)), "tag": [HOSTILE] * 100_000})
    html = arrow_preview(table, title="logs <of> run")
    root = parse(html)
    assert len(root.findall(".//tbody/tr")) == MAX_ROWS
    assert "100,000 rows, 2 columns" in html
    assert "logs &lt;of&gt; run" in html
    assert "<script>" not in html
    empty = arrow_preview(table.slice(0, 0))
    assert "0 rows" in empty
    assert parse(empty).find(".//table") is None


def test_a_summary_escapes_its_title_and_facts_and_keeps_its_sections() -> None:
    html = html_summary("run <1>", [("state", "FAILED & more")], [("a <b>", "<i>kept</i>")])
    root = parse(html)
    assert root.find(".//i") is not None  # a section's HTML is kept as HTML
    assert "run &lt;1&gt;" in html
    assert "FAILED &amp; more" in html
