"""A minimal third-party executor, observer and source, as a plugin author writes them.

All three depend only on orcapod-protocols (and the standard library and
pyarrow). The executor and the observer pass their contracts from
``orcapod.protocols.testing``; then all three work in a real run of
orcapod-core: what passes the kit is what a pipeline can use.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
import traceback
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any, Self

import pyarrow as pa
import pyarrow.json
import pytest

from orcapod.protocols import BaseObserver
from orcapod.protocols.errors import SourceError
from orcapod.protocols.executors import StringSchema
from orcapod.protocols.testing import ExecutorContract, ObserverContract

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from orcapod.protocols import ExecutionObserver, PacketExecutionLogger
    from orcapod.protocols.data import Packet, Tag
    from orcapod.protocols.values import PythonLogRecord, RunInfo


# -- the executor ------------------------------------------------------------------


class _LogRecords(logging.Handler):
    """Keeps the log records of one call, as the protocol's ``PythonLogRecord``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[PythonLogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(
            {
                "time": datetime.fromtimestamp(record.created, UTC),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
                "pathname": record.pathname,
                "lineno": record.lineno,
                "func": record.funcName,
            }
        )


class RedirectingExecutor:
    """Runs each call in this process with ``sys.stdout``, ``sys.stderr`` and the root
    logger redirected to its record; one call at a time, since the redirection is
    process-wide (so it declares no concurrency)."""

    executor_type = "redirecting"
    _turn = threading.Lock()

    def __init__(self, *, label: str = "default") -> None:
        self.label = label

    def supports(self, packet_function: Any) -> bool:
        return callable(getattr(packet_function, "function", None))

    def with_options(self, **options: Any) -> Self:
        unknown = sorted(set(options) - {"label"})
        if unknown:
            raise TypeError(f"RedirectingExecutor has no option {unknown[0]!r}; it has 'label'")
        return type(self)(**{"label": self.label, **options})

    def get_executor_data(self) -> dict[str, str]:
        return {"label": self.label}

    def get_executor_data_schema(self) -> StringSchema:
        return StringSchema(("label",))

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        if logger is None:
            return fn(**kwargs)
        stdout, stderr, logs = io.StringIO(), io.StringIO(), _LogRecords()
        root = logging.getLogger()
        error: BaseException | None = None
        start = perf_counter()
        with self._turn, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            root.addHandler(logs)
            try:
                value = fn(**kwargs)
            except BaseException as raised:  # the packet's, whatever it is: recorded, re-raised
                error = raised
            finally:
                root.removeHandler(logs)
        logger.record(
            stdout=stdout.getvalue(),
            stderr=stderr.getvalue(),
            python_logs=logs.records,
            traceback=None if error is None else "".join(traceback.format_exception(error)),
            success=error is None,
            duration_s=perf_counter() - start,
            attempt=1,
            executor_type=self.executor_type,
            capture_level="sys",
        )
        if error is not None:
            raise error
        return value

    async def async_execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        return await asyncio.to_thread(self.execute_callable, fn, kwargs, logger=logger)


class TestRedirectingExecutor(ExecutorContract):
    __test__ = True

    def make_executor(self) -> RedirectingExecutor:
        return RedirectingExecutor()


# -- the observer ------------------------------------------------------------------


class _FailureLogger:
    """Keeps the failed attempts of one packet, under the run it belongs to."""

    def __init__(self, observer: FailureLog, tag: Tag) -> None:
        self.observer = observer
        self.tag = tag

    def record(self, **fields: Any) -> None:
        if fields.get("success") is False:
            self.observer.add(dict(self.tag.as_dict()), fields.get("traceback"))


class FailureLog(BaseObserver):
    """Keeps one row per failed attempt and per failed packet, with its run's id;
    the rows of a run become final (``kept``) at its checkpoints and its end."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.pending: list[dict[str, Any]] = []
        self.kept: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, tag: dict[str, Any], error: str | None) -> None:
        with self._lock:
            self.pending.append({"run_id": self.run_id, "tag": tag, "error": error})

    def on_run_start(self, run: RunInfo) -> None:
        self.run_id = run.run_id

    def on_run_end(self, run: RunInfo, outcome: Any) -> None:
        self.flush()

    def flush(self) -> None:
        with self._lock:
            self.kept += self.pending
            self.pending = []

    def on_packet_crash(
        self, node_label: str, tag: Tag, packet: Packet, error: BaseException
    ) -> None:
        self.add(dict(tag.as_dict()), f"{type(error).__name__}: {error}")

    def create_packet_logger(self, tag: Tag, packet: Packet) -> _FailureLogger:
        return _FailureLogger(self, tag)


class TestFailureLog(ObserverContract):
    __test__ = True

    def make_observer(self) -> FailureLog:
        return FailureLog()

    def recorded_rows(self, observer: ExecutionObserver) -> Sequence[Mapping[str, Any]]:
        assert isinstance(observer, FailureLog)
        return observer.kept


# -- the source --------------------------------------------------------------------


class JsonLinesSource:
    """The rows of a JSON-lines file (one object per line) as a source: a ``SourceTable``.

    The file is read once, when the source is made, so the rows stay what they
    were; its name (``rooms.jsonl``: ``jsonl-rooms``) names the source.
    """

    def __init__(
        self,
        path: str | Path,
        tag_columns: Sequence[str],
        *,
        record_id_column: str | None = None,
    ) -> None:
        self.path = Path(path)
        try:
            self._rows = pyarrow.json.read_json(self.path)
        except (OSError, pa.ArrowInvalid) as error:
            raise SourceError(
                f"JsonLinesSource: {str(self.path)!r} cannot be read ({error}); pass a "
                "file of one JSON object per line"
            ) from None
        self.source_id = f"jsonl-{self.path.stem}"
        self.tag_columns = tuple(tag_columns)
        self.record_id_column = record_id_column

    def as_arrow(self) -> pa.Table:
        return self._rows


# -- all three in a real run -------------------------------------------------------


def test_the_third_party_executor_and_observer_work_in_a_pipeline_run() -> None:
    from orcapod.core import DictSource, Pipeline, function_pod

    @function_pod(output_keys="inverse")
    def invert(x: float) -> float:
        print(f"inverting {x}")
        return 1 / x

    source = DictSource([{"id": i, "x": float(i)} for i in range(4)], tag_columns=["id"])
    pipeline = Pipeline("third_party", "memory://")
    with pipeline:
        invert.pod(source, label="invert")
    failures = FailureLog()
    for orchestrator in ("sync", "async"):
        pipeline.run(orchestrator=orchestrator, executor=RedirectingExecutor(), observer=failures)

    table = pipeline.nodes["invert"].as_table().sort_by("id")
    assert table.column("inverse").to_pylist() == [1.0, 0.5, 1 / 3]
    # x = 0 failed in each run, and is recorded twice a run: its attempt and its packet
    assert [(row["tag"], row["error"].splitlines()[-1]) for row in failures.kept] == [
        ({"id": 0}, "ZeroDivisionError: float division by zero")
    ] * 4
    assert len({row["run_id"] for row in failures.kept}) == 2


def test_the_third_party_source_feeds_a_pipeline(tmp_path: Path) -> None:
    from orcapod.core import Pipeline, function_pod
    from orcapod.core.errors import SourceError as CoreSourceError

    @function_pod(output_keys="area")
    def area(width: float, height: float) -> float:
        return width * height

    (tmp_path / "rooms.jsonl").write_text(
        '{"room": "kitchen", "width": 3.0, "height": 4.0}\n'
        '{"room": "hall", "width": 1.5, "height": 6.0}\n'
    )
    rooms = JsonLinesSource(tmp_path / "rooms.jsonl", tag_columns=["room"])
    pipeline = Pipeline("rooms", "memory://")
    with pipeline:
        area.pod(rooms, label="area")
    assert pipeline.run().n_computed == 2
    assert sorted(pipeline.nodes) == ["area", "jsonl-rooms"]
    assert pipeline.nodes["area"].as_table().to_pylist() == [
        {"room": "kitchen", "area": 12.0},
        {"room": "hall", "area": 9.0},
    ]
    with pytest.raises(CoreSourceError, match=r"'.*missing\.jsonl' cannot be read"):
        JsonLinesSource(tmp_path / "missing.jsonl", tag_columns=["room"])
