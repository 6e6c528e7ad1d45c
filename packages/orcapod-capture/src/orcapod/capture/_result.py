"""What one captured call printed, logged and raised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar

if TYPE_CHECKING:
    from orcapod.protocols.values import CaptureLevel, ExecutionRecordFields, PythonLogRecord

__all__ = ["CaptureResult", "CapturedCall"]

T = TypeVar("T")

_new = object.__new__
_set = object.__setattr__


@dataclass(frozen=True)
class CaptureResult:
    """What one call printed, logged and raised, bounded as the capture was asked.

    ``stdout`` and ``stderr`` hold at most ``max_bytes`` of each stream (head
    and tail, with a ``[... N bytes truncated ...]`` line between them);
    ``stdout_bytes`` and ``stderr_bytes`` count everything written.
    """

    stdout: str
    stderr: str
    python_logs: tuple[PythonLogRecord, ...]
    """Captured ``logging`` records, oldest first; where records were dropped, a
    WARNING record of logger ``orcapod.capture`` says how many."""
    traceback: str | None
    """The formatted exception the call raised, or ``None`` on success."""
    success: bool
    stdout_bytes: int
    stderr_bytes: int
    stdout_truncated: bool
    stderr_truncated: bool
    python_logs_dropped: int
    capture_level: CaptureLevel
    """``fd`` when file descriptors 1 and 2 were captured (C extensions and child
    processes included), ``sys`` when only Python-level streams were."""
    capture_error: str | None
    """Why capture itself failed, if it did; the call ran regardless."""
    duration_s: float

    # The records are dicts, so a result is never hashable; say so up front.
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def as_record_fields(self) -> ExecutionRecordFields:
        """The fields of ``PacketExecutionLogger.record`` that capture knows: a new dict.

        The instance's own ``__dict__`` holds exactly these fields (set by the
        generated ``__init__`` or by :meth:`_fast`), so it is copied in one call
        (a third of the time of building the dict field by field, once per
        captured call); the log records become a list, as the record has them.
        """
        fields = self.__dict__.copy()
        fields["python_logs"] = list(self.python_logs)
        return fields  # type: ignore[return-value]  # the fields, as declared above

    @classmethod
    def _fast(cls, fields: dict[str, Any]) -> CaptureResult:
        """Build from a complete field dict without the frozen ``__init__``.

        A frozen dataclass sets each field through ``object.__setattr__``
        (about 2 µs for these 13 fields), most of the sys-mode budget per call.
        """
        result = _new(cls)
        _set(result, "__dict__", fields)
        return result


class CapturedCall(NamedTuple, Generic[T]):
    """A call run by ``run_captured``: its capture, and its value or its exception.

    Unpack it (``result, value, error = run_captured(...)``) or call
    :meth:`unwrap` to get the value or re-raise the exception.
    """

    result: CaptureResult
    value: T | None
    """What the call returned; ``None`` when it raised."""
    error: BaseException | None
    """What the call raised (any ``BaseException``, ``KeyboardInterrupt`` included), or ``None``."""

    def unwrap(self) -> T:
        """The call's value; or the call's exception, re-raised unchanged."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # None only when fn returned None
