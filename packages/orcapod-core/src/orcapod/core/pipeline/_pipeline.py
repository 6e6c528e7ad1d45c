"""Pipeline: records pod and operator calls, compiles them into nodes, and runs them."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from orcapod.core._noop import NoOpObserver
from orcapod.core._recording import RECORDER
from orcapod.core._walks import inputs_first
from orcapod.core.errors import FunctionNotSendableError, OrcapodError, SchemaError
from orcapod.core.executors import LocalExecutor
from orcapod.core.executors._process_worker import LOADING_MAIN, unguarded_script_message
from orcapod.core.files import FileHasher, FileStore, hashing_with
from orcapod.core.function_pods import FunctionPodStream, ResultCache
from orcapod.core.operators import OperatorStream
from orcapod.core.pipeline._durability import (
    DEFAULT_FLUSH_EVERY,
    DEFAULT_FLUSH_INTERVAL,
    check_flush_options,
)
from orcapod.core.pipeline._nodes import FunctionNode, Node, OperatorNode, SourceNode
from orcapod.core.pipeline._orchestrators import (
    AsyncPipelineOrchestrator,
    Orchestrator,
    SyncPipelineOrchestrator,
)
from orcapod.core.streams import BATCH_BYTES, BATCH_ROWS, BatchSize
from orcapod.protocols.database import flush_paths, validate_record_path

if TYPE_CHECKING:
    import os
    from contextlib import AbstractContextManager
    from contextvars import Token
    from types import TracebackType

    from orcapod.core._recording import Recorder
    from orcapod.core.pipeline._explain import Explanation
    from orcapod.core.pipeline._run import RunResult
    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.executors import PacketFunctionExecutor
    from orcapod.protocols.graph import PipelineGraph
    from orcapod.protocols.observability import ExecutionObserver
    from orcapod.protocols.streams import Stream
    from orcapod.protocols.values import ErrorPolicy

__all__ = ["Pipeline"]

COLLECTOR: ContextVar[tuple[list[Pipeline], ArrowDatabase | None] | None] = ContextVar(
    "orcapod_pipeline_collector", default=None
)
"""Set by ``orcapod run``: pipelines made are noted there, and stored in its database if given."""

_log = logging.getLogger("orcapod.pipeline")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]")
_ORCHESTRATORS: dict[str, type[Orchestrator]] = {
    "sync": SyncPipelineOrchestrator,
    "async": AsyncPipelineOrchestrator,
}


class Pipeline:
    """A named, stored graph of sources, function pods and operators.

    Use it as a context manager: every function pod and operator called inside
    the ``with`` block is recorded, and on leaving the block the calls are
    compiled into :attr:`nodes`. Then :meth:`run` computes what is not stored yet.

    ::

        pipeline = Pipeline("demo", database="memory://")
        with pipeline:
            doubled = double.pod(source, label="double")
        result = pipeline.run()
        pipeline.nodes["double"].as_table()

    Everything of a pipeline lives in its database under its name: node
    records at ``(name, label, hash)``; results of functions, shared by every
    pipeline of the database, at ``("_results", ...)``.

    Files: ``File`` and ``Directory`` values are identified by their content.
    Their digests are cached in the database by (path, size, mtime, inode,
    device), so a run over unchanged files reads none of them; files returned
    by functions are kept in a content-addressed file store beside the
    database (see docs/files.md).

    Args:
        name: the pipeline's name: letters, digits, ``_``, ``-``, ``.``, ``=``.
        database: an ``ArrowDatabase``, or a URI for ``open_database``.
        file_store: where output files are kept: a directory (or a
            ``FileStore``); by default beside the database
            (:func:`orcapod.core.files.default_file_store`).
        rehash_files: read every input file's content on every run instead of
            trusting the digest cache (strict mode, for filesystems whose
            mtimes cannot be trusted).

    Raises:
        InvalidRecordPathError: the name cannot be a storage path component.
    """

    def __init__(
        self,
        name: str,
        database: ArrowDatabase | str,
        *,
        file_store: FileStore | str | os.PathLike[str] | None = None,
        rehash_files: bool = False,
    ) -> None:
        validate_record_path((name,))
        self.name = name
        collecting = COLLECTOR.get()
        if collecting is not None:  # made by a file that ``orcapod run`` runs
            made, override = collecting
            made.append(self)
            database = database if override is None else override
        if isinstance(database, str):
            from orcapod.core.plugins import open_database

            self.uri = database
            database = open_database(database)
        else:
            self.uri = getattr(database, "uri", None) or repr(database)
        self.database = database
        if file_store is not None and not isinstance(file_store, FileStore):
            file_store = FileStore(file_store)
        self.result_cache = ResultCache(database, file_store=file_store)
        self.rehash_files = bool(rehash_files)
        self.nodes: dict[str, Node] = {}
        self._recorded: list[Stream] = []
        self._token: Token[Recorder | None] | None = None
        self._hashing: AbstractContextManager[FileHasher] | None = None

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, nodes={list(self.nodes)})"

    @property
    def pipeline_path(self) -> tuple[str, ...]:
        """Where this pipeline's records live in its database."""
        return (self.name,)

    # -- recording -------------------------------------------------------------

    def __enter__(self) -> Pipeline:
        if self._token is not None:
            raise OrcapodError(f"pipeline {self.name!r} is already recording")
        self._token = RECORDER.set(self)
        # Sources made in the block hash their files through the store's digest cache.
        self._hashing = hashing_with(self.file_hasher())
        self._hashing.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is not None:
            RECORDER.reset(token)
        hashing, self._hashing = self._hashing, None
        if hashing is not None:
            hashing.__exit__(exc_type, exc, tb)
        if exc_type is None:
            self.compile()

    def record(self, stream: Stream) -> None:
        """Note a stream made by a pod or operator call inside the ``with`` block."""
        self._recorded.append(stream)

    def compile(self) -> None:
        """Turn the recorded calls into nodes, labelled uniquely, in topological order.

        Streams used as inputs but not made inside the block (sources, or
        streams made elsewhere) become source nodes. Function nodes without an
        executor get a ``LocalExecutor``. Compiling again keeps the nodes
        already compiled and adds the newly recorded ones.

        Raises:
            SchemaError: two nodes are given the same label.
        """
        made: dict[int, Node] = {id(node.stream): node for node in self.nodes.values()}
        recorded = {id(stream) for stream in self._recorded}
        nodes = dict(self.nodes)

        def inputs(stream: Stream) -> tuple[Stream, ...]:
            """The input streams of a call recorded in the block; none for a source node."""
            if id(stream) in recorded and isinstance(stream, FunctionPodStream | OperatorStream):
                return stream.upstreams
            return ()

        def kind_of(stream: Stream) -> type[Node]:
            if id(stream) in recorded and isinstance(stream, FunctionPodStream):
                return FunctionNode
            if id(stream) in recorded and isinstance(stream, OperatorStream):
                return OperatorNode
            return SourceNode

        # Each node is made after its upstream nodes (without recursion: a pipeline
        # may be thousands of nodes deep), in the order a depth-first walk meets them.
        for stream in inputs_first(self._recorded, inputs, done=lambda s: id(s) in made):
            kind = kind_of(stream)
            upstreams = [made[id(upstream)] for upstream in inputs(stream)]
            label = self._label(stream, nodes)
            node = kind(
                label,
                stream,
                upstreams,
                pipeline_name=self.name,
                database=self.database,
                result_cache=self.result_cache,
            )
            if isinstance(node, FunctionNode) and node.executor is None:
                node.executor = LocalExecutor()
            made[id(stream)] = nodes[label] = node
        self.nodes = nodes

    def _label(self, stream: Stream, nodes: dict[str, Node]) -> str:
        given = _given_label(stream)
        if given is not None:
            validate_record_path((given,))
            if given in nodes:
                raise SchemaError(
                    f"pipeline {self.name!r}: two nodes are labelled {given!r}; give each "
                    "node a label of its own (label=...)"
                )
            return given
        base = _UNSAFE.sub("_", _derived_label(stream))[:100].lstrip(".-") or "node"
        label, number = base, 1
        while label in nodes:
            number += 1
            label = f"{base}_{number}"
        return label

    def __getattr__(self, name: str) -> Node:
        nodes = self.__dict__.get("nodes", {})
        if name in nodes:
            return nodes[name]  # type: ignore[no-any-return]
        raise AttributeError(f"pipeline has no attribute or node {name!r}; nodes: {list(nodes)}")

    # -- running ---------------------------------------------------------------

    def run(
        self,
        orchestrator: str | Orchestrator = "sync",
        *,
        executor: PacketFunctionExecutor | None = None,
        observer: ExecutionObserver | None = None,
        error_policy: ErrorPolicy = "continue",
        run_id: str | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        flush_every: int = DEFAULT_FLUSH_EVERY,
        batch_rows: int = BATCH_ROWS,
        batch_bytes: int = BATCH_BYTES,
    ) -> RunResult:
        """Compute every node: what is stored is read, the rest is computed and stored.

        Args:
            orchestrator: ``"sync"`` (node by node), ``"async"`` (all nodes at once,
                concurrently), or an orchestrator instance.
            executor: runs every function node's packets in this run, instead of
                each node's own executor.
            observer: told of every run, node and packet event; default: none.
            error_policy: ``"continue"`` records a failed packet and goes on;
                ``"fail_fast"`` records it and stops the run, raising its error.
            run_id: the run's id; a new one by default. An id the store already
                records for this pipeline is refused.
            flush_interval: seconds between checkpoints, at which finished work
                (results, then log rows and status events) becomes durable: a
                ``kill -9`` loses at most the packets in flight and this much
                finished work.
            flush_every: finished packets between checkpoints (bounds what
                observers buffer in memory).
            batch_rows: most rows in a table one node hands the next.
            batch_bytes: most bytes (Arrow's ``nbytes``) in a table one node hands
                the next (a row larger than that travels alone): with the number
                of nodes, what bounds the run's memory, whatever its number of
                packets.

        A signal (SIGTERM, SIGINT, SIGHUP) ends the run cleanly: what finished
        is stored, the run is recorded ``INTERRUPTED``, and the signal is then
        delivered to the handler the program had (by default ending the process
        as that signal does).

        Raises:
            OrcapodError: nothing was recorded, or an argument is invalid.
            FunctionNotSendableError: called while a ProcessExecutor worker imports the
                program's main script to find a function in it (the script runs its
                pipeline outside ``if __name__ == '__main__':``).
            ValueError: a bad ``flush_interval``, ``flush_every``, ``batch_rows`` or
                ``batch_bytes``.
            BaseException: with ``fail_fast``, the first failed packet's error, unchanged.
        """
        loading = LOADING_MAIN.get()
        if loading is not None:  # it would run again in every worker
            raise FunctionNotSendableError(unguarded_script_message(*loading))
        if not self.nodes:
            raise OrcapodError(
                f"pipeline {self.name!r} has no nodes: call pods and operators inside "
                f"`with pipeline:` first"
            )
        if error_policy not in ("continue", "fail_fast"):
            raise OrcapodError(f"error_policy={error_policy!r}; use 'continue' or 'fail_fast'")
        check_flush_options(flush_interval, flush_every)
        BatchSize(batch_rows, batch_bytes)  # checked before anything is recorded
        if run_id is not None:
            self._refuse_recorded_run(run_id)
        run_id = run_id or uuid.uuid4().hex
        self._record_graph(run_id, executor)
        with hashing_with(self.file_hasher()):
            return _orchestrator(orchestrator).run(
                self,
                observer=NoOpObserver() if observer is None else observer,
                executor=executor,
                error_policy=error_policy,
                run_id=run_id,
                flush_interval=flush_interval,
                flush_every=flush_every,
                batch_rows=batch_rows,
                batch_bytes=batch_bytes,
            )

    def _record_graph(self, run_id: str, executor: PacketFunctionExecutor | None) -> None:
        """Store the run's ``_graph`` record, durably, before any node runs: the whole DAG
        and the run's context, for a report read from the store alone.

        It only helps a reader: a store that refuses it is logged, and the run goes on
        (the run's own writes meet the same store, and say so in the run's record).
        """
        from orcapod.core.pipeline._graph import graph_record_of
        from orcapod.core.pipeline._records import RECORD_ID, graph_path

        path = graph_path(self.name)
        try:
            record = graph_record_of(self, run_id, executor)
            self.database.add_records(path, record, RECORD_ID, skip_duplicates=True)
            flush_paths(self.database, [path])
        except Exception as error:
            _log.warning(
                "pipeline %r, run %s: its graph record was not stored (%s: %s); reports "
                "of the run draw the function nodes only",
                self.name,
                run_id,
                type(error).__name__,
                error,
            )

    def file_hasher(self) -> FileHasher:
        """A hasher of files whose digests are cached in this pipeline's database."""
        return FileHasher(self.database, strict=self.rehash_files)

    @property
    def file_store(self) -> FileStore:
        """Where the files that this pipeline's functions return are kept."""
        return self.result_cache.files

    def _refuse_recorded_run(self, run_id: str) -> None:
        """A run id names one run: the store's records of an earlier one would collide."""
        from orcapod.core.pipeline._nodes import FunctionNode
        from orcapod.core.pipeline._records import recorded_run

        labels = [label for label, node in self.nodes.items() if isinstance(node, FunctionNode)]
        if recorded_run(self.database, self.name, run_id, labels):
            raise OrcapodError(
                f"run id {run_id!r} is already recorded for pipeline {self.name!r}: a run id "
                "names one run, and this one's records would be mixed with it; give a new "
                "run_id, or leave it unset for a fresh one"
            )

    def explain(self, label: str, run_id: str | None = None) -> Explanation:
        """Why run ``run_id`` (default: the latest) of function node ``label`` computed
        each packet it computed, read from the store alone (``orcapod explain``).

        Raises:
            ExplainError: the store records no run of that node, or no such run.
        """
        from orcapod.core.pipeline._explain import explain

        return explain(self.database, self.name, label, run_id)

    def graph(
        self, database: ArrowDatabase | str | None = None, run_id: str | None = None
    ) -> PipelineGraph:
        """The pipeline's DAG: ``.mermaid`` and ``.dot`` text, ``.svg()`` a picture.

        Nodes are labelled with their kind and label; edges go from each input
        to the node consuming it. Where the store (``database``, by default the
        pipeline's own; a URI is opened for reading) records runs of the
        pipeline, each function node is coloured by its state in run ``run_id``
        (default: the latest): ``computed``, ``cached``, ``partial``,
        ``failed``, ``empty`` or ``not_run``. Sources and operators record no
        run, so they are not coloured.

        Raises:
            GraphError: ``run_id`` is given and the store records no such run.
            StoreNotFoundError: ``database`` is a URI naming no store.
        """
        from orcapod.core.pipeline._graph import graph_of

        if isinstance(database, str):
            from orcapod.core.plugins import open_database

            store = open_database(database, create=False)
            try:
                return graph_of(self, store, run_id)
            finally:
                store.close()
        return graph_of(self, database, run_id)

    def _repr_html_(self) -> str:
        """In Jupyter: the name, the store, the nodes, and the DAG coloured by the latest run."""
        from orcapod.core.pipeline._graph import graph_of, pipeline_graph, summary_html

        note = ""
        try:
            graph = graph_of(self)
        except Exception as error:  # a display shows the picture, whatever the store says
            graph = pipeline_graph(self)
            note = f"states not read: {type(error).__name__}: {error}"
        return summary_html(graph, self.uri, note=note)


def _orchestrator(orchestrator: str | Orchestrator) -> Orchestrator:
    if isinstance(orchestrator, Orchestrator):
        return orchestrator
    kind = _ORCHESTRATORS.get(orchestrator) if isinstance(orchestrator, str) else None
    if kind is None:
        raise OrcapodError(
            f"orchestrator={orchestrator!r}; use 'sync', 'async', or an orchestrator instance "
            "(SyncPipelineOrchestrator(), AsyncPipelineOrchestrator(max_concurrency=...))"
        )
    return kind()


def _given_label(stream: Any) -> str | None:
    if isinstance(stream, FunctionPodStream | OperatorStream):
        return stream.label
    return None


def _derived_label(stream: Any) -> str:
    if isinstance(stream, FunctionPodStream):
        return str(stream.pod.packet_function.name)
    if isinstance(stream, OperatorStream):
        return stream.operator.kind.lower()
    source_id = getattr(stream, "source_id", None)
    return str(source_id) if source_id else "source"
