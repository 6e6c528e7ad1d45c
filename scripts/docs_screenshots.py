"""Make the screenshots of docs/observability.md: the run report and the pipeline's graph.

Runs a small pipeline with a failing packet (the one of docs/pipelines.md's
picture, plus a function after the join) on a SQLite store in a temporary
folder, writes ``orcapod report`` of its run (its failed packet shown open) and the SVG of
``pipeline.graph()``, and has headless Chromium take a screenshot of each,
into docs/images/ (``report.png``, ``graph.png``). Run it again whenever the
report or the picture changes, so that the docs show what they do:

    uv run python scripts/docs_screenshots.py

Needs Chromium (``apt-get install -y chromium``, or ``--chromium PATH``).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from orcapod.core import DictSource, Pipeline, function_pod, open_database
from orcapod.core.operators import Join
from orcapod.observers import CompositeObserver, LoggingObserver, StatusObserver, write_report

IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
REPORT_WINDOW = (1200, 1900)
MAX_BYTES = 300_000


@function_pod(output_keys="ratio")
def invert(x: int) -> float:
    print(f"inverting {x}")
    if x == 0:
        logging.getLogger("lab").warning("x is 0: about to divide by it")
    return 1 / x


@function_pod(output_keys="label")
def describe(ratio: float, name: str) -> str:
    return f"{name}: {ratio:.2f}"


def run_lab(uri: str) -> Pipeline:
    """The pipeline, run once on ``uri`` with the observers: ``invert`` fails for x = 0."""
    database = open_database(uri)
    values = DictSource([{"id": i, "x": i} for i in range(4)], ["id"], source_id="values")
    names = DictSource([{"id": i, "name": f"s{i}"} for i in range(4)], ["id"], source_id="names")
    lab = Pipeline("lab", database)
    with lab:
        named = Join()(invert.pod(values, label="invert"), names, label="named")
        describe.pod(named, label="describe")
    observer = CompositeObserver(LoggingObserver(database), StatusObserver(database))
    lab.run(observer=observer)
    return lab


def screenshot(chromium: str, page: Path, picture: Path, size: tuple[int, int]) -> None:
    """A PNG of ``page`` in a window of ``size``, by headless Chromium."""
    subprocess.run(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={picture}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    if picture.stat().st_size > MAX_BYTES:
        raise SystemExit(f"{picture} is {picture.stat().st_size:,} bytes: over {MAX_BYTES:,}")


def graph_page(svg: str, folder: Path) -> tuple[Path, tuple[int, int]]:
    """An HTML page showing ``svg`` alone, and the window that fits it."""
    width, height = (float(v) for v in re.findall(r'(?:width|height)="([\d.]+)"', svg)[:2])
    page = folder / "graph.html"
    page.write_text(
        f'<!DOCTYPE html><html><body style="margin:12px;background:#fff">{svg}</body></html>',
        encoding="utf-8",
    )
    return page, (int(width) + 24, int(height) + 24)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=shutil.which("chromium"), help="the browser")
    args = parser.parse_args()
    if not args.chromium:
        sys.exit("Chromium is needed: apt-get install -y chromium, or --chromium PATH")
    IMAGES.mkdir(parents=True, exist_ok=True)
    home = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="orcapod-docs-") as name:
        folder = Path(name)
        os.chdir(folder)  # the store's URI, as the report shows it, is relative: no temp path
        try:
            uri = "sqlite:///lab.db"
            lab = run_lab(uri)
            page, size = graph_page(lab.graph().svg(), folder)
            screenshot(args.chromium, page, IMAGES / "graph.png", size)
            report = write_report(lab.database, "lab", folder / "report.html", uri=uri)
            # Shown open, so the picture has what a failed packet holds; the page is collapsed.
            opened = report.read_text(encoding="utf-8").replace(
                '<details class="failure"', '<details open class="failure"', 1
            )
            report.write_text(opened, encoding="utf-8")
            screenshot(args.chromium, report, IMAGES / "report.png", REPORT_WINDOW)
            lab.database.close()
        finally:
            os.chdir(home)
    for picture in ("graph.png", "report.png"):
        print(f"wrote docs/images/{picture} ({(IMAGES / picture).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
