"""The default observer: it observes nothing, so no caller needs an ``is None`` check."""

from __future__ import annotations

from orcapod.protocols.observability import BaseObserver

__all__ = ["NoOpObserver"]


class NoOpObserver(BaseObserver):
    """An execution observer whose hooks do nothing (orcapod-protocols' ``BaseObserver``).

    Stateless, so one instance serves every node and run; :meth:`contextualize`
    returns the observer itself. It cannot fail, so a run does not isolate it.
    """

    isolates_failures = True
