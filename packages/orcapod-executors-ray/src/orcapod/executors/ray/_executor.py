"""RayExecutor: runs packet functions as Ray tasks, capturing their output on the worker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import re
import socket
import tempfile
import threading
import traceback
import uuid
import weakref
from functools import partial
from time import perf_counter
from types import MethodType
from typing import TYPE_CHECKING, Any, Self

from orcapod.capture import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_RECORDS,
    bound_text,
    recover_spooled_output,
)
from orcapod.executors.ray._schema import StringSchema
from orcapod.executors.ray._setup import SetupLog, setup_log_of_this_job
from orcapod.executors.ray._worker import CaptureSettings, TaskOutcome, bound_task, run_task
from orcapod.executors.ray.errors import (
    RayExecutorError,
    RayExecutorOptionError,
    RayTaskSystemError,
    RemoteExceptionError,
    TaskSetupError,
    WorkerDiedError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orcapod.protocols.executors import PythonFunctionExecutor
    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.pods import PacketFunction

__all__ = ["RayExecutor"]

RetryExceptions = bool | tuple[type[BaseException], ...]

_EXECUTOR_DATA_SCHEMA = StringSchema(
    (
        "ray_version",
        "address",
        "num_cpus",
        "num_gpus",
        "memory",
        "resources",
        "runtime_env",
        "max_retries",
        "retry_exceptions",
        "capture",
        "max_bytes",
        "max_records",
    )
)

_WORKER_DEATHS = frozenset(
    {
        "WorkerCrashedError",
        "OutOfMemoryError",
        "NodeDiedError",
        "LocalRayletDiedError",
        "ActorDiedError",
    }
)
"""Ray errors meaning the process running the task is gone (matched by class name
along the MRO, so a Ray release that moves them keeps working)."""

_OPTIONS = (
    "address",
    "num_cpus",
    "num_gpus",
    "memory",
    "resources",
    "max_retries",
    "retry_exceptions",
    "runtime_env",
    "max_in_flight",
    "max_bytes",
    "max_records",
    "passthrough",
)

_COLOURS = re.compile(r"\x1b\[[0-9;]*m")

_remote_task: Any = None
"""``ray.remote(run_task)``, made once per process on first use."""


class RayExecutor:
    """Runs Python packet functions as Ray tasks, capturing their output on the worker.

    Each call becomes a Ray task that runs the function under ``orcapod.capture``
    at file-descriptor level on the worker (Python prints, ``os.write`` to 1 and 2,
    C extensions and child processes) and sends the capture back with the result.
    On the driver, ``logger.record(...)`` is called once per attempt
    (``executor_type="ray"``, ``capture_level="fd"``, ``attempt=n``, and
    ``retried=True`` on a failed attempt this executor submits again, else
    ``False``); then the function's own exception, if any, is re-raised as its
    original type.

    Ray is imported and connected lazily, by :meth:`setup` or the first call.

    Args:
        address: the cluster to connect to (``"auto"``, ``"ray://host:10001"``,
            ``"host:6379"``); ``None`` reuses the connection this process already
            has, or starts a local cluster.
        num_cpus: CPUs each task reserves (Ray's default: 1).
        num_gpus: GPUs each task reserves (Ray's default: 0).
        memory: bytes of memory each task reserves (Ray's default: none).
        resources: custom resources each task reserves, e.g. ``{"scanner": 1}``.
        max_retries: how many times a failed call is submitted again.
        retry_exceptions: which failures are retried: ``False`` only system
            failures (the worker died, the result was lost); ``True`` any
            exception of the function too; or a list or tuple of exception
            types of the function to retry.
        runtime_env: Ray runtime environment of the tasks (``pip``,
            ``env_vars``, ``working_dir``, ...).
        max_in_flight: the most tasks this executor keeps submitted at once on
            the async path (per event loop); ``None``: no cap of its own.
        max_bytes: bytes of stdout and of stderr kept per call (head and tail).
        max_records: log records kept per call.
        passthrough: also copy the output, live, to the worker's own stdout and
            stderr (where Ray's ``log_to_driver`` shows it on the driver).

    Raises:
        RayExecutorOptionError: an option has a value Ray could not use; the
            message names the option, the value and the fix.
    """

    executor_type = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        memory: int | None = None,
        resources: Mapping[str, float] | None = None,
        max_retries: int = 0,
        retry_exceptions: bool
        | list[type[BaseException]]
        | tuple[type[BaseException], ...] = False,
        runtime_env: Mapping[str, Any] | None = None,
        max_in_flight: int | None = None,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_records: int = DEFAULT_MAX_RECORDS,
        passthrough: bool = True,
    ) -> None:
        self.address = _checked_address(address)
        self.num_cpus = _checked_amount("num_cpus", num_cpus)
        self.num_gpus = _checked_amount("num_gpus", num_gpus)
        self.memory = _checked_whole("memory", memory, minimum=0, optional=True)
        self.resources = _checked_resources(resources)
        self.max_retries: int = _checked_whole("max_retries", max_retries, minimum=0)  # type: ignore[assignment]
        self.retry_exceptions: RetryExceptions = _checked_retry_exceptions(retry_exceptions)
        self.runtime_env = _checked_runtime_env(runtime_env)
        self.max_in_flight = _checked_whole(
            "max_in_flight", max_in_flight, minimum=1, optional=True
        )
        self.max_bytes: int = _checked_whole("max_bytes", max_bytes, minimum=0)  # type: ignore[assignment]
        self.max_records: int = _checked_whole("max_records", max_records, minimum=0)  # type: ignore[assignment]
        if not isinstance(passthrough, bool):
            raise RayExecutorOptionError(
                f"RayExecutor got passthrough={passthrough!r}; pass True or False"
            )
        self.passthrough = passthrough
        self._lock = threading.Lock()
        self._started_cluster = False
        self._task: Any = None  # the remote task with this executor's options
        # Per packet function, its own remote functions (captured or not): see bound_task.
        self._tasks: weakref.WeakKeyDictionary[Callable[..., Any], dict[bool, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._data: dict[str, str] | None = None
        self._concurrency: int | None = None
        self._spools: str | None = None  # where tasks spool, when the driver can read it
        # Ray's runtime_env set-up log, or why it cannot be read (None: no runtime_env).
        self._setup_log: SetupLog | str | None = None
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._settings = CaptureSettings(True, self.max_bytes, self.max_records, passthrough)
        self._plain = CaptureSettings(False, self.max_bytes, self.max_records, passthrough)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}"
            for name, value in self._options().items()
            if value != _DEFAULTS[name]
        )
        return f"RayExecutor({shown})"

    # -- the executor contract -------------------------------------------------------

    def supports(self, packet_function: PacketFunction) -> bool:
        """Whether ``packet_function`` is a Python function (it has a callable to run)."""
        return callable(getattr(packet_function, "function", None))

    def with_options(self, **options: Any) -> Self:
        """A new RayExecutor with ``options`` changed (``num_cpus=2``, ``max_retries=3``, ...).

        The new executor shares this process's Ray connection, but not the
        ownership of a cluster this one started (only this one's teardown stops it).

        Raises:
            TypeError: an option RayExecutor does not have, naming it.
            RayExecutorOptionError: an option's value is unusable.
        """
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise TypeError(
                f"RayExecutor has no option {unknown[0]!r}; its options are {sorted(_OPTIONS)}"
            )
        return type(self)(**{**self._options(), **options})

    def get_executor_data(self) -> dict[str, str]:
        """Where calls ran: Ray's version, the cluster's address and each task's resources.

        Every value is a ``str`` (numbers as decimals, mappings as JSON); keys
        are those of :meth:`get_executor_data_schema`. ``address`` is the
        connected cluster's address, or the one asked for while not connected.
        """
        if self._data is not None:
            return dict(self._data)
        connected = _ray_is_connected()
        data = {
            "ray_version": _ray_version(),
            "address": _cluster_address() if connected else (self.address or "local"),
            "num_cpus": _decimal(1 if self.num_cpus is None else self.num_cpus),
            "num_gpus": _decimal(0 if self.num_gpus is None else self.num_gpus),
            "memory": str(0 if self.memory is None else self.memory),
            "resources": json.dumps(self.resources, sort_keys=True),
            "runtime_env": json.dumps(self.runtime_env or {}, sort_keys=True, default=str),
            "max_retries": str(self.max_retries),
            "retry_exceptions": _describe_retry(self.retry_exceptions),
            "capture": "fd",
            "max_bytes": str(self.max_bytes),
            "max_records": str(self.max_records),
        }
        if connected:  # the address is final only once connected
            self._data = data
        return dict(data)

    def get_executor_data_schema(self) -> StringSchema:
        """Every key of :meth:`get_executor_data`, each a ``str``."""
        return _EXECUTOR_DATA_SCHEMA

    def setup(self) -> None:
        """Import Ray and connect: to ``address``, or to the cluster this process
        is already connected to, or to a new local cluster. Idempotent."""
        if self._task is not None and _ray_is_connected():
            return
        with self._lock:
            import ray

            if not ray.is_initialized():
                if self.address is None and not os.environ.get("RAY_ADDRESS"):
                    # A new local cluster, for this process only: no dashboard.
                    ray.init(include_dashboard=False)
                else:  # an existing cluster refuses options that shape a new one
                    ray.init(address=self.address)
                self._started_cluster = True
            global _remote_task
            if _remote_task is None:
                _remote_task = ray.remote(run_task)
            self._task = _options_of(_remote_task, self._task_options())
            self._spools = _local_spool_directory()
            if self.runtime_env:  # opened now, so that its set-up to come is read
                self._setup_log = (
                    _NOT_THIS_MACHINE if self._spools is None else setup_log_of_this_job()
                )

    def teardown(self) -> None:
        """Disconnect from Ray if this executor connected (a local cluster it started
        is stopped with it); a connection someone else made is left alone. Idempotent."""
        with self._lock:
            self._task = None
            self._tasks = weakref.WeakKeyDictionary()
            self._data = None
            self._setup_log = None
            if not self._started_cluster:
                return
            self._started_cluster = False
            import ray

            ray.shutdown()

    @property
    def concurrency(self) -> int:
        """How many calls to keep in flight: ``max_in_flight``, else 8 times the cluster's
        CPUs (at least 16), read once. Connects to Ray if needed.

        Well above the CPU count on purpose: a short task's round trip (submit,
        schedule, return) is much longer than the task, so a few tasks in flight
        leave the workers idle; tasks beyond the free CPUs wait in Ray's queue.
        """
        if self.max_in_flight is not None:
            return self.max_in_flight
        if self._concurrency is None:
            self.setup()
            import ray

            resources: Callable[[], dict[str, float]] = ray.cluster_resources
            cpus = resources().get("CPU", 1)
            self._concurrency = max(16, 8 * int(cpus))
        return self._concurrency

    # -- running calls ---------------------------------------------------------------

    def execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        """Run ``fn(**kwargs)`` as a Ray task and wait for it; record each attempt.

        Retries (``max_retries``) are this loop's, never Ray's (each task is
        submitted with Ray's ``max_retries=0``), so every attempt that ran, or
        failed to be sent, is recorded: ``attempt`` 1, 2, ..., each failed
        attempt followed by another with ``retried=True``, the last with
        ``retried=False``. An attempt cut short by an interruption or a
        cancellation is not recorded (the call raises at once).

        Returns:
            What ``fn`` returned.

        Raises:
            BaseException: the function's exception, as its original type, after
                the last attempt was recorded (:class:`RemoteExceptionError` if it
                could not be sent back).
            WorkerDiedError: the worker died during the last attempt.
            RayTaskSystemError: Ray lost the task otherwise.
        """
        import ray
        from ray.exceptions import RayError

        submit = self._submitter(fn, logger is not None)
        attempt = 0
        while True:
            attempt += 1
            start = perf_counter()
            spool = self._spool(logger)
            try:
                ref = submit(kwargs, spool)
            except Exception as unsent:  # fn or an argument does not pickle
                self._record_unsent(fn, unsent, attempt, start, logger)
                raise
            try:
                outcome: TaskOutcome | None = ray.get(ref)
                failure: BaseException | None = None
            except RayError as caught:
                outcome, failure = None, caught
            except BaseException:  # interrupted while waiting: do not leave the task running
                _cancel(ref)
                raise
            value, error, again = self._conclude(
                fn, attempt, outcome, failure, start, logger, spool
            )
            if error is None:
                return value
            if not again:
                raise error

    async def async_execute_callable(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        *,
        logger: PacketExecutionLogger | None = None,
    ) -> Any:
        """As :meth:`execute_callable`, awaiting the task without blocking the event loop.

        At most ``max_in_flight`` calls of this executor are submitted at once per
        event loop; the others wait their turn. A cancelled call cancels its task.
        """
        if self.max_in_flight is None:
            return await self._run_async(fn, kwargs, logger)
        async with self._gate():
            return await self._run_async(fn, kwargs, logger)

    async def _run_async(
        self,
        fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        logger: PacketExecutionLogger | None,
    ) -> Any:
        from ray.exceptions import RayError

        submit = self._submitter(fn, logger is not None)
        attempt = 0
        while True:
            attempt += 1
            start = perf_counter()
            spool = self._spool(logger)
            try:
                ref = submit(kwargs, spool)
            except Exception as unsent:  # fn or an argument does not pickle
                self._record_unsent(fn, unsent, attempt, start, logger)
                raise
            try:
                outcome: TaskOutcome | None = await ref
                failure: BaseException | None = None
            except RayError as caught:
                outcome, failure = None, caught
            except BaseException:  # cancelled (another packet stopped the run) or interrupted
                _cancel(ref)
                raise
            value, error, again = self._conclude(
                fn, attempt, outcome, failure, start, logger, spool
            )
            if error is None:
                return value
            if not again:
                raise error

    # -- helpers ---------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _OPTIONS}

    def _task_options(self) -> dict[str, Any]:
        """Options of each Ray task; retries are the driver's, never Ray's (so that
        each attempt is recorded)."""
        options: dict[str, Any] = {"max_retries": 0, "retry_exceptions": False}
        for name in ("num_cpus", "num_gpus", "memory", "runtime_env"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        if self.resources:
            options["resources"] = dict(self.resources)
        return options

    def _submitter(self, fn: Callable[..., Any], capture: bool) -> Callable[..., Any]:
        """What submits one call of ``fn`` (its ``kwargs``, and where it spools) and
        returns the ObjectRef."""
        if self._task is None:
            self.setup()
        settings = self._settings if capture else self._plain
        try:
            # A bound method is made anew at each attribute access: never cached.
            remotes = None if isinstance(fn, MethodType) else self._tasks.setdefault(fn, {})
        except TypeError:  # not weakly referenceable (a builtin)
            remotes = None
        if remotes is None:  # fn is sent with each task
            return partial(self._task.remote, fn, settings=settings)
        remote = remotes.get(capture)
        if remote is None:
            remote = remotes[capture] = self._remote_of(fn, settings)
        return remote.remote  # type: ignore[no-any-return]

    def _remote_of(self, fn: Callable[..., Any], settings: CaptureSettings) -> Any:
        import ray

        return _options_of(ray.remote(bound_task(fn, settings)), self._task_options())

    def _gate(self) -> asyncio.Semaphore:
        """The in-flight cap of the running event loop (a semaphore belongs to one loop)."""
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            assert self.max_in_flight is not None
            gate = self._gates[loop] = asyncio.Semaphore(self.max_in_flight)
        return gate

    def _retries(self, error: BaseException, attempt: int) -> bool:
        """Whether the failed ``attempt`` is followed by another."""
        if attempt > self.max_retries:
            return False
        if isinstance(error, RayTaskSystemError):
            return True
        if self.retry_exceptions is True:
            return isinstance(error, Exception)
        if self.retry_exceptions is False:
            return False
        return isinstance(error, self.retry_exceptions)

    def _record_unsent(
        self,
        fn: Callable[..., Any],
        error: Exception,
        attempt: int,
        start: float,
        logger: PacketExecutionLogger | None,
    ) -> None:
        """Record an attempt that never reached Ray, and say so on the error."""
        error.add_note(f"{_function_name(fn)} could not be sent to a Ray worker")
        if logger is not None:
            fields = _failure_fields(error, error, perf_counter() - start, self.max_bytes)
            fields["traceback"] = bound_text(
                "".join(traceback.format_exception(error)), self.max_bytes
            )
            fields["capture_error"] = "the call was not sent to Ray: it did not run"
            logger.record(**fields, attempt=attempt, retried=False, executor_type="ray")

    def _spool(self, logger: PacketExecutionLogger | None) -> str | None:
        """Where one attempt spools its output, when it is captured and the driver can
        read the worker's files (a cluster on this machine)."""
        if logger is None or self._spools is None:
            return None
        return os.path.join(self._spools, uuid.uuid4().hex)

    def _conclude(
        self,
        fn: Callable[..., Any],
        attempt: int,
        outcome: TaskOutcome | None,
        failure: BaseException | None,
        start: float,
        logger: PacketExecutionLogger | None,
        spool: str | None = None,
    ) -> tuple[Any, BaseException | None, bool]:
        """Record one attempt; its value, or the error to raise, and whether it is retried.

        Whether a failed attempt is followed by another is decided before it is
        recorded, so that its record says so (``retried=True``; the last attempt's
        ``retried=False``).
        """
        if outcome is None:
            assert failure is not None
            if _is_setup_failure(failure):
                return self._conclude_setup_failure(fn, failure, attempt, start, logger)
            error = _task_failure(fn, failure, attempt, self.max_retries, self.max_bytes)
            again = self._retries(error, attempt)
            # A worker that died left its spool behind (read and removed here).
            spooled = (
                None if spool is None else recover_spooled_output(spool, max_bytes=self.max_bytes)
            )
            if logger is not None:
                fields = _failure_fields(
                    error, failure, perf_counter() - start, self.max_bytes, spooled
                )
                logger.record(
                    **fields,
                    **self._setup_fields(fields["extra"]),
                    attempt=attempt,
                    retried=again,
                    executor_type="ray",
                )
            return None, error, again
        if outcome.error is None and outcome.error_text is None:
            value: Any = outcome.value
            raised: BaseException | None = None
            again = False
        else:
            value, raised = None, _remote_exception(fn, outcome, self.max_bytes)
            again = self._retries(raised, attempt)
        if logger is not None and outcome.fields is not None:
            fields = outcome.fields
            setup = self._setup_fields(fields.setdefault("extra", {}))
            logger.record(**fields, **setup, attempt=attempt, retried=again, executor_type="ray")
        return value, raised, again

    def _conclude_setup_failure(
        self,
        fn: Callable[..., Any],
        failure: BaseException,
        attempt: int,
        start: float,
        logger: PacketExecutionLogger | None,
    ) -> tuple[Any, BaseException | None, bool]:
        """Record an attempt whose environment Ray could not prepare: a set-up failure,
        with Ray's output, never retried (Ray has tried the set-up again itself)."""
        error = _setup_failure(fn, failure, sorted(self.runtime_env or {}), self.max_bytes)
        if logger is not None:
            extra: dict[str, Any] = {"ray_error": type(failure).__name__, "worker_died": "false"}
            read = self._setup_fields(extra)
            said = _ray_says(failure, self.max_bytes)
            output = f"Ray said:\n{said}\n"
            if read.get("setup_output"):
                output += f"\nRay's set-up log on this machine:\n{read['setup_output']}"
            output = bound_text(output, self.max_bytes)
            fields = _failure_fields(error, error, perf_counter() - start, self.max_bytes)
            fields["traceback"] = _error_line(error)
            fields["capture_error"] = (
                "set-up failed: Ray could not prepare the task's runtime_env, so the function "
                "did not run and printed nothing; Ray's output is the attempt's set-up output"
            )
            fields["extra"] = extra
            logger.record(
                **fields,
                setup_output=output,
                setup_failed=True,
                attempt=attempt,
                retried=False,
                executor_type="ray",
            )
        return None, error, False

    def _setup_fields(self, extra: dict[str, Any]) -> dict[str, Any]:
        """``setup_output`` (what Ray logged preparing runtime_envs since the previous
        record read it; ``""``: nothing) and ``setup_failed=False`` for an executor
        with a ``runtime_env``, else nothing. Why the output is None goes to ``extra``."""
        log = self._setup_log
        if log is None:
            return {}
        if isinstance(log, str):
            extra["setup_output_missing"] = log
            return {"setup_output": None, "setup_failed": False}
        read = log.read_new(self.max_bytes)
        if read.error is not None:
            extra["setup_output_missing"] = read.error
        return {"setup_output": read.output, "setup_failed": False}


# -- the defaults, for repr --------------------------------------------------------

_DEFAULTS: dict[str, Any] = {
    "address": None,
    "num_cpus": None,
    "num_gpus": None,
    "memory": None,
    "resources": {},
    "max_retries": 0,
    "retry_exceptions": False,
    "runtime_env": None,
    "max_in_flight": None,
    "max_bytes": DEFAULT_MAX_BYTES,
    "max_records": DEFAULT_MAX_RECORDS,
    "passthrough": True,
}


# -- failures ----------------------------------------------------------------------

_NOT_THIS_MACHINE = (
    "the cluster is not only this machine: Ray's set-up log stays on the node that "
    "prepared the environment (runtime_env_setup-<job id>.log in its session's logs)"
)


def _options_of(remote: Any, options: dict[str, Any]) -> Any:
    """``remote.options(**options)``, Ray's refusal of a ``runtime_env`` said as an option error."""
    try:
        return remote.options(**options)
    except ValueError as refused:
        if "runtime_env" not in options:
            raise
        raise RayExecutorOptionError(
            f"RayExecutor got runtime_env={options['runtime_env']!r}, which Ray refuses for "
            f"a task: {refused}. A task's working_dir or py_modules must be a URI (e.g. "
            "'file:///shared/code.zip', 's3://...', 'https://...zip'); to ship a local "
            "directory, pass runtime_env to ray.init() before the run instead"
        ) from refused


def _is_setup_failure(failure: BaseException) -> bool:
    """Whether Ray failed to prepare the task's environment (RuntimeEnvSetupError,
    matched by class name so that a Ray release that moves it keeps working)."""
    return any(kind.__name__ == "RuntimeEnvSetupError" for kind in type(failure).__mro__)


def _setup_failure(
    fn: Callable[..., Any], failure: BaseException, keys: list[str], max_bytes: int
) -> TaskSetupError:
    """The error of a task whose runtime_env Ray could not prepare (first line: what,
    then Ray's message within about ``max_bytes``)."""
    return TaskSetupError(
        f"set-up failed: Ray could not prepare the runtime_env ({', '.join(keys)}) of the "
        f"task running {_function_name(fn)}, so the function did not run\nRay said:\n"
        f"{_ray_says(failure, max_bytes)}"
    )


def _error_line(error: BaseException) -> str:
    return f"{type(error).__module__}.{type(error).__qualname__}: {str(error).splitlines()[0]}"


def _local_spool_directory() -> str | None:
    """A directory the workers can spool to and this driver can read: only when the
    whole cluster is this machine (one node, on this host); else None."""
    import ray

    listing: Callable[[], list[dict[str, Any]]] = ray.nodes
    try:
        nodes = [node for node in listing() if node.get("Alive")]
    except Exception:
        return None
    if len(nodes) != 1 or nodes[0].get("NodeManagerHostname") != socket.gethostname():
        return None
    directory = os.path.join(tempfile.gettempdir(), "orcapod-ray-spools")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return directory


def _function_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}" if module else str(name)


def _ray_says(failure: BaseException, max_bytes: int) -> str:
    """Ray's message (which may hold a worker's traceback) within ``max_bytes``,
    without its terminal colour codes."""
    return bound_text(_COLOURS.sub("", str(failure)).strip(), max_bytes)


def _task_failure(
    fn: Callable[..., Any],
    failure: BaseException,
    attempt: int,
    max_retries: int,
    max_bytes: int,
) -> BaseException:
    """The error of a task that did not bring back an outcome (its message within
    about ``max_bytes``)."""
    from ray.exceptions import RayTaskError, TaskCancelledError

    name = _function_name(fn)
    # Only the executor's own attempts are counted here (a function's retries are the run's).
    tries = f" (attempt {attempt} of {max_retries + 1})" if max_retries else ""
    if isinstance(failure, RayTaskError):
        # run_task never raises: the function or its value could not cross to or
        # from the worker (not picklable, a module the worker cannot import).
        cause = failure.cause
        if isinstance(cause, Exception) and not isinstance(cause, RayTaskError):
            return cause
        return RemoteExceptionError(
            f"{name} could not be run on the Ray worker{tries}: {_ray_says(failure, max_bytes)}"
        )
    if isinstance(failure, TaskCancelledError):
        return RayTaskSystemError(f"the Ray task running {name} was cancelled{tries}")
    kinds = {kind.__name__ for kind in type(failure).__mro__}
    if kinds & _WORKER_DEATHS:
        return WorkerDiedError(
            f"the Ray worker running {name} died before the function returned{tries}; "
            f"Ray said: {type(failure).__name__}: {_ray_says(failure, max_bytes)}"
        )
    return RayTaskSystemError(
        f"Ray lost the task running {name}{tries}: {type(failure).__name__}: "
        f"{_ray_says(failure, max_bytes)}"
    )


def _failure_fields(
    error: BaseException,
    failure: BaseException,
    duration_s: float,
    max_bytes: int,
    spooled: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The record of an attempt whose task brought nothing back.

    ``spooled``: what the worker had written before it died, read from its
    spool files (bounded to ``max_bytes`` each), when the driver could reach them.
    """
    died = isinstance(error, WorkerDiedError)
    stdout, stderr = spooled or ("", "")
    if spooled is not None:
        lost = "the worker died before sending its capture back; what it printed before is "
        lost += "read from its spool files (log records are lost)"
    elif died:
        lost = "the worker died before sending its capture back; what it printed is only in "
        lost += "the Ray worker's log"
    else:
        lost = f"the task brought no capture back ({type(failure).__name__})"
    stdout_bytes, stdout_truncated = _written(stdout)
    stderr_bytes, stderr_truncated = _written(stderr)
    traceback_text = f"{type(error).__module__}.{type(error).__qualname__}: {error}\n"
    if not _own_error(error, failure):
        # The cause of a RayTaskError: Ray's message holds the worker's traceback.
        traceback_text += f"\nRay said:\n{_ray_says(failure, max_bytes)}\n"
    return {
        "stdout": stdout,
        "stderr": stderr,
        "stdout_bytes": stdout_bytes,
        "stderr_bytes": stderr_bytes,
        "stdout_truncated": stdout_truncated,
        "stderr_truncated": stderr_truncated,
        "python_logs": [],
        "python_logs_dropped": 0,
        "traceback": bound_text(traceback_text, max_bytes),
        "success": False,
        "duration_s": duration_s,
        "capture_level": "fd",
        "capture_error": lost,
        "extra": {"ray_error": type(failure).__name__, "worker_died": str(died).lower()},
    }


_TRUNCATED = re.compile(r"\n\[\.\.\. (\d+) bytes truncated \.\.\.\]\n")


def _written(kept: str) -> tuple[int, bool]:
    """How many bytes a stream read back bounded had in all, and whether some were
    left out (its ``[... N bytes truncated ...]`` line says how many)."""
    gap = _TRUNCATED.search(kept)
    if gap is None:
        return len(kept.encode("utf-8", "surrogatepass")), False
    rest = kept[: gap.start()] + kept[gap.end() :]
    return len(rest.encode("utf-8", "surrogatepass")) + int(gap.group(1)), True


def _own_error(error: BaseException, failure: BaseException) -> bool:
    return error is failure or isinstance(error, RayExecutorError)


def _remote_exception(
    fn: Callable[..., Any], outcome: TaskOutcome, max_bytes: int
) -> BaseException:
    """The function's exception, as it was raised on the worker (any ``BaseException``:
    ``SystemExit`` and ``KeyboardInterrupt`` come back as themselves, the packet's)."""
    if outcome.error is not None:
        try:
            error: BaseException = pickle.loads(outcome.error)
        except Exception as why:
            reason = f"it cannot be unpickled here: {type(why).__name__}: {why}"
        else:
            if outcome.remote_traceback:
                error.add_note(
                    f"Raised in a Ray task; the worker's traceback:\n{outcome.remote_traceback}"
                )
            return error
    else:
        reason = "it could not be pickled on the worker"
    return RemoteExceptionError(
        bound_text(
            f"{_function_name(fn)} raised {outcome.error_text} on a Ray worker, and {reason}; "
            "its traceback is in the packet's log record"
            + (f":\n{outcome.remote_traceback}" if outcome.remote_traceback else ""),
            max_bytes,
        )
    )


def _cancel(ref: Any) -> None:
    import ray

    with contextlib.suppress(Exception):  # already finished, or Ray is going away
        ray.cancel(ref)


# -- Ray facts, without importing Ray when it is not there yet -------------------------


def _ray_is_connected() -> bool:
    import sys

    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


def _ray_version() -> str:
    import sys

    ray = sys.modules.get("ray")
    if ray is not None:
        return str(ray.__version__)
    from importlib.metadata import version

    return version("ray")


def _cluster_address() -> str:
    import ray

    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # a Ray Client connection has no GCS address of its own
        return str(os.environ.get("RAY_ADDRESS", "ray-client"))


def _decimal(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _describe_retry(retry: RetryExceptions) -> str:
    if isinstance(retry, bool):
        return str(retry).lower()
    return ",".join(f"{kind.__module__}.{kind.__qualname__}" for kind in retry)


# -- checking options --------------------------------------------------------------


def _checked_address(address: str | None) -> str | None:
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise RayExecutorOptionError(
            f"RayExecutor got address={address!r}; pass None (a local cluster), 'auto' "
            "(the cluster started on this machine) or 'ray://host:port'"
        )
    return address


def _checked_amount(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise RayExecutorOptionError(
            f"RayExecutor got {name}={value!r}; pass a number >= 0 (fractions share a "
            "resource), or None for Ray's default"
        )
    return value


def _checked_whole(
    name: str, value: int | None, *, minimum: int, optional: bool = False
) -> int | None:
    if value is None and optional:
        return None
    if type(value) is not int or value < minimum:
        none = " or None" if optional else ""
        raise RayExecutorOptionError(
            f"RayExecutor got {name}={value!r}; pass a whole number >= {minimum}{none}"
        )
    return value


def _checked_resources(resources: Mapping[str, float] | None) -> dict[str, float]:
    if resources is None:
        return {}
    if not hasattr(resources, "items"):
        raise RayExecutorOptionError(
            f"RayExecutor got resources={resources!r}; pass a mapping such as {{'scanner': 1}}"
        )
    checked: dict[str, float] = {}
    for name, amount in resources.items():
        if not isinstance(name, str) or not name:
            raise RayExecutorOptionError(
                f"RayExecutor got resources with key {name!r}; name each resource with a str"
            )
        if name in ("CPU", "GPU", "memory"):
            raise RayExecutorOptionError(
                f"RayExecutor got resources={{{name!r}: ...}}; use num_cpus=, num_gpus= or "
                "memory= for Ray's built-in resources"
            )
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise RayExecutorOptionError(
                f"RayExecutor got resources[{name!r}]={amount!r}; pass a number >= 0"
            )
        checked[name] = amount
    return checked


def _checked_retry_exceptions(
    retry: bool | list[type[BaseException]] | tuple[type[BaseException], ...],
) -> RetryExceptions:
    if isinstance(retry, bool):
        return retry
    if isinstance(retry, list | tuple) and all(
        isinstance(kind, type) and issubclass(kind, BaseException) for kind in retry
    ):
        return tuple(retry)
    raise RayExecutorOptionError(
        f"RayExecutor got retry_exceptions={retry!r}; pass False (retry only when the "
        "worker dies), True (any exception), or a list of exception types, e.g. "
        "[TimeoutError, ConnectionError]"
    )


def _checked_runtime_env(runtime_env: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if runtime_env is None:
        return None
    if not hasattr(runtime_env, "items"):
        raise RayExecutorOptionError(
            f"RayExecutor got runtime_env={runtime_env!r}; pass a mapping such as "
            "{'env_vars': {'OMP_NUM_THREADS': '1'}} or None"
        )
    return dict(runtime_env)


if TYPE_CHECKING:
    _satisfies_the_protocol: PythonFunctionExecutor = RayExecutor()
