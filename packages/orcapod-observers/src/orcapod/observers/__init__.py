"""orcapod.observers: logs, status, run records and progress of pipeline runs.

The ``logging``, ``status``, ``composite`` and ``progress`` observers are
registered; the observers themselves are not implemented in this release,
and asking for one says so.
"""

__all__: list[str] = []
