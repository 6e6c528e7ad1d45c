"""``orcapod report``: the content of the HTML page of a real run with failures.

The page's rendering in a browser is checked in tests-integration
(test_report_browser.py); its size for a 100,000-packet run is measured by
benchmarks/report_size.py.
"""

from __future__ import annotations

import argparse
import logging
import re
from typing import Any

import observability_records as helper
import pytest

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.observers import (
    CompositeObserver,
    LoggingObserver,
    StatusObserver,
    UnknownRunError,
)
from orcapod.observers._cli import cli_commands
from orcapod.observers._report import build_report, write_report
from orcapod.observers._report_html import render_report

HOSTILE = "<script>alert(1)</script>&amp;\x00\x1b[31m"
NAMESPACES = {"http://www.w3.org/2000/svg"}


@function_pod(output_keys="y")
def halve(x: int) -> int:
    print(f"halving {x} <b>")
    logging.getLogger("lab").warning("looking at %s & more", x)
    if x % 2:
        raise ValueError(f"odd input {x} <i>&")
    return x // 2


@function_pod(output_keys="z")
def increment(y: int) -> int:
    return y + 1


def _observed_runs(database: InMemoryArrowDatabase, runs: int = 1) -> list[str]:
    """Run ``lab`` (source -> halve -> increment) ``runs`` times: 3 of 6 packets fail each time."""
    tags = ["plain", HOSTILE, "b", "c", "d", "e"]  # x = 1 fails
    source = DictSource([{"id": tag, "x": x} for x, tag in enumerate(tags)], tag_columns=["id"])
    pipeline = Pipeline("lab", database)
    with pipeline:
        halved = halve.pod(source, label="halve")
        increment.pod(halved, label="increment")
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    return [pipeline.run(observer=observer).run_id for _ in range(runs)]


@pytest.fixture(scope="module")
def lab() -> tuple[InMemoryArrowDatabase, list[str]]:
    database = InMemoryArrowDatabase()
    return database, _observed_runs(database, runs=2)


@pytest.fixture(scope="module")
def page(lab: tuple[InMemoryArrowDatabase, list[str]]) -> str:
    database, _ = lab
    return render_report(build_report(database, "lab", uri="memory://lab"))


def _row(page: str, node: str) -> list[str]:
    """The cells of node ``node``'s row of the nodes table, as text."""
    found = re.search(rf'<tr data-node="{node}">(.*?)</tr>', page, re.S)
    assert found is not None, f"no row of {node}"
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", found[1])]


def test_the_report_counts_each_nodes_packets_in_the_latest_run(page: str) -> None:
    """Per node: computed, cached and failed packets and rows of the run the report is of
    (the second run: halve's successes are cached, its failures computed again)."""
    halve_row = _row(page, "halve")
    assert halve_row[2:6] == ["partial", "0", "3", "3"]  # state, computed, cached, failed
    assert halve_row[7] == "3"  # rows: the packets that gave one
    assert halve_row[8] == "3"  # attempts: the failed ones ran again
    assert '<svg class="hist"' in page  # the durations' histogram
    increment_row = _row(page, "increment")
    assert increment_row[2:6] == ["cached", "0", "3", "0"]


def test_failed_packets_are_listed_collapsed_with_what_they_printed_logged_and_raised(
    page: str,
) -> None:
    """Each failed packet is a <details> closed by default, holding its tags, stdout,
    log records and traceback."""
    details = re.findall(r"<details[^>]*>", page)
    assert len(details) == 3
    assert all(" open" not in tag for tag in details)
    assert page.count("halving 1 &lt;b&gt;") == 1
    assert "looking at 3 &amp; more" in page
    assert "ValueError: odd input 5 &lt;i&gt;&amp;" in page
    assert "Traceback (most recent call last)" in page


def test_every_value_is_escaped_and_a_hostile_tag_cannot_inject_markup(page: str) -> None:
    """A tag holding markup, an entity, a NUL and an escape sequence is shown as text."""
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;\\x00\\x1b[31m" in page
    assert "\x00" not in page
    assert "\x1b" not in page
    assert page.count("<script>") == 1  # the report's own


def test_the_page_makes_no_request_to_any_host(page: str) -> None:
    """Self-contained: no URL but the SVG namespace, no external src, href or import."""
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= NAMESPACES
    assert not re.search(r"""\b(src|href)\s*=\s*(?!["']?#)""", page)
    assert "@import" not in page
    assert "url(" not in page


def test_the_graph_is_drawn_from_the_store_and_coloured_by_the_run(page: str) -> None:
    """The DAG has every node of the pipeline (the source too, from the _graph record)
    and marks the node with failures."""
    nodes = re.findall(r'<g class="orcapod-node[^"]*" id="orcapod-node-\d+"[^>]*>', page)
    assert len(nodes) == 3
    states = dict(re.findall(r'data-label="([^"]+)" data-kind="[^"]+" data-state="([^"]+)"', page))
    assert states["halve"] == "partial"
    assert states["increment"] == "cached"
    assert "predates" not in page


def test_the_report_lists_the_runs_and_the_runs_execution_context(
    lab: tuple[InMemoryArrowDatabase, list[str]], page: str
) -> None:
    """Both runs, the latest highlighted; Python, host, executor and git state shown."""
    _, runs = lab
    assert f'<tr class="chosen"><td><code>{runs[1]}</code>' in page
    assert f"<code>{runs[0]}</code>" in page
    for fact in ("python", "host", "executor", "capture", "git_commit"):
        assert f"<td>{fact}</td>" in page, fact


def test_an_earlier_run_is_reported_when_named(
    lab: tuple[InMemoryArrowDatabase, list[str]],
) -> None:
    """--run: the first run computed halve's three good packets."""
    database, runs = lab
    page = render_report(build_report(database, "lab", runs[0]))
    assert _row(page, "halve")[2:6] == ["partial", "3", "0", "3"]
    with pytest.raises(UnknownRunError, match="no run 'nope'"):
        build_report(database, "lab", "nope")


def test_failures_beyond_the_bound_are_counted_not_listed(
    lab: tuple[InMemoryArrowDatabase, list[str]],
) -> None:
    """A report lists at most its bound of failed packets and says how many more there are."""
    database, _ = lab
    page = render_report(build_report(database, "lab", failures_shown=2))
    assert len(re.findall(r"<details ", page)) == 2
    assert "1 more failed packet(s) are not listed" in page


def test_a_store_without_graph_records_draws_the_function_nodes_and_says_so() -> None:
    """Older stores: the function nodes from _identities, and their inputs of unknown kind."""
    written = InMemoryArrowDatabase()
    _observed_runs(written)
    older = InMemoryArrowDatabase()
    for path in written.list_paths():
        if path[1:] != ("_graph",):
            older.add_records(path, written.get_all_records(path, record_id_column="i"), "i")
    page = render_report(build_report(older, "lab"))
    assert "This store predates graph records" in page
    kinds = re.findall(r'data-kind="([^"]+)"', page)
    assert sorted(kinds) == ["function", "function", "input"]


def test_orcapod_report_writes_the_page_and_says_where(
    lab: tuple[InMemoryArrowDatabase, list[str]],
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The sub-command writes -o FILE and names the run, and fails cleanly on an unknown run."""
    database, runs = lab
    command = cli_commands()["report"](helper.SameDatabaseHost(database))
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    output = tmp_path / "report.html"
    status = command.run(parser.parse_args(["memory://", "-o", str(output)]))
    assert status == 0
    said = capsys.readouterr().out
    assert f"run {runs[1]} (PARTIAL)" in said
    assert "3 failed packet(s)" in said
    assert output.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    status = command.run(parser.parse_args(["memory://", "--run", "nope", "-o", str(output)]))
    assert status == 1
    assert "no run 'nope'" in capsys.readouterr().err


def test_write_report_writes_utf8(
    lab: tuple[InMemoryArrowDatabase, list[str]], tmp_path: Any
) -> None:
    """The Python entry point writes the same page the command does."""
    database, _ = lab
    path = write_report(database, "lab", tmp_path / "r.html")
    assert path.read_bytes().decode("utf-8").count("<details ") == 3


def test_a_failed_packet_s_summary_line_stays_short_and_its_body_keeps_the_whole_tag() -> None:
    """A 5,000-character tag no longer stretches the page: the one-line summary is cut
    (and wraps), while the tags table inside the collapsed body keeps every character."""
    database = InMemoryArrowDatabase()
    long_tag = "k" * 5000
    source = DictSource([{"id": long_tag, "x": 1}], tag_columns=["id"])
    pipeline = Pipeline("long", database)
    with pipeline:
        halve.pod(source, label="halve")
    pipeline.run(observer=CompositeObserver(LoggingObserver(database), StatusObserver(database)))
    page = render_report(build_report(database, "long", uri="memory://long"))
    (summary,) = re.findall(r"<summary>(.*?)</summary>", page, flags=re.DOTALL)
    assert len(summary) < 600
    assert "id=" + "k" * 156 + "…" in summary
    assert long_tag in page  # in the body's tags table
