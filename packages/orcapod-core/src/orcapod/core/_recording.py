"""Where pods and operators report their invocations while a pipeline records them.

A ``Pipeline`` used as a context manager installs a recorder here; every
function pod or operator called inside the ``with`` block hands its output
stream to it. Kept apart from the pipeline module so that pods and operators
need not import it.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from orcapod.protocols.streams import Stream

__all__ = ["RECORDER", "Recorder", "record"]


class Recorder(Protocol):
    def record(self, stream: Stream) -> None:
        """Note that ``stream`` was made by a pod or operator call inside the pipeline."""


RECORDER: ContextVar[Recorder | None] = ContextVar("orcapod_pipeline_recorder", default=None)


def record(stream: Stream) -> None:
    """Hand ``stream`` to the pipeline recording in this context, if any."""
    recorder = RECORDER.get()
    if recorder is not None:
        recorder.record(stream)
