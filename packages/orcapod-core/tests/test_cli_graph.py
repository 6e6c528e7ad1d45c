"""``orcapod graph FILE.py``, through a real ``orcapod`` process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orcapod.core.plugins import AUTOLOAD_ENV_VAR

PIPELINE_FILE = """
    from orcapod.core import DictSource, Pipeline, function_pod
    from orcapod.core.operators import Join


    @function_pod(output_keys="y")
    def double(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return 2 * x


    rows = [{"id": i, "x": i} for i in range(5)]
    trials = DictSource(rows, tag_columns=["id"], source_id="trials")
    names = DictSource([{"id": i, "n": str(i)} for i in range(5)], ["id"], source_id="names")
    pipeline = Pipeline("small", database="memory://")
    with pipeline:
        Join()(double.pod(trials, label="double"), names, label="joined")
"""
GOLDEN = Path(__file__).parent / "golden"


def orcapod(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``orcapod ARGS`` in a new process, with only orcapod-core's own plugins."""
    env = {**os.environ, AUTOLOAD_ENV_VAR: "1", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "orcapod.core", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "small.py").write_text(textwrap.dedent(PIPELINE_FILE))
    return tmp_path


def test_without_output_it_prints_the_pipelines_mermaid(folder: Path) -> None:
    """``orcapod graph FILE.py`` prints exactly what ``pipeline.graph().mermaid`` gives."""
    done = orcapod(folder, "graph", "small.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (GOLDEN / "small_pipeline.mmd").read_text()


@pytest.mark.parametrize(
    ("name", "start"),
    [("g.mmd", "flowchart TD\n"), ("g.mermaid", "flowchart TD\n"), ("g.dot", 'digraph "small" {')],
)
def test_it_writes_mermaid_and_dot_by_suffix(folder: Path, name: str, start: str) -> None:
    """``-o`` picks the format by the file's suffix, and says what it wrote."""
    done = orcapod(folder, "graph", "small.py", "-o", name)
    assert done.returncode == 0, done.stderr
    assert (folder / name).read_text().startswith(start)
    assert done.stdout == f"wrote {name}: pipeline 'small', 4 nodes, uncoloured\n"


def test_it_writes_an_svg_with_a_node_per_pipeline_node(folder: Path) -> None:
    """``-o out.svg`` writes a picture that parses, with one node element per node."""
    done = orcapod(folder, "graph", "small.py", "-o", "out.svg")
    assert done.returncode == 0, done.stderr
    root = ET.fromstring((folder / "out.svg").read_text())
    labels = [
        g.attrib["data-label"]
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if "orcapod-node" in g.attrib.get("class", "")
    ]
    assert sorted(labels) == ["double", "joined", "names", "trials"]


def test_a_file_that_runs_its_pipeline_is_coloured_by_that_run(folder: Path) -> None:
    """States come from the pipeline's store: the run the file made colours its nodes."""
    (folder / "ran.py").write_text(textwrap.dedent(PIPELINE_FILE) + 'pipeline.run(run_id="r1")\n')
    done = orcapod(folder, "graph", "ran.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (GOLDEN / "small_pipeline_run.mmd").read_text().replace("run-1", "r1")
    unknown = orcapod(folder, "graph", "ran.py", "--run", "r0")
    assert unknown.returncode == 1
    assert "run 'r0' is not recorded for pipeline 'small'" in unknown.stderr


def test_a_missing_file_is_named_with_the_fix(folder: Path) -> None:
    """A path that is no file: status 1, one line naming it."""
    done = orcapod(folder, "graph", "nope.py")
    assert done.returncode == 1
    assert done.stderr == (
        "orcapod graph: error: no such file: 'nope.py'; give the path of a Python file that "
        "builds a Pipeline (as for 'orcapod run')\n"
    )


def test_an_output_path_that_cannot_be_written_is_one_line_naming_it(folder: Path) -> None:
    """``-o`` into a missing directory: status 1 and one error line, not a traceback."""
    done = orcapod(folder, "graph", "small.py", "-o", "nodir/g.svg")
    assert done.returncode == 1
    assert done.stderr.startswith("orcapod graph: error: cannot write the graph to 'nodir/g.svg'")
    assert done.stderr.count("\n") == 1


def test_a_file_defining_no_pipeline_is_refused_with_the_fix(folder: Path) -> None:
    """A file that builds no pipeline says how to build one."""
    (folder / "empty.py").write_text("x = 1\n")
    done = orcapod(folder, "graph", "empty.py")
    assert done.returncode == 1
    assert "empty.py defines no Pipeline with nodes; build one at module level" in done.stderr


def test_an_unknown_output_suffix_is_refused_before_anything_runs(folder: Path) -> None:
    """``-o out.png`` names the suffixes there are, and writes nothing."""
    done = orcapod(folder, "graph", "small.py", "-o", "out.png")
    assert done.returncode == 1
    assert "cannot tell what to write to 'out.png' from its suffix" in done.stderr
    assert ".svg, .dot, .gv, .mmd, .mermaid" in done.stderr
    assert not (folder / "out.png").exists()


def test_several_pipelines_need_a_choice(folder: Path) -> None:
    """A file with two pipelines: --pipeline picks one; without it the error names both."""
    second = textwrap.dedent(PIPELINE_FILE).replace('"small"', '"other"')
    (folder / "two.py").write_text(textwrap.dedent(PIPELINE_FILE) + second)
    done = orcapod(folder, "graph", "two.py")
    assert done.returncode == 1
    assert "several pipelines ('small', 'other'); choose one with --pipeline NAME" in done.stderr
    chosen = orcapod(folder, "graph", "two.py", "--pipeline", "other")
    assert chosen.returncode == 0, chosen.stderr
    assert "%% pipeline other" in chosen.stdout
