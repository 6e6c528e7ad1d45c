"""ProcessExecutor: packets in real worker processes, with their output, deaths and retries."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from orcapod.core import (
    File,
    InMemoryArrowDatabase,
    LocalExecutor,
    Pipeline,
    ProcessExecutor,
    function_pod,
    get_executor,
    scratch_dir,
)
from orcapod.core.errors import FunctionNotSendableError, WorkerDiedError
from orcapod.core.sources import DictSource
from orcapod.protocols.testing import RecordingLogger, RecordingObserver

if TYPE_CHECKING:
    from collections.abc import Iterator


# -- the user's functions (module level: the workers import them) -----------------------


@function_pod(output_keys="y")
def square(x: int) -> int:
    return x * x


@function_pod(output_keys=["y", "pid"])
def square_where(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


@function_pod(output_keys="y")
def loud(x: int) -> int:
    print(f"python says {x}")
    print(f"python warns {x}", file=sys.stderr)
    os.write(1, f"C level says {x}\n".encode())
    subprocess.run(["echo", f"a child says {x}"], check=True)
    return x + 1


def _die(how: str) -> None:
    if how == "exit":
        os._exit(3)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "segfault":
        ctypes.string_at(0)


@function_pod(output_keys="y")
def fragile(x: int, how: str) -> int:
    print(f"started {x}", flush=True)
    if x == 3:
        os.write(2, b"about to die\n")
        _die(how)
    time.sleep(0.05)  # others are in flight when packet 3 dies
    return x * x


@function_pod(output_keys="y", retries=1)
def dies_once(x: int, marks: str) -> int:
    mark = Path(marks) / f"{x}.tried"
    print(f"attempt for {x}", flush=True)
    if not mark.exists():
        mark.touch()
        os._exit(7)
    return 10 * x


class Flaky(Exception):
    """An error worth another attempt."""


@function_pod(output_keys="y", retries=2, retry_on=(Flaky,))
def flaky(x: int, marks: str) -> int:
    tried = len(list(Path(marks).glob(f"{x}.*")))
    (Path(marks) / f"{x}.{tried}").touch()
    if tried < 2:
        raise Flaky(f"not yet ({tried})")
    return x


@function_pod(output_keys="y")
def fails_on_two(x: int) -> int:
    if x == 2:
        raise ValueError(f"no value for {x}")
    return x


@function_pod(output_keys="plot")
def plot(x: int) -> File:
    out = scratch_dir() / "plot.txt"
    out.write_text(f"plot of {x} by {os.getpid()}")
    return File(out)


def _sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _rows(*xs: int, **extra: Any) -> DictSource:
    return DictSource([{"k": f"k{x}", "x": x, **extra} for x in xs], tag_columns=["k"])


def _pipeline(pod: Any, source: DictSource, database: Any = None) -> Pipeline:
    pipeline = Pipeline("lab", InMemoryArrowDatabase() if database is None else database)
    with pipeline:
        pod.pod(source, label="node")
    return pipeline


def _by_x(observer: RecordingObserver) -> dict[int, list[dict[str, Any]]]:
    return {int(logger.packet["x"]): logger.records for logger in observer.loggers}


@pytest.fixture(scope="module")
def processes() -> Iterator[ProcessExecutor]:
    """One pool for the module's tests (its workers load this module once)."""
    executor = ProcessExecutor(max_workers=2, passthrough=False)
    executor.setup()
    yield executor
    executor.teardown()


@pytest.fixture(params=["sync", "async"])
def orchestrator(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- results, identities and the execution context -------------------------------------


def test_results_equal_those_of_a_local_run(processes: ProcessExecutor, orchestrator: str) -> None:
    xs = range(12)
    remote = _pipeline(square, _rows(*xs))
    local = _pipeline(square, _rows(*xs))
    result = remote.run(orchestrator, executor=processes)
    local.run(orchestrator, executor=LocalExecutor(passthrough=False))
    assert (result.nodes["node"].computed, result.nodes["node"].failed) == (12, 0)
    assert (
        remote.nodes["node"]
        .as_table()
        .sort_by("k")
        .equals(local.nodes["node"].as_table().sort_by("k"))
    )


def test_a_node_given_the_executor_runs_its_packets_in_the_workers(
    processes: ProcessExecutor,
) -> None:
    pipeline = _pipeline(square_where, _rows(*range(8)))
    pipeline.nodes["node"].executor = processes
    pipeline.run()
    pids = set(pipeline.nodes["node"].as_table().column("pid").to_pylist())
    assert pids
    assert os.getpid() not in pids
    assert pids <= set(processes._pool.pids())  # type: ignore[union-attr]


def test_results_computed_in_workers_are_found_by_a_local_run_and_back(
    processes: ProcessExecutor,
) -> None:
    database = InMemoryArrowDatabase()
    first = _pipeline(square, _rows(1, 2, 3), database).run(executor=processes)
    again = _pipeline(square, _rows(1, 2, 3, 4), database).run(
        executor=LocalExecutor(passthrough=False)
    )
    assert (first.nodes["node"].computed, again.nodes["node"].cached) == (3, 3)
    assert again.nodes["node"].computed == 1
    other = InMemoryArrowDatabase()
    _pipeline(square, _rows(5, 6), other).run(executor=LocalExecutor(passthrough=False))
    later = _pipeline(square, _rows(5, 6), other).run(executor=processes)
    assert (later.nodes["node"].computed, later.nodes["node"].cached) == (0, 2)


def test_the_stored_execution_context_says_the_packets_ran_in_processes(
    processes: ProcessExecutor,
) -> None:
    database = InMemoryArrowDatabase()
    pipeline = _pipeline(square, _rows(1, 2), database)
    pipeline.run(executor=processes)
    node = pipeline.nodes["node"]
    stored = database.get_all_records(node.result_cache.path_for(node.function))
    assert stored is not None
    assert set(stored.column("__executor_type").to_pylist()) == {"processes"}
    info = dict(stored.column("__executor_info").to_pylist()[0])
    assert info == processes.get_executor_data()
    assert (info["start_method"], info["max_workers"]) == ("forkserver", "2")


# -- what the workers print ------------------------------------------------------------


def test_output_of_python_of_c_and_of_child_processes_is_recorded(
    processes: ProcessExecutor, orchestrator: str
) -> None:
    observer = RecordingObserver()
    _pipeline(loud, _rows(1, 2)).run(orchestrator, executor=processes, observer=observer)
    for x, [record] in _by_x(observer).items():
        assert record["stdout"] == (f"python says {x}\nC level says {x}\na child says {x}\n"), (
            record["stdout"]
        )
        assert record["stderr"] == f"python warns {x}\n"
        assert (record["success"], record["capture_level"]) == (True, "fd")
        assert record["executor_type"] == "processes"
        assert int(record["extra"]["worker_pid"]) != os.getpid()


# -- a worker's death is its packet's failure ----------------------------------------------


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("exit", "exited with code 3"),
        ("kill", "was killed by SIGKILL (signal 9)"),
        ("segfault", "was killed by SIGSEGV (signal 11)"),
    ],
)
def test_a_worker_dying_fails_only_its_packet_with_what_it_printed(
    processes: ProcessExecutor, orchestrator: str, how: str, said: str
) -> None:
    observer = RecordingObserver()
    pipeline = _pipeline(fragile, _rows(*range(1, 7), how=how))
    result = pipeline.run(orchestrator, executor=processes, observer=observer)
    counts = result.nodes["node"]
    assert (counts.computed, counts.failed) == (5, 1)
    [failure] = result.failures
    assert failure.error_type == "WorkerDiedError"
    assert said in failure.message
    assert "fragile" in failure.message
    records = _by_x(observer)
    [record] = records[3]
    assert record["success"] is False
    assert record["stdout"] == "started 3\n"
    assert record["stderr"] == "about to die\n"
    assert (record["stdout_bytes"], record["stderr_bytes"]) == (10, 13)
    assert said in record["extra"]["worker_exit"]
    assert "WorkerDiedError" in record["traceback"]
    assert said in record["traceback"]
    for x in (1, 2, 4, 5, 6):
        assert [(r["success"], r["stdout"]) for r in records[x]] == [(True, f"started {x}\n")]
    table = pipeline.nodes["node"].as_table().sort_by("k")
    assert table.column("y").to_pylist() == [1, 4, 16, 25, 36]


def test_a_worker_death_is_retried_per_the_function_s_retries(
    processes: ProcessExecutor, orchestrator: str, tmp_path: Path
) -> None:
    observer = RecordingObserver()
    pipeline = _pipeline(dies_once, _rows(1, 2, marks=str(tmp_path)))
    result = pipeline.run(orchestrator, executor=processes, observer=observer)
    assert (result.nodes["node"].computed, result.nodes["node"].failed) == (2, 0)
    for x, records in _by_x(observer).items():
        assert [(r["attempt"], r["success"], r.get("retried", False)) for r in records] == [
            (1, False, True),
            (2, True, False),
        ]
        assert records[0]["stdout"] == records[1]["stdout"] == f"attempt for {x}\n"
        assert "exited with code 7" in records[0]["traceback"]


def test_an_error_is_retried_per_the_function_s_retries(
    processes: ProcessExecutor, orchestrator: str, tmp_path: Path
) -> None:
    observer = RecordingObserver()
    result = _pipeline(flaky, _rows(4, marks=str(tmp_path))).run(
        orchestrator, executor=processes, observer=observer
    )
    assert result.nodes["node"].computed == 1
    [records] = _by_x(observer).values()
    assert [(r["attempt"], r["success"]) for r in records] == [(1, False), (2, False), (3, True)]
    assert "Flaky: not yet (1)" in records[1]["traceback"]


def test_an_exception_comes_back_as_itself_and_the_run_goes_on(
    processes: ProcessExecutor, orchestrator: str
) -> None:
    result = _pipeline(fails_on_two, _rows(1, 2, 3)).run(orchestrator, executor=processes)
    [failure] = result.failures
    assert (failure.error_type, failure.message) == ("ValueError", "no value for 2")
    assert result.nodes["node"].computed == 2


def test_a_direct_call_s_death_raises_worker_died_error_and_the_pool_serves_on(
    processes: ProcessExecutor,
) -> None:
    logger = RecordingLogger("t", {"k": "k3"}, {"x": 3})
    with pytest.raises(WorkerDiedError, match=r"pid \d+.*fragile.*exited with code 3") as died:
        processes.execute_callable(
            fragile.pod.packet_function.function, {"x": 3, "how": "exit"}, logger=logger
        )
    assert died.value.exitcode == 3
    assert processes.execute_callable(square.pod.packet_function.function, {"x": 9}) == 81


# -- functions that cannot be sent -----------------------------------------------------


def _closure_pod() -> Any:
    offset = 10

    def shifted(x: int) -> int:
        return x + offset

    return function_pod(output_keys="y")(shifted)


def test_a_nested_function_is_refused_when_a_node_is_given_the_executor(
    processes: ProcessExecutor,
) -> None:
    pipeline = _pipeline(_closure_pod(), _rows(1))
    with pytest.raises(
        FunctionNotSendableError, match=r"shifted is defined inside another.*LocalExecutor"
    ):
        pipeline.nodes["node"].executor = processes


def test_a_lambda_fails_each_packet_at_once_with_the_fix(processes: ProcessExecutor) -> None:
    logger = RecordingLogger("t", {"k": "k1"}, {"x": 1})
    started = time.perf_counter()
    with pytest.raises(FunctionNotSendableError, match=r"is a lambda.*`def` at the top level"):
        processes.execute_callable(lambda x: x, {"x": 1}, logger=logger)
    assert time.perf_counter() - started < 1
    [record] = logger.records
    assert record["success"] is False
    assert "lambda" in record["traceback"]


def test_a_function_of_an_interactive_session_is_refused_with_the_fix(
    processes: ProcessExecutor,
) -> None:
    session: dict[str, Any] = {"__name__": "__main__"}  # as a notebook's namespace
    exec("def typed_in_a_notebook(x):\n    return x\n", session)
    with pytest.raises(FunctionNotSendableError, match=r"interactive session.*Move it to a module"):
        processes.execute_callable(session["typed_in_a_notebook"], {"x": 1})


def test_a_run_with_a_function_that_cannot_be_sent_is_refused_at_its_start(
    orchestrator: str,
) -> None:
    processes = ProcessExecutor(max_workers=1)
    pipeline = _pipeline(_closure_pod(), _rows(1, 2, 3))
    with pytest.raises(FunctionNotSendableError, match=r"shifted is defined inside another"):
        pipeline.run(orchestrator, executor=processes)
    assert processes._pool is None  # no worker was started for it


_MAIN_SCRIPT = """
import os, sys
from orcapod.core import DictSource, Pipeline, ProcessExecutor, function_pod

@function_pod(output_keys="y")
def slow(x: int) -> int:
    return x * 2

@function_pod(output_keys="z")
def runs_a_pipeline(y: int) -> int:  # a pipeline run at call time, in the worker
    inner = Pipeline("inner", "memory://")
    with inner:
        slow.pod(DictSource([{{"i": 0, "x": y}}], tag_columns=["i"]), label="inner")
    assert inner.run().state == "SUCCESS"
    return inner.nodes["inner"].as_table().column("y")[0].as_py()

pipeline = Pipeline("pe", {store!r})
with pipeline:
    doubled = slow.pod(
        DictSource([{{"i": i, "x": i}} for i in range(4)], tag_columns=["i"]), label="slow"
    )
    runs_a_pipeline.pod(doubled, label="nested")

def main():
    result = pipeline.run(executor=ProcessExecutor(max_workers=2, start_method=sys.argv[1]))
    print("STATE", result.state, result.n_failed, result.n_computed, flush=True)
    for failure in result.failures:
        print("FAILED", failure.message, flush=True)

{call}
"""


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_a_script_running_its_pipeline_unguarded_fails_its_packets_saying_so(
    tmp_path: Path, method: str
) -> None:
    store = "memory://"  # core alone: the run's store is not what is tested
    script = tmp_path / "unguarded.py"
    script.write_text(_MAIN_SCRIPT.format(store=store, call="main()"))
    ran = subprocess.run(
        [sys.executable, str(script), method], capture_output=True, text=True, timeout=120
    )
    lines = ran.stdout.splitlines()
    assert [line for line in lines if line.startswith("STATE")] == ["STATE PARTIAL 4 0"], ran
    failed = [line for line in lines if line.startswith("FAILED")]
    assert len(failed) == 4
    for line in failed:
        assert f"{script} runs a pipeline when it is imported" in line
        assert "`if __name__ == '__main__':`" in line
        assert "import your script to find `slow`" in line


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_a_guarded_script_s_functions_are_found_by_the_workers(tmp_path: Path, method: str) -> None:
    script = tmp_path / "guarded.py"
    call = "if __name__ == '__main__':\n    main()"
    script.write_text(_MAIN_SCRIPT.format(store="memory://", call=call))
    ran = subprocess.run(
        [sys.executable, str(script), method], capture_output=True, text=True, timeout=120
    )
    assert "STATE SUCCESS 0 8" in ran.stdout.splitlines(), ran


_PACKAGE_MAIN = """
import sys
from orcapod.core import DictSource, Pipeline, ProcessExecutor, function_pod
from .helper import K

@function_pod(output_keys="y")
def add_k(x: int) -> int:
    return x + K

if __name__ == "__main__":
    pipeline = Pipeline("m", "memory://")
    with pipeline:
        add_k.pod(DictSource([{"i": i, "x": i} for i in range(3)], tag_columns=["i"]), label="n")
    result = pipeline.run(executor=ProcessExecutor(max_workers=2, start_method=sys.argv[1]))
    print("STATE", result.state, [f.message for f in result.failures])
"""


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_a_main_run_with_dash_m_is_found_in_its_package(tmp_path: Path, method: str) -> None:
    package = tmp_path / "steps_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("K = 10\n")  # imported relatively
    (package / "script.py").write_text(_PACKAGE_MAIN)
    ran = subprocess.run(
        [sys.executable, "-m", "steps_package.script", method],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert "STATE SUCCESS []" in ran.stdout.splitlines(), ran


def _import_from(directory: Path, name: str, source: str) -> Any:
    """Import a new module ``name`` from ``directory``, then take the directory off
    ``sys.path`` (as a notebook imports a module beside it, from a working directory
    the workers do not share)."""
    import importlib

    (directory / f"{name}.py").write_text(source)
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(directory))


def test_a_module_imported_from_a_directory_the_workers_lack_is_found_there(
    processes: ProcessExecutor, tmp_path: Path
) -> None:
    module = _import_from(tmp_path, "beside_the_notebook", "def cube(x):\n    return x ** 3\n")
    try:
        assert processes.execute_callable(module.cube, {"x": 3}) == 27
    finally:
        sys.modules.pop("beside_the_notebook", None)


def test_a_module_failing_to_import_in_a_worker_fails_its_packets_saying_so(
    processes: ProcessExecutor, tmp_path: Path
) -> None:
    source = (
        "import os\n"
        "if os.environ.get('ONLY_IN_PID') != str(os.getpid()):\n"
        "    raise RuntimeError('this module imports only in the run process')\n"
        "def cube(x):\n    return x ** 3\n"
    )
    os.environ["ONLY_IN_PID"] = str(os.getpid())
    try:
        module = _import_from(tmp_path, "parent_only", source)
        logger = RecordingLogger("t", {"k": "k1"}, {"x": 1})
        with pytest.raises(
            FunctionNotSendableError,
            match=r"parent_only.cube could not be loaded in the worker process \(pid \d+\): "
            r"importing its module there raised builtins.RuntimeError: this module imports "
            r"only in the run process",
        ):
            processes.execute_callable(module.cube, {"x": 1}, logger=logger)
    finally:
        del os.environ["ONLY_IN_PID"]
        sys.modules.pop("parent_only", None)
    [record] = logger.records
    assert record["success"] is False
    assert "RuntimeError: this module imports only in the run process" in record["traceback"]


def test_a_refused_function_raises_a_new_error_each_time(processes: ProcessExecutor) -> None:
    """Refusals come from one check, but no traceback grows packet after packet."""
    import traceback

    fn = _closure_pod().pod.packet_function.function
    errors = []
    for _ in range(3):
        with pytest.raises(FunctionNotSendableError) as refused:
            processes.execute_callable(fn, {"x": 1})
        errors.append(refused.value)
    assert len({id(error) for error in errors}) == 3
    depths = [len(traceback.extract_tb(error.__traceback__)) for error in errors]
    assert depths[0] == depths[2]


def test_each_function_is_checked_once_not_per_packet(processes: ProcessExecutor) -> None:
    from orcapod.core.executors import _process_pickling

    fn = square.pod.packet_function.function
    processes.execute_callable(fn, {"x": 1})
    reference = _process_pickling._references[fn]
    processes.execute_callable(fn, {"x": 2})
    assert _process_pickling._references[fn] is reference


# -- files, the event loop, and the workers' lifetime -----------------------------------


def test_a_function_returning_a_file_keeps_it_in_the_file_store(
    processes: ProcessExecutor, tmp_path: Path
) -> None:
    pipeline = Pipeline("plots", InMemoryArrowDatabase(), file_store=tmp_path / "files")
    with pipeline:
        plot.pod(_rows(1, 2), label="plot")
    result = pipeline.run(executor=processes)
    assert result.nodes["plot"].computed == 2
    texts = [
        Path(v["path"]).read_text()
        for v in pipeline.nodes["plot"].as_table().column("plot").to_pylist()
    ]
    assert sorted(t.split(" by ")[0] for t in texts) == ["plot of 1", "plot of 2"]
    assert all(int(t.split(" by ")[1]) != os.getpid() for t in texts)


def test_a_wrapped_function_travels_without_its_pod(processes: ProcessExecutor) -> None:
    """A function returning a File runs wrapped (with its scratch directory); the
    wrapper is sent as the function and the directory, whatever the pod holds."""
    from orcapod.core.executors._process_pickling import dumps
    from orcapod.core.files._scratch import WithScratch

    pod = plot.pod
    pod.executor = processes  # holds a lock and a pool: it must not be pickled
    try:
        wrapped = WithScratch(plot, Path("/nonexistent/scratch"))
        again = pickle.loads(dumps(wrapped))
    finally:
        pod.executor = None
    assert (again.function, again.scratch) == (plot, Path("/nonexistent/scratch"))


def test_the_async_path_leaves_the_event_loop_running(processes: ProcessExecutor) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> float:
        ticker = asyncio.create_task(tick())
        try:
            return await processes.async_execute_callable(_sleepy, {"seconds": 0.4})  # type: ignore[no-any-return]
        finally:
            ticker.cancel()

    assert asyncio.run(main()) == 0.4
    assert ticks >= 15


def test_a_cancelled_call_stops_its_worker_and_the_pool_serves_on(
    processes: ProcessExecutor,
) -> None:
    async def main() -> None:
        call = asyncio.ensure_future(processes.async_execute_callable(_sleepy, {"seconds": 30}))
        await asyncio.sleep(0.3)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    started = time.perf_counter()
    asyncio.run(main())
    assert processes.execute_callable(_sleepy, {"seconds": 0.0}) == 0.0
    assert time.perf_counter() - started < 10


def test_no_worker_process_outlives_teardown_or_the_executor() -> None:
    executor = ProcessExecutor(max_workers=2, passthrough=False)
    _pipeline(square, _rows(1, 2, 3)).run(executor=executor)
    first = _pids_of(executor)
    assert len(first) == 2
    assert _alive(first) == first
    executor.teardown()
    assert _alive(first) == set()
    assert executor.execute_callable(_sleepy, {"seconds": 0.0}) == 0.0  # new workers
    second = _pids_of(executor)
    assert second
    assert not second & first
    executor.teardown()
    assert _alive(second) == set()

    dropped = ProcessExecutor(max_workers=2, passthrough=False)
    _pipeline(square, _rows(1, 2, 3)).run(executor=dropped)
    third = _pids_of(dropped)
    del dropped  # nobody holds it: its workers stop with it
    gc.collect()
    deadline = time.monotonic() + 10
    while _alive(third) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(third) == set()


def _pids_of(executor: ProcessExecutor) -> set[int]:
    return set(executor._pool.pids())  # type: ignore[union-attr]


def _alive(pids: set[int]) -> set[int]:
    """Which of ``pids`` are children of this process still running (or unreaped)."""
    return {p.pid for p in multiprocessing.active_children() if p.pid in pids}


@function_pod(output_keys="y")
def slow_unless_two(x: int) -> int:
    if x == 2:
        raise ValueError("two stops the run")
    time.sleep(30)
    return x


def test_fail_fast_stops_the_packets_in_flight_and_the_pool_serves_on(
    processes: ProcessExecutor, orchestrator: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match="two stops the run"):
        _pipeline(slow_unless_two, _rows(1, 2, 3)).run(
            orchestrator, executor=processes, error_policy="fail_fast"
        )
    assert time.perf_counter() - started < 15  # the 30 s packets were stopped
    assert processes.execute_callable(_sleepy, {"seconds": 0.0}) == 0.0


_RUN_AND_WAIT = """
import sys, time
sys.path.insert(0, {here!r})
from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, ProcessExecutor
from steps_for_signals import nap

if __name__ == "__main__":
    executor = ProcessExecutor(max_workers=2, passthrough=False)
    pipeline = Pipeline("signals", InMemoryArrowDatabase())
    with pipeline:
        nap.pod(DictSource([{{"k": i, "x": i}} for i in range(4)], tag_columns=["k"]))
    executor.setup()
    while len(executor._pool.pids()) < 2:
        time.sleep(0.05)
    print(*executor._pool.pids(), flush=True)
    pipeline.run(executor=executor)
"""

_NAP = """
import time
from orcapod.core import function_pod

@function_pod(output_keys="y")
def nap(x: int) -> int:
    time.sleep(60)
    return x
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_workers_end_with_the_run_s_process_even_mid_packet(tmp_path: Path, signum: int) -> None:
    (tmp_path / "steps_for_signals.py").write_text(_NAP)
    script = tmp_path / "run_and_wait.py"
    script.write_text(_RUN_AND_WAIT.format(here=str(tmp_path)))
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None
        workers = [int(pid) for pid in run.stdout.readline().split()]
        time.sleep(1.0)  # both workers are inside a 60 s packet
        assert all(_running(pid) for pid in workers)
        run.send_signal(signum)
        run.wait(timeout=20)
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(pid) for pid in workers)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not a zombie waiting for its parent)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


# -- options, the plugin, the demo ----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"max_workers": 0}, r"max_workers=0; pass a whole number >= 1"),
        ({"max_workers": 2.5}, r"max_workers=2.5"),
        ({"start_method": "threads"}, r"start_method='threads'; this system offers"),
        ({"capture": "all"}, r"capture='all'; use capture='sys'"),
        ({"passthrough": "yes"}, r"passthrough='yes'"),
    ],
)
def test_a_bad_option_is_refused_naming_it_and_the_fix(options: dict[str, Any], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        ProcessExecutor(**options)


def test_options_repr_data_and_concurrency() -> None:
    executor = ProcessExecutor(max_workers=3, capture="sys", start_method="spawn", max_bytes=10)
    assert repr(executor) == (
        "ProcessExecutor(max_workers=3, capture='sys', start_method='spawn', max_bytes=10, "
        "max_records=1000, passthrough=True)"
    )
    copy = executor.with_options(max_workers=1)
    assert (copy.max_workers, copy.capture, copy.start_method, executor.max_workers) == (
        1,
        "sys",
        "spawn",
        3,
    )
    with pytest.raises(TypeError, match=r"ProcessExecutor has no option 'workers'"):
        executor.with_options(workers=2)
    assert executor.concurrency == 6
    assert set(executor.get_executor_data()) == set(executor.get_executor_data_schema())
    assert ProcessExecutor().start_method == "forkserver"  # Linux
    assert ProcessExecutor().max_workers == len(os.sched_getaffinity(0))


def _loud_record(executor: ProcessExecutor) -> dict[str, Any]:
    """The record of one call of ``loud`` (x=1) through ``executor``."""
    logger = RecordingLogger("t", {"k": "k1"}, {"x": 1})
    value = executor.execute_callable(loud.pod.packet_function.function, {"x": 1}, logger=logger)
    assert value == 2
    [record] = logger.records
    return record


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_other_start_methods_run_packets_too(method: str) -> None:
    executor = ProcessExecutor(max_workers=1, start_method=method, passthrough=False)
    try:
        assert "a child says 1" in _loud_record(executor)["stdout"]
        assert executor.get_executor_data()["start_method"] == method
    finally:
        executor.teardown()


def test_the_executor_is_the_built_in_plugin_named_processes() -> None:
    executor = get_executor("processes", max_workers=1)
    assert isinstance(executor, ProcessExecutor)
    assert executor.max_workers == 1


def test_sys_capture_records_python_output_and_a_death_says_it_was_lost() -> None:
    executor = ProcessExecutor(max_workers=1, capture="sys", passthrough=False)
    try:
        record = _loud_record(executor)
        assert (record["capture_level"], record["stdout"]) == ("sys", "python says 1\n")
        logger = RecordingLogger("t", {"k": "k3"}, {"x": 3})
        with pytest.raises(WorkerDiedError):
            executor.execute_callable(
                fragile.pod.packet_function.function, {"x": 3, "how": "exit"}, logger=logger
            )
        [record] = logger.records
        assert record["stdout"] == ""
        assert "is lost" in record["capture_error"]
    finally:
        executor.teardown()
