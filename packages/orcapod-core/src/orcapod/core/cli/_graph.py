"""``orcapod graph FILE.py [-o out.svg|out.dot|out.mmd] [--db URI] [--run R]``: draw a
pipeline file's DAG, coloured by the state of its latest (or a given) run.

The file is loaded as ``orcapod run`` loads it (its pipelines are built, not
run), except that no store is created: a store the file names that does not
exist yet is read as empty (no run states). Without ``-o`` the Mermaid text
goes to stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orcapod.core.cli._run import _pipelines_of
from orcapod.core.errors import OrcapodError
from orcapod.core.plugins import creating_nothing
from orcapod.protocols.text import escape_control

if TYPE_CHECKING:
    import argparse

    from orcapod.core.cli._host import RegistryHost
    from orcapod.core.pipeline import Pipeline
    from orcapod.protocols.graph import PipelineGraph

__all__ = ["FORMATS", "GraphCommand"]

FORMATS = {".svg": "svg", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid"}
"""What ``-o`` writes, by the output file's suffix."""


class GraphCommand:
    """``orcapod graph FILE.py [-o OUT] [--pipeline P] [--db URI] [--run R]``."""

    help = "draw the DAG of a pipeline file (Mermaid, DOT or SVG), coloured by its latest run"

    def __init__(self, host: RegistryHost) -> None:
        self.host = host

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", metavar="FILE.py", help="a file defining Pipeline objects")
        parser.add_argument(
            "-o",
            "--output",
            metavar="OUT",
            help="write here instead of printing Mermaid: .svg, .dot (or .gv), .mmd (or .mermaid)",
        )
        parser.add_argument(
            "--pipeline", metavar="NAME", help="the pipeline to draw, when the file defines several"
        )
        parser.add_argument(
            "--db",
            metavar="URI",
            help="read run states from this store instead of the one the file names",
        )
        parser.add_argument(
            "--run", metavar="R", help="colour by this run instead of the latest recorded"
        )

    def run(self, args: argparse.Namespace) -> int:
        kind = _format_of(args.output)
        file = Path(args.file)
        if not file.is_file():
            raise OrcapodError(
                f"no such file: {args.file!r}; give the path of a Python file that builds a "
                "Pipeline (as for 'orcapod run')"
            )
        override = self.host.open_database(args.db, create=False) if args.db else None
        try:
            with creating_nothing():  # drawing leaves no new store behind
                pipelines = _pipelines_of(file, override)
            pipeline = _chosen(pipelines, args.file, args.pipeline)
            graph = pipeline.graph(run_id=args.run)
        finally:
            if override is not None:
                override.close()
        text = _rendered(graph, kind)
        if args.output is None:
            print(text, end="")
            return 0
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise OrcapodError(
                f"cannot write the graph to {args.output!r}: {error.strerror or error}; give "
                "a file path in a directory that exists and that you may write to"
            ) from error
        coloured = "uncoloured" if graph.run_id is None else f"coloured by run {graph.run_id}"
        print(
            escape_control(
                f"wrote {args.output}: pipeline {pipeline.name!r}, {len(graph.nodes)} nodes, "
                f"{coloured}"
            )
        )
        return 0


def _format_of(output: str | None) -> str:
    """The format ``-o`` asks for, by its suffix.

    Raises:
        OrcapodError: a suffix that names no format (naming those there are).
    """
    if output is None:
        return "mermaid"
    kind = FORMATS.get(Path(output).suffix.lower())
    if kind is None:
        raise OrcapodError(
            f"cannot tell what to write to {output!r} from its suffix; end it with one of "
            f"{', '.join(FORMATS)}"
        )
    return kind


def _chosen(pipelines: list[Pipeline], file: str, name: str | None) -> Pipeline:
    """The pipeline to draw: the file's only one, or the one named.

    Raises:
        OrcapodError: none, none of that name, or several and no name.
    """
    if not pipelines:
        raise OrcapodError(
            f"{file} defines no Pipeline with nodes; build one at module level "
            "(`pipeline = Pipeline(...)` and a `with pipeline:` block)"
        )
    names = ", ".join(repr(pipeline.name) for pipeline in pipelines)
    if name is not None:
        for pipeline in pipelines:
            if pipeline.name == name:
                return pipeline
        raise OrcapodError(f"{file} defines no pipeline {name!r}; it defines {names}")
    if len(pipelines) > 1:
        raise OrcapodError(
            f"{file} defines several pipelines ({names}); choose one with --pipeline NAME"
        )
    return pipelines[0]


def _rendered(graph: PipelineGraph, kind: str) -> str:
    if kind == "svg":
        return graph.svg()
    return graph.dot if kind == "dot" else graph.mermaid
