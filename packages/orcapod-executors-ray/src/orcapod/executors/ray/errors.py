"""The errors of orcapod-executors-ray."""

from __future__ import annotations

from orcapod.protocols.errors import OrcapodError

__all__ = [
    "RayExecutorError",
    "RayExecutorOptionError",
    "RayTaskSystemError",
    "RemoteExceptionError",
    "TaskSetupError",
    "WorkerDiedError",
]


class RayExecutorError(OrcapodError):
    """Base class of the errors raised by RayExecutor itself (not by the user's function)."""


class RayExecutorOptionError(RayExecutorError, ValueError):
    """An option of RayExecutor has a value it cannot use."""


class RayTaskSystemError(RayExecutorError, RuntimeError):
    """A Ray task failed for a reason outside the function: its worker, node or
    result object was lost. Retried when ``max_retries`` allows (``retry_exceptions``
    does not matter for these)."""


class WorkerDiedError(RayTaskSystemError):
    """The worker process running the function died (``os._exit``, a segfault, killed
    for running out of memory, its node lost) before the function returned."""


class RemoteExceptionError(RayExecutorError, RuntimeError):
    """The function raised an exception on the worker that could not be sent back as
    itself (it does not pickle); the message names its type and text."""


class TaskSetupError(RayExecutorError, RuntimeError):
    """Ray could not prepare the task's environment (its ``runtime_env``: a package
    that cannot be installed, a working_dir or py_modules that cannot be fetched),
    so the function did not run. The message starts ``set-up failed:``; the
    attempt's record holds Ray's set-up output (``setup_output``, with
    ``setup_failed=True``). Not retried by ``max_retries``:
    Ray has already tried the set-up again (``RUNTIME_ENV_RETRY_TIMES``, 3 by default)."""
