"""orcapod.observers: logs, status, run records and progress of pipeline runs.

Public names are imported on first use, so ``import orcapod.observers`` stays light.
See docs/observability.md for what is stored where.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.lazy import lazy_exports

if TYPE_CHECKING:
    # `name as name`: marks each as re-exported for type checkers (mypy --strict).
    from orcapod.observers._composite import CompositeObserver as CompositeObserver
    from orcapod.observers._logging import LoggingObserver as LoggingObserver
    from orcapod.observers._progress import ProgressObserver as ProgressObserver
    from orcapod.observers._reader import ObservabilityReader as ObservabilityReader
    from orcapod.observers._reader import list_pipelines as list_pipelines
    from orcapod.observers._report import write_report as write_report
    from orcapod.observers._status import StatusObserver as StatusObserver
    from orcapod.observers.errors import ObservabilityError as ObservabilityError
    from orcapod.observers.errors import TagTypeConflictError as TagTypeConflictError
    from orcapod.observers.errors import UnknownNodeError as UnknownNodeError
    from orcapod.observers.errors import UnknownPipelineError as UnknownPipelineError
    from orcapod.observers.errors import UnknownRunError as UnknownRunError

__all__, __getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "CompositeObserver": "orcapod.observers._composite",
        "LoggingObserver": "orcapod.observers._logging",
        "ObservabilityError": "orcapod.observers.errors",
        "ObservabilityReader": "orcapod.observers._reader",
        "ProgressObserver": "orcapod.observers._progress",
        "StatusObserver": "orcapod.observers._status",
        "TagTypeConflictError": "orcapod.observers.errors",
        "UnknownNodeError": "orcapod.observers.errors",
        "UnknownPipelineError": "orcapod.observers.errors",
        "UnknownRunError": "orcapod.observers.errors",
        "list_pipelines": "orcapod.observers._reader",
        "write_report": "orcapod.observers._report",
    },
)
