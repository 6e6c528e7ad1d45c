"""The contract test kit: abstract test classes and checks that implementations reuse.

A backend subclasses a contract class, sets ``__test__ = True`` and supplies
its factory; the inherited tests then run against it::

    from orcapod.protocols.testing import ArrowDatabaseContract

    class TestMyDatabase(ArrowDatabaseContract):
        __test__ = True

        def make_database(self, tmp_path):
            return MyDatabase(tmp_path / "store")

Needs pytest and hypothesis (``pip install 'orcapod-protocols[testing]'``).
"""

from __future__ import annotations

from orcapod.protocols.testing.database import (
    ArrowDatabaseContract,
    DurableArrowDatabaseContract,
    PersistentArrowDatabaseContract,
)
from orcapod.protocols.testing.observers import Event, RecordingLogger, RecordingObserver
from orcapod.protocols.testing.plugins import load_distribution_plugins

__all__ = [
    "ArrowDatabaseContract",
    "DurableArrowDatabaseContract",
    "Event",
    "RecordingLogger",
    "RecordingObserver",
    "PersistentArrowDatabaseContract",
    "load_distribution_plugins",
]
