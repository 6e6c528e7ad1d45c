"""Every error and warning orcapod.core raises.

All errors derive from :class:`OrcapodError`, which lives in
``orcapod.protocols`` so plugins can raise and catch orcapod errors without
importing core.
"""

from __future__ import annotations

import signal

from orcapod.protocols.errors import (
    DatabaseError,
    DuplicateRecordError,
    InvalidRecordPathError,
    NotAvailableError,
    OrcapodError,
    RecordSchemaError,
    SourceError,
)

__all__ = [
    "DatabaseError",
    "DuplicateRecordError",
    "ExplainError",
    "FileChangedError",
    "FileContentError",
    "FileStoreWarning",
    "PathIdentityWarning",
    "InvalidRecordPathError",
    "NotAvailableError",
    "OrcapodError",
    "PluginError",
    "PluginLoadWarning",
    "PluginNotFoundError",
    "ProcessExecutorError",
    "RecordSchemaError",
    "ResultNotStoredError",
    "ReturnValueError",
    "RunInterrupted",
    "FunctionDeclarationError",
    "FunctionNotSendableError",
    "GraphError",
    "HashingError",
    "MissingDependencyError",
    "SchemaError",
    "SourceError",
    "TypeInferenceError",
    "TypeMismatchError",
    "UnsupportedTypeError",
    "WorkerDiedError",
]


class PluginError(OrcapodError):
    """A plugin could not provide what was asked of it."""


class PluginNotFoundError(PluginError, LookupError):
    """No installed plugin provides the asked-for name (URI scheme, executor, observer)."""


class PluginLoadWarning(UserWarning):
    """An installed plugin failed to load or register and was skipped."""


class UnsupportedTypeError(OrcapodError, TypeError):
    """A type annotation (or Arrow type) has no orcapod equivalent."""


class TypeInferenceError(OrcapodError, TypeError):
    """The type of a column cannot be inferred from its values."""


class TypeMismatchError(OrcapodError, TypeError):
    """A value does not match the type declared for its column."""


class SchemaError(OrcapodError, ValueError):
    """Columns are malformed, missing, reserved or in conflict (names the column)."""


class HashingError(OrcapodError, ValueError):
    """A value, type or function cannot be given a stable identity."""


class MissingDependencyError(OrcapodError, ImportError):
    """An optional library a feature needs (pandas, polars) is not installed."""


class FunctionDeclarationError(OrcapodError, TypeError):
    """A function cannot be a packet function as declared (annotations, output keys)."""


class ReturnValueError(OrcapodError, TypeError):
    """A packet function returned a value that does not fit its declared outputs."""


class ExplainError(OrcapodError, LookupError):
    """``explain`` was asked about a pipeline, node or run the store does not record."""


class GraphError(OrcapodError, LookupError):
    """A pipeline's graph was asked to be coloured by a run the store does not record."""


class FileContentError(OrcapodError, OSError):
    """A ``File`` or ``Directory`` value whose content cannot be read or identified."""


class FileChangedError(FileContentError):
    """An input file's content is not the digest its source took: it changed since."""


class FileStoreWarning(UserWarning):
    """Stored results named output files that are missing or altered: they are computed again."""


class PathIdentityWarning(UserWarning):
    """A ``pathlib.Path`` parameter names an existing file: it is identified by its name only."""


class ResultNotStoredError(OrcapodError):
    """A packet's function returned, but the run could not store its result.

    Reported as that packet's failure (after its success), so that a status
    never says ``SUCCESS`` for a result the store does not hold; the run
    itself fails with the database's error.
    """


class ProcessExecutorError(OrcapodError):
    """ProcessExecutor could not run a packet in a worker process, or could not bring
    its outcome back (the message says which, and what to do)."""


class FunctionNotSendableError(ProcessExecutorError, TypeError):
    """A function cannot be sent to a worker process: a lambda, a function defined
    inside another or in an interactive session, or one holding what does not pickle."""


class WorkerDiedError(ProcessExecutorError):
    """The worker process running a packet died before the function returned.

    The message names the worker's exit: its exit code (``os._exit``, a C
    library's ``exit``) or the signal that ended it (a segmentation fault, a
    kill). ``pid`` and ``exitcode`` (negative: the signal's number) say the same.
    """

    def __init__(self, message: str, *, pid: int | None = None, exitcode: int | None = None):
        super().__init__(message)
        self.pid = pid
        self.exitcode = exitcode

    def __reduce__(self) -> tuple[object, ...]:
        return _worker_died, (str(self), self.pid, self.exitcode)


def _worker_died(message: str, pid: int | None, exitcode: int | None) -> WorkerDiedError:
    return WorkerDiedError(message, pid=pid, exitcode=exitcode)


class RunInterrupted(BaseException):
    """A signal (SIGTERM, SIGINT, SIGHUP) stopped a pipeline run.

    Raised on the run's thread to stop the packet in flight; the run stores
    what it finished, records itself ``INTERRUPTED``, restores the signal's
    previous handler and delivers the signal again. A ``BaseException``, so that
    ``except Exception`` in user code never swallows it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"the run was interrupted by {self.signal_name}")
